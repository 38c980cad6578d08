"""The public surface of quartermaster.vault is exactly what the docs and the lead rely on."""

from __future__ import annotations

import quartermaster.vault as vault
from quartermaster._errors import QuartermasterError

EXPECTED = {
    "ArgumentHandle",
    "BoundVault",
    "Handle",
    "KEY_FILE_ENV",
    "KnownValueMatcher",
    "MasterKey",
    "MasterKeyInvalid",
    "MasterKeyMissing",
    "RawSecretInArguments",
    "Resolver",
    "SecretEmpty",
    "SecretInfo",
    "SecretNotAllowed",
    "SecretNotFound",
    "SecretUse",
    "SecretValue",
    "Span",
    "UseRecorder",
    "Vault",
    "VaultCorrupted",
    "ValueFinder",
    "VaultError",
    "WrongMasterKey",
    "check_secret_use",
    "generate_master_key",
    "key_spellings",
    "list_secrets",
    "load_master_key",
    "read_master_key_file",
    "read_secret_value",
    "master_key_rotated",
    "remove_secret",
    "rotate_master_key",
    "screen_arguments",
    "set_secret",
    "substitute_handles",
    "write_master_key_file",
}


def test_public_names() -> None:
    public = {name for name in dir(vault) if not name.startswith("_")}
    assert public == EXPECTED


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(vault, n) for n in EXPECTED if n.endswith(("Error", "Missing", "Invalid"))]
    errors += [vault.WrongMasterKey, vault.VaultCorrupted, vault.SecretNotFound, vault.SecretEmpty]
    errors += [vault.SecretNotAllowed, vault.RawSecretInArguments]
    for error in errors:
        assert issubclass(error, vault.VaultError)
        assert issubclass(error, QuartermasterError)
