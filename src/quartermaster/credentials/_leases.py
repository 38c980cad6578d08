"""Leases: every credential a source issues is recorded, revocable, and ends on time.

The service issues through a source and keeps the lease in the store (so every replica and the
CLI see it); it revokes at the end of the call, on request, and when the lease expires. A
revocation the source cannot do now is retried with exponential backoff (``leases list``
shows it as ``revoking`` with the reason), and each failure is logged as one line.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from .._clock import Clock
from ..audit import LEASE_EXPIRED, LEASE_ISSUED, LEASE_RENEWED, LEASE_REVOKE_FAILED, LEASE_REVOKED
from ..store import LeaseFilter, LeaseRecord, LeaseRepo, StoreError
from ._errors import LeaseNotActive, LeaseNotFound, RevokeFailed, SourceUnavailable
from ._model import CredentialSource, Lease, LeaseRequest, Sweeper

logger = logging.getLogger("quartermaster.credentials")

LIVE_STATES = ("active", "revoking")
"""States in which a credential may still work."""


class LeaseEvents(Protocol):
    """Where lease events go (the audit ledger); a failure to record an issue fails the issue."""

    async def lease_event(self, kind: str, record: LeaseRecord, detail: Mapping[str, Any]) -> None:
        """Record ``kind`` for ``record`` durably (ids, names and times only, never values)."""
        ...


class Leases:
    """Issues, lists, revokes and expires the leases of every declared source."""

    def __init__(
        self,
        repo: LeaseRepo,
        sources: Mapping[str, CredentialSource],
        *,
        clock: Clock,
        events: LeaseEvents,
        initial_backoff: float = 1.0,
        max_backoff: float = 300.0,
    ) -> None:
        self._repo = repo
        self.sources = dict(sources)
        self._clock = clock
        self._events = events
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff

    async def issue(self, source_name: str, request: LeaseRequest) -> Lease:
        """A credential from ``source_name`` narrowed to ``request``, recorded as a lease.

        If the lease cannot be recorded, the credential is revoked again at once: nothing
        half-made stays behind.

        Raises:
            SourceUnavailable: the source is unknown, down or refused.
            StoreError / the recorder's error: the lease could not be recorded.
        """
        source = self.sources.get(source_name)
        if source is None:
            raise SourceUnavailable(source_name, "no such source is declared under 'credentials:'")
        now = self._clock.now()
        issued = await source.issue(request, now=now)
        record = LeaseRecord(
            lease_id=f"lease-{secrets.token_urlsafe(12)}",
            source=source_name,
            kind=source.kind,
            tenant=request.tenant,
            run_id=request.run_id,
            agent=request.agent,
            tool=request.tool,
            target=request.target,
            scope=issued.scope,
            ref=issued.ref,
            issued_at=now,
            expires_at=issued.expires_at,
        )
        try:
            await self._repo.create(record)
            detail: dict[str, Any] = {"long_lived": source.long_lived}
            if issued.note:
                detail["note"] = issued.note
            await self._events.lease_event(LEASE_ISSUED, record, detail)
        except BaseException:
            if source.revocable:
                try:
                    await source.revoke(issued.ref)
                except RevokeFailed as exc:
                    logger.error(
                        "an unrecorded credential of %r could not be revoked (%s); the "
                        "source's sweep removes it",
                        source_name,
                        exc.why,
                    )
            raise
        return Lease(record, issued.values, issued.note, issued.public, issued.redact)

    async def get(self, lease_id: str) -> LeaseRecord:
        """One lease.

        Raises:
            LeaseNotFound: no lease has this id.
        """
        record = await self._repo.get(lease_id)
        if record is None:
            raise LeaseNotFound(lease_id)
        return record

    async def find(
        self, which: LeaseFilter | None = None, *, limit: int = 1000
    ) -> list[LeaseRecord]:
        """Leases matching ``which`` (all by default), oldest first."""
        return await self._repo.list(which or LeaseFilter(), limit=limit)

    async def end_of_call(self, lease: Lease) -> None:
        """A call is over: a credential its source can revoke goes now; others run out."""
        source = self.sources.get(lease.record.source)
        if source is not None and source.revocable:
            await self.revoke(lease.record.lease_id, "call ended")

    async def renew(self, lease_id: str, ttl: float) -> LeaseRecord:
        """Extend an active lease to ``ttl`` seconds from now, where its source can (a
        PostgreSQL role's ``VALID UNTIL`` moves; the source caps it at its ``max_ttl``).

        Raises:
            LeaseNotFound: no lease has this id.
            LeaseNotActive: the lease has ended or is being revoked.
            NotRenewable: its source cannot extend a credential (ask for a new one).
            SourceUnavailable: the source could not do it now (the lease is unchanged).
        """
        if ttl <= 0:
            raise ValueError("a renewal needs a positive ttl")
        record = await self.get(lease_id)
        if record.state != "active":
            raise LeaseNotActive(lease_id, record.state)
        source = self.sources.get(record.source)
        if source is None:
            raise SourceUnavailable(record.source, "the source is no longer declared")
        asked = self._clock.now() + ttl
        expires_at = await source.renew(record.ref, asked)
        renewed = dataclasses.replace(record, expires_at=expires_at)
        if not await self._repo.update(renewed, expected_state="active"):
            raise LeaseNotActive(lease_id, (await self.get(lease_id)).state)
        detail = {"previous_expires_at": record.expires_at, "capped": expires_at < asked}
        await self._events.lease_event(LEASE_RENEWED, renewed, detail)
        return renewed

    async def revoke(self, lease_id: str, reason: str) -> LeaseRecord:
        """Revoke one lease at its source; a failure is kept for retrying, not raised.

        Raises:
            LeaseNotFound: no lease has this id.
        """
        return await self._end(await self.get(lease_id), "revoked", reason)

    async def revoke_matching(self, which: LeaseFilter, reason: str) -> list[LeaseRecord]:
        """Revoke every live lease matching ``which`` (a run, an agent, a tenant).

        Raises:
            ValueError: ``which`` selects nothing in particular (never revoke everything).
        """
        if not any((which.lease_id, which.source, which.run_id, which.agent, which.tenant)):
            raise ValueError("a revocation needs at least one of lease, source, run, agent, tenant")
        live = await self._repo.list(dataclasses.replace(which, states=LIVE_STATES))
        return [await self._end(record, "revoked", reason) for record in live]

    async def expire_due(self) -> int:
        """End leases past their expiry and retry due revocations; return how many were seen."""
        due = await self._repo.due(self._clock.now())
        for record in due:
            if record.state == "active":
                await self._end(record, "expired", "expired")
            else:
                await self._end(record, "revoked", record.end_reason or "retry")
        return len(due)

    async def sweep(self) -> list[str]:
        """Let each source that can remove credentials no live lease accounts for (a crash)."""
        removed: list[str] = []
        for name, source in self.sources.items():
            if not isinstance(source, Sweeper):
                continue
            live = await self._repo.list(LeaseFilter(source=name, states=LIVE_STATES))
            try:
                gone = await source.sweep(frozenset(r.ref for r in live))
            except RevokeFailed as exc:
                logger.warning(
                    "sweeping leftovers of %r failed (it will be retried): %s", name, exc.why
                )
                continue
            for ref in gone:
                logger.warning("swept %r: a credential of %r no live lease accounts for", ref, name)
            removed.extend(gone)
        return removed

    async def _end(self, record: LeaseRecord, state: str, reason: str) -> LeaseRecord:
        if record.state not in LIVE_STATES:
            return record
        now = self._clock.now()
        source = self.sources.get(record.source)
        try:
            if source is None:
                raise RevokeFailed(record.source, "the source is no longer declared")
            # Every source hears of the end: one that cannot disable the credential still
            # forgets what it caches for it.
            await source.revoke(record.ref)
        except RevokeFailed as exc:
            return await self._retry_later(record, reason, exc.why, now)
        ended = dataclasses.replace(
            record, state=state, ended_at=now, end_reason=reason, next_attempt_at=None
        )
        if not await self._repo.update(ended, expected_state=record.state):
            return await self._repo.get(record.lease_id) or record
        kind = LEASE_EXPIRED if state == "expired" else LEASE_REVOKED
        await self._events.lease_event(kind, ended, {"reason": reason})
        return ended

    async def _retry_later(
        self, record: LeaseRecord, reason: str, why: str, now: float
    ) -> LeaseRecord:
        attempts = record.attempts + 1
        delay = min(self._initial_backoff * 2 ** (attempts - 1), self._max_backoff)
        retrying = dataclasses.replace(
            record,
            state="revoking",
            end_reason=reason,
            attempts=attempts,
            next_attempt_at=now + delay,
            last_error=why,
        )
        try:
            if await self._repo.update(retrying, expected_state=record.state):
                await self._events.lease_event(
                    LEASE_REVOKE_FAILED, retrying, {"attempts": attempts, "error": why}
                )
        except StoreError as exc:
            logger.error("could not record the failed revocation of %s: %s", record.lease_id, exc)
        logger.warning(
            "lease %s of %r could not be revoked (attempt %d, next in %.0f s): %s",
            record.lease_id,
            record.source,
            attempts,
            delay,
            why,
        )
        return retrying
