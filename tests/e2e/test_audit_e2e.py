"""The audit ledger as the proxy writes it and an operator reads it, whole system in process.

Every test runs the proxy in process (the probe downstream in memory, the demo desk on
loopback HTTP) and reads the ledger back through `quartermaster audit ...` after the proxy
has stopped (the ledger writes what is queued when it closes), or with a bounded wait on
`audit list`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import mcp.types as types
import pytest
from mcp.client.context import ClientRequestContext

from quartermaster.audit import entry_hash, hash_value
from quartermaster.policy import policy_version
from quartermaster.runtime import derive_key, load
from quartermaster.vault import read_master_key_file
from tests.e2e.audit_support import (
    Call,
    audit_config,
    calls,
    cli,
    cli_ok,
    export,
    hammer,
    listed,
)
from tests.harness import MODES, http_front, issue_token, memory_client

CLIENT = types.Implementation(name="audit-tests", version="9.1")
IDENTITY_FIELDS = ("run_id", "session_id", "agent", "tenant", "human", "tool", "server")


async def approve(
    context: ClientRequestContext, params: types.ElicitRequestParams
) -> types.ElicitResult:
    """The human says yes to every approval prompt."""
    return types.ElicitResult(action="accept", content={"approve": True})


def only(found: list[Call], tool: str) -> Call:
    """The single call of ``tool``."""
    matching = [call for call in found if call.tool == tool]
    assert len(matching) == 1, [call.tool for call in found]
    return matching[0]


def hmac_of(directory: Path) -> Callable[[Any], str]:
    """The argument HMAC the ledger writes, under the key derived from the master key."""
    key = derive_key(read_master_key_file(directory / "master.key"), "audit hmac")
    return lambda value: hash_value(key, value)


def check_identity(call: Call, *, session: str | None = None) -> None:
    """The fields every call row carries, and the outcome repeating the intent's."""
    intent, outcome = call.intent["body"], call.outcome["body"]
    assert intent["v"] == 1
    assert intent["agent"] == "tester"
    assert intent["tenant"] == "acme"
    assert intent["human"] == "alice@example.com"
    assert intent["delegation"] == []
    assert intent["autonomous"] is True
    assert intent["client"] == {"name": "audit-tests", "version": "9.1"}
    assert intent["run_id"].startswith("run_")
    assert isinstance(intent["session_id"], str)
    assert intent["session_id"]
    if session is not None:
        assert intent["session_id"] == session
    for field in (*IDENTITY_FIELDS, "decision"):
        assert outcome[field] == intent[field], field
    assert outcome["intent_seq"] == call.intent["seq"]
    assert call.intent["seq"] < call.outcome["seq"]
    assert call.intent["ts"] <= call.outcome["ts"]
    assert outcome["latency_ms"] > 0


def check_grant(call: Call, audience: str, ttl: float) -> None:
    """The grant recorded for an executed call: id, audience, issued, expiry."""
    grant = call.intent["body"]["grant"]
    assert set(grant) == {"jti", "audience", "issued_at", "expires_at"}
    assert isinstance(grant["jti"], str)
    assert len(grant["jti"]) >= 16
    assert grant["audience"] == audience
    assert grant["issued_at"] <= call.intent["ts"]
    assert 0 < grant["expires_at"] - grant["issued_at"] <= ttl


