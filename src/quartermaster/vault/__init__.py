"""Secrets by reference: encrypted storage, handle resolution, and argument screening.

Configs and agents hold handles (``secret://NAME``, ``env://VAR``, ``file:///path``); values are
resolved at the last moment into :class:`SecretValue`, which never renders. See
``docs/secrets.md``.
"""

from quartermaster.config import check_secret_use as check_secret_use

from ._admin import SecretInfo as SecretInfo
from ._admin import list_secrets as list_secrets
from ._admin import master_key_rotated as master_key_rotated
from ._admin import read_secret_value as read_secret_value
from ._admin import remove_secret as remove_secret
from ._admin import rotate_master_key as rotate_master_key
from ._admin import set_secret as set_secret
from ._arguments import ArgumentHandle as ArgumentHandle
from ._arguments import KnownValueMatcher as KnownValueMatcher
from ._arguments import Resolver as Resolver
from ._arguments import Span as Span
from ._arguments import ValueFinder as ValueFinder
from ._arguments import screen_arguments as screen_arguments
from ._arguments import substitute_handles as substitute_handles
from ._errors import MasterKeyInvalid as MasterKeyInvalid
from ._errors import MasterKeyMissing as MasterKeyMissing
from ._errors import RawSecretInArguments as RawSecretInArguments
from ._errors import SecretEmpty as SecretEmpty
from ._errors import SecretNotAllowed as SecretNotAllowed
from ._errors import SecretNotFound as SecretNotFound
from ._errors import VaultCorrupted as VaultCorrupted
from ._errors import VaultError as VaultError
from ._errors import WrongMasterKey as WrongMasterKey
from ._key import KEY_FILE_ENV as KEY_FILE_ENV
from ._key import MasterKey as MasterKey
from ._key import generate_master_key as generate_master_key
from ._key import key_spellings as key_spellings
from ._key import load_master_key as load_master_key
from ._key import read_master_key_file as read_master_key_file
from ._key import write_master_key_file as write_master_key_file
from ._secret import SecretValue as SecretValue
from ._sources import Handle as Handle
from ._vault import BoundVault as BoundVault
from ._vault import SecretUse as SecretUse
from ._vault import UseRecorder as UseRecorder
from ._vault import Vault as Vault
