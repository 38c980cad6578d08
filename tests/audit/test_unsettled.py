"""Intents left without an outcome: listed, and settled on start unless their writer lives.

Each "replica" is a store object of its own (own connections, own lock files), as separate
processes would have; the store's writer mark is what tells a live writer from a dead one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import CallRecord, Ledger, unsettled_intents
from quartermaster.store import PostgresStore, SQLiteStore, Store
from tests.harness import POSTGRES_URL

Opener = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgres"])
async def replicas(
    request: pytest.FixtureRequest, tmp_path: Path, replica_schema: str
) -> AsyncIterator[Opener]:
    """Open another store object on one shared database (closed after the test)."""
    async with AsyncExitStack() as stack:

        async def open_one() -> Store:
            store: Store
            if request.param == "sqlite":
                store = await SQLiteStore.open(tmp_path / "qm.db")
            else:
                store = await PostgresStore.open(POSTGRES_URL, schema=replica_schema)
            stack.push_async_callback(store.close)
            return store

        yield open_one


async def test_start_settles_a_stopped_writers_intents_and_leaves_a_live_ones(
    replicas: Opener,
    make_call: Callable[..., CallRecord],
    hmac_key: bytes,
    clock: ManualClock,
) -> None:
    # A writer that stopped with a call in flight (its mark is gone, no outcome written).
    dead_store = await replicas()
    async with Ledger(dead_store.ledger, hmac_key=hmac_key, clock=clock) as dead:
        await dead.settle_stopped()
        cut_off = await dead.record_intent(make_call(tool="desk__delete"), {})
    # A live replica with a call in flight.
    live_store = await replicas()
    async with Ledger(live_store.ledger, hmac_key=hmac_key, clock=clock) as live:
        settled_first = await live.settle_stopped()
        assert [json.loads(e.payload)["intent_seq"] for e in settled_first] == [cut_off.seq]
        in_flight = await live.record_intent(make_call(tool="desk__read"), {})
        listed = [row.seq for row in await unsettled_intents(live_store.ledger)]
        assert in_flight.seq in listed

        # A third replica starts while the live one is still mid-call.
        new_store = await replicas()
        async with Ledger(new_store.ledger, hmac_key=hmac_key, clock=clock) as new:
            assert await new.settle_stopped() == []
        still = [row.seq for row in await unsettled_intents(new_store.ledger)]
        assert still == [in_flight.seq]

    outcomes = [
        json.loads(e.payload) for e in await live_store.ledger.read() if e.kind == "call.outcome"
    ]
    assert [(o["intent_seq"], o["outcome"], o["error"]) for o in outcomes] == [
        (cut_off.seq, "unknown", "Quartermaster stopped")
    ]
    assert outcomes[0]["tool"] == "desk__delete"
    assert outcomes[0]["latency_ms"] is None

    # The live replica has stopped too (without an outcome): the next start settles it.
    last_store = await replicas()
    async with Ledger(last_store.ledger, hmac_key=hmac_key, clock=clock) as last:
        settled = await last.settle_stopped()
    assert [json.loads(e.payload)["intent_seq"] for e in settled] == [in_flight.seq]
    assert await unsettled_intents(last_store.ledger) == []