@pytest.mark.parametrize("mode", MODES)
async def test_every_field_of_allowed_denied_approved_and_failed_calls(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(audit_config(tmp_path))
    canary = "qm-canary-" + secrets.token_urlsafe(24)
    cli_ok("secrets", "set", "canary", "--config", str(config), stdin=canary)

    async with memory_client(config, mode, elicitation_callback=approve, client_info=CLIENT) as c:
        echoed = await c.call_tool("probe__echo", {"text": "secret://canary"})
        failed = await c.call_tool("probe__fail", {"why": "because"})
        denied = await c.call_tool("probe__destroy", {})
        read = await c.call_tool("desk__get_ticket", {"ticket_id": 4812})
        noted = await c.call_tool("desk__append_note", {"ticket_id": 4813, "text": "called back"})
    assert echoed.structured_content == {
        "echoed": "[REDACTED:known_secret#1]",
        "length": len(canary),
    }
    assert failed.is_error is True
    assert denied.is_error is True
    assert read.is_error is not True
    assert noted.is_error is not True
    assert noted.structured_content is not None
    assert noted.structured_content["notes"] == ["called back"]

    rows = export(config)
    found = calls(rows)
    audit_hash = hmac_of(tmp_path)
    assert [call.tool for call in found] == [
        "probe__echo",
        "probe__fail",
        "probe__destroy",
        "desk__get_ticket",
        "desk__append_note",
    ]
    first_session = found[0].intent["body"]["session_id"]
    for call in found:
        check_identity(call, session=first_session if mode == "legacy" else None)
        assert call.intent["body"]["policy_version"] == policy_version(load(config).config.policy)
    if mode == "legacy":
        # No run named in _meta: one run per session.
        assert len({call.intent["body"]["run_id"] for call in found}) == 1

    # Allowed, with a vault secret passed by handle and echoed back.
    echo = only(found, "probe__echo")
    body = echo.intent["body"]
    # The probe's readOnlyHint is not believed: undeclared, echo is a write.
    assert (body["decision"], body["rule_id"], body["risk"]) == ("allow", "probe-tools", "write")
    assert (body["server"], body["target_system"], body["target"]) == ("probe", "probe", None)
    assert body["args"] == '{"text":"secret://canary"}'
    # The operator's command computes the same HMAC as the ledger wrote.
    by_cli = cli_ok("audit", "hash", '"secret://canary"', "--config", str(config)).strip()
    assert body["arg_hmacs"] == {"text": by_cli} == {"text": audit_hash("secret://canary")}
    assert body["args_hmac"] == audit_hash({"text": "secret://canary"})
    assert body["approval"] is None
    check_grant(echo, "probe", 300)
    assert echo.outcome["body"]["outcome"] == "ok"
    assert echo.outcome["body"]["error"] is None
    assert echo.outcome["body"]["redactions"]["known_secret"] >= 1
    used = [row for row in rows if row["kind"] == "secret.used"]
    assert [row["body"]["detail"]["handle"] for row in used] == ["secret://canary"]

    # A tool error: the tool ran and said no.
    fail = only(found, "probe__fail")
    assert fail.intent["body"]["risk"] == "write"
    assert fail.intent["body"]["arg_hmacs"] == {"why": audit_hash("because")}
    assert fail.outcome["body"]["outcome"] == "tool_error"
    assert fail.outcome["body"]["redactions"] == {}

    # Denied by a forbid rule: no grant, no approval, and the reason names the rule.
    destroy = only(found, "probe__destroy")
    body = destroy.intent["body"]
    assert (body["decision"], body["rule_id"], body["risk"]) == ("deny", "no-destroy", "dangerous")
    assert body["grant"] is None
    assert body["approval"] is None
    assert body["args_hmac"] == audit_hash({})
    assert destroy.outcome["body"]["outcome"] == "denied"
    assert "no-destroy" in destroy.outcome["body"]["error"]

    # A read with a target: the number 4812 hashes as a number, not as the string "4812".
    ticket = only(found, "desk__get_ticket")
    body = ticket.intent["body"]
    assert (body["decision"], body["rule_id"], body["risk"]) == ("allow", "desk-reads", "read")
    assert (body["server"], body["target_system"]) == ("desk", "desk")
    assert body["target"] == "ticket:4812"
    assert body["arg_hmacs"] == {"ticket_id": audit_hash(4812)}
    assert body["arg_hmacs"]["ticket_id"] != audit_hash("4812")
    check_grant(ticket, "desk", 300)
    assert ticket.outcome["body"]["outcome"] == "ok"

    # Approved by the human through the client's elicitation callback.
    note = only(found, "desk__append_note")
    body = note.intent["body"]
    assert (body["decision"], body["rule_id"], body["risk"]) == ("approve", "desk-notes", "write")
    assert body["target"] == "ticket:4813"
    assert body["args"] == '{"text":"called back","ticket_id":4813}'
    approval = body["approval"]
    assert approval["approval_id"].startswith("apr_")
    assert approval["required"] == 1
    [vote] = approval["votes"]
    assert (vote["approver"], vote["decision"], vote["via"]) == (
        "alice@example.com",
        "approve",
        "elicitation",
    )
    assert approval["decided_at"] == vote["at"] <= note.intent["ts"]
    check_grant(note, "desk", 120)
    assert note.outcome["body"]["outcome"] == "ok"
    requested = [row for row in rows if row["kind"] == "approval.requested"]
    assert [row["body"]["detail"]["approval_id"] for row in requested] == [approval["approval_id"]]

    # The secret never reaches the ledger, neither through the CLI nor in the file itself.
    assert canary not in json.dumps(rows)
    state = tmp_path / ".quartermaster"
    for path in state.iterdir():
        assert canary.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_named_in_meta_is_the_rows_run(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(audit_config(tmp_path))
    meta = cast(types.RequestParamsMeta, {"quartermaster/run_id": "ticket-4812-triage"})
    async with memory_client(config, mode) as client:
        await client.call_tool("probe__echo", {"text": "one"}, meta=meta)
        await client.call_tool("probe__destroy", {}, meta=meta)
        await client.call_tool("probe__echo", {"text": "unnamed"})
    found = calls(export(config))
    runs = [(call.intent["body"]["run_id"], call.outcome["body"]["run_id"]) for call in found]
    assert runs[:2] == [("ticket-4812-triage", "ticket-4812-triage")] * 2
    assert runs[2][0] == runs[2][1] != "ticket-4812-triage"


@pytest.mark.parametrize("mode", MODES)
async def test_timeouts_and_crashes_are_recorded(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(audit_config(tmp_path, call_timeout=1))
    async with memory_client(config, mode, client_info=CLIENT) as client:
        hung = await client.call_tool("probe__hang", {"wait": True})
        crashed = await client.call_tool("probe__crash", {})
    assert hung.is_error is True
    assert crashed.is_error is True

    found = calls(export(config))
    assert [call.tool for call in found] == ["probe__hang", "probe__crash"]
    hang, crash = found
    for call in found:
        check_identity(call)
        assert call.intent["body"]["decision"] == "allow"
        assert call.intent["body"]["rule_id"] == "probe-tools"
        check_grant(call, "probe", 300)
    assert hang.outcome["body"]["outcome"] == "timeout"
    assert "no answer to tools/call 'hang' within 1 s" in hang.outcome["body"]["error"]
    assert hang.outcome["body"]["latency_ms"] >= 1000
    assert crash.outcome["body"]["outcome"] == "downstream_down"
    assert "downstream 'probe'" in crash.outcome["body"]["error"]


@pytest.mark.parametrize("mode", MODES)
async def test_two_approvers_out_of_band(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(audit_config(tmp_path))
    arguments = {"ticket_id": 4814}
    async with memory_client(config, mode, client_info=CLIENT) as client:
        waiting = await client.call_tool("desk__delete_ticket", arguments)
        assert waiting.is_error is True
        assert isinstance(waiting.content[0], types.TextContent)
        match = re.search(r"approval (apr_[A-Za-z0-9_-]+) is waiting", waiting.content[0].text)
        assert match is not None, waiting.content[0].text
        approval_id = match.group(1)
        for approver in ("bob@example.com", "carol@example.com"):
            issued = cli_ok("approvers", "issue", approver, "--tenant", "acme",
                            "--config", str(config))  # fmt: skip
            cli_ok("approvals", "approve", approval_id, "--credential", "-",
                   "--config", str(config), stdin=issued)  # fmt: skip
        deleted = await client.call_tool("desk__delete_ticket", arguments)
    assert deleted.is_error is not True, deleted.content

    rows = export(config)
    found = calls(rows)
    assert [call.tool for call in found] == ["desk__delete_ticket"] * 2
    asked, done = found
    for call in found:
        check_identity(call)
        body = call.intent["body"]
        assert (body["decision"], body["rule_id"], body["risk"]) == (
            "approve",
            "desk-deletes",
            "dangerous",
        )
        assert body["target"] == "ticket:4814"
    assert asked.intent["body"]["grant"] is None
    assert asked.outcome["body"]["outcome"] == "denied"
    assert approval_id in asked.outcome["body"]["error"]
    approval = done.intent["body"]["approval"]
    assert approval["approval_id"] == approval_id
    assert approval["required"] == 2
    assert [(v["approver"], v["decision"], v["via"]) for v in approval["votes"]] == [
        ("bob@example.com", "approve", "cli"),
        ("carol@example.com", "approve", "cli"),
    ]
    assert approval["decided_at"] == max(v["at"] for v in approval["votes"])
    check_grant(done, "desk", 300)
    assert done.outcome["body"]["outcome"] == "ok"
    kinds = [row["kind"] for row in rows if row["kind"].startswith("approval.")]
    assert kinds.count("approval.requested") == 1
    assert kinds.count("approval.voted") == 2


def tamper_copy(source: Path, target: Path) -> Path:
    """A copy of a Quartermaster directory (config and database) to tamper with."""
    target.mkdir()
    shutil.copy(source / "tools.yaml", target / "tools.yaml")
    shutil.copytree(source / ".quartermaster", target / ".quartermaster")
    return target / "tools.yaml"


def execute(config: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run SQL on the copy's database directly, as someone with file access would."""
    with sqlite3.connect(config.parent / ".quartermaster" / "quartermaster.db") as db:
        for sql, params in statements:
            db.execute(sql, params)


def verify_report(config: Path) -> tuple[int, dict[str, Any]]:
    """The exit status and JSON report of ``quartermaster audit verify``."""
    done = cli("audit", "verify", "--json", "--config", str(config))
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


async def test_tampering_with_the_database_is_found_and_located(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    # Pinning off: the listing's row (seq 1), then only the calls' rows, at the seqs the
    # tampering below names.
    config = write_config(audit_config(tmp_path, pinning="off"))
    async with memory_client(config, "legacy") as client:
        await client.list_tools()
        for n in range(4):
            await client.call_tool("probe__echo", {"text": f"call {n}"})
    rows = export(config)
    assert len(rows) == 9

    untouched = cli("audit", "verify", "--config", str(config))
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    assert "result: OK" in untouched.stdout

    edited = tamper_copy(tmp_path, tmp_path / "edited")
    payload = json.dumps(rows[3]["body"], sort_keys=True, separators=(",", ":"))
    forged = payload.replace("call 1", "call X").encode()
    assert forged != payload.encode()
    execute(edited, ("UPDATE ledger SET payload = ? WHERE seq = 4", (forged,)))
    status = cli("audit", "verify", "--config", str(edited))
    assert status.returncode == 1
    assert "result: TAMPERED, first bad row 4" in status.stdout

    deleted = tamper_copy(tmp_path, tmp_path / "deleted")
    execute(deleted, ("DELETE FROM ledger WHERE seq = 5", ()))

    inserted = tamper_copy(tmp_path, tmp_path / "inserted")
    with sqlite3.connect(tmp_path / ".quartermaster" / "quartermaster.db") as db:
        ts, kind, prev = db.execute(
            "SELECT ts, kind, entry_hash FROM ledger WHERE seq = 5"
        ).fetchone()
    ghost = b'{"outcome":"ok","run_id":"ghost"}'
    execute(
        inserted,
        ("UPDATE ledger SET seq = seq + 100 WHERE seq >= 6", ()),
        ("UPDATE ledger SET seq = seq - 99 WHERE seq >= 106", ()),
        (
            "INSERT INTO ledger (seq, ts, kind, payload, prev_hash, entry_hash) "
            "VALUES (6, ?, ?, ?, ?, ?)",
            (ts, kind, ghost, prev, entry_hash(bytes(prev), 6, ts, kind, ghost)),
        ),
    )

    reordered = tamper_copy(tmp_path, tmp_path / "reordered")
    execute(
        reordered,
        ("UPDATE ledger SET seq = -1 WHERE seq = 6", ()),
        ("UPDATE ledger SET seq = 6 WHERE seq = 7", ()),
        ("UPDATE ledger SET seq = 7 WHERE seq = -1", ()),
    )

    truncated = tamper_copy(tmp_path, tmp_path / "truncated")
    execute(truncated, ("DELETE FROM ledger WHERE seq > 7", ()))

    for copy, first_bad, kind in (
        (edited, 4, "altered"),
        (deleted, 5, "deleted"),
        (inserted, 6, None),
        (reordered, 6, None),
        (truncated, 8, "truncated"),
    ):
        status_code, report = verify_report(copy)
        assert status_code == 1, (copy.parent.name, report)
        assert report["ok"] is False
        assert report["first_bad_seq"] == first_bad, (copy.parent.name, report)
        if kind is not None:
            assert report["problems"][0]["kind"] == kind, (copy.parent.name, report)


def text_of(result: types.CallToolResult) -> str:
    """The text of a result's first content block."""
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


@pytest.mark.parametrize("mode", MODES)
async def test_a_locked_store_refuses_the_call_before_the_downstream(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        audit_config(tmp_path, notes_approval="none", store="store: {busy_timeout_ms: 100}")
    )
    database = tmp_path / ".quartermaster" / "quartermaster.db"
    async with memory_client(config, mode) as client:
        before = await client.call_tool("desk__append_note", {"ticket_id": 4812, "text": "before"})
        # Another process holds the write lock for as long as the call takes.
        lock = sqlite3.connect(database, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            refused = await client.call_tool(
                "desk__append_note", {"ticket_id": 4812, "text": "while locked"}
            )
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        after = await client.call_tool("desk__append_note", {"ticket_id": 4812, "text": "after"})
        ticket = await client.call_tool("desk__get_ticket", {"ticket_id": 4812})
    assert before.is_error is not True
    assert refused.is_error is True
    assert "locked by another writer" in text_of(refused)
    assert after.is_error is not True
    # The desk never saw the refused note: nothing ran without its audit row.
    assert ticket.structured_content is not None
    assert ticket.structured_content["notes"] == ["before", "after"]

    found = calls(export(config))
    assert [json.loads(call.intent["body"]["args"]).get("text") for call in found] == [
        "before",
        "after",
        None,
    ]
    assert {call.outcome["body"]["outcome"] for call in found} == {"ok"}
    assert cli("audit", "verify", "--config", str(config)).returncode == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_full_store_refuses_the_call(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(
        audit_config(tmp_path, notes_approval="none", store="store: {max_bytes: 262144}")
    )
    note = "n" * 8000
    results: list[types.CallToolResult] = []
    async with memory_client(config, mode) as client:
        with anyio.fail_after(120):
            while not (results and results[-1].is_error):
                results.append(
                    await client.call_tool("desk__append_note", {"ticket_id": 4812, "text": note})
                )
                assert len(results) < 60, "the store never filled"
    assert len(results) > 1
    assert all(result.is_error is not True for result in results[:-1])
    refusal = text_of(results[-1])
    assert "full" in refusal
    assert "store.max_bytes" in refusal

    # Every note the desk took has its intent and outcome; the refused one has neither.
    found = calls(export(config))
    assert len(found) == len(results) - 1
    assert {call.outcome["body"]["outcome"] for call in found} == {"ok"}


# Fifty clients at once is what makes commits batch and race; eight calls each is enough for
# every client to overlap the others many times (twenty took 30 s a mode for no new case).
CLIENTS, CALLS_EACH = 50, 8


@pytest.mark.parametrize("mode", MODES)
async def test_concurrent_clients_leave_exactly_one_intent_and_outcome_per_call(
    mode: str, tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    config = write_config(audit_config(tmp_path))
    token = await issue_token(config)
    with anyio.fail_after(240):
        async with http_front(config) as (url, _):
            errors = await hammer(url, mode, token, clients=CLIENTS, calls_each=CALLS_EACH)
    assert errors == 0

    rows = export(config)
    found = calls(rows)
    total = CLIENTS * CALLS_EACH
    assert sum(row["kind"] == "call.intent" for row in rows) == total
    assert sum(row["kind"] == "call.outcome" for row in rows) == total
    texts = [json.loads(call.intent["body"]["args"])["text"] for call in found]
    assert sorted(texts) == sorted(f"c{i}-{j}" for i in range(CLIENTS) for j in range(CALLS_EACH))
    assert {call.outcome["body"]["outcome"] for call in found} == {"ok"}
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    verified = cli("audit", "verify", "--config", str(config))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def seqs(rows: list[dict[str, Any]]) -> list[int]:
    """The row numbers of ``rows``."""
    return [row["seq"] for row in rows]


async def test_list_filters_and_resumable_export(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    # The client's era does not change what is filtered: one era suffices here. Pinning off:
    # each client's listing and then its calls' rows are seqs 1 to 8.
    config = write_config(audit_config(tmp_path, pinning="off"))
    async with memory_client(config, "legacy") as client:
        await client.list_tools()
        await client.call_tool("probe__echo", {"text": "from tester"})
        await client.call_tool("probe__destroy", {})
    other = {"QUARTERMASTER_AGENT": "other-bot", "QUARTERMASTER_TENANT": "beta",
             "QUARTERMASTER_ON_BEHALF_OF": "bob@example.com"}  # fmt: skip
    async with memory_client(config, "legacy", environ={**os.environ, **other}) as client:
        await client.list_tools()
        await client.call_tool("probe__echo", {"text": "from other-bot"})
    rows = export(config)
    found = calls(rows)
    assert [call.tool for call in found] == ["probe__echo", "probe__destroy", "probe__echo"]
    tester_run = found[0].intent["body"]["run_id"]
    other_run = found[2].intent["body"]["run_id"]
    assert tester_run != other_run
    # A listing shares its connection's run.
    mine = [1, 2, 3, 4, 5]
    theirs = [6, 7, 8]
    assert [seqs([c.intent, c.outcome]) for c in found] == [[2, 3], [4, 5], [7, 8]]

    def filtered(*flags: str) -> list[int]:
        return seqs(listed(config, *flags))

    assert filtered("--run", tester_run) == mine
    assert filtered("--run", other_run) == theirs
    assert filtered("--agent", "other-bot") == theirs
    assert filtered("--tenant", "acme") == mine
    assert filtered("--human", "bob@example.com") == theirs
    assert filtered("--tool", "probe__destroy") == [4, 5]
    assert filtered("--outcome", "denied") == [5]
    assert filtered("--agent", "tester", "--tool", "probe__echo") == [2, 3]
    assert filtered("--agent", "nobody") == []
    boundary = repr(rows[5]["ts"])
    assert filtered("--since", boundary) == theirs
    assert filtered("--until", boundary) == mine
    assert filtered("--since", repr(rows[2]["ts"]), "--until", repr(rows[4]["ts"])) == [3, 4]

    lines = cli_ok("audit", "export", "--format", "jsonl", "--config", str(config)).splitlines()
    assert [json.loads(line) for line in lines] == rows
    resumed = cli_ok("audit", "export", "--format", "jsonl", "--after", "5", "--config",
                     str(config)).splitlines()  # fmt: skip
    assert resumed == lines[5:]
    assert cli_ok("audit", "export", "--after", "8", "--config", str(config)) == ""
