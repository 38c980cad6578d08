"""A SQLite lock held by another process: calls are refused within one busy timeout, named
as a locked store, and a refused call leaves nothing behind when the lock clears."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import AuditUnavailable, CallRecord, GrantInfo, Intent, Ledger
from quartermaster.store import RevocationFilter, SQLiteStore
from tests.audit.audit_fakes import grant_row

CALLERS = 6
BUSY_MS = 300


async def _calls(
    ledger: Ledger,
    make_call: Callable[..., CallRecord],
    results: dict[str, object],
) -> None:
    async def one(jti: str) -> None:
        row = grant_row(jti)
        call = make_call(grant=GrantInfo(jti, row.audience, row.issued_at, row.expires_at))
        try:
            results[jti] = await ledger.record_intent(call, {}, grant=row)
        except AuditUnavailable as exc:
            results[jti] = exc

    async with anyio.create_task_group() as tg:
        for i in range(CALLERS):
            tg.start_soon(one, f"jti-{i}")


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """A store with a short busy timeout, and another process's connection holding its
    write lock (the test releases it with ROLLBACK)."""
    store = await SQLiteStore.open(tmp_path / "qm.db", busy_timeout_ms=BUSY_MS)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield store, other
    finally:
        other.close()
        await store.close()


async def test_queued_calls_are_refused_as_a_locked_store_within_the_ledger_timeout(
    locked: tuple[SQLiteStore, sqlite3.Connection],
    make_call: Callable[..., CallRecord],
    hmac_key: bytes,
    clock: ManualClock,
) -> None:
    store, other = locked
    # Room for two busy timeouts, not one per queued batch.
    ledger = Ledger(store.ledger, hmac_key=hmac_key, clock=clock, write_timeout=0.7, max_batch=1)
    results: dict[str, object] = {}
    async with ledger:
        await _calls(ledger, make_call, results)
    other.execute("ROLLBACK")
    for jti, got in results.items():
        assert isinstance(got, AuditUnavailable), jti
        assert "locked" in got.message, got.message
        assert store.path in got.message, got.message
    assert await store.ledger.read() == []
    assert await store.grants.list(RevocationFilter(tenant="acme")) == []


async def test_a_lock_clearing_part_way_leaves_rows_only_for_calls_told_they_were_recorded(
    locked: tuple[SQLiteStore, sqlite3.Connection],
    make_call: Callable[..., CallRecord],
    hmac_key: bytes,
    clock: ManualClock,
) -> None:
    store, other = locked
    ledger = Ledger(store.ledger, hmac_key=hmac_key, clock=clock, write_timeout=0.4, max_batch=1)
    results: dict[str, object] = {}
    async with ledger:
        await _calls(ledger, make_call, results)
        # Every caller has its answer; the lock clears while the ledger still runs.
        other.execute("ROLLBACK")
    recorded = {jti for jti, got in results.items() if isinstance(got, Intent)}
    refused = {jti for jti, got in results.items() if isinstance(got, AuditUnavailable)}
    assert recorded | refused == {f"jti-{i}" for i in range(CALLERS)}
    assert refused
    stored = {g.jti for g in await store.grants.list(RevocationFilter(tenant="acme"))}
    assert stored == recorded
    assert len(await store.ledger.read()) == len(recorded)
