"""The master key: where it comes from, how it is checked, and its public fingerprint.

The key is 32 random bytes written as base64url. It comes from an environment variable or from
a key file only readable by its owner; never from ``tools.yaml``, so a configuration can be
shared, reviewed and committed without giving the vault away.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from quartermaster.config import VaultConfig

from ._errors import GENERATE_HINT, MasterKeyInvalid, MasterKeyMissing, VaultError

KEY_FILE_ENV = "QUARTERMASTER_MASTER_KEY_FILE"
"""The environment variable naming a master key file (checked after the key variable itself)."""

MASTER_KEY_BYTES = 32

_KEY_TEXT = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_KID_LABEL = b"quartermaster key id"
_DATA_KEY_INFO = b"quartermaster/vault/v1/aes-256-gcm"
_KID_BYTES = 6
_MAX_KEY_FILE = 4096


class MasterKey:
    """A validated 32-byte master key; its ``repr`` shows only the key id, and it cannot be
    pickled.

    ``key_id`` is a public fingerprint (the first bytes of HMAC-SHA256(key, "quartermaster key
    id"), in hex): stored rows carry it, so a wrong key is named before any decryption is tried.
    """

    __slots__ = ("_data_key", "_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise MasterKeyInvalid(
                f"a master key must be {MASTER_KEY_BYTES} bytes, got {len(key)}; {GENERATE_HINT}"
            )
        self._key = bytes(key)
        self.key_id: str = hmac.new(key, _KID_LABEL, hashlib.sha256).digest()[:_KID_BYTES].hex()
        # Encrypt under a derived key, so the fingerprint and the cipher never share a key.
        self._data_key: bytes = HKDF(
            algorithm=SHA256(), length=32, salt=None, info=_DATA_KEY_INFO
        ).derive(key)

    @classmethod
    def from_text(cls, text: str, *, source: str) -> MasterKey:
        """Parse base64url text (padding optional, surrounding whitespace ignored).

        ``source`` names where the text came from (a variable or a file) for the error message.

        Raises:
            MasterKeyInvalid: the text is not base64url of exactly 32 bytes.
        """
        stripped = text.strip()
        if not stripped:
            raise MasterKeyInvalid(f"the master key in {source} is empty; {GENERATE_HINT}")
        if not _KEY_TEXT.match(stripped):
            raise MasterKeyInvalid(
                f"the master key in {source} is not base64url text; {GENERATE_HINT}"
            )
        unpadded = stripped.rstrip("=")
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        if len(raw) != MASTER_KEY_BYTES:
            raise MasterKeyInvalid(
                f"the master key in {source} decodes to {len(raw)} bytes, not "
                f"{MASTER_KEY_BYTES}; {GENERATE_HINT}"
            )
        return cls(raw)

    @property
    def data_key(self) -> bytes:
        """The AES-256 key derived from the master key; for the envelope only."""
        return self._data_key

    def reveal(self) -> bytes:
        """The 32 key bytes, for parts that derive their own keys from the master key (the
        broker wraps signing keys under an HKDF of it). Never log or store them."""
        return self._key

    def spellings(self) -> tuple[str, ...]:
        """The key as a key file or variable may hold it (see :func:`key_spellings`): for the
        redactor's known values, so a downstream that can read the key file cannot pass the
        key on to an agent."""
        return key_spellings(self._key)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a MasterKey cannot be pickled")


def key_spellings(raw: bytes) -> tuple[str, ...]:
    """Every text a reader of key bytes is likely to write them as: base64url and standard
    base64 (padded or not) and hex. The redactor treats each as a known value, and finds
    each of those in its own encodings in turn."""
    url = base64.urlsafe_b64encode(raw).decode()
    std = base64.b64encode(raw).decode()
    return tuple(dict.fromkeys((url.rstrip("="), url, std.rstrip("="), std, raw.hex())))


def generate_master_key() -> str:
    """A new random master key as base64url text (what ``secrets gen-master-key`` prints)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode().rstrip("=")


def write_master_key_file(path: Path) -> MasterKey:
    """Create ``path`` with mode 600 holding a new master key, and return that key.

    Missing parent directories are created with mode 700.

    Raises:
        VaultError: ``path`` already exists (a key is never overwritten: that would orphan
            every secret encrypted under it).
        OSError: the file cannot be created.
    """
    text = generate_master_key()
    # A new directory for the key is private too; an existing one is left as the admin made it.
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise VaultError(
            f"{path} already exists; refusing to overwrite a master key (choose another path)"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text + "\n")
    return MasterKey.from_text(text, source=str(path))


def read_master_key_file(path: Path) -> MasterKey:
    """Read a key file, refusing one that group or others could read or write.

    Raises:
        MasterKeyMissing: the file does not exist.
        MasterKeyInvalid: the file is not a regular file, has loose permissions, or holds a
            malformed key.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise MasterKeyMissing(f"master key file {path} does not exist; {GENERATE_HINT}") from None
    except OSError as exc:
        raise MasterKeyInvalid(
            f"cannot open master key file {path} ({exc.strerror}); it must be a regular file "
            "(not a symlink) readable by this user"
        ) from None
    try:
        # fstat the open file, not the path: nothing can swap the file between check and read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MasterKeyInvalid(f"master key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise MasterKeyInvalid(
                f"master key file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):03o}); run `chmod 600 {path}` and start again"
            )
        data = os.read(fd, _MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE:
        raise MasterKeyInvalid(f"master key file {path} is too large to hold a master key")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MasterKeyInvalid(
            f"the master key in {path} is not base64url text; {GENERATE_HINT}"
        ) from None
    return MasterKey.from_text(text, source=str(path))


def load_master_key(
    config: VaultConfig, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> MasterKey:
    """Find the master key, in this order: the variable ``config.master_key_env``, a file named
    by ``QUARTERMASTER_MASTER_KEY_FILE``, the file ``config.master_key_file`` (relative to
    ``base_dir`` when given, usually the directory of ``tools.yaml``).

    Raises:
        MasterKeyMissing: none of the three is set; the message says how to generate a key.
        MasterKeyInvalid: the key found is malformed or its file is insecure.
    """
    if config.master_key_env in environ:
        return MasterKey.from_text(environ[config.master_key_env], source=config.master_key_env)
    if environ.get(KEY_FILE_ENV):
        return read_master_key_file(Path(environ[KEY_FILE_ENV]))
    if config.master_key_file is not None:
        path = config.master_key_file
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return read_master_key_file(path)
    raise MasterKeyMissing(
        f"no vault master key: set {config.master_key_env}, {KEY_FILE_ENV} or "
        f"vault.master_key_file; {GENERATE_HINT}"
    )
