"""Listing, showing, exporting and rendering rows; the same on every store."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    AuditEvent,
    AuditFilter,
    CallOutcome,
    CallRecord,
    Ed25519Signer,
    Ledger,
    export_jsonl,
    hash_value,
    list_rows,
    render_json,
    render_row,
    render_table,
    render_verify,
    show_row,
    verify,
)
from quartermaster.store import MemoryStore, PostgresStore, SQLiteStore, Store

CallFactory = Callable[..., CallRecord]
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    name = f"qm_audit_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def filled(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_schema: str,
    make_call: CallFactory,
    hmac_key: bytes,
    signer: Ed25519Signer,
) -> AsyncIterator[Store]:
    """A store holding: run-a (alice, ok), run-b (bob, denied), a grant event, run-a again."""
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = await SQLiteStore.open(tmp_path / "q.db")
    else:
        store = await PostgresStore.open(POSTGRES_URL, schema=pg_schema)
    clock = ManualClock(1_000.0)
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock, signer=signer) as ledger:
        intent = await ledger.record_intent(make_call(run_id="run-a"), {"ticket_id": 1})
        clock.advance(10)
        await ledger.settle(intent, CallOutcome("ok", 4.0))
        clock.advance(10)
        denied = make_call(run_id="run-b", human="bob", tool="db.drop", decision="deny")
        intent = await ledger.record_intent(denied, {"table": "users"})
        await ledger.settle(intent, CallOutcome("denied", 0.1))
        clock.advance(10)
        await ledger.record_event(
            AuditEvent("grant.issued", run_id="run-a", agent="support-bot", detail={"jti": "j1"})
        )
        clock.advance(10)
        intent = await ledger.record_intent(make_call(run_id="run-a"), {"ticket_id": 2})
        await ledger.settle(intent, CallOutcome("tool_error", 9.0))
    try:
        yield store
    finally:
        await store.close()


async def seqs(store: Store, which: AuditFilter) -> list[int]:
    return [r.seq for r in await list_rows(store.ledger, which)]


async def test_filters(filled: Store) -> None:
    assert await seqs(filled, AuditFilter()) == [1, 2, 3, 4, 5, 6, 7]
    assert await seqs(filled, AuditFilter(run_id="run-a")) == [1, 2, 5, 6, 7]
    assert await seqs(filled, AuditFilter(human="bob")) == [3, 4]
    assert await seqs(filled, AuditFilter(tool="db.drop")) == [3, 4]
    assert await seqs(filled, AuditFilter(outcome="denied")) == [4]
    assert await seqs(filled, AuditFilter(tenant="acme", outcome="tool_error")) == [7]
    assert await seqs(filled, AuditFilter(agent="support-bot", kinds=("grant.issued",))) == [5]
    assert await seqs(filled, AuditFilter(since=1_020.0, until=1_030.0)) == [3, 4]
    assert await seqs(filled, AuditFilter(after_seq=4, limit=2)) == [5, 6]
    assert await seqs(filled, AuditFilter(run_id="nope")) == []


async def test_show_row(filled: Store, hmac_key: bytes) -> None:
    row = await show_row(filled.ledger, 3)
    assert row is not None
    assert row.kind == "call.intent"
    assert row.body["decision"] == "deny"
    assert row.body["args_hmac"] == hash_value(hmac_key, {"table": "users"})
    assert row.body["arg_hmacs"]["table"] == hash_value(hmac_key, "users")
    assert await show_row(filled.ledger, 99) is None
    assert await show_row(filled.ledger, 0) is None


async def test_export_is_resumable_and_verifiable(filled: Store) -> None:
    lines = [line async for line in export_jsonl(filled.ledger, page=2)]
    assert len(lines) == 7
    assert all(line.endswith("\n") for line in lines)
    parsed = [json.loads(line) for line in lines]
    assert [p["seq"] for p in parsed] == [1, 2, 3, 4, 5, 6, 7]
    assert parsed[1]["body"]["outcome"] == "ok"
    assert parsed[1]["prev_hash"] == parsed[0]["entry_hash"]
    resumed = [line async for line in export_jsonl(filled.ledger, after_seq=4)]
    assert resumed == lines[4:]


async def test_renderings(filled: Store, signer: Ed25519Signer) -> None:
    rows = await list_rows(filled.ledger, AuditFilter())
    table = render_table(rows).splitlines()
    assert table[0].split() == [
        "seq",
        "time",
        "(UTC)",
        "kind",
        "run",
        "agent",
        "human",
        "tool",
        "result",
    ]
    assert len(table) == 2 + 7
    assert "1970-01-01 00:16:40.000" in table[2]
    assert "allow" in table[2]
    assert "ok (4.0 ms)" in table[3]
    assert "denied (0.1 ms)" in table[5]
    assert "jti=j1" in table[6]
    shown = render_row(rows[0])
    assert 'client.name         "claude-code"' in shown or "client.name" in shown
    assert "grant.jti" in shown
    assert '"alice@acme.example"' in shown
    assert json.loads(render_json(rows))[3]["body"]["outcome"] == "denied"
    report = await verify(filled.ledger, {signer.kid: signer.public_key()})
    text = render_verify(report)
    assert "rows: 7" in text
    assert "result: OK" in text


def test_render_table_of_nothing_is_a_header() -> None:
    assert render_table([]).splitlines()[0].startswith("seq")
