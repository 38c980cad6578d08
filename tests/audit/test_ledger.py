"""Recording calls and events: every field, write-ahead, fail closed, group commit."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    ApprovalInfo,
    ApproverVote,
    AuditEvent,
    AuditUnavailable,
    CallOutcome,
    CallRecord,
    Ed25519Signer,
    Ledger,
    hash_value,
    verify,
)
from quartermaster.store import MemoryStore, SQLiteStore

CallFactory = Callable[..., CallRecord]
ARGS = {"ticket_id": 4812, "text": "call me at 555-0100"}
APPROVED = ApprovalInfo(
    approval_id="ap-9",
    required=2,
    votes=(
        ApproverVote("bob@acme.example", "approve", 1_800_000_010.0, "elicitation"),
        ApproverVote("carol@acme.example", "approve", 1_800_000_020.0, "cli"),
    ),
    decided_at=1_800_000_020.0,
)


def body(payload: bytes) -> dict[str, Any]:
    parsed = json.loads(payload)
    assert isinstance(parsed, dict)
    return parsed


async def test_allowed_call_records_every_field(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        intent = await ledger.record_intent(make_call(), ARGS)
        clock.advance(0.25)
        settled = await ledger.settle(intent, CallOutcome("ok", 250.0, {"phone": 1, "aws_key": 0}))
    rows = await store.ledger.read()
    assert [r.kind for r in rows] == ["call.intent", "call.outcome"]
    assert intent.seq == 1
    assert intent.ts == 1_800_000_000.0
    assert settled.seq == 2
    assert settled.ts == 1_800_000_000.25
    assert body(rows[0].payload) == {
        "v": 1,
        "boot": ledger.boot,
        "run_id": "run-7",
        "session_id": "sess-1",
        "agent": "support-bot",
        "tenant": "acme",
        "human": "alice@acme.example",
        "method": "tools/call",
        "delegation": ["alice@acme.example", "triage-agent", "support-bot"],
        "autonomous": False,
        "client": {"name": "claude-code", "version": "2.1.0"},
        "tool": "crm.append_note",
        "server": "crm",
        "target_system": "https://crm.acme.example",
        "risk": "write",
        "target": "ticket:4812",
        "args": '{"ticket_id":4812,"text":"call me at [REDACTED:phone]"}',
        "args_hmac": hash_value(hmac_key, ARGS),
        "arg_hmacs": {
            "ticket_id": hash_value(hmac_key, 4812),
            "text": hash_value(hmac_key, "call me at 555-0100"),
        },
        "decision": "allow",
        "rule_id": "crm-notes",
        "policy_version": "sha256:abc123",
        "approval": None,
        "grant": {
            "jti": "jti-1",
            "audience": "https://crm.acme.example",
            "issued_at": 1_800_000_000.0,
            "expires_at": 1_800_000_300.0,
        },
    }
    assert body(rows[1].payload) == {
        "v": 1,
        "run_id": "run-7",
        "session_id": "sess-1",
        "agent": "support-bot",
        "tenant": "acme",
        "human": "alice@acme.example",
        "tool": "crm.append_note",
        "server": "crm",
        "intent_seq": 1,
        "decision": "allow",
        "outcome": "ok",
        "latency_ms": 250.0,
        "redactions": {"aws_key": 0, "phone": 1},
        "error": None,
    }


async def test_denied_call(make_call: CallFactory, hmac_key: bytes, clock: ManualClock) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        call = make_call(decision="deny", rule_id="default-deny", grant=None, autonomous=True)
        intent = await ledger.record_intent(call, ARGS)
        await ledger.settle(intent, CallOutcome("denied", 0.4, error="no rule allows this tool"))
    intent_row, outcome_row = (body(r.payload) for r in await store.ledger.read())
    assert (intent_row["decision"], intent_row["rule_id"]) == ("deny", "default-deny")
    assert intent_row["grant"] is None
    assert intent_row["autonomous"] is True
    assert (outcome_row["outcome"], outcome_row["error"]) == ("denied", "no rule allows this tool")
    assert outcome_row["decision"] == "deny"


async def test_approved_call_names_every_approver(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        call = make_call(decision="approve", risk="dangerous", approval=APPROVED)
        await ledger.settle(await ledger.record_intent(call, ARGS), CallOutcome("ok", 12.0))
    intent_row = body((await store.ledger.read())[0].payload)
    assert intent_row["decision"] == "approve"
    assert intent_row["risk"] == "dangerous"
    assert intent_row["approval"] == {
        "approval_id": "ap-9",
        "required": 2,
        "decided_at": 1_800_000_020.0,
        "votes": [
            {
                "approver": "bob@acme.example",
                "decision": "approve",
                "at": 1_800_000_010.0,
                "via": "elicitation",
            },
            {
                "approver": "carol@acme.example",
                "decision": "approve",
                "at": 1_800_000_020.0,
                "via": "cli",
            },
        ],
    }


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("tool_error", "tool said: ticket is closed"),
        ("timeout", "no answer within 30s"),
        ("downstream_down", "connection refused"),
        ("error", "redaction failed; result blocked"),
    ],
)
async def test_failed_calls(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock, outcome: Any, error: str
) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        intent = await ledger.record_intent(make_call(), ARGS)
        await ledger.settle(intent, CallOutcome(outcome, 30_000.0, {"generic": 2}, error))
    outcome_row = body((await store.ledger.read())[1].payload)
    assert outcome_row["outcome"] == outcome
    assert outcome_row["error"] == error
    assert outcome_row["latency_ms"] == 30_000.0
    assert outcome_row["redactions"] == {"generic": 2}


async def test_events(hmac_key: bytes, clock: ManualClock) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        issued = await ledger.record_event(
            AuditEvent(
                "grant.issued",
                run_id="run-7",
                agent="support-bot",
                tenant="acme",
                tool="crm.append_note",
                detail={"jti": "jti-1", "expires_at": 1_800_000_300.0},
            )
        )
        await ledger.record_event(AuditEvent("key.rotated", detail={"old": "k1", "new": "k2"}))
    rows = await store.ledger.read()
    assert issued.kind == "grant.issued"
    assert body(rows[0].payload)["detail"] == {"jti": "jti-1", "expires_at": 1_800_000_300.0}
    assert body(rows[1].payload) == {
        "v": 1,
        "run_id": None,
        "agent": None,
        "tenant": None,
        "human": None,
        "tool": None,
        "detail": {"old": "k1", "new": "k2"},
    }


async def test_not_running_is_unavailable(make_call: CallFactory, hmac_key: bytes) -> None:
    ledger = Ledger(MemoryStore().ledger, hmac_key=hmac_key, clock=ManualClock())
    with pytest.raises(AuditUnavailable, match="not running"):
        await ledger.record_intent(make_call(), ARGS)


def test_short_hmac_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Ledger(MemoryStore().ledger, hmac_key=b"short", clock=ManualClock())


async def test_checkpoints_every_n_rows_and_on_demand(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock, signer: Ed25519Signer
) -> None:
    store = MemoryStore()
    async with Ledger(
        store.ledger,
        hmac_key=hmac_key,
        clock=clock,
        signer=signer,
        checkpoint_every=4,
        checkpoint_interval=None,
    ) as ledger:
        for _ in range(3):
            await ledger.settle(await ledger.record_intent(make_call(), ARGS), CallOutcome("ok", 1))
        assert [cp.seq for cp in await store.ledger.checkpoints()] == [4]
        await ledger.record_event(AuditEvent("key.created", detail={"kid": "k9"}))
        explicit = await ledger.checkpoint()
        assert explicit is not None
        assert explicit.seq == 7
        assert await ledger.checkpoint() == explicit
    checkpoints = await store.ledger.checkpoints()
    assert [cp.seq for cp in checkpoints] == [4, 7]
    report = await verify(store.ledger, {signer.kid: signer.public_key()})
    assert report.ok
    assert (report.rows, report.checkpoints, report.last_checkpoint_seq) == (7, 2, 7)


async def test_time_based_checkpoint_on_the_injected_clock(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock, signer: Ed25519Signer
) -> None:
    store = MemoryStore()
    async with Ledger(
        store.ledger, hmac_key=hmac_key, clock=clock, signer=signer, checkpoint_interval=30.0
    ) as ledger:
        await ledger.record_intent(make_call(), ARGS)
        assert await store.ledger.checkpoints() == []
        clock.advance(31.0)
        await ledger.record_intent(make_call(), ARGS)
        assert [cp.seq for cp in await store.ledger.checkpoints()] == [2]


async def test_close_writes_a_final_checkpoint(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock, signer: Ed25519Signer
) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock, signer=signer) as ledger:
        await ledger.record_intent(make_call(), ARGS)
    assert [cp.seq for cp in await store.ledger.checkpoints()] == [1]


class TickingClock(ManualClock):
    """Moves forward a microsecond every time it is read."""

    def now(self) -> float:
        self.advance(1e-6)
        return super().now()


async def test_fifty_clients_hundred_calls_each_on_sqlite(
    make_call: CallFactory,
    hmac_key: bytes,
    signer: Ed25519Signer,
    sqlite_store: SQLiteStore,
    db_path: Path,
) -> None:
    async def client(n: int) -> None:
        for i in range(100):
            intent = await ledger.record_intent(make_call(run_id=f"run-{n}"), {"i": i})
            await ledger.settle(intent, CallOutcome("ok", 1.0))

    clock = TickingClock()
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=clock, signer=signer) as ledger:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for n in range(50):
                    tg.start_soon(client, n)
    with sqlite3.connect(db_path) as conn:
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM ledger GROUP BY kind").fetchall())
        seqs = [s for (s,) in conn.execute("SELECT seq FROM ledger ORDER BY seq")]
        commits = conn.execute("SELECT COUNT(DISTINCT ts) FROM ledger").fetchone()[0]
    assert kinds == {"call.intent": 5000, "call.outcome": 5000}
    assert seqs == list(range(1, 10_001))
    # Every outcome names an intent of the same run that came before it.
    rows = await sqlite_store.ledger.read(limit=20_000)
    by_seq = {r.seq: body(r.payload) for r in rows}
    for seq, row in by_seq.items():
        if "intent_seq" in row:
            assert row["intent_seq"] < seq
            assert by_seq[row["intent_seq"]]["run_id"] == row["run_id"]
    report = await verify(sqlite_store.ledger, {signer.kid: signer.public_key()})
    assert report.ok, report.problems
    assert report.rows == 10_000
    assert report.checkpoints >= 10
    # The ticking clock gives every transaction its own timestamp: group commit wrote the
    # 10,000 rows in far fewer transactions than rows.
    assert commits < 2_500


async def test_canary_secrets_never_reach_the_database_file(
    make_call: CallFactory,
    hmac_key: bytes,
    clock: ManualClock,
    sqlite_store: SQLiteStore,
    db_path: Path,
) -> None:
    canary = "sk_live_" + secrets.token_urlsafe(24)
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        call = make_call(args_redacted='{"api_key":"[REDACTED:stripe_key]"}')
        intent = await ledger.record_intent(call, {"api_key": canary, "nested": {"k": canary}})
        await ledger.settle(intent, CallOutcome("ok", 3.0, {"stripe_key": 1}))
    await sqlite_store.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())
    assert canary.encode() not in raw
    assert b"REDACTED:stripe_key" in raw
    assert hmac_key not in raw
    assert hmac_key.hex().encode() not in raw
