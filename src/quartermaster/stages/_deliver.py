"""Step 7a: the credentials and the grant go into the request, so the last step only sends.

This is the one stage that handles credential values. It resolves the ``secret://`` handles
an agent may pass (where the tool's ``handle_arguments`` allow them), chooses the
credentials of an HTTP system (its grant, API key or basic auth) and puts the grant of an
MCP tool call into the call's ``_meta``. What it builds, ``CallContext.outgoing``, lives
only for the downstream call.

Its contract: read ``ctx.identity``, ``ctx.route``, ``ctx.grant`` and ``ctx.leases`` (what
the credentials stage leased for the call); set ``ctx.outgoing``; every value it hands out
must already be known to the redactor (vault values and leases are).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import MAIN_FIELD, CredentialAuth, HttpSystemConfig, parse_reference
from ..httptools import ResolvedAuth, resolve_auth
from ..pipeline import CallContext, CallResult, Next, Outgoing
from ..vault import SecretValue, Vault, substitute_handles

GRANT_META_KEY = "quartermaster/grant"
"""Where an MCP downstream finds the grant in the call's ``_meta`` (agents cannot set it)."""


class Deliver:
    """Builds the outgoing request: handles resolved, credentials and grant attached."""

    name = "deliver"

    def __init__(self, vault: Vault, systems: Mapping[str, HttpSystemConfig]) -> None:
        self._vault = vault
        self._systems = systems

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Resolve what the downstream needs for this call, then send it.

        Raises:
            VaultError: a handle is not allowed here or cannot be resolved for this tenant.
        """
        identity, route = ctx.identity, ctx.route
        if identity is None or ctx.arguments is None:
            raise RuntimeError("deliver needs identify and screen before it")
        bound = self._vault.for_call(
            tenant=identity.tenant,
            purpose=f"run {identity.run_id} {route.exposed_name}",
            users=(route.exposed_name, route.backend),
        )
        # Handles become values here, in the copy that goes downstream, and nowhere else.
        arguments, _ = await substitute_handles(ctx.arguments, route.handle_arguments, bound)
        meta = dict(ctx.call.meta)
        auth: ResolvedAuth | None = None
        if route.kind == "http":
            system = self._systems[route.backend]
            grant = (
                SecretValue(ctx.grant.token) if ctx.grant and system.auth.kind == "grant" else None
            )
            auth = await resolve_auth(
                system, bound, grant=grant, credential=_leased(ctx, system.auth)
            )
        elif ctx.grant is not None:
            meta[GRANT_META_KEY] = ctx.grant.token
        ctx.outgoing = Outgoing(arguments=arguments, meta=meta, auth=auth)
        return await call_next(ctx)


def _leased(ctx: CallContext, auth: object) -> SecretValue | None:
    """The value the call's lease hands to a system declared with ``auth: credential``."""
    if not isinstance(auth, CredentialAuth):
        return None
    reference = parse_reference(auth.source)
    if reference is None:
        raise RuntimeError("a credential auth without a reference passed validation")
    lease = ctx.leases.get(reference.source)
    if lease is None:
        raise RuntimeError(
            f"the call reached the system without its lease from {reference.source!r}"
        )
    return lease.value(reference.field or MAIN_FIELD[lease.record.kind])
