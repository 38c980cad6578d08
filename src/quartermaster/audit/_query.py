"""Reading the ledger back: filtered lists, one row, and a resumable JSONL export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quartermaster.store import LedgerEntry, LedgerQuery, LedgerRepo, StoreError

from ._canonical import canonical_json
from ._errors import AuditUnavailable
from ._model import CALL_INTENT, CALL_OUTCOME


@dataclass(frozen=True)
class AuditRow:
    """A ledger entry with its body decoded, as the CLI shows it."""

    seq: int
    ts: float
    kind: str
    body: dict[str, Any]
    prev_hash: str
    entry_hash: str

    @classmethod
    def from_entry(cls, entry: LedgerEntry) -> AuditRow:
        """Decode a stored entry (an undecodable body shows as ``{"undecodable": true}``)."""
        try:
            body = json.loads(entry.payload)
        except ValueError:
            body = {"undecodable": True}
        if not isinstance(body, dict):
            body = {"value": body}
        return cls(
            entry.seq, entry.ts, entry.kind, body, entry.prev_hash.hex(), entry.entry_hash.hex()
        )

    def to_json(self) -> dict[str, Any]:
        """The row as one JSON object (the export format)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "body": self.body,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclass(frozen=True)
class AuditFilter:
    """What ``list_rows`` keeps: every field given must match (``None`` matches anything).

    ``human`` is the person on whose behalf; ``outcome`` matches ``call.outcome`` rows;
    ``since``/``until`` bound the row time (inclusive, exclusive); ``after_seq`` resumes.
    """

    run_id: str | None = None
    agent: str | None = None
    tenant: str | None = None
    human: str | None = None
    tool: str | None = None
    outcome: str | None = None
    kinds: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    after_seq: int = 0
    limit: int = 100

    def to_query(self) -> LedgerQuery:
        """The store query for this filter."""
        fields = {
            name: value
            for name, value in (
                ("run_id", self.run_id),
                ("agent", self.agent),
                ("tenant", self.tenant),
                ("human", self.human),
                ("tool", self.tool),
                ("outcome", self.outcome),
            )
            if value is not None
        }
        return LedgerQuery(
            kinds=self.kinds,
            fields=fields,
            since=self.since,
            until=self.until,
            after_seq=self.after_seq,
            limit=self.limit,
        )


async def list_rows(repo: LedgerRepo, which: AuditFilter) -> list[AuditRow]:
    """Rows matching ``which``, in ledger order.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    try:
        entries = await repo.search(which.to_query())
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc
    return [AuditRow.from_entry(e) for e in entries]


async def unsettled_intents(repo: LedgerRepo, *, page: int = 1000) -> list[AuditRow]:
    """The ``call.intent`` rows that no ``call.outcome`` row settles, in ledger order.

    One pass over the call rows (an outcome always follows its intent), keeping only the
    intents still open: memory grows with the unsettled rows, not with the ledger.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    open_intents: dict[int, AuditRow] = {}
    after = 0
    while True:
        query = LedgerQuery(kinds=(CALL_INTENT, CALL_OUTCOME), after_seq=after, limit=page)
        try:
            entries = await repo.search(query)
        except StoreError as exc:
            raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc
        if not entries:
            return list(open_intents.values())
        for entry in entries:
            row = AuditRow.from_entry(entry)
            if row.kind == CALL_INTENT:
                open_intents[row.seq] = row
            elif isinstance(seq := row.body.get("intent_seq"), int):
                open_intents.pop(seq, None)
        after = entries[-1].seq


async def show_row(repo: LedgerRepo, seq: int) -> AuditRow | None:
    """The row ``seq``, or ``None``.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    try:
        entries = await repo.read(after_seq=seq - 1, limit=1)
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc
    return AuditRow.from_entry(entries[0]) if entries and entries[0].seq == seq else None


async def export_jsonl(
    repo: LedgerRepo, *, after_seq: int = 0, page: int = 1000
) -> AsyncIterator[str]:
    """Every row after ``after_seq`` as one canonical JSON line (with ``\\n``), in order.

    To resume an interrupted export, pass the ``seq`` of the last line written.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    after = after_seq
    while entries := await read_page(repo, after, page):
        for entry in entries:
            yield export_line(entry)
        after = entries[-1].seq


async def read_page(repo: LedgerRepo, after_seq: int, page: int) -> list[LedgerEntry]:
    """Up to ``page`` rows after ``after_seq``, in order.

    Raises:
        AuditUnavailable: the ledger could not be read.
    """
    try:
        return list(await repo.read(after_seq=after_seq, limit=page))
    except StoreError as exc:
        raise AuditUnavailable(f"cannot read the audit ledger: {exc.message}") from exc


def export_line(entry: LedgerEntry) -> str:
    """One row as the export writes it: canonical JSON with its ``seq`` and hashes, ``\\n``."""
    return canonical_json(AuditRow.from_entry(entry).to_json()).decode("utf-8") + "\n"
