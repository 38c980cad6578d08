"""The outermost stage: every refusal becomes a tool error the model can read; nothing leaks."""

from __future__ import annotations

import logging
import secrets

import mcp.types as types

from .._errors import QuartermasterError
from ..pipeline import CallContext, CallResult, Next

logger = logging.getLogger("quartermaster.pipeline")


def tool_error(message: str) -> types.CallToolResult:
    """A tool result that tells the model what went wrong."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class ErrorBoundary:
    """Turns Quartermaster's refusals into ``isError`` results and hides internal failures.

    A refusal's message is written for the agent and carries no secret. An unexpected
    exception is logged with an incident id and reported only by that id, so that no internal
    detail (which could include a downstream's data) reaches the model.
    """

    name = "boundary"

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Run the rest of the pipeline, converting failures into tool errors."""
        try:
            return await call_next(ctx)
        except QuartermasterError as exc:
            return tool_error(f"{ctx.call.name}: {exc.message}")
        except Exception:
            incident = secrets.token_hex(6)
            logger.exception(
                "internal error in tool call %r (incident %s)", ctx.call.name, incident
            )
            return tool_error(
                f"{ctx.call.name}: Quartermaster failed internally (incident {incident}); "
                "the call was not completed. An operator can find the incident in the logs."
            )
