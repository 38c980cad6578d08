"""`quartermaster audit ...`, run as the user runs them, on rows the ledger wrote."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from quartermaster.audit import AuditEvent, hash_value
from quartermaster.runtime import derive_key, load, open_services
from quartermaster.vault import read_master_key_file
from tests.harness import CliResult, run_cli


def run(*args: str) -> CliResult:
    return run_cli(*args)


async def record(config: Path) -> None:
    """Five rows: grants revoked for agents a1, a2, a1, a2, a1 (tenant acme, then beta)."""
    async with open_services(load(config), with_http=False) as services:
        for n in range(5):
            await services.ledger.record_event(
                AuditEvent(
                    kind="grant.revoked",
                    agent=f"a{n % 2 + 1}",
                    tenant="acme" if n < 3 else "beta",
                    detail={"revoked": n},
                )
            )


async def test_list_show_and_export(write_config: Callable[[str], Path]) -> None:
    path = write_config("version: 1")
    config = str(path)
    await record(path)

    table = run("audit", "list", "--config", config)
    assert table.returncode == 0, table.stderr
    assert [line.split()[0] for line in table.stdout.splitlines()[2:]] == ["1", "2", "3", "4", "5"]
    a1 = json.loads(run("audit", "list", "--agent", "a1", "--json", "--config", config).stdout)
    assert [row["seq"] for row in a1] == [1, 3, 5]
    both = run("audit", "list", "--agent", "a1", "--tenant", "beta", "--json", "--config", config)
    assert [row["seq"] for row in json.loads(both.stdout)] == [5]
    limited = run("audit", "list", "--after", "1", "--limit", "2", "--json", "--config", config)
    assert [row["seq"] for row in json.loads(limited.stdout)] == [2, 3]
    future = run("audit", "list", "--since", "2999-01-01", "--json", "--config", config)
    assert json.loads(future.stdout) == []
    bad_time = run("audit", "list", "--since", "yesterday", "--config", config)
    assert bad_time.returncode == 2
    assert "not an ISO date" in bad_time.stderr

    shown = run("audit", "show", "3", "--config", config)
    assert "kind" in shown.stdout
    assert "detail.revoked  2" in shown.stdout
    missing = run("audit", "show", "99", "--config", config)
    assert missing.returncode == 2
    assert "no row 99" in missing.stderr

    lines = run("audit", "export", "--format", "jsonl", "--config", config).stdout.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert set(json.loads(lines[0])) == {"seq", "ts", "kind", "body", "prev_hash", "entry_hash"}
    resumed = run("audit", "export", "--after", "3", "--config", config).stdout.splitlines()
    assert resumed == lines[3:]


async def test_verify_names_the_tampered_row(write_config: Callable[[str], Path]) -> None:
    path = write_config("version: 1")
    config = str(path)
    await record(path)
    clean = run("audit", "verify", "--config", config)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "result: OK" in clean.stdout

    with sqlite3.connect(path.parent / ".quartermaster" / "quartermaster.db") as db:
        (payload,) = db.execute("SELECT payload FROM ledger WHERE seq = 3").fetchone()
        edited = bytes(payload).replace(b'"agent":"a1"', b'"agent":"a9"')
        assert edited != bytes(payload)
        db.execute("UPDATE ledger SET payload = ? WHERE seq = 3", (edited,))

    tampered = run("audit", "verify", "--config", config)
    assert tampered.returncode == 1
    assert "result: TAMPERED, first bad row 3" in tampered.stdout
    report = json.loads(run("audit", "verify", "--json", "--config", config).stdout)
    assert report["ok"] is False
    assert report["first_bad_seq"] == 3
    assert report["problems"][0]["kind"] == "altered"


async def test_verify_names_a_row_rewritten_as_text_and_never_crashes(
    write_config: Callable[[str], Path],
) -> None:
    # Issue 14 finding 8: this was a TypeError traceback, exit 1, no row named.
    path = write_config("version: 1")
    await record(path)
    with sqlite3.connect(path.parent / ".quartermaster" / "quartermaster.db") as db:
        (payload,) = db.execute("SELECT payload FROM ledger WHERE seq = 2").fetchone()
        text = bytes(payload).decode().replace('"a2"', '"a9"')
        db.execute("UPDATE ledger SET payload = ? WHERE seq = 2", (text,))
    tampered = run("audit", "verify", "--config", str(path))
    assert tampered.returncode == 1
    assert "Traceback" not in tampered.stderr
    assert "result: TAMPERED, first bad row 2" in tampered.stdout
    assert "row 2 was altered: its payload is stored as TEXT, not BLOB" in tampered.stdout


async def test_verify_with_an_anchor_catches_the_newest_rows_cut_off(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config("version: 1")
    config = str(path)
    await record(path)
    clean = run("audit", "verify", "--config", config)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (line,) = [x for x in clean.stdout.splitlines() if x.startswith("anchor: ")]
    anchor = line.split()[1]
    as_json = json.loads(run("audit", "verify", "--json", "--config", config).stdout)
    assert as_json["anchor"] == anchor
    assert anchor.startswith("5:")
    assert run("audit", "verify", "--anchor", anchor, "--config", config).returncode == 0
    with sqlite3.connect(path.parent / ".quartermaster" / "quartermaster.db") as db:
        db.execute("DELETE FROM ledger WHERE seq > 3")
        db.execute("DELETE FROM checkpoints WHERE seq > 3")
    # Without the anchor nothing in the database says rows are missing.
    assert run("audit", "verify", "--config", config).returncode == 0
    cut = run("audit", "verify", "--anchor", anchor, "--config", config)
    assert cut.returncode == 1
    assert "first bad row 4" in cut.stdout
    assert "rows 4..5 were deleted" in cut.stdout
    malformed = run("audit", "verify", "--anchor", "5", "--config", config)
    assert malformed.returncode == 2
    assert "SEQ:HASH" in malformed.stderr


def test_hash_matches_the_ledger_hmac(write_config: Callable[[str], Path], tmp_path: Path) -> None:
    config = str(write_config("version: 1"))
    key = derive_key(read_master_key_file(tmp_path / "master.key"), "audit hmac")
    as_string = run("audit", "hash", '"4812"', "--config", config).stdout.strip()
    as_number = run("audit", "hash", "4812", "--config", config).stdout.strip()
    plain = run("audit", "hash", "alice@example.com", "--config", config).stdout.strip()
    assert as_string == hash_value(key, "4812")
    assert as_number == hash_value(key, 4812)
    assert as_string != as_number
    assert plain == hash_value(key, "alice@example.com")


async def test_list_unsettled_shows_intents_without_outcomes_and_takes_no_filters(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config("version: 1")
    config = str(path)
    await record(path)
    none = run("audit", "list", "--unsettled", "--json", "--config", config)
    assert none.returncode == 0, none.stderr
    assert json.loads(none.stdout) == []
    mixed = run("audit", "list", "--unsettled", "--agent", "a1", "--config", config)
    assert mixed.returncode == 2
    assert "--unsettled combines with --limit only" in mixed.stderr
