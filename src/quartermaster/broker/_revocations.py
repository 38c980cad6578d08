"""The revocation list: what may no longer be granted, kept as rows of the chained ledger.

A revocation names any of a grant (``jti``), a run, an agent, a tenant and an agent token
(``token_jti``); every named field must match. It is written to the audit ledger (a
``grant.revoked`` row) before anything else changes, and every replica reads the list from
there: the rows are chained and checkpointed, so nobody un-revokes by editing the database
(deleting or altering a row breaks the chain, which ``quartermaster audit verify`` reports),
whereas the grants table's ``revoked_at`` is only a convenience for listings.

Each replica re-reads only the rows added since it last looked, at most ``max_age`` seconds
ago (one second by default), so a revocation made anywhere refuses the next call everywhere
within that time. A store that cannot be read refuses the call (fail closed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from quartermaster._clock import Clock
from quartermaster.audit import GRANT_REVOKED, AuditEvent
from quartermaster.store import LedgerQuery, LedgerRepo

logger = logging.getLogger("quartermaster.broker.revocations")

_PAGE = 1000
_FIELDS = ("jti", "run_id", "agent", "tenant", "token_jti")


@dataclass(frozen=True, slots=True)
class Revocation:
    """What was revoked: every field given must match (``None`` matches anything)."""

    jti: str | None = None
    run_id: str | None = None
    agent: str | None = None
    tenant: str | None = None
    token_jti: str | None = None
    at: float | None = None

    @property
    def is_empty(self) -> bool:
        """Whether no field is set (such a revocation would refuse everything: never kept)."""
        return all(getattr(self, name) is None for name in _FIELDS)

    def covers(self, call: Revocation) -> bool:
        """Whether this revocation refuses ``call`` (the same fields, of a call or a grant)."""
        if self.is_empty:
            return False
        return all(
            getattr(self, name) is None or getattr(self, name) == getattr(call, name)
            for name in _FIELDS
        )

    def describe(self) -> str:
        """``run run-7 of tenant acme``: what was revoked, in words (names and ids only)."""
        words = {
            "jti": "grant",
            "run_id": "run",
            "agent": "agent",
            "tenant": "tenant",
            "token_jti": "agent token",
        }
        parts = [f"{words[name]} {getattr(self, name)}" for name in _FIELDS if getattr(self, name)]
        return ", ".join(parts)


def revocation_event(which: Revocation, *, via: str) -> AuditEvent:
    """The ledger row that revokes ``which`` (``via``: who asked, e.g. ``cli``)."""
    detail: dict[str, Any] = {"via": via}
    if which.jti is not None:
        detail["jti"] = which.jti
    if which.token_jti is not None:
        detail["token_jti"] = which.token_jti
    return AuditEvent(
        kind=GRANT_REVOKED,
        run_id=which.run_id,
        agent=which.agent,
        tenant=which.tenant,
        detail=detail,
    )


def _parse(payload: bytes, ts: float) -> Revocation | None:
    try:
        body = json.loads(payload)
        detail = body.get("detail") or {}
        found = Revocation(
            jti=detail.get("jti"),
            run_id=body.get("run_id"),
            agent=body.get("agent"),
            tenant=body.get("tenant"),
            token_jti=detail.get("token_jti"),
            at=ts,
        )
    except (ValueError, AttributeError, TypeError):
        return None
    if not all(isinstance(getattr(found, name), str | None) for name in _FIELDS):
        return None
    return found


class RevocationList:
    """Revocations as every replica sees them: the ledger's ``grant.revoked`` rows.

    ``record_event`` writes a row durably (``Ledger.record_event``); ``ledger`` reads them.
    """

    def __init__(
        self,
        ledger: LedgerRepo,
        record_event: Callable[[AuditEvent], Awaitable[object]],
        clock: Clock,
        *,
        max_age: float = 1.0,
    ) -> None:
        if max_age < 0:
            raise ValueError("max_age cannot be negative")
        self._ledger = ledger
        self._record = record_event
        self._clock = clock
        self._max_age = max_age
        self._after = 0
        self._read_at: float | None = None
        self._entries: list[Revocation] = []
        self._lock = anyio.Lock()

    async def add(self, which: Revocation, *, via: str) -> None:
        """Revoke ``which``: durable in the ledger when this returns, and seen here at once.

        Raises:
            ValueError: ``which`` names nothing (revoking everything is never implied).
            AuditUnavailable: the row could not be written; nothing is revoked.
        """
        if which.is_empty:
            raise ValueError("name at least one of jti, run, agent, tenant, token to revoke")
        await self._record(revocation_event(which, via=via))
        self._read_at = None  # read our own row (and any others) on the next check

    def mark_stale(self) -> None:
        """Re-read the list at the next check (another process announced a revocation)."""
        self._read_at = None

    async def refusal(self, call: Revocation) -> Revocation | None:
        """The revocation that refuses ``call``, or ``None``.

        Raises:
            StoreError: the ledger could not be read; refuse the call.
        """
        await self._fresh()
        return next((entry for entry in self._entries if entry.covers(call)), None)

    async def _fresh(self) -> None:
        now = self._clock.now()
        if self._read_at is not None and now - self._read_at < self._max_age:
            return
        async with self._lock:
            if self._read_at is not None and self._clock.now() - self._read_at < self._max_age:
                return  # another task read while we waited
            while True:
                rows = await self._ledger.search(
                    LedgerQuery(kinds=(GRANT_REVOKED,), after_seq=self._after, limit=_PAGE)
                )
                for row in rows:
                    found = _parse(row.payload, row.ts)
                    if found is None:
                        # Our own writer never makes such a row; an altered one is what
                        # 'audit verify' reports. Say so here too.
                        logger.warning("ledger row %d is not a readable revocation", row.seq)
                    elif not found.is_empty:
                        self._entries.append(found)
                    self._after = row.seq
                if len(rows) < _PAGE:
                    break
            self._read_at = now
