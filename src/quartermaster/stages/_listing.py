"""Listings, decided per caller: each one shows only what policy could let that caller use.

``tools/list``, ``resources/list``, ``resources/templates/list`` and ``prompts/list`` never
reach a downstream (the catalog answers them), so they skip the call stages, but they are
identified, decided and recorded like a request: the caller is identified as a call would be
(same run per connection), each item is judged by :meth:`PolicyEngine.listable`, and the
ledger gets one compact ``catalog.listed`` row per view.

A row per *view*, not per listing: a row is written the first time a caller (agent, tenant,
human) gets a listing of a kind in this process, and again whenever what they are shown
changes (a new tool, a pin accepted, a policy reload). Clients list again on every change
notification and many on every turn; a row per repeat would say nothing new while costing a
ledger write each, and a row per session would miss a view that changes within a long
session (and 2026-07-28 clients have no session). A listing whose row cannot be written is
refused (fail closed), as a call is.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import cast

from .._clock import Clock
from ..audit import AuditEvent, Ledger
from ..broker import Broker
from ..config import RiskClass
from ..identity import Principal
from ..pipeline import Listing
from ..policy import CallFacts, PolicyEngine
from ..redaction import Redactor
from ._identify import Identify
from ._known import SecretsInPlay

logger = logging.getLogger("quartermaster.pipeline")

MAX_HIDDEN_NAMED = 20
"""How many left-out items a ``catalog.listed`` row names (the count is always exact)."""


class ListingGate:
    """Decides and records what one listing shows its caller."""

    name = "listing"

    def __init__(
        self,
        identify: Identify,
        engine: PolicyEngine,
        ledger: Ledger,
        redactor: Redactor,
        secrets: SecretsInPlay,
        clock: Clock,
        *,
        broker: Broker | None = None,
        max_views: int = 10_000,
    ) -> None:
        """``broker``, when given, says which callers are revoked (they are shown nothing)."""
        self._identify = identify
        self._engine = engine
        self._ledger = ledger
        self._redactor = redactor
        self._secrets = secrets
        self._clock = clock
        self._views: OrderedDict[tuple[str | None, ...], str] = OrderedDict()
        self._max_views = max_views
        self._broker = broker

    async def shown(self, listing: Listing, principal: Principal | None) -> tuple[bool, ...]:
        """Per item of ``listing``, whether this caller is shown it; the view is recorded.

        A caller nobody authenticated is shown nothing (every call of theirs is refused), and
        so is one whose run, agent, tenant or agent token was revoked.

        Raises:
            InvalidRunId: the client named a run with an unsafe id.
            AuditUnavailable: the ledger could not record a new view; show nothing.
            StoreError: the revocations could not be read; show nothing.
        """
        now = self._clock.now()
        if principal is None:
            shown = tuple(False for _ in listing.items)
            await self._record(listing, shown, None, None, None, None)
            return shown
        identity = self._identify.identity_of(principal, listing)
        revoked = await self._broker.revoked(identity) if self._broker is not None else None
        if revoked is not None:
            shown = tuple(False for _ in listing.items)
            await self._record(
                listing,
                shown,
                identity.run_id,
                identity.agent,
                identity.tenant,
                identity.on_behalf_of,
                reason=f"revoked: {revoked}",
            )
            return shown
        shown = tuple(
            self._engine.listable(
                CallFacts(
                    agent=identity.agent,
                    tenant=identity.tenant,
                    human=identity.on_behalf_of,
                    tool=item.name,
                    risk=cast(RiskClass, item.risk),
                    subject=item.subject,
                ),
                has_target=item.has_target,
                now=now,
            )
            for item in listing.items
        )
        await self._record(
            listing,
            shown,
            identity.run_id,
            identity.agent,
            identity.tenant,
            identity.on_behalf_of,
        )
        return shown

    def logs_shown(self, principal: Principal | None, server: str) -> bool:
        """Whether a 2026-07-28 request's own log opt-in gets ``server``'s messages.

        That era has no ``logging/setLevel``: a request asks for the log messages of its own
        handling in its ``_meta``. The request is decided and recorded as itself; its logs
        reach the caller only where a rule allows them that server's messages outright
        (``logging: NAME``), as ``logging/setLevel`` would on the handshake era.
        """
        if principal is None:
            return False
        facts = CallFacts(
            agent=principal.agent,
            tenant=principal.tenant,
            human=principal.on_behalf_of,
            tool=server,
            risk="read",
            subject="logging",
        )
        return self._engine.decide(facts, now=self._clock.now()).effect == "allow"

    async def _record(
        self,
        listing: Listing,
        shown: tuple[bool, ...],
        run_id: str | None,
        agent: str | None,
        tenant: str | None,
        human: str | None,
        *,
        reason: str | None = None,
    ) -> None:
        if agent is None:
            reason = "no authenticated identity"
        session = self._redactor.session(await self._secrets.for_redaction())
        # Names are downstream data (a URI may carry anything): redacted before they are
        # digested or written.
        names = [session.text(item.name) for item in listing.items]
        visible = sorted(name for name, ok in zip(names, shown, strict=True) if ok)
        hidden = sorted(name for name, ok in zip(names, shown, strict=True) if not ok)
        digest = hashlib.sha256("\n".join(visible).encode("utf-8")).hexdigest()
        key = (agent, tenant, human, listing.method, reason)
        if self._views.get(key) == digest:
            self._views.move_to_end(key)
            return
        await self._ledger.record_event(
            AuditEvent(
                kind="catalog.listed",
                run_id=run_id,
                agent=agent,
                tenant=tenant,
                human=human,
                detail={
                    "method": listing.method,
                    "shown": len(visible),
                    "hidden": len(hidden),
                    "hidden_names": hidden[:MAX_HIDDEN_NAMED],
                    "names_sha256": digest,
                    **({} if reason is None else {"reason": reason}),
                },
            )
        )
        # Said once per new view, so that an empty listing is explained where an admin looks.
        logger.info(
            "%s for %s: %d shown, %d left out by policy%s",
            listing.method,
            f"agent {agent!r} of tenant {tenant!r}" if agent is not None else "a caller",
            len(visible),
            len(hidden),
            "" if reason is None else f" ({reason}: nothing is shown)",
        )
        self._views[key] = digest
        self._views.move_to_end(key)
        if len(self._views) > self._max_views:
            self._views.popitem(last=False)
