"""The embedded store: one SQLite file in WAL mode, one writer connection, one reader.

Durability choice: ``synchronous=FULL``. In WAL mode ``NORMAL`` never corrupts the file, but a
power cut can lose the last transactions, and the audit ledger promises that an intent row is
durable *before* the downstream call is made. ``FULL`` syncs the WAL on every commit; the
ledger's group commit batches many rows into one commit, so the cost is paid once per batch.

All writes go through one connection, serialised by a lock (SQLite has one writer anyway, and
``BEGIN IMMEDIATE`` takes the file's write lock up front, so another process waits up to the
busy timeout instead of failing half-way). Reads use a second connection and see committed
data only.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from . import _rows
from ._errors import (
    SchemaVersionError,
    StoreConflict,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreUnavailable,
)
from ._ports import ApprovalRepo, GrantRepo, KeyRepo, LedgerRepo, SecretRepo
from ._sql import (
    SqlApprovalRepo,
    SqlGrantRepo,
    SqlKeyRepo,
    SqlLedgerRepo,
    SqlSecretRepo,
)
from ._sqlite_schema import LATEST_VERSION, MIGRATIONS

_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def translate_sqlite_error(exc: sqlite3.Error, path: str) -> StoreError:
    """The ``StoreError`` a user can act on for a driver error on the database at ``path``."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreConflict(f"a record with the same key already exists in {path}")
    if code in (_BUSY, _LOCKED):
        return StoreLocked(
            f"the database {path} is locked by another writer; stop the other process "
            "or raise store.busy_timeout_ms"
        )
    if code == _FULL:
        return StoreFull(f"the database {path} is full: free disk space or raise store.max_bytes")
    if code == _READONLY:
        return StoreUnavailable(
            f"the database {path} is read-only: make the file and its directory writable"
        )
    if code == _CANTOPEN:
        return StoreUnavailable(
            f"cannot open the database {path}: check that its directory exists and is writable"
        )
    if code in (_CORRUPT, _NOTADB):
        return StoreUnavailable(
            f"{path} is corrupt or not a Quartermaster database: restore it from a backup "
            "or point store.url at another file"
        )
    if code == _IOERR:
        return StoreUnavailable(f"disk I/O error on the database {path}: check the disk")
    return StoreUnavailable(f"the database {path} failed ({type(exc).__name__}: {exc})")


@contextmanager
def _translated(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise translate_sqlite_error(exc, path) from exc


class _SqliteTx:
    """An open ``BEGIN IMMEDIATE`` transaction on the writer connection."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._path = path

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows changed."""
        with _translated(self._path):
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per parameter row."""
        with _translated(self._path):
            await self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        """Query inside the transaction."""
        with _translated(self._path):
            return list(await self._conn.execute_fetchall(sql, params))

    async def lock_ledger(self) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the only write lock."""


class _SqliteBackend:
    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: str
    ) -> None:
        self.writer = writer
        self.reader = reader
        self.path = path
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        async with self._lock:
            with _translated(self.path):
                await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self.writer, self.path)
                with _translated(self.path):
                    await self.writer.execute("COMMIT")
            except BaseException:
                # Leave the shared connection clean for the next writer, even when cancelled.
                with anyio.CancelScope(shield=True), suppress(sqlite3.Error):
                    await self.writer.execute("ROLLBACK")
                raise

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        with _translated(self.path):
            return list(await self.reader.execute_fetchall(sql, params))

    def json_text(self) -> str:
        return "json_extract(CAST(payload AS TEXT), ?)"

    def json_key(self, name: str) -> str:
        return f"$.{name}"


async def _migrate(conn: aiosqlite.Connection, path: str) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        rows = list(await conn.execute_fetchall("SELECT MAX(version) FROM schema_version"))
        current = int(rows[0][0] or 0)
        if current > LATEST_VERSION:
            raise SchemaVersionError(
                f"{path} has schema version {current}, newer than this Quartermaster "
                f"understands (up to {LATEST_VERSION}): upgrade Quartermaster or point "
                "store.url at another file"
            )
        if current == 0:
            others = list(
                await conn.execute_fetchall(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT IN ('schema_version') AND name NOT LIKE 'sqlite_%'"
                )
            )
            if others:
                raise SchemaVersionError(
                    f"{path} already holds tables but no Quartermaster schema version: "
                    "it is not a Quartermaster database; point store.url at another file"
                )
        for version, statements in MIGRATIONS:
            if version > current:
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        await conn.execute("COMMIT")
    except BaseException:
        with anyio.CancelScope(shield=True), suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")
        raise


async def _connect(path: str, busy_timeout_ms: int) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


def _create_private_file(path: str) -> None:
    # The file holds ciphertext, wrapped keys and the ledger: readable by its owner only.
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)


class SQLiteStore:
    """The embedded store on one SQLite file; open it with ``SQLiteStore.open``."""

    def __init__(self, backend: _SqliteBackend) -> None:
        self._backend = backend
        self.path = backend.path
        self.ledger: LedgerRepo = SqlLedgerRepo(backend)
        self.grants: GrantRepo = SqlGrantRepo(backend)
        self.approvals: ApprovalRepo = SqlApprovalRepo(backend)
        self.secrets: SecretRepo = SqlSecretRepo(backend)
        self.keys: KeyRepo = SqlKeyRepo(backend)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 5000,
        max_bytes: int | None = None,
    ) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at ``path``.

        Raises:
            StoreUnavailable: the file cannot be created, opened or written.
            SchemaVersionError: the file was written by a newer Quartermaster, or is not ours.
        """
        where = os.fspath(path)
        try:
            _create_private_file(where)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the database {where} ({exc.strerror}): "
                "check that its directory is writable"
            ) from exc
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            with _translated(where):
                writer = await _connect(where, busy_timeout_ms)
                mode = list(await writer.execute_fetchall("PRAGMA journal_mode = WAL"))
                if str(mode[0][0]).lower() != "wal":
                    raise StoreUnavailable(
                        f"the database {where} cannot use write-ahead logging (is it on a "
                        "network filesystem?): move it to a local disk"
                    )
                await writer.execute("PRAGMA synchronous = FULL")
                if max_bytes is not None:
                    page = list(await writer.execute_fetchall("PRAGMA page_size"))
                    pages = max(int(max_bytes) // int(page[0][0]), 1)
                    await writer.execute(f"PRAGMA max_page_count = {pages}")
                await _migrate(writer, where)
                reader = await _connect(where, busy_timeout_ms)
                await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            with anyio.CancelScope(shield=True):
                for conn in (reader, writer):
                    if conn is not None:
                        await conn.close()
            raise
        return cls(_SqliteBackend(writer, reader, where))

    async def close(self) -> None:
        """Close both connections."""
        with anyio.CancelScope(shield=True):
            await self._backend.reader.close()
            await self._backend.writer.close()
