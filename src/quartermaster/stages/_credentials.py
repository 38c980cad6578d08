"""Step 5b: the credentials the downstream needs, leased for this call and ended with it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..credentials import CredentialError, GrantHandover, LeaseRequest, Leases
from ..pipeline import CallContext, CallResult, Next
from ..vault import SecretValue

logger = logging.getLogger("quartermaster.credentials")

SessionHook = Callable[[CallContext], Awaitable[None]]
"""Picks (starting if needed) the caller's own session of a per-identity server and sets
``ctx.downstream`` and ``ctx.session_leases``; the proxy provides it."""


class Credentials:
    """Leases a credential from each source the route uses, narrowed to the call.

    For a per-identity downstream server, the caller's own session is chosen (started with
    credentials leased for that identity if it has none) before the intent is written, so the
    intent names those credentials too. The narrowing is the call's: its tenant, run, agent
    and human, the tool, the target, the risk class and the grant's lifetime (no credential
    outlives the grant). The leases are in
    ``ctx.leases`` for ``Record`` (the intent names them) and the downstream call; when the
    call ends, each credential its source can revoke is revoked. If one source fails, the
    leases already issued for the call are ended and the call is refused.
    """

    name = "credentials"

    def __init__(self, leases: Leases, sessions: SessionHook | None = None) -> None:
        self._leases = leases
        self._sessions = sessions

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Issue the call's leases (and pick its session), run the call, end the leases."""
        identity, route, grant = ctx.identity, ctx.route, ctx.grant
        if route.kind == "mcp" and self._sessions is not None:
            await self._sessions(ctx)
        if not route.credentials:
            return await call_next(ctx)
        if identity is None or grant is None:
            raise RuntimeError("credentials need identify and grant before them")
        request = LeaseRequest(
            tenant=identity.tenant,
            run_id=identity.run_id,
            agent=identity.agent,
            human=identity.on_behalf_of,
            server=route.backend,
            tool=route.exposed_name,
            target=ctx.target,
            risk=ctx.risk,
            ttl=max(grant.record.expires_at - grant.record.issued_at, 1.0),
            grant=GrantHandover(
                token=SecretValue(grant.token),
                jti=grant.record.jti,
                audience=grant.record.audience,
                action=route.original_name,
                expires_at=grant.record.expires_at,
            ),
            subject_token=ctx.principal.idp_token if ctx.principal is not None else None,
        )
        try:
            for source in route.credentials:
                if source not in ctx.leases:
                    ctx.leases[source] = await self._leases.issue(source, request)
            return await call_next(ctx)
        finally:
            await self._end_all(ctx)

    async def _end_all(self, ctx: CallContext) -> None:
        for lease in ctx.leases.values():
            try:
                await self._leases.end_of_call(lease)
            except CredentialError as exc:
                logger.error("ending lease %s failed: %s", lease.record.lease_id, exc.message)
