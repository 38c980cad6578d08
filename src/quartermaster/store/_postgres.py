"""The shared store on PostgreSQL, for several stateless Quartermaster replicas.

Each process holds one writer connection (its transactions serialised by a lock) and one
reader. Across replicas, ledger appends serialise on a transaction-scoped advisory lock, so
the head is read and extended atomically and the chain stays linear. A connection the server
dropped (a restart, ``pg_terminate_backend``, a network cut) is replaced and the operation
tried once more where that is safe: a read, or a transaction whose ``BEGIN`` failed (nothing
was done). A transaction that fails later (its ``COMMIT`` may or may not have happened) fails
closed with ``StoreUnavailable``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import anyio
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql

from quartermaster.config import Durability

from . import _rows
from ._errors import (
    SchemaVersionError,
    StoreConflict,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreUnavailable,
)
from ._ports import (
    CHANGED_ANY,
    ApprovalRepo,
    GrantRepo,
    KeyRepo,
    LeaseRepo,
    LedgerRepo,
    PinRepo,
    SecretRepo,
)
from ._postgres_schema import LATEST_VERSION, MIGRATIONS
from ._sql import (
    SqlApprovalRepo,
    SqlGrantRepo,
    SqlKeyRepo,
    SqlLeaseRepo,
    SqlLedgerRepo,
    SqlPinRepo,
    SqlSecretRepo,
)

_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

logger = logging.getLogger("quartermaster.store")

_FEED_BACKOFF = 0.5
"""First wait before listening again after the change feed's connection failed."""
_FEED_MAX_BACKOFF = 30.0
"""The longest wait between attempts to listen again (the periodic reload covers the gap)."""


def translate_postgres_error(exc: psycopg.Error) -> StoreError:
    """The ``StoreError`` a user can act on for a PostgreSQL driver error.

    Only the primary message is kept: PostgreSQL's DETAIL lines can quote row values.
    """
    primary = exc.diag.message_primary or type(exc).__name__
    if isinstance(exc, pg_errors.UniqueViolation):
        return StoreConflict("a record with the same key already exists")
    if isinstance(exc, pg_errors.DiskFull):
        return StoreFull("the PostgreSQL server's disk is full: free space on the server")
    if isinstance(
        exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected | pg_errors.QueryCanceled
    ):
        return StoreLocked(f"PostgreSQL could not take a lock in time ({primary}); retry")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction | pg_errors.InsufficientPrivilege):
        return StoreUnavailable(
            f"PostgreSQL refused the write ({primary}): connect to the primary with a role "
            "that may write Quartermaster's schema"
        )
    if isinstance(exc, psycopg.OperationalError):
        return StoreUnavailable(
            f"cannot reach PostgreSQL ({primary}): check that the server is up and store.url"
        )
    return StoreUnavailable(f"PostgreSQL failed ({type(exc).__name__}: {primary})")


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise translate_postgres_error(exc) from exc


def _pg(sql: str) -> str:
    # The shared statements use '?' placeholders and contain no literal '?' or '%'.
    return sql.replace("?", "%s")


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _fetch_all(conn: _Conn, sql: str, params: Sequence[Any]) -> list[_rows.Row]:
    cursor = await conn.execute(_pg(sql), params)
    rows: list[_rows.Row] = list(await cursor.fetchall())
    return rows


class _PgTx:
    def __init__(self, conn: _Conn, ledger_lock: int, keys_lock: int, channel: str) -> None:
        self._conn = conn
        self._ledger_lock = ledger_lock
        self._keys_lock = keys_lock
        self._channel = channel

    async def announce(self, topic: str) -> None:
        # Delivered when (and only if) the transaction commits.
        with _translated():
            await self._conn.execute("SELECT pg_notify(%s, %s)", (self._channel, topic))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _translated():
            cursor = await self._conn.execute(_pg(sql), params)
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with _translated():
            async with self._conn.cursor() as cursor:
                await cursor.executemany(_pg(sql), rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        with _translated():
            return await _fetch_all(self._conn, sql, params)

    async def lock_ledger(self) -> None:
        with _translated():
            await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._ledger_lock,))

    async def lock_keys(self) -> None:
        with _translated():
            await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._keys_lock,))


