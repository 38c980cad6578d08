"""Following the ledger in process: batches in order, new rows after a wait, the cursor file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quartermaster._clock import ManualClock
from quartermaster.audit import (
    AuditEvent,
    CursorInvalid,
    Ed25519Signer,
    ExportCursor,
    Ledger,
    follow_jsonl,
)
from quartermaster.store import SQLiteStore


async def test_rows_appended_while_waiting_come_next_in_order(
    sqlite_store: SQLiteStore, hmac_key: bytes, signer: Ed25519Signer
) -> None:
    clock = ManualClock(1_000.0)
    async with Ledger(sqlite_store.ledger, hmac_key=hmac_key, clock=clock, signer=signer) as led:

        async def event(n: int) -> None:
            await led.record_event(AuditEvent(kind="grant.revoked", agent="a", detail={"n": n}))

        for n in (1, 2, 3):
            await event(n)
        waits: list[float] = []

        async def wait(seconds: float) -> None:
            # The ledger is idle: the next rows arrive while the follower waits.
            waits.append(seconds)
            await event(len(waits) + 3)

        batches = []
        follower = follow_jsonl(sqlite_store.ledger, after_seq=1, poll=0.5, page=2, wait=wait)
        async for last, lines in follower:
            batches.append((last, [json.loads(line)["seq"] for line in lines]))
            if last == 5:
                break
    assert batches == [(3, [2, 3]), (4, [4]), (5, [5])]
    assert waits == [0.5, 0.5]


async def test_without_follow_the_export_ends(sqlite_store: SQLiteStore) -> None:
    batches = [b async for b in follow_jsonl(sqlite_store.ledger, after_seq=0, follow=False)]
    assert batches == []


def test_the_cursor_survives_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    cursor = ExportCursor(tmp_path / "siem.cursor")
    assert cursor.load() is None
    cursor.save(41)
    cursor.save(42)
    assert ExportCursor(tmp_path / "siem.cursor").load() == 42
    assert sorted(p.name for p in tmp_path.iterdir()) == ["siem.cursor"]
    (tmp_path / "siem.cursor").write_text("-3\n")
    with pytest.raises(CursorInvalid, match="remove it to start over"):
        cursor.load()
