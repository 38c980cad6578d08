"""Vault errors: each says what went wrong and what to do, and none ever contains a value.

QuartermasterError
└── VaultError
    ├── MasterKeyMissing       no master key was configured; says how to generate one
    ├── MasterKeyInvalid       the key is malformed, or its file is readable by others
    ├── WrongMasterKey         the database was encrypted under another master key
    ├── VaultCorrupted         a ciphertext failed authentication under the right key
    ├── SecretNotFound         no value behind a handle (names the handle and tenant)
    ├── SecretEmpty            a value is empty, which is never silently accepted
    ├── SecretNotAllowed       this tool may not use this secret (or handle kind)
    └── RawSecretInArguments   an argument holds a known secret value (names the path)
"""

from __future__ import annotations

from collections.abc import Sequence

from quartermaster._errors import QuartermasterError

GENERATE_HINT = (
    "generate one with `quartermaster secrets gen-master-key --out PATH` (writes the file "
    "with mode 600) and point QUARTERMASTER_MASTER_KEY_FILE or vault.master_key_file at it, "
    "or set QUARTERMASTER_MASTER_KEY to the printed value of `quartermaster secrets "
    "gen-master-key`"
)
"""How to make a master key; part of every message about a missing or malformed one."""


class VaultError(QuartermasterError):
    """The vault refused or could not do what was asked."""


class MasterKeyMissing(VaultError):
    """No master key was given through the environment or a key file."""


class MasterKeyInvalid(VaultError):
    """The master key is malformed (not base64url of 32 bytes) or its file is insecure."""


class WrongMasterKey(VaultError):
    """The stored secrets were encrypted under a different master key than the one given."""

    def __init__(self, stored_key_id: str, given_key_id: str) -> None:
        super().__init__(
            f"this database was encrypted with master key {stored_key_id}, you gave "
            f"{given_key_id}; start with the matching key (nothing was changed)"
        )
        self.stored_key_id = stored_key_id
        self.given_key_id = given_key_id


class VaultCorrupted(VaultError):
    """A stored ciphertext failed authentication although its key id matches the master key.

    Either the row was modified, or it was moved to another name or tenant (the name and tenant
    are bound into the ciphertext).
    """

    def __init__(self, tenant: str, name: str) -> None:
        super().__init__(
            f"secret {name!r} of tenant {tenant!r} failed authentication under the right master "
            "key: the stored row was modified or moved; set it again with `quartermaster "
            "secrets set` (nothing was changed)"
        )
        self.tenant = tenant
        self.name = name


class SecretNotFound(VaultError):
    """A handle points at nothing: no vault entry, no environment variable or no file."""

    def __init__(self, handle: str, tenant: str | None, detail: str) -> None:
        where = f" for tenant {tenant!r}" if tenant is not None else ""
        super().__init__(f"secret {handle}{where} not found: {detail}")
        self.handle = handle
        self.tenant = tenant


class SecretEmpty(VaultError):
    """A secret value is empty; an empty credential is always a mistake, never a default."""

    def __init__(self, handle: str) -> None:
        super().__init__(f"secret {handle} is empty; an empty value is refused")
        self.handle = handle


class SecretNotAllowed(VaultError):
    """A tool, server or argument tried to use a secret it was not granted in the config."""

    def __init__(self, handle: str, message: str) -> None:
        super().__init__(message)
        self.handle = handle


class RawSecretInArguments(VaultError):
    """Tool arguments carry a known secret value (raw or encoded) instead of its handle."""

    def __init__(self, paths: Sequence[str]) -> None:
        listed = ", ".join(paths)
        super().__init__(
            f"argument {listed} contains a secret value; pass its handle (secret://NAME) instead"
        )
        self.paths = tuple(paths)
