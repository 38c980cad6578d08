"""Step 3: the policy decision (default deny; forbid wins; dangerous always needs a human).

Resources are decided by URI and prompts by name, with the same rules and the same default.
"""

from __future__ import annotations

import logging
from typing import cast

from .._clock import Clock
from ..config import RiskClass
from ..pinning import DefinitionQuarantined
from ..pipeline import CallContext, CallResult, Next
from ..policy import CallFacts, PolicyDenied, PolicyEngine
from ._identify import NotAuthenticated

logger = logging.getLogger("quartermaster.pipeline")


class Decide:
    """Refuses a call of a held-back (quarantined) tool, then asks the policy engine."""

    name = "decide"

    def __init__(self, engine: PolicyEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Decide; a deny raises ``PolicyDenied`` naming the rule and what to do.

        Raises:
            DefinitionQuarantined: the tool's definition is not the one an admin accepted.
            NotAuthenticated: nobody authenticated the request.
            PolicyDenied: the policy refuses the call.
        """
        if ctx.route.quarantined is not None:
            logger.warning("refused a call of %r: it is held back by pinning", ctx.call.name)
            raise DefinitionQuarantined(ctx.route.exposed_name, ctx.route.quarantined)
        identity = ctx.identity
        if identity is None:
            raise NotAuthenticated("the call carries no authenticated identity; it was refused")
        if ctx.risk is None:
            raise RuntimeError("decide needs the classify stage before it")
        facts = CallFacts(
            agent=identity.agent,
            tenant=identity.tenant,
            human=identity.on_behalf_of,
            tool=ctx.route.exposed_name,
            risk=cast(RiskClass, ctx.risk),
            target=ctx.target,
            subject=ctx.route.subject,
        )
        ctx.decision = self._engine.decide(facts, now=self._clock.now())
        if ctx.decision.effect == "deny":
            raise PolicyDenied.from_decision(ctx.route.exposed_name, ctx.decision)
        return await call_next(ctx)
