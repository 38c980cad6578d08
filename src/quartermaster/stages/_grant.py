"""Step 5: a credential for this call only: one audience, one action, one target, minutes."""

from __future__ import annotations

from ..broker import Broker
from ..pipeline import CallContext, CallResult, Next
from ..policy import grant_ttl


class Grant:
    """Mints the grant of a tool call (``Deliver`` hands it to the downstream, never to the
    agent).

    The grant is signed here but kept by ``Record``, in the same transaction as the call's
    intent row: one commit instead of two, and the grant exists in the store only if the
    intent does. The downstream is called after ``Record``, so the grant is on record
    before anyone can present it. Resource reads and prompts get no grant: they act on no
    target system's behalf.
    """

    name = "grant"

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Mint a single-use grant bound to the run, the approval and the exact arguments."""
        identity, route = ctx.identity, ctx.route
        if route.subject != "tool":
            return await call_next(ctx)
        if identity is None or ctx.args_sha256 is None or ctx.risk is None:
            raise RuntimeError("grant needs identify, classify and screen before it")
        ctx.grant = await self._broker.mint(
            identity,
            audience=route.audience or route.backend,
            tool=route.exposed_name,
            action=route.original_name,
            target=ctx.target,
            args_sha256=ctx.args_sha256,
            ttl=grant_ttl(ctx.decision.ttl if ctx.decision else None, route.ttl),
            approval_id=ctx.approval.approval_id if ctx.approval else None,
            record=False,
        )
        return await call_next(ctx)
