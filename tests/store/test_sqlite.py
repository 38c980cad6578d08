"""What only the SQLite store does: files, pragmas, migrations, and errors a user can act on."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from quartermaster.config import Durability
from quartermaster.config._store import StoreConfig
from quartermaster.store import (
    SchemaVersionError,
    SQLiteStore,
    StoreFull,
    StoreLocked,
    StoreUnavailable,
    open_store,
)
from quartermaster.store._sqlite import _open_connections, translate_sqlite_error
from quartermaster.store._sqlite_schema import MIGRATIONS


def chain(prev: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    return hashlib.sha256(prev + seq.to_bytes(8, "big") + kind.encode() + payload).digest()


async def test_creates_private_file_in_wal_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "qm.db"
    store = await SQLiteStore.open(path)
    try:
        await store.ledger.append([("k", b"{}")], chain, 1.0)
    finally:
        await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(v,) for v, _ in MIGRATIONS]
        assert conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 1


async def test_data_survives_reopen_and_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "qm.db"
    first = await SQLiteStore.open(path)
    await first.ledger.append([("k", b"{}"), ("k", b"[]")], chain, 1.0)
    await first.close()
    second = await SQLiteStore.open(path)
    try:
        head = await second.ledger.head()
        assert head is not None
        assert head.seq == 2
    finally:
        await second.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


async def test_a_version_1_database_gains_the_pins_table_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "qm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute(
            "INSERT INTO signing_keys VALUES ('k1', 'EdDSA', x'00', '{}', 1.0, 'active', NULL)"
        )
    store = await SQLiteStore.open(path)
    try:
        assert [k.kid for k in await store.keys.list()] == ["k1"]
        assert await store.pins.list() == []
    finally:
        await store.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "qm.db"
    await (await SQLiteStore.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(SchemaVersionError, match=r"version 99.*upgrade Quartermaster"):
        await SQLiteStore.open(path)


async def test_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SchemaVersionError, match="not a Quartermaster database"):
        await SQLiteStore.open(path)


async def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(StoreUnavailable, match="not a Quartermaster database"):
        await SQLiteStore.open(path)


async def test_path_under_a_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable, match="cannot create the database"):
        await SQLiteStore.open(blocker / "qm.db")


async def test_another_writer_holding_the_lock_gives_store_locked(tmp_path: Path) -> None:
    path = tmp_path / "qm.db"
    store = await SQLiteStore.open(path, busy_timeout_ms=50)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreLocked, match="busy_timeout_ms"):
            await store.ledger.append([("k", b"{}")], chain, 1.0)
        other.execute("ROLLBACK")
        assert len(await store.ledger.append([("k", b"{}")], chain, 1.0)) == 1
    finally:
        other.close()
        await store.close()


async def _fill(store: SQLiteStore) -> None:
    for i in range(10_000):
        await store.ledger.append([("k", b"x" * 2000)], chain, float(i))


async def test_size_limit_gives_store_full_and_keeps_earlier_rows(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "qm.db", max_bytes=160 * 1024)
    try:
        with pytest.raises(StoreFull, match="max_bytes"):
            await _fill(store)
        written = await store.ledger.read(limit=100_000)
        assert 10 < len(written) < 100
        assert [e.seq for e in written] == list(range(1, len(written) + 1))
        with pytest.raises(StoreFull):
            await store.ledger.append([("k", b"y" * 2000)] * 5, chain, 1.0)
        assert await store.ledger.read(limit=100_000) == written
    finally:
        await store.close()


async def test_open_store_resolves_relative_paths_against_base_dir(tmp_path: Path) -> None:
    config = StoreConfig(url="sqlite:///state/qm.db")
    store = await open_store(config, base_dir=tmp_path)
    await store.close()
    assert (tmp_path / "state" / "qm.db").exists()


def test_store_config_defaults_and_validation() -> None:
    assert StoreConfig().url == "sqlite:///.quartermaster/quartermaster.db"
    assert StoreConfig().backend == "sqlite"
    assert StoreConfig(url="sqlite:////abs/q.db").sqlite_path == "/abs/q.db"
    assert StoreConfig(url="postgresql://qm@db:5432/qm").backend == "postgresql"
    with pytest.raises(ValueError, match="must not contain a password"):
        StoreConfig(url="postgresql://qm:hunter2@db/qm")
    with pytest.raises(ValueError, match="in-memory"):
        StoreConfig(url="sqlite:///:memory:")
    with pytest.raises(ValueError, match="must start with"):
        StoreConfig(url="mysql://db/qm")
    with pytest.raises(ValueError, match="lower-case identifier"):
        StoreConfig(url="postgresql://db/qm", postgres_schema="Robert'); DROP")
    with pytest.raises(ValueError, match="not an SQLite"):
        _ = StoreConfig(url="postgresql://db/qm").sqlite_path
    with pytest.raises(ValueError, match="Extra inputs"):
        StoreConfig.model_validate({"url": "sqlite:///x.db", "pasword": "x"})


async def test_two_stores_on_one_file_keep_one_linear_chain(tmp_path: Path) -> None:
    # Two processes' worth of stores: each append reads the head inside its own transaction.
    path = tmp_path / "qm.db"
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        for i in range(6):
            writer = first if i % 2 else second
            await writer.ledger.append([("k", str(i).encode())] * 2, chain, float(i))
        rows = await first.ledger.read(limit=100)
    finally:
        await first.close()
        await second.close()
    assert [e.seq for e in rows] == list(range(1, 13))
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.entry_hash


async def test_concurrent_reads_and_a_second_close(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "qm.db")
    await store.ledger.append([("k", str(i).encode()) for i in range(50)], chain, 1.0)
    seen: list[int] = []

    async def reader(after: int) -> None:
        seen.extend(e.seq for e in await store.ledger.read(after_seq=after, limit=5))

    async with anyio.create_task_group() as tasks:
        for after in range(0, 50, 5):
            tasks.start_soon(reader, after)
    await store.close()
    await store.close()
    assert sorted(seen) == list(range(1, 51))
    with pytest.raises(StoreUnavailable):
        await store.ledger.read()


async def test_a_caller_that_stops_waiting_is_not_held_and_the_next_write_runs_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "qm.db"
    store = await SQLiteStore.open(path, busy_timeout_ms=20_000)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with anyio.fail_after(15):
            other.execute("BEGIN IMMEDIATE")  # the write lock is taken: our append must wait
            with anyio.move_on_after(0.3) as waited:
                await store.ledger.append([("first", b"{}")], chain, 1.0)
            # The caller stopped waiting, long before the 20 s busy timeout.
            assert waited.cancelled_caught
            other.execute("ROLLBACK")
            (second,) = await store.ledger.append([("second", b"{}")], chain, 2.0)
        # The abandoned append still ran, whole and first: this one chains after it.
        assert second.seq == 2
        assert [e.kind for e in await store.ledger.read()] == ["first", "second"]
    finally:
        other.close()
        await store.close()


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs holding a Quartermaster database, remounted read-only after it is made."""
    where = tmp_path / "mnt"
    where.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_database_turned_read_only_is_named_as_such_not_as_an_io_error(
    read_only_mount: Path,
) -> None:
    path = read_only_mount / "qm.db"
    store = await SQLiteStore.open(path)
    await store.close()
    await anyio.run_process(["mount", "-o", "remount,ro", str(read_only_mount)])
    # What SQLite reports when the WAL cannot be written under a running store.
    driver = sqlite3.OperationalError("disk I/O error")
    driver.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE
    error = translate_sqlite_error(driver, str(path))
    assert isinstance(error, StoreUnavailable)
    assert "read-only" in error.message
    assert str(path) in error.message
    assert "disk I/O" not in error.message
    with pytest.raises(StoreUnavailable, match=r"(?i)read-only"):
        await SQLiteStore.open(path)


def test_strict_durability_syncs_every_commit_and_process_leaves_it_to_the_os(
    tmp_path: Path,
) -> None:
    cases: tuple[tuple[Durability, int], ...] = (("strict", 2), ("process", 1))  # FULL, NORMAL
    for durability, expected in cases:
        writer, readers = _open_connections(
            str(tmp_path / f"{durability}.db"), 1000, None, durability
        )
        try:
            assert writer.execute("PRAGMA synchronous").fetchone() == (expected,)
        finally:
            for conn in (writer, *readers):
                conn.close()
