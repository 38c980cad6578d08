"""The master key: generation, parsing, key files and where it may come from."""

from __future__ import annotations

import base64
import os
import pickle
import secrets
from pathlib import Path

import pytest

from quartermaster.config._vault import VaultConfig
from quartermaster.vault import (
    KEY_FILE_ENV,
    MasterKey,
    MasterKeyInvalid,
    MasterKeyMissing,
    VaultError,
    generate_master_key,
    load_master_key,
    read_master_key_file,
    write_master_key_file,
)

ENV = "QUARTERMASTER_MASTER_KEY"


def _key_text(n: int = 32) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")


def test_generated_keys_parse_and_differ() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert first != second
    assert (
        MasterKey.from_text(first, source="x").key_id
        != MasterKey.from_text(second, source="x").key_id
    )


def test_key_id_is_a_stable_fingerprint() -> None:
    text = generate_master_key()
    padded = text + "="
    a = MasterKey.from_text(text, source="x")
    b = MasterKey.from_text(f"  {padded}\n", source="x")
    assert a.key_id == b.key_id
    assert len(a.key_id) == 12
    assert text not in repr(a)
    assert repr(a) == f"MasterKey(key_id={a.key_id!r})"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        (_key_text(16), "decodes to 16 bytes"),
        (_key_text(33), "decodes to 33 bytes"),
        ("not base64 at all!", "not base64url"),
        (base64.b64encode(b"\xfb" * 32).decode(), "not base64url"),
    ],
    ids=["empty", "blank", "16-bytes", "33-bytes", "not-base64", "standard-alphabet"],
)
def test_malformed_keys_are_refused_with_the_generation_command(text: str, reason: str) -> None:
    with pytest.raises(MasterKeyInvalid) as info:
        MasterKey.from_text(text, source=ENV)
    assert reason in str(info.value)
    assert "quartermaster secrets gen-master-key" in str(info.value)
    if text.strip():
        assert text.strip() not in str(info.value)


def test_missing_key_says_how_to_generate_one() -> None:
    with pytest.raises(MasterKeyMissing) as info:
        load_master_key(VaultConfig(), {})
    message = str(info.value)
    assert "quartermaster secrets gen-master-key" in message
    assert ENV in message
    assert KEY_FILE_ENV in message


def test_environment_variable_wins(tmp_path: Path) -> None:
    text = generate_master_key()
    path = tmp_path / "other.key"
    write_master_key_file(path)
    key = load_master_key(VaultConfig(master_key_file=path), {ENV: text, KEY_FILE_ENV: str(path)})
    assert key.key_id == MasterKey.from_text(text, source=ENV).key_id


def test_custom_variable_name() -> None:
    text = generate_master_key()
    config = VaultConfig(master_key_env="MY_KEY")
    assert (
        load_master_key(config, {"MY_KEY": text}).key_id
        == MasterKey.from_text(text, source="x").key_id
    )
    with pytest.raises(MasterKeyMissing, match="MY_KEY"):
        load_master_key(config, {ENV: text})


def test_empty_variable_is_invalid_not_missing() -> None:
    with pytest.raises(MasterKeyInvalid, match="empty"):
        load_master_key(VaultConfig(), {ENV: ""})


def test_key_file_from_environment_then_config(tmp_path: Path) -> None:
    from_env = write_master_key_file(tmp_path / "env.key")
    from_config = write_master_key_file(tmp_path / "config.key")
    config = VaultConfig(master_key_file=Path("config.key"))
    assert load_master_key(config, {KEY_FILE_ENV: str(tmp_path / "env.key")}).key_id == (
        from_env.key_id
    )
    assert load_master_key(config, {}, base_dir=tmp_path).key_id == from_config.key_id


def test_written_key_file_has_mode_600_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = write_master_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_master_key_file(path).key_id == key.key_id
    before = path.read_bytes()
    with pytest.raises(VaultError, match="refusing to overwrite"):
        write_master_key_file(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620, 0o601])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    write_master_key_file(path)
    path.chmod(mode)
    with pytest.raises(MasterKeyInvalid) as info:
        read_master_key_file(path)
    assert f"chmod 600 {path}" in str(info.value)
    assert f"{mode:03o}" in str(info.value)
    assert path.read_text().strip() not in str(info.value)


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = write_master_key_file(path)
    for mode in (0o400, 0o600, 0o700):
        path.chmod(mode)
        assert read_master_key_file(path).key_id == key.key_id


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyMissing, match="does not exist"):
        load_master_key(VaultConfig(master_key_file=tmp_path / "nope.key"), {})


def test_symlink_and_directory_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    write_master_key_file(real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(MasterKeyInvalid, match="symlink"):
        read_master_key_file(link)
    folder = tmp_path / "dir.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(MasterKeyInvalid, match="not a regular file"):
        read_master_key_file(folder)


def test_malformed_key_file(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, _key_text(31).encode())
    os.close(fd)
    with pytest.raises(MasterKeyInvalid, match="31 bytes"):
        read_master_key_file(path)
    path.write_bytes(b"\xff\xfe" * 20)
    with pytest.raises(MasterKeyInvalid, match="not base64url"):
        read_master_key_file(path)


def test_key_of_wrong_length_in_code() -> None:
    with pytest.raises(MasterKeyInvalid, match="32 bytes"):
        MasterKey(b"\x00" * 31)


def test_reveal_gives_the_key_bytes_and_pickle_refuses() -> None:
    raw = secrets.token_bytes(32)
    key = MasterKey(raw)
    assert key.reveal() == raw
    assert (
        MasterKey.from_text(base64.urlsafe_b64encode(raw).decode(), source="x").key_id == key.key_id
    )
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
