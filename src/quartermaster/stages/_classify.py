"""Step 2: which risk class the tool is in, and which object the call acts on."""

from __future__ import annotations

from typing import cast

from ..config import RiskClass
from ..pipeline import CallContext, CallResult, Next, ToolRoute
from ..policy import classify, render_target


def risk_of(route: ToolRoute) -> RiskClass:
    """The risk class of what ``route`` leads to: a tool's from the admin's word and the
    downstream's annotations (which only ever raise it); a resource's or prompt's ``read``.

    The one place calls and listings take it from.
    """
    if route.tool is None:
        return "read"
    return classify(
        cast(RiskClass | None, route.declared_risk),
        cast(RiskClass | None, route.server_default_risk),
        route.tool.annotations,
    ).risk


class Classify:
    """Sets the risk class (annotations only ever raise it) and renders the target object.

    Reading a resource, subscribing to it, rendering a prompt and completing an argument
    are reads: nothing changes downstream.
    """

    name = "classify"

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Classify the call; a target that cannot be rendered refuses it (TargetInvalid)."""
        route = ctx.route
        ctx.risk = risk_of(route)
        if route.tool is not None and route.target_template is not None:
            arguments = ctx.arguments if ctx.arguments is not None else ctx.call.arguments
            ctx.target = render_target(route.target_template, arguments)
        return await call_next(ctx)
