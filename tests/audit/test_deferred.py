"""A call's grant is kept with its intent; outcomes queued without waiting are never lost."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import AuditUnavailable, CallOutcome, CallRecord, Ledger
from quartermaster.store import (
    ChainFunction,
    GrantRecord,
    LedgerEntry,
    LedgerRepo,
    MemoryStore,
    SQLiteStore,
    StoreUnavailable,
)
from tests.audit.audit_fakes import grant_row

CallFactory = Callable[..., CallRecord]


class ControlledRepo:
    """A real ledger repo whose appends can be made to fail or to wait for a gate."""

    def __init__(self, inner: LedgerRepo) -> None:
        self._inner = inner
        self.failures_left = 0
        self.gate: anyio.Event | None = None
        self.entered = anyio.Event()
        self.appends: list[list[str]] = []

    async def append(
        self,
        bodies: Sequence[tuple[str, bytes]],
        chain: ChainFunction,
        ts: float,
        *,
        grants: Sequence[GrantRecord] = (),
    ) -> list[LedgerEntry]:
        self.entered.set()
        self.appends.append([kind for kind, _ in bodies])
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise StoreUnavailable("the disk went away")
        return await self._inner.append(bodies, chain, ts, grants=grants)

    async def checkpoints(self) -> list[object]:
        return []


def kinds(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT kind FROM ledger ORDER BY seq")]


async def test_intent_and_grant_are_written_together(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock, sqlite_store: SQLiteStore
) -> None:
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        intent = await ledger.record_intent(make_call(), {"n": 1}, grant=grant_row("g-1"))
    assert await sqlite_store.grants.get("g-1") == grant_row("g-1")
    (row,) = await sqlite_store.ledger.read()
    assert (row.seq, row.kind) == (intent.seq, "call.intent")


async def test_a_grant_that_cannot_be_kept_leaves_no_intent(
    make_call: CallFactory,
    hmac_key: bytes,
    clock: ManualClock,
    sqlite_store: SQLiteStore,
    db_path: Path,
) -> None:
    await sqlite_store.grants.record(grant_row("taken"))
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        with pytest.raises(AuditUnavailable, match="nothing was written"):
            await ledger.record_intent(make_call(), {}, grant=grant_row("taken"))
        # The ledger goes on: the next call is recorded.
        await ledger.record_intent(make_call(), {}, grant=grant_row("fresh"))
    assert kinds(db_path) == ["call.intent"]
    assert await sqlite_store.grants.get("fresh") is not None


async def test_a_failed_intent_keeps_no_grant(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    async with Ledger(repo, hmac_key=hmac_key, clock=clock) as ledger:  # type: ignore[arg-type]
        repo.failures_left = 1
        with pytest.raises(AuditUnavailable, match="disk went away"):
            await ledger.record_intent(make_call(), {}, grant=grant_row("g-1"))
    assert await store.grants.get("g-1") is None
    assert await store.ledger.read() == []


async def test_settle_soon_returns_before_the_row_is_written(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    with anyio.fail_after(10):
        async with Ledger(repo, hmac_key=hmac_key, clock=clock) as ledger:  # type: ignore[arg-type]
            intent = await ledger.record_intent(make_call(), {})
            repo.gate, repo.entered = anyio.Event(), anyio.Event()
            await ledger.settle_soon(intent, CallOutcome("ok", 2.0))
            await repo.entered.wait()
            assert [e.kind for e in await store.ledger.read()] == ["call.intent"]
            repo.gate.set()
    rows = await store.ledger.read()
    assert [e.kind for e in rows] == ["call.intent", "call.outcome"]
    assert json.loads(rows[1].payload)["intent_seq"] == intent.seq


async def test_a_failed_background_settle_is_logged_and_written_on_close(
    make_call: CallFactory,
    hmac_key: bytes,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    caplog.set_level(logging.INFO, logger="quartermaster.audit")
    with anyio.fail_after(10):
        async with Ledger(repo, hmac_key=hmac_key, clock=clock) as ledger:  # type: ignore[arg-type]
            intent = await ledger.record_intent(make_call(), {})
            repo.failures_left = 1
            await ledger.settle_soon(intent, CallOutcome("ok", 2.0))
    assert [e.kind for e in await store.ledger.read()] == ["call.intent", "call.outcome"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "could not write 1 queued outcome row(s), will retry" in errors[0].getMessage()
    assert "disk went away" in errors[0].getMessage()


async def test_a_retried_settle_goes_first_and_does_not_fail_waiting_calls(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    with anyio.fail_after(10):
        async with Ledger(repo, hmac_key=hmac_key, clock=clock) as ledger:  # type: ignore[arg-type]
            first = await ledger.record_intent(make_call(run_id="r1"), {})
            repo.failures_left = 1
            repo.gate, repo.entered = anyio.Event(), anyio.Event()
            await ledger.settle_soon(first, CallOutcome("ok", 2.0))
            # The outcome's own batch is under way (and about to fail) before the next call.
            await repo.entered.wait()
            repo.gate.set()
            second = await ledger.record_intent(make_call(run_id="r2"), {})
            assert second.seq == 3
            rows = await store.ledger.read()
    assert [(e.seq, e.kind) for e in rows] == [
        (1, "call.intent"),
        (2, "call.outcome"),
        (3, "call.intent"),
    ]


async def test_an_outcome_that_can_never_be_written_is_logged_as_lost(
    make_call: CallFactory,
    hmac_key: bytes,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    with anyio.fail_after(10):
        async with Ledger(repo, hmac_key=hmac_key, clock=clock) as ledger:  # type: ignore[arg-type]
            intent = await ledger.record_intent(make_call(), {})
            repo.failures_left = 100
            await ledger.settle_soon(intent, CallOutcome("ok", 2.0))
    assert [e.kind for e in await store.ledger.read()] == ["call.intent"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("lost 1 outcome row(s)" in m and "disk went away" in m for m in messages)


async def test_settle_soon_on_a_closed_ledger_refuses(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    async with Ledger(store.ledger, hmac_key=hmac_key, clock=clock) as ledger:
        intent = await ledger.record_intent(make_call(), {})
    with pytest.raises(AuditUnavailable, match="not running"):
        await ledger.settle_soon(intent, CallOutcome("ok", 1.0))


async def test_a_queued_outcome_shares_the_next_calls_commit_without_delaying_it(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    ledger = Ledger(repo, hmac_key=hmac_key, clock=clock, outcome_delay=30.0)  # type: ignore[arg-type]
    async with ledger:
        first = await ledger.record_intent(make_call(run_id="r1"), {})
        await ledger.settle_soon(first, CallOutcome("ok", 2.0))
        with anyio.fail_after(10):  # far less than the outcome's 30 s allowance
            await ledger.record_intent(make_call(run_id="r2"), {})
    assert repo.appends == [["call.intent"], ["call.outcome", "call.intent"]]


async def test_a_queued_outcome_alone_is_written_after_the_delay(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    async with Ledger(repo, hmac_key=hmac_key, clock=clock, outcome_delay=0.01) as ledger:  # type: ignore[arg-type]
        intent = await ledger.record_intent(make_call(), {})
        repo.entered = anyio.Event()
        await ledger.settle_soon(intent, CallOutcome("ok", 2.0))
        with anyio.fail_after(10):
            await repo.entered.wait()
    assert repo.appends == [["call.intent"], ["call.outcome"]]


# Group commit: callers that come while a commit is under way share the next one, and a
# caller that goes away does not take the others' rows with it.


async def test_callers_during_a_write_share_the_next_commit(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    repo.gate = anyio.Event()
    seqs: list[int] = []

    async def call(run_id: str) -> None:
        seqs.append((await ledger.record_intent(make_call(run_id=run_id), {})).seq)

    ledger = Ledger(repo, hmac_key=hmac_key, clock=clock)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with ledger, anyio.create_task_group() as tasks:
            tasks.start_soon(call, "first")
            await repo.entered.wait()
            for n in range(9):
                tasks.start_soon(call, f"follower-{n}")
            await anyio.wait_all_tasks_blocked()
            repo.gate.set()
    assert repo.appends == [["call.intent"], ["call.intent"] * 9]
    assert sorted(seqs) == list(range(1, 11))


async def test_a_caller_cancelled_mid_write_does_not_stop_the_batch(
    make_call: CallFactory, hmac_key: bytes, clock: ManualClock
) -> None:
    store = MemoryStore()
    repo = ControlledRepo(store.ledger)
    ledger = Ledger(repo, hmac_key=hmac_key, clock=clock, outcome_delay=30.0)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with ledger:
            first = await ledger.record_intent(make_call(run_id="r1"), {})
            repo.appends.clear()
            repo.entered = anyio.Event()
            repo.gate = anyio.Event()
            # The outcome waits for the next commit, which the next call's intent makes.
            await ledger.settle_soon(first, CallOutcome("ok", 2.0))
            await anyio.wait_all_tasks_blocked()
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(ledger.record_intent, make_call(run_id="r2"), {})
                    await repo.entered.wait()
                    scope.cancel()  # the caller goes away mid-write
                    repo.gate.set()
            assert scope.cancelled_caught
    assert repo.appends == [["call.outcome", "call.intent"]]
    assert [e.kind for e in await store.ledger.read()] == [
        "call.intent",
        "call.outcome",
        "call.intent",
    ]
