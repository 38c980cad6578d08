"""What only the PostgreSQL store does: schemas, versions, unreachable servers, reconnects."""

from __future__ import annotations

import hashlib
import itertools
from contextlib import aclosing

import anyio
import psycopg
import pytest
from psycopg import sql

from quartermaster.config import Durability
from quartermaster.config._store import StoreConfig
from quartermaster.store import (
    KeyRecord,
    PostgresStore,
    RevocationFilter,
    SchemaVersionError,
    StoreUnavailable,
    open_store,
)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def chain(prev: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    return hashlib.sha256(prev + seq.to_bytes(8, "big") + kind.encode() + payload).digest()


async def test_open_store_creates_the_schema_and_reopens(pg_schema: str) -> None:
    config = StoreConfig(url=POSTGRES_URL, postgres_schema=pg_schema)
    first = await open_store(config)
    await first.ledger.append([("k", b"{}")], chain, 1.0)
    await first.close()
    second = await open_store(config)
    try:
        head = await second.ledger.head()
        assert head is not None
        assert head.seq == 1
    finally:
        await second.close()


async def test_refuses_a_newer_schema(pg_schema: str) -> None:
    await (await PostgresStore.open(POSTGRES_URL, schema=pg_schema)).close()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_version (version) VALUES (42)").format(
                sql.Identifier(pg_schema)
            )
        )
    with pytest.raises(SchemaVersionError, match="version 42"):
        await PostgresStore.open(POSTGRES_URL, schema=pg_schema)


async def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL"):
        await PostgresStore.open("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


async def test_two_replicas_keep_one_linear_chain(pg_schema: str) -> None:
    a = await PostgresStore.open(POSTGRES_URL, schema=pg_schema)
    b = await PostgresStore.open(POSTGRES_URL, schema=pg_schema)
    try:

        async def writer(store: PostgresStore, tag: str) -> None:
            for i in range(20):
                await store.ledger.append([(tag, str(i).encode())], chain, 1.0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer, a, "a")
            tg.start_soon(writer, b, "b")
        rows = await a.ledger.read(limit=100)
        assert [r.seq for r in rows] == list(range(1, 41))
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.entry_hash
    finally:
        await a.close()
        await b.close()


async def test_reads_and_writes_survive_the_server_dropping_the_connections(
    pg_schema: str,
) -> None:
    url = f"{POSTGRES_URL}?application_name={pg_schema}"
    store = await PostgresStore.open(url, schema=pg_schema)
    try:
        await store.keys.put(KeyRecord("grant-a", "EdDSA", b"w", "{}", 1.0, "active", None))
        assert [k.kid for k in await store.keys.list()] == ["grant-a"]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (pg_schema,),
            ).fetchall()
        assert len(killed) == 2  # this store's writer and reader
        # The first operation on each dropped connection reconnects and goes through.
        assert [k.kid for k in await store.keys.list()] == ["grant-a"]
        await store.keys.put(KeyRecord("grant-b", "EdDSA", b"w", "{}", 2.0, "retiring", None))
        assert len(await store.ledger.append([("k", b"{}")], chain, 1.0)) == 1
        assert [k.kid for k in await store.keys.list()] == ["grant-a", "grant-b"]
    finally:
        await store.close()


def key(kid: str) -> KeyRecord:
    return KeyRecord(kid, "EdDSA", b"w", "{}", 1.0, "active", None)


async def test_changes_announced_by_one_replica_reach_the_other_and_no_other_schema(
    pg_schema: str,
) -> None:
    url = f"{POSTGRES_URL}?application_name={pg_schema}-listener"
    listener = await PostgresStore.open(url, schema=pg_schema)
    writer = await PostgresStore.open(POSTGRES_URL, schema=pg_schema)
    elsewhere = await PostgresStore.open(POSTGRES_URL, schema=f"{pg_schema}_other")
    send, heard = anyio.create_memory_object_stream[str](100)
    try:
        async with (
            send,
            heard,
            aclosing(listener.changes()) as changes,
            anyio.create_task_group() as tg,
        ):

            async def follow() -> None:
                async for topic in changes:
                    await send.send(topic)

            tg.start_soon(follow)
            with anyio.fail_after(10):
                # LISTEN takes effect a moment after the feed starts: announce until heard.
                while True:
                    await writer.pins.pin([])
                    with anyio.move_on_after(0.1):
                        assert await heard.receive() == "pins"
                        break
                while heard.statistics().current_buffer_used:
                    await heard.receive()
                await elsewhere.keys.put(key("grant-x"))
                await writer.keys.put(key("grant-a"))
                await writer.grants.revoke(RevocationFilter(agent="bot"), 2.0, "test")
                # In commit order, and nothing from the other schema.
                assert [await heard.receive(), await heard.receive()] == ["keys", "revocations"]

                # The feed's connection dropped: it listens again and says it may have missed
                # something, so the replica re-reads everything.
                with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s",
                        (f"{pg_schema}-listener",),
                    )
                assert await heard.receive() == "*"
                await writer.keys.set_state("grant-a", "retiring", 3.0)
                assert await heard.receive() == "keys"
            tg.cancel_scope.cancel()
    finally:
        for store in (listener, writer, elsewhere):
            await store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(f"{pg_schema}_other")
                )
            )


async def test_process_durability_commits_without_waiting_for_the_servers_disk(
    pg_schema: str,
) -> None:
    cases: tuple[tuple[Durability, str], ...] = (("strict", "on"), ("process", "off"))
    for durability, expected in cases:
        store = await open_store(
            StoreConfig(url=POSTGRES_URL, postgres_schema=pg_schema, durability=durability)
        )
        try:
            # Every connection the store opens carries the setting (writer, reader, feed).
            conn = await store._backend.connect()  # type: ignore[attr-defined]
            try:
                row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            finally:
                await conn.close()
            assert row == (expected,)
        finally:
            await store.close()
