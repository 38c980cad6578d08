"""Fail closed: when the store cannot take a row the call is refused, nothing half-written."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    AuditUnavailable,
    CallOutcome,
    CallRecord,
    Ed25519Signer,
    Ledger,
    verify,
)
from quartermaster.store import SQLiteStore

CallFactory = Callable[..., CallRecord]


def count_rows(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM ledger").fetchone()
    return int(rows[0]), int(rows[1])


async def fill(ledger: Ledger, call: CallRecord) -> None:
    for _ in range(1000):
        intent = await ledger.record_intent(call, {})
        await ledger.settle(intent, CallOutcome("ok", 1.0))


async def test_full_store_refuses_the_call_and_writes_nothing_half(
    make_call: CallFactory, hmac_key: bytes, signer: Ed25519Signer, tmp_path: Path
) -> None:
    path = tmp_path / "tiny.db"
    store = await SQLiteStore.open(path, max_bytes=160 * 1024)
    clock = ManualClock()
    big = "x" * 3000
    try:
        async with Ledger(
            store.ledger, hmac_key=hmac_key, clock=clock, signer=signer, checkpoint_interval=None
        ) as ledger:
            with pytest.raises(AuditUnavailable, match=r"nothing was written.*full"):
                await fill(ledger, make_call(args_redacted=big))
            before = count_rows(path)

            async def attempt() -> None:
                with pytest.raises(AuditUnavailable):
                    await ledger.record_intent(make_call(args_redacted=big), {})

            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(attempt)
            assert count_rows(path) == before
        count, max_seq = count_rows(path)
        assert count == max_seq
        report = await verify(store.ledger, {signer.kid: signer.public_key()})
        assert report.ok, report.problems
    finally:
        await store.close()


async def test_locked_store_refuses_then_recovers(
    make_call: CallFactory, hmac_key: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    store = await SQLiteStore.open(path, busy_timeout_ms=20)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with Ledger(store.ledger, hmac_key=hmac_key, clock=ManualClock()) as ledger:
            await ledger.record_intent(make_call(), {})
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(AuditUnavailable, match="locked by another writer"):
                await ledger.record_intent(make_call(), {})
            other.execute("ROLLBACK")
            intent = await ledger.record_intent(make_call(), {})
            assert intent.seq == 2
    finally:
        other.close()
        await store.close()


class StuckLedgerRepo:
    """A ledger repo whose appends never finish (a hung network filesystem, say)."""

    def __init__(self) -> None:
        self.started = anyio.Event()

    async def append(self, *args: object, **kwargs: object) -> list[object]:
        self.started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def checkpoints(self) -> list[object]:
        return []


async def test_a_hung_store_times_out_as_unavailable(
    make_call: CallFactory, hmac_key: bytes
) -> None:
    repo = StuckLedgerRepo()
    ledger = Ledger(repo, hmac_key=hmac_key, clock=ManualClock(), write_timeout=0.2)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as outer:
            await ledger.__aenter__()
            with pytest.raises(AuditUnavailable, match=r"did not confirm the write within 0\.2s"):
                await ledger.record_intent(make_call(), {})
            assert repo.started.is_set()
            outer.cancel_scope.cancel()
            await ledger.__aexit__(None, None, None)


async def test_after_close_the_ledger_refuses(
    make_call: CallFactory, hmac_key: bytes, sqlite_store: SQLiteStore
) -> None:
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=ManualClock()) as ledger:
        await ledger.record_intent(make_call(), {})
    with pytest.raises(AuditUnavailable, match="not running"):
        await ledger.record_intent(make_call(), {})
