"""Replicas opening their key rings together on one empty store end with one key set.

Each ring has a store object (own connections) of its own, as separate processes would: the
store's cross-process lock, not the ring's in-process one, is what keeps them to one key.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import anyio

from quartermaster._clock import ManualClock
from quartermaster.broker import KeyRing
from quartermaster.store import PostgresStore, SQLiteStore, Store
from tests.harness import POSTGRES_URL

REPLICAS = 5


async def _race(stores: list[Store], wrapping_key: bytes) -> None:
    clock = ManualClock()
    rings = [
        KeyRing(s.keys, wrapping_key, clock=clock, retire_after=330, purpose=purpose)
        for s in stores
        for purpose in ("grant", "agent")
    ]
    async with anyio.create_task_group() as tg:
        for ring in rings:
            tg.start_soon(ring.load)
    records = await stores[0].keys.list()
    for purpose in ("grant", "agent"):
        own = [r for r in records if r.kid.startswith(purpose + "-")]
        assert [r.state for r in own] == ["active"], f"{purpose}: {own}"
        assert {r.current.kid for r in rings if r.current.kid.startswith(purpose)} == {own[0].kid}


async def test_rings_racing_on_one_postgres_schema_create_one_key_each(
    replica_schema: str,
) -> None:
    first = await PostgresStore.open(POSTGRES_URL, schema=replica_schema)
    stores: list[Store] = [first]
    try:
        for _ in range(REPLICAS - 1):
            stores.append(await PostgresStore.open(POSTGRES_URL, schema=replica_schema))
        await _race(stores, secrets.token_bytes(32))
    finally:
        for s in stores:
            await s.close()


async def test_rings_racing_on_one_sqlite_file_create_one_key_each(tmp_path: Path) -> None:
    stores: list[Store] = [await SQLiteStore.open(tmp_path / "qm.db") for _ in range(REPLICAS)]
    try:
        await _race(stores, secrets.token_bytes(32))
    finally:
        for s in stores:
            await s.close()
