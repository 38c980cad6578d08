"""The embedded store: one SQLite file in WAL mode, one writer connection, one reader.

Durability (``store.durability``): ``strict`` is ``synchronous=FULL``, which syncs the WAL on
every commit, so an intent row is on disk *before* the downstream call is made; the ledger's
group commit batches many rows into one commit, so the cost is paid once per batch.
``process`` is ``synchronous=NORMAL``: in WAL mode it never corrupts the file and a commit is
in the operating system's hands when it returns (a crash of Quartermaster loses nothing), but
a power cut or a crash of the machine can lose the last transactions.

All writes go through one connection, serialised by a lock (SQLite has one writer anyway, and
``BEGIN IMMEDIATE`` takes the file's write lock up front, so another process waits up to the
busy timeout instead of failing half-way). Reads use a few other connections (WAL lets
readers run side by side, and beside the writer) and see committed data only. The
connections are plain ``sqlite3`` ones driven from threads, each by one job at a time; a
ledger append runs its whole transaction (head read, inserts, commit) as one job, so a batch
costs one hand-off to a thread, not one per statement. The writer has a thread of its own
(``_WriterThread``): every tool call waits for one ledger append, and anyio's shared worker
threads cost two more trips through the event loop per job than a plain hand-off does.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

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
    ApprovalRepo,
    ChainFunction,
    GrantRepo,
    KeyRepo,
    LeaseRepo,
    LedgerRepo,
    PinRepo,
    SecretRepo,
)
from ._records import GrantRecord, LedgerEntry
from ._sql import (
    GRANT_INSERT,
    LEDGER_HEAD,
    LEDGER_INSERT,
    SqlApprovalRepo,
    SqlGrantRepo,
    SqlKeyRepo,
    SqlLeaseRepo,
    SqlLedgerRepo,
    SqlPinRepo,
    SqlSecretRepo,
    chain_entries,
    ledger_params,
)
from ._sqlite_schema import LATEST_VERSION, MIGRATIONS

T = TypeVar("T")

READERS = 4
"""Read connections per store: concurrent calls' reads do not queue behind one another."""

_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def _read_only_part(path: str) -> str | None:
    """What makes the database at ``path`` read-only, if anything: its file system, or the
    first of the file, its journal files and its directory that may not be written."""
    where = Path(path)
    with suppress(OSError):
        if os.statvfs(where.parent).f_flag & os.ST_RDONLY:
            return f"the file system holding {where.parent} is mounted read-only"
    for part in (where, Path(path + "-wal"), Path(path + "-shm"), where.parent):
        if part.exists() and not os.access(part, os.W_OK):
            return f"{part} is not writable"
    return None


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
    if code in (_READONLY, _IOERR) and (why := _read_only_part(path)) is not None:
        # A file or mount turned read-only under a running store shows as an I/O error.
        return StoreUnavailable(
            f"the database {path} is read-only ({why}): make the file, its -wal and -shm "
            "files and its directory writable, or remount the disk read-write"
        )
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


