"""The encrypted form of one secret: AES-256-GCM, bound to where it belongs.

Each value gets a fresh random 96-bit nonce. The associated data binds the format version, the
master key id, the tenant and the name, so a ciphertext copied to another row (another name or
tenant), re-labelled with another key id or read as another format fails authentication instead
of decrypting. The stored ciphertext starts with one format-version byte.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from quartermaster.store import SecretRecord

from ._errors import VaultCorrupted, WrongMasterKey
from ._key import MasterKey
from ._secret import SecretValue

FORMAT_VERSION = 1
NONCE_BYTES = 12

_AAD_LABEL = b"quartermaster/vault\x00"
_TAG_BYTES = 16


def _associated_data(version: int, key_id: str, tenant: str, name: str) -> bytes:
    # JSON of a list is an unambiguous encoding: no choice of tenant and name can collide.
    return _AAD_LABEL + json.dumps([version, key_id, tenant, name]).encode()


def seal(
    key: MasterKey,
    *,
    tenant: str,
    name: str,
    value: SecretValue,
    created_at: float,
    updated_at: float,
    last_used_at: float | None = None,
) -> SecretRecord:
    """Encrypt ``value`` for the row ``(tenant, name)`` under ``key``."""
    nonce = os.urandom(NONCE_BYTES)
    aad = _associated_data(FORMAT_VERSION, key.key_id, tenant, name)
    sealed = AESGCM(key.data_key).encrypt(nonce, value.reveal().encode(), aad)
    return SecretRecord(
        tenant=tenant,
        name=name,
        key_id=key.key_id,
        nonce=nonce,
        ciphertext=bytes([FORMAT_VERSION]) + sealed,
        created_at=created_at,
        updated_at=updated_at,
        last_used_at=last_used_at,
    )


def unseal(key: MasterKey, record: SecretRecord) -> SecretValue:
    """Decrypt one stored row.

    Raises:
        WrongMasterKey: the row names another master key id (checked before decrypting).
        VaultCorrupted: the row is malformed or fails authentication under the right key.
    """
    if record.key_id != key.key_id:
        raise WrongMasterKey(record.key_id, key.key_id)
    blob = record.ciphertext
    if len(record.nonce) != NONCE_BYTES or len(blob) < 1 + _TAG_BYTES or blob[0] != FORMAT_VERSION:
        raise VaultCorrupted(record.tenant, record.name)
    aad = _associated_data(blob[0], record.key_id, record.tenant, record.name)
    try:
        plain = AESGCM(key.data_key).decrypt(record.nonce, blob[1:], aad)
        return SecretValue(plain.decode())
    except (InvalidTag, UnicodeDecodeError):
        raise VaultCorrupted(record.tenant, record.name) from None