class _PgBackend:
    def __init__(self, url: str, schema: str | None, durability: Durability = "strict") -> None:
        self._url = url
        self._schema = schema
        self._durability = durability
        self.schema = schema
        self._ledger_lock = _lock_key(f"quartermaster.ledger:{schema or ''}")
        self._keys_lock = _lock_key(f"quartermaster.keys:{schema or ''}")
        # One channel per schema: stores on other schemas of the database hear nothing.
        self.channel = "quartermaster_" + hashlib.sha256((schema or "").encode()).hexdigest()[:16]
        self._lock = anyio.Lock()
        self._read_lock = anyio.Lock()
        self._writer: _Conn | None = None
        self._reader: _Conn | None = None

    async def connect(self) -> _Conn:
        with _translated():
            conn: _Conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            try:
                if self._schema is not None:
                    await conn.execute(
                        pg_sql.SQL("SET search_path TO {}").format(pg_sql.Identifier(self._schema))
                    )
                if self._durability == "process":
                    # The commit returns before the server's WAL reaches its disk: a crash
                    # of Quartermaster loses nothing, one of the database server may lose
                    # the last few hundred milliseconds (docs/audit.md).
                    await conn.execute("SET synchronous_commit TO off")
            except BaseException:
                await conn.close()
                raise
        return conn

    async def _writer_conn(self) -> _Conn:
        if self._writer is None or self._writer.closed or self._writer.broken:
            self._writer = await self.connect()
        return self._writer

    async def _reader_conn(self) -> _Conn:
        if self._reader is None or self._reader.closed or self._reader.broken:
            self._reader = await self.connect()
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        async with self._lock:
            conn = await self._writer_conn()
            try:
                await conn.execute("BEGIN")
            except psycopg.OperationalError as exc:
                # A connection the server dropped while idle fails its first statement;
                # nothing has been done yet, so one fresh connection may try again.
                if not conn.broken:
                    raise translate_postgres_error(exc) from exc
                conn = await self._writer_conn()
                with _translated():
                    await conn.execute("BEGIN")
            except psycopg.Error as exc:
                raise translate_postgres_error(exc) from exc
            try:
                yield _PgTx(conn, self._ledger_lock, self._keys_lock, self.channel)
                with _translated():
                    await conn.execute("COMMIT")
            except BaseException:
                with anyio.CancelScope(shield=True), suppress(psycopg.Error):
                    await conn.execute("ROLLBACK")
                raise

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        async with self._read_lock:
            conn = await self._reader_conn()
            try:
                return await _fetch_all(conn, sql, params)
            except psycopg.OperationalError as exc:
                # Reads are idempotent: after a dropped connection, one retry on a new one.
                if not conn.broken:
                    raise translate_postgres_error(exc) from exc
            except psycopg.Error as exc:
                raise translate_postgres_error(exc) from exc
            conn = await self._reader_conn()
            with _translated():
                return await _fetch_all(conn, sql, params)

    def json_text(self) -> str:
        return "(convert_from(payload, 'UTF8')::jsonb ->> CAST(? AS TEXT))"

    def json_key(self, name: str) -> str:
        return name

    async def migrate(self) -> None:
        conn = await self._writer_conn()
        with _translated():
            if self._schema is not None:
                await conn.execute(
                    pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        pg_sql.Identifier(self._schema)
                    )
                )
        async with self.transaction() as tx:
            # Replicas starting together must not run the same migration twice.
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key("qm.migrate"),))
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            rows = await tx.fetch("SELECT MAX(version) FROM schema_version")
            current = int(rows[0][0] or 0)
            if current > LATEST_VERSION:
                raise SchemaVersionError(
                    f"the PostgreSQL schema has version {current}, newer than this "
                    f"Quartermaster understands (up to {LATEST_VERSION}): upgrade "
                    "Quartermaster or use another store.postgres_schema"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        await tx.execute(statement)
                    await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()


class _PgLedgerRepo(SqlLedgerRepo):
    """The shared ledger repository; a live writer holds a session advisory lock.

    The lock lives on a connection of its own, held for the writer's life: PostgreSQL
    releases it when that session ends, so a replica killed outright stops being live as
    soon as the server notices the connection is gone.
    """

    def __init__(self, backend: _PgBackend) -> None:
        super().__init__(backend)
        self._backend = backend
        self._held: dict[str, _Conn] = {}

    def _key(self, boot: str) -> int:
        return _lock_key(f"quartermaster.writer:{self._backend.schema or ''}:{boot}")

    async def claim_writer(self, boot: str) -> None:
        """Hold the writer's advisory lock on a dedicated session."""
        conn = await self._backend.connect()
        try:
            with _translated():
                await conn.execute("SELECT pg_advisory_lock(%s)", (self._key(boot),))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.close()
            raise
        self._held[boot] = conn

    async def writer_alive(self, boot: str) -> bool:
        """Whether some session holds the writer's advisory lock."""
        if boot in self._held:
            return True
        key = self._key(boot)
        # Taking the lock for a moment is the test: it is free only if its holder is gone.
        (free,) = (await self._backend.fetch("SELECT pg_try_advisory_lock(?)", (key,)))[0]
        if free:
            await self._backend.fetch("SELECT pg_advisory_unlock(?)", (key,))
        return not free

    async def release_writer(self, boot: str) -> None:
        """Close the writer's session, which drops its lock."""
        conn = self._held.pop(boot, None)
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()

    async def close(self) -> None:
        """Drop every lock still held."""
        for boot in list(self._held):
            await self.release_writer(boot)


class PostgresStore:
    """The shared store on a PostgreSQL database; open it with ``PostgresStore.open``."""

    def __init__(self, backend: _PgBackend) -> None:
        self._backend = backend
        self._ledger = _PgLedgerRepo(backend)
        self.ledger: LedgerRepo = self._ledger
        self.grants: GrantRepo = SqlGrantRepo(backend)
        self.approvals: ApprovalRepo = SqlApprovalRepo(backend)
        self.secrets: SecretRepo = SqlSecretRepo(backend)
        self.keys: KeyRepo = SqlKeyRepo(backend)
        self.leases: LeaseRepo = SqlLeaseRepo(backend)
        self.pins: PinRepo = SqlPinRepo(backend)

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, durability: Durability = "strict"
    ) -> PostgresStore:
        """Connect to ``url``, create ``schema`` if given, and migrate.

        Raises:
            StoreUnavailable: the server cannot be reached or refuses the writes.
            SchemaVersionError: the schema was written by a newer Quartermaster.
        """
        backend = _PgBackend(url, schema, durability)
        try:
            await backend.migrate()
        except BaseException:
            await backend.close()
            raise
        return cls(backend)

    async def changes(self) -> AsyncGenerator[str, None]:
        """Topics other processes announced (``NOTIFY`` on the schema's channel), from a
        ``LISTEN`` on a connection of its own; see ``Store.changes``."""
        backoff = _FEED_BACKOFF
        listened = False
        while True:
            try:
                conn = await self._backend.connect()
            except StoreError as exc:
                logger.warning(
                    "cannot follow changes on PostgreSQL (%s); retrying in %g s, and "
                    "re-reading periodically meanwhile",
                    exc.message,
                    backoff,
                )
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, _FEED_MAX_BACKOFF)
                continue
            # Not ``async with conn``: its exit rolls back first, and a cancellation delivered
            # again there skips the close, leaving the connection open until collected.
            try:
                await conn.execute(
                    pg_sql.SQL("LISTEN {}").format(pg_sql.Identifier(self._backend.channel))
                )
                if listened:
                    yield CHANGED_ANY  # what was announced while not listening is lost
                listened, backoff = True, _FEED_BACKOFF
                async for notice in conn.notifies():
                    yield notice.payload
            except psycopg.Error as exc:
                logger.warning(
                    "the PostgreSQL change feed dropped (%s); reconnecting in %g s",
                    translate_postgres_error(exc).message,
                    backoff,
                )
            finally:
                with anyio.CancelScope(shield=True):
                    await conn.close()
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, _FEED_MAX_BACKOFF)

    async def close(self) -> None:
        """Close every connection."""
        await self._ledger.close()
        await self._backend.close()