def _job(path: str, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    # Runs in a worker thread; driver errors leave it as StoreErrors.
    with _translated(path):
        return work(conn)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _in_transaction(
    work: Callable[[sqlite3.Connection], T],
    conn: sqlite3.Connection,
    *,
    begin: Callable[[sqlite3.Connection], None],
) -> T:
    begin(conn)
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return result


class _SqliteTx:
    """An open ``BEGIN IMMEDIATE`` transaction on the writer connection."""

    def __init__(self, backend: _SqliteBackend) -> None:
        self._backend = backend

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows changed."""
        return await self._backend.on_writer(lambda c: c.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per parameter row."""
        await self._backend.on_writer(lambda c: c.executemany(sql, rows))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        """Query inside the transaction."""
        return await self._backend.on_writer(lambda c: c.execute(sql, params).fetchall())

    async def lock_ledger(self) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the only write lock."""

    async def lock_keys(self) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the only write lock."""

    async def announce(self, topic: str) -> None:
        """Nothing to do: SQLite has no channel to other processes (they re-read periodically)."""


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    # Runs on the event loop; a caller that stopped waiting has cancelled the future.
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _WriterThread:
    """The one thread that runs jobs on the writer connection, in the order they came."""

    def __init__(self, path: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name=f"quartermaster-store-writer {path}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, work = job
            result, error = None, None
            try:
                result = work()
            except BaseException as exc:  # handed to the caller, whatever it is
                error = exc
            # A loop that has closed has no caller left to tell.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)

    async def run(self, work: Callable[[], T], *, abandon_on_cancel: bool) -> T:
        """Run ``work`` on the thread and wait for it.

        A cancelled caller stops waiting only with ``abandon_on_cancel`` (the job still runs
        to its end, before any later job); otherwise it waits for the job first.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, work))
        if abandon_on_cancel:
            return await future
        with anyio.CancelScope(shield=True):
            result = await future
        return result

    async def stop(self) -> None:
        """Let the jobs already given finish, then end the thread."""
        self._jobs.put(None)
        await anyio.to_thread.run_sync(self._thread.join)


class _SqliteBackend:
    def __init__(
        self,
        writer: sqlite3.Connection,
        readers: list[sqlite3.Connection],
        path: str,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.writer = writer
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._writer_busy_ms = busy_timeout_ms
        # Uncontended, the lock costs no trip through the event loop.
        self._lock = anyio.Lock(fast_acquire=True)
        self._writer_thread = _WriterThread(path)
        self._readers = readers
        self._idle_readers = list(readers)
        self._reader_slots = anyio.Semaphore(len(readers))
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"the store on {self.path} is closed")

    async def on_writer(
        self, work: Callable[[sqlite3.Connection], T], *, abandon_on_cancel: bool = False
    ) -> T:
        """Run ``work`` on the writer's thread; the caller holds the write lock."""
        self._check_open()
        # By default not abandoned on cancellation: the caller waits for the thread, so a
        # transaction spanning several jobs is never left to the next writer half-done.
        return await self._writer_thread.run(
            partial(_job, self.path, self.writer, work), abandon_on_cancel=abandon_on_cancel
        )

    def _begin(self, asked_at: float) -> Callable[[sqlite3.Connection], None]:
        """``BEGIN IMMEDIATE`` waiting for the file's lock only for what is left of the busy
        timeout after the wait for this process's own writer lock: one budget per write, so
        callers queued behind a held lock are refused in one busy timeout, not one each."""
        left = self._busy_timeout_ms - int((time.monotonic() - asked_at) * 1000)
        if left <= 0:
            raise StoreLocked(
                f"the database {self.path} stayed locked by another writer for the whole "
                f"busy timeout ({self._busy_timeout_ms} ms); stop the other process or raise "
                "store.busy_timeout_ms"
            )
        # Only a write that queued long enough to matter changes the connection's timeout.
        wanted = self._busy_timeout_ms if left > self._busy_timeout_ms - 50 else left

        def begin(conn: sqlite3.Connection) -> None:
            if wanted != self._writer_busy_ms:
                conn.execute(f"PRAGMA busy_timeout = {int(wanted)}")
                self._writer_busy_ms = wanted
            conn.execute("BEGIN IMMEDIATE")

        return begin

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        asked_at = time.monotonic()
        async with self._lock:
            await self.on_writer(self._begin(asked_at))
            try:
                yield _SqliteTx(self)
                await self.on_writer(lambda c: c.execute("COMMIT"))
            except BaseException:
                # Leave the shared connection clean for the next writer, even when cancelled.
                await self._writer_thread.run(
                    partial(_rollback, self.writer), abandon_on_cancel=False
                )
                raise

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` inside one ``BEGIN IMMEDIATE`` … ``COMMIT``, as one thread job.

        A cancelled caller stops waiting at once (a hung disk must not hang it): the whole
        transaction is one job, so the next writer's job runs after it, never inside it.
        """
        asked_at = time.monotonic()
        async with self._lock:
            begin = self._begin(asked_at)
            return await self.on_writer(
                partial(_in_transaction, work, begin=begin), abandon_on_cancel=True
            )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[_rows.Row]:
        self._check_open()
        async with self._reader_slots:
            self._check_open()
            reader = self._idle_readers.pop()
            try:
                return await anyio.to_thread.run_sync(
                    _job, self.path, reader, lambda c: c.execute(sql, params).fetchall()
                )
            finally:
                self._idle_readers.append(reader)

    def json_text(self) -> str:
        return "json_extract(CAST(payload AS TEXT), ?)"

    def json_key(self, name: str) -> str:
        return f"$.{name}"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            # Wait for every read and write under way, then close all connections.
            for _ in self._readers:
                await self._reader_slots.acquire()
            async with self._lock:
                await self._writer_thread.run(self.writer.close, abandon_on_cancel=False)
                await self._writer_thread.stop()
                for conn in self._readers:
                    await anyio.to_thread.run_sync(conn.close)
            for _ in self._readers:
                self._reader_slots.release()


class _SqliteLedgerRepo(SqlLedgerRepo):
    """The shared ledger repository, with appends run as one thread job per transaction.

    A live writer holds an exclusive ``flock`` on the empty file ``<database>.writer-<boot>``;
    the kernel drops it when the process dies, however it dies.
    """

    def __init__(self, backend: _SqliteBackend) -> None:
        super().__init__(backend)
        self._backend = backend
        self._held: dict[str, int] = {}

    def _writer_file(self, boot: str) -> Path:
        if not boot.isalnum():
            raise ValueError("a writer boot id is letters and digits only")
        return Path(f"{self._backend.path}.writer-{boot}")

    async def claim_writer(self, boot: str) -> None:
        """Take the writer's lock file."""
        where = self._writer_file(boot)
        try:
            fd = os.open(where, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the writer lock file {where} ({exc.strerror}): check that "
                "the database's directory is writable"
            ) from exc
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[boot] = fd

    async def writer_alive(self, boot: str) -> bool:
        """Whether some open file still holds the writer's lock."""
        if boot in self._held:
            return True
        try:
            fd = os.open(self._writer_file(boot), os.O_RDWR)
        except (OSError, ValueError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            # Its writer is gone for good (boot ids are never reused): tidy its file away.
            with suppress(OSError):
                self._writer_file(boot).unlink()
        finally:
            os.close(fd)
        return False

    async def release_writer(self, boot: str) -> None:
        """Drop and remove the writer's lock file."""
        fd = self._held.pop(boot, None)
        if fd is None:
            return
        with suppress(OSError):
            self._writer_file(boot).unlink()
        os.close(fd)

    async def append(
        self,
        bodies: Sequence[tuple[str, bytes]],
        chain: ChainFunction,
        ts: float,
        *,
        grants: Sequence[GrantRecord] = (),
    ) -> list[LedgerEntry]:
        """Append rows (and keep ``grants``) chained to the head read in the same transaction."""
        if not bodies and not grants:
            return []

        def append_rows(conn: sqlite3.Connection) -> list[LedgerEntry]:
            # The head is read under BEGIN IMMEDIATE, so another process that appended since
            # our last batch is seen here and the chain stays linear.
            new: list[LedgerEntry] = []
            if bodies:
                head = conn.execute(LEDGER_HEAD).fetchone()
                new = chain_entries(head, bodies, chain, ts)
                conn.executemany(LEDGER_INSERT, [ledger_params(e) for e in new])
            if grants:
                conn.executemany(GRANT_INSERT, [_rows.grant_params(g) for g in grants])
            return new

        try:
            return await self._backend.write(append_rows)
        except StoreConflict as exc:
            raise StoreConflict(
                "a grant with one of these jti already exists; nothing was appended"
            ) from exc


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
        if current > LATEST_VERSION:
            raise SchemaVersionError(
                f"{path} has schema version {current}, newer than this Quartermaster "
                f"understands (up to {LATEST_VERSION}): upgrade Quartermaster or point "
                "store.url at another file"
            )
        if current == 0:
            others = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT IN ('schema_version') AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            if others:
                raise SchemaVersionError(
                    f"{path} already holds tables but no Quartermaster schema version: "
                    "it is not a Quartermaster database; point store.url at another file"
                )
        for version, statements in MIGRATIONS:
            if version > current:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    # Used from worker threads, one job at a time (the backend's locks serialise them).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


_SYNCHRONOUS = {"strict": "FULL", "process": "NORMAL"}


def _open_connections(
    path: str, busy_timeout_ms: int, max_bytes: int | None, durability: Durability
) -> tuple[sqlite3.Connection, list[sqlite3.Connection]]:
    writer: sqlite3.Connection | None = None
    readers: list[sqlite3.Connection] = []
    try:
        with _translated(path):
            writer = _connect(path, busy_timeout_ms)
            mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode[0]).lower() != "wal":
                raise StoreUnavailable(
                    f"the database {path} cannot use write-ahead logging (is it on a "
                    "network filesystem?): move it to a local disk"
                )
            writer.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
            if max_bytes is not None:
                page = writer.execute("PRAGMA page_size").fetchone()
                pages = max(int(max_bytes) // int(page[0]), 1)
                writer.execute(f"PRAGMA max_page_count = {pages}")
            _migrate(writer, path)
            for _ in range(READERS):
                readers.append(_connect(path, busy_timeout_ms))
                readers[-1].execute("PRAGMA query_only = ON")
    except BaseException:
        for conn in (*readers, writer):
            if conn is not None:
                conn.close()
        raise
    return writer, readers


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
        self.ledger: LedgerRepo = _SqliteLedgerRepo(backend)
        self.grants: GrantRepo = SqlGrantRepo(backend)
        self.approvals: ApprovalRepo = SqlApprovalRepo(backend)
        self.secrets: SecretRepo = SqlSecretRepo(backend)
        self.keys: KeyRepo = SqlKeyRepo(backend)
        self.leases: LeaseRepo = SqlLeaseRepo(backend)
        self.pins: PinRepo = SqlPinRepo(backend)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 5000,
        max_bytes: int | None = None,
        durability: Durability = "strict",
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
        writer, readers = await anyio.to_thread.run_sync(
            _open_connections, where, busy_timeout_ms, max_bytes, durability
        )
        return cls(_SqliteBackend(writer, readers, where, busy_timeout_ms))

    async def changes(self) -> AsyncGenerator[str, None]:
        """Nothing to follow: processes sharing a SQLite file re-read periodically."""
        await anyio.sleep_forever()
        yield ""  # never reached: sleep_forever ends only by cancellation

    async def close(self) -> None:
        """Close both connections."""
        await self._backend.close()
