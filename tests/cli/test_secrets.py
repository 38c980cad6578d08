"""`quartermaster secrets ...`, run as the user runs them."""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from tests.harness import CliResult, run_cli


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    return run_cli(*args, stdin=stdin, env=env, cwd=cwd)


def store_bytes(config: Path) -> bytes:
    """Every file of the SQLite store (database, WAL, journal), concatenated."""
    folder = config.parent / ".quartermaster"
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def test_gen_master_key_needs_no_configuration(tmp_path: Path) -> None:
    printed = run("secrets", "gen-master-key", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    key = printed.stdout.strip()
    assert len(key) == 43
    assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert run("secrets", "gen-master-key", cwd=tmp_path).stdout.strip() != key

    out = tmp_path / "master.key"
    written = run("secrets", "gen-master-key", "--out", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert written.stdout == ""
    first = out.read_text()
    again = run("secrets", "gen-master-key", "--out", str(out), cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert out.read_text() == first


def test_gen_master_key_creates_a_private_directory(tmp_path: Path) -> None:
    out = tmp_path / "state" / ".quartermaster" / "master.key"
    written = run("secrets", "gen-master-key", "--out", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    unwritable = run("secrets", "gen-master-key", "--out", "/proc/none/master.key", cwd=tmp_path)
    assert unwritable.returncode == 2
    assert unwritable.stderr == "quartermaster: /proc/none: No such file or directory\n"


def test_set_reads_stdin_and_never_shows_or_stores_the_value(
    write_config: Callable[[str], Path],
) -> None:
    config = write_config("version: 1")
    value = secrets.token_urlsafe(24)
    result = run("secrets", "set", "github", "--config", str(config), stdin=value + "\n")
    assert result.returncode == 0, result.stderr
    assert "stored secret://github for tenant *" in result.stderr
    assert "not declared in vault.secrets" in result.stderr
    tenant = run("secrets", "set", "crm", "--tenant", "acme", "--config", str(config), stdin=value)
    assert tenant.returncode == 0, tenant.stderr

    listed = run("secrets", "list", "--config", str(config))
    as_json = run("secrets", "list", "--json", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    names = {(row["tenant"], row["name"]) for row in json.loads(as_json.stdout)}
    assert names == {("*", "github"), ("acme", "crm")}
    for output in (result, tenant, listed, as_json):
        assert value not in output.stdout + output.stderr
    assert value.encode() not in store_bytes(config)
    exported = run("audit", "export", "--config", str(config))
    assert exported.stdout.count('"kind":"secret.changed"') == 2
    assert value not in exported.stdout


def test_set_refuses_an_empty_value_and_a_bad_name(write_config: Callable[[str], Path]) -> None:
    config = write_config("version: 1")
    empty = run("secrets", "set", "github", "--config", str(config), stdin="")
    assert empty.returncode == 2
    assert "secret://github" in empty.stderr
    bad = run("secrets", "set", "no spaces", "--config", str(config), stdin="x")
    assert bad.returncode == 2
    assert "quartermaster:" in bad.stderr


def test_rm_removes_and_refuses_what_is_not_there(write_config: Callable[[str], Path]) -> None:
    config = write_config("version: 1")
    run("secrets", "set", "github", "--config", str(config), stdin=secrets.token_urlsafe(16))
    removed = run("secrets", "rm", "github", "--config", str(config))
    assert removed.returncode == 0, removed.stderr
    listed = run("secrets", "list", "--json", "--config", str(config))
    assert json.loads(listed.stdout) == []
    again = run("secrets", "rm", "github", "--config", str(config))
    assert again.returncode == 2
    assert "secret://github" in again.stderr


def test_rotate_master_key_moves_secrets_and_signing_keys(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config("version: 1")
    value = secrets.token_urlsafe(24)
    run("secrets", "set", "github", "--config", str(config), stdin=value)
    kids_before = {
        ring: [k["kid"] for k in json.loads(keys.stdout)]
        for ring in ("grant", "agent", "audit")
        if (keys := run("keys", "list", "--ring", ring, "--json", "--config", str(config)))
    }
    new_key = tmp_path / "new.key"
    run("secrets", "gen-master-key", "--out", str(new_key))

    rotated = run("secrets", "rotate-master-key", "--new-key-file", str(new_key), "--config",
                  str(config))  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secret(s) and re-wrapped 3 signing key(s)" in rotated.stderr

    old = run("secrets", "list", "--config", str(config))
    assert old.returncode == 2
    assert "this database was encrypted with master key" in old.stderr
    assert "(nothing was changed)" in old.stderr
    with_new = {"QUARTERMASTER_MASTER_KEY_FILE": str(new_key)}
    listed = run("secrets", "list", "--json", "--config", str(config), env=with_new)
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["github"]
    for ring, kids in kids_before.items():
        keys = run("keys", "list", "--ring", ring, "--json", "--config", str(config), env=with_new)
        assert [k["kid"] for k in json.loads(keys.stdout)] == kids
    verified = run("audit", "verify", "--config", str(config), env=with_new)
    assert verified.returncode == 0, verified.stdout
    rows = run("audit", "list", "--json", "--config", str(config), env=with_new)
    assert "vault.master_key_rotated" in [row["kind"] for row in json.loads(rows.stdout)]
    assert value.encode() not in store_bytes(config)

    same = run("secrets", "rotate-master-key", "--new-key-file", str(new_key), "--config",
               str(config), env=with_new)  # fmt: skip
    assert same.returncode == 2
    assert "the new master key is the old one" in same.stderr
