"""Tampering with a real SQLite ledger file, with sqlite3 directly: detected and located."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    Anchor,
    AuditEvent,
    CallOutcome,
    CallRecord,
    Ed25519Signer,
    Ledger,
    LedgerTampered,
    PublicKeys,
    VerifyReport,
    entry_hash,
    verify,
)
from quartermaster.store import Checkpoint, SQLiteStore

CallFactory = Callable[..., CallRecord]


@dataclass
class Written:
    path: Path
    keys: PublicKeys
    checkpoints: list[Checkpoint]


@pytest.fixture
async def written(
    make_call: CallFactory, hmac_key: bytes, signer: Ed25519Signer, tmp_path: Path
) -> Written:
    """A closed ledger file of 30 rows with signed checkpoints at rows 10, 20 and 30."""
    path = tmp_path / "ledger.db"
    store = await SQLiteStore.open(path)
    clock = ManualClock()
    async with Ledger(
        store.ledger,
        hmac_key=hmac_key,
        clock=clock,
        signer=signer,
        checkpoint_every=10,
        checkpoint_interval=None,
    ) as ledger:
        for i in range(15):
            clock.advance(1.0)
            intent = await ledger.record_intent(make_call(run_id=f"run-{i}"), {"i": i})
            await ledger.settle(intent, CallOutcome("ok", 5.0))
    checkpoints = await store.ledger.checkpoints()
    await store.close()
    return Written(path, {signer.kid: signer.public_key()}, checkpoints)


async def check(written: Written, *, anchor: Anchor | None = None) -> VerifyReport:
    store = await SQLiteStore.open(written.path)
    try:
        return await verify(store.ledger, written.keys, anchor=anchor)
    finally:
        await store.close()


def sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        for statement, params in statements:
            conn.execute(statement, params)


def row(path: Path, seq: int) -> tuple[float, str, bytes, bytes, bytes]:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT ts, kind, payload, prev_hash, entry_hash FROM ledger WHERE seq = ?", (seq,)
        ).fetchone()
    return found[0], found[1], bytes(found[2]), bytes(found[3]), bytes(found[4])


def renumber(path: Path, from_seq: int, delta: int) -> None:
    # Two steps, so the primary key never collides half-way.
    sql(
        path,
        ("UPDATE ledger SET seq = seq + 1000000 WHERE seq >= ?", (from_seq,)),
        ("UPDATE ledger SET seq = seq - 1000000 + ? WHERE seq >= 1000000", (delta,)),
    )


async def test_untouched_ledger_verifies(written: Written) -> None:
    report = await check(written)
    assert report.ok
    assert (report.rows, report.head_seq, report.checkpoints) == (30, 30, 3)
    assert [cp.seq for cp in written.checkpoints] == [10, 20, 30]
    report.raise_for_problems()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", b'{"run_id":"someone-else"}'),
        ("ts", 1.0),
        ("kind", "grant.revoked"),
    ],
)
async def test_edited_row_is_located(written: Written, column: str, value: object) -> None:
    sql(written.path, (f"UPDATE ledger SET {column} = ? WHERE seq = 12", (value,)))
    report = await check(written)
    assert report.first_bad_seq == 12
    assert [p.kind for p in report.problems] == ["altered"]
    with pytest.raises(LedgerTampered, match="row 12 was altered") as caught:
        report.raise_for_problems()
    assert caught.value.first_bad_seq == 12


async def test_edited_and_rehashed_row_is_located(written: Written) -> None:
    ts, kind, _, prev_hash, _ = row(written.path, 12)
    forged = b'{"run_id":"nobody","outcome":"ok"}'
    new_hash = entry_hash(prev_hash, 12, ts, kind, forged)
    sql(
        written.path,
        ("UPDATE ledger SET payload = ?, entry_hash = ? WHERE seq = 12", (forged, new_hash)),
    )
    report = await check(written)
    assert report.first_bad_seq == 12
    assert report.problems[0].kind == "altered"
    assert "re-hashed" in report.problems[0].message


async def test_deleted_row_is_located(written: Written) -> None:
    sql(written.path, ("DELETE FROM ledger WHERE seq = 12", ()))
    report = await check(written)
    assert report.first_bad_seq == 12
    assert [(p.kind, p.seq) for p in report.problems] == [("deleted", 12)]


async def test_deleted_row_with_renumbering_is_located(written: Written) -> None:
    sql(written.path, ("DELETE FROM ledger WHERE seq = 12", ()))
    renumber(written.path, 13, -1)
    report = await check(written)
    assert report.first_bad_seq == 12
    assert report.problems[0].kind == "moved"
    assert "row 12 was written as row 13" in report.problems[0].message
    # The renumbered tail is one problem, not one per row; the last checkpoint now names a
    # row that no longer exists.
    assert [p.kind for p in report.problems] == ["moved", "truncated"]


async def test_inserted_row_is_located(written: Written) -> None:
    renumber(written.path, 12, +1)
    ts, kind, _, _, prev_hash_11 = row(written.path, 11)
    fake = b'{"run_id":"ghost","outcome":"ok"}'
    sql(
        written.path,
        (
            "INSERT INTO ledger (seq, ts, kind, payload, prev_hash, entry_hash) "
            "VALUES (12, ?, ?, ?, ?, ?)",
            (ts, kind, fake, prev_hash_11, entry_hash(prev_hash_11, 12, ts, kind, fake)),
        ),
    )
    report = await check(written)
    assert report.first_bad_seq == 12
    assert report.problems[0].kind == "moved"
    assert "row 13 was written as row 12" in report.problems[0].message


async def test_reordered_rows_are_located(written: Written) -> None:
    sql(
        written.path,
        ("UPDATE ledger SET seq = -1 WHERE seq = 12", ()),
        ("UPDATE ledger SET seq = 12 WHERE seq = 13", ()),
        ("UPDATE ledger SET seq = 13 WHERE seq = -1", ()),
    )
    report = await check(written)
    assert report.first_bad_seq == 12
    assert report.problems[0].kind == "moved"


async def test_swapped_payloads_are_located(written: Written) -> None:
    _, _, payload_12, _, _ = row(written.path, 12)
    _, _, payload_14, _, _ = row(written.path, 14)
    sql(
        written.path,
        ("UPDATE ledger SET payload = ? WHERE seq = 12", (payload_14,)),
        ("UPDATE ledger SET payload = ? WHERE seq = 14", (payload_12,)),
    )
    report = await check(written)
    assert report.first_bad_seq == 12
    assert [(p.kind, p.seq) for p in report.problems] == [("altered", 12), ("altered", 14)]


async def test_truncated_tail_is_detected_by_the_last_checkpoint(written: Written) -> None:
    sql(written.path, ("DELETE FROM ledger WHERE seq > 25", ()))
    report = await check(written)
    assert report.first_bad_seq == 26
    assert [(p.kind, p.seq) for p in report.problems] == [("truncated", 26)]
    assert "rows 26..30 were deleted" in report.problems[0].message


async def test_truncation_that_also_deletes_checkpoints_needs_an_anchor(
    written: Written,
) -> None:
    sql(
        written.path,
        ("DELETE FROM ledger WHERE seq > 25", ()),
        ("DELETE FROM checkpoints WHERE seq > 25", ()),
    )
    assert (await check(written)).ok
    last = written.checkpoints[-1]
    report = await check(written, anchor=Anchor(last.seq, last.head_hash))
    assert [(p.kind, p.seq) for p in report.problems] == [("truncated", 26)]


async def test_an_anchor_past_the_last_checkpoint_catches_a_truncation(written: Written) -> None:
    # The anchor is the head an operator kept elsewhere after the last verify: rows after
    # the last checkpoint are covered by it alone.
    sql(written.path, ("DELETE FROM checkpoints WHERE seq > 20", ()))
    head = await check(written)
    assert head.ok
    anchor = Anchor(head.head_seq, head.head_hash)
    assert (await check(written, anchor=anchor)).ok
    sql(written.path, ("DELETE FROM ledger WHERE seq > 27", ()))
    assert (await check(written)).ok
    report = await check(written, anchor=anchor)
    assert [(p.kind, p.seq) for p in report.problems] == [("truncated", 28)]
    assert "anchor" in report.problems[0].message


async def test_an_anchor_that_does_not_match_the_chain_is_reported(written: Written) -> None:
    head = await check(written)
    report = await check(written, anchor=Anchor(25, b"\x01" * 32))
    assert head.ok
    assert [(p.kind, p.seq) for p in report.problems] == [("rewritten", 21)]
    assert "anchor" in report.problems[0].message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30:" + "ab" * 32, (30, bytes.fromhex("ab" * 32))),
        (" 7:" + "AB" * 32 + " ", (7, bytes.fromhex("ab" * 32))),
    ],
)
def test_an_anchor_is_read_from_seq_and_hash(text: str, expected: tuple[int, bytes]) -> None:
    anchor = Anchor.parse(text)
    assert (anchor.seq, anchor.head_hash) == expected


@pytest.mark.parametrize("text", ["30", "x:" + "ab" * 32, "0:" + "ab" * 32, "3:abcd", "3:zz"])
def test_a_malformed_anchor_is_refused_with_its_form(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        Anchor.parse(text)


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("payload", "TEXT", "payload is stored as TEXT"),
        ("payload", 42, "payload is stored as INTEGER"),
        ("ts", "yesterday", "ts is stored as TEXT"),
        ("kind", b"call.intent", "kind is stored as BLOB"),
        ("prev_hash", "00" * 32, "prev_hash is stored as TEXT"),
        ("entry_hash", 3.5, "entry_hash is stored as REAL"),
    ],
)
async def test_a_column_rewritten_with_another_type_is_located_not_a_crash(
    written: Written, column: str, value: object, why: str
) -> None:
    # Issue 14 finding 8: a payload rewritten as TEXT with plain sqlite3 made verify raise
    # TypeError (exit 1, no row named).
    if value == "TEXT":
        (payload,) = (
            sqlite3.connect(written.path)
            .execute("SELECT payload FROM ledger WHERE seq = 12")
            .fetchone()
        )
        value = bytes(payload).decode().replace("run-", "nur-")
    sql(written.path, (f"UPDATE ledger SET {column} = ? WHERE seq = 12", (value,)))
    report = await check(written)
    assert report.first_bad_seq == 12
    assert report.problems[0].kind == "altered"
    assert why in report.problems[0].message
    assert report.rows == 30


async def test_a_recomputed_chain_is_caught_by_the_signed_checkpoints(written: Written) -> None:
    with sqlite3.connect(written.path) as conn:
        rows = conn.execute(
            "SELECT seq, ts, kind, payload, prev_hash FROM ledger WHERE seq >= 15 ORDER BY seq"
        ).fetchall()
        prev = bytes(rows[0][4])
        for seq, ts, kind, payload, _ in rows:
            body = bytes(payload)
            if seq == 16:
                body = body.replace(b'"outcome":"ok"', b'"outcome":"tool_error"')
            new_hash = entry_hash(prev, seq, ts, kind, body)
            conn.execute(
                "UPDATE ledger SET payload = ?, prev_hash = ?, entry_hash = ? WHERE seq = ?",
                (body, prev, new_hash, seq),
            )
            prev = new_hash
    assert b"tool_error" in row(written.path, 16)[2]
    report = await check(written)
    assert report.first_bad_seq == 11
    assert [(p.kind, p.seq) for p in report.problems] == [("rewritten", 11)]
    assert "rows 11..20 were rewritten" in report.problems[0].message


async def test_forged_checkpoint_signature(written: Written) -> None:
    sql(written.path, ("UPDATE checkpoints SET signature = ? WHERE seq = 20", (b"\x00" * 64,)))
    report = await check(written)
    assert [(p.kind, p.seq) for p in report.problems] == [("bad_checkpoint", 20)]
    assert "invalid signature" in report.problems[0].message


async def test_checkpoint_moved_to_another_head_fails_its_signature(written: Written) -> None:
    sql(written.path, ("UPDATE checkpoints SET seq = 25 WHERE seq = 30", ()))
    report = await check(written)
    assert [(p.kind, p.seq) for p in report.problems] == [("bad_checkpoint", 25)]


async def test_unknown_checkpoint_key(written: Written) -> None:
    store = await SQLiteStore.open(written.path)
    try:
        report = await verify(store.ledger, {})
    finally:
        await store.close()
    assert [p.kind for p in report.problems] == ["bad_checkpoint"] * 3
    assert "unknown key 'audit-1'" in report.problems[0].message


async def test_appending_an_event_row_keeps_the_ledger_valid(
    written: Written, hmac_key: bytes
) -> None:
    store = await SQLiteStore.open(written.path)
    try:
        async with Ledger(store.ledger, hmac_key=hmac_key, clock=ManualClock()) as ledger:
            await ledger.record_event(AuditEvent("grant.revoked", detail={"jti": "j"}))
        report = await verify(store.ledger, written.keys)
    finally:
        await store.close()
    assert report.ok
    assert report.rows == 31
