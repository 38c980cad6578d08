"""Every store implementation runs the same contract tests.

PostgreSQL tests use the server at 127.0.0.1:5432 (database ``test``), each in a schema of
its own that is dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from quartermaster.store import MemoryStore, PostgresStore, SQLiteStore, Store

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema name, dropped (with everything in it) after the test."""
    name = f"qm_test_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str
) -> AsyncIterator[Store]:
    """A fresh, empty store of each kind."""
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = await SQLiteStore.open(tmp_path / "qm.db")
    else:
        made = await PostgresStore.open(POSTGRES_URL, schema=pg_schema)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def replica_stores(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two replicas hold them (each its own connections)."""
    made: list[Store] = []
    try:
        for _ in range(2):
            if request.param == "sqlite":
                made.append(await SQLiteStore.open(tmp_path / "qm.db"))
            else:
                made.append(await PostgresStore.open(POSTGRES_URL, schema=pg_schema))
        yield made[0], made[1]
    finally:
        for store in made:
            await store.close()
