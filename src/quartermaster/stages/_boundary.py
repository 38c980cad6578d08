"""The outermost stage: every refusal becomes a tool error the model can read; nothing leaks."""

from __future__ import annotations

import logging
import secrets

import mcp.types as types

from .._errors import QuartermasterError
from ..pipeline import CallContext, CallResult, Next
from ..redaction import RedactionFailed, Redactor
from ._known import SecretsInPlay

logger = logging.getLogger("quartermaster.pipeline")


def tool_error(message: str) -> types.CallToolResult:
    """A tool result that tells the model what went wrong."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class ErrorBoundary:
    """Turns Quartermaster's refusals into ``isError`` results and hides internal failures.

    A refusal's message is written for the agent, but some quote a downstream (why it is down,
    what was malformed in its answer): every one passes the redactor, and is withheld if the
    redactor fails. An unexpected exception is logged with an incident id and reported only
    by that id, so that no internal detail (which could include a downstream's data) reaches
    the model.
    """

    name = "boundary"

    def __init__(self, redactor: Redactor, secrets: SecretsInPlay) -> None:
        self._redactor = redactor
        self._secrets = secrets

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Run the rest of the pipeline, converting failures into tool errors."""
        try:
            return await call_next(ctx)
        except QuartermasterError as exc:
            message = f"{ctx.call.name}: {exc.message}"
            try:
                return tool_error(
                    self._redactor.session(await self._secrets.for_redaction()).text(message)
                )
            except RedactionFailed:
                return tool_error(
                    f"{ctx.call.name}: the call was refused; its reason was withheld because "
                    "the redactor failed on it"
                )
        except Exception:
            incident = secrets.token_hex(6)
            logger.exception(
                "internal error in tool call %r (incident %s)", ctx.call.name, incident
            )
            return tool_error(
                f"{ctx.call.name}: Quartermaster failed internally (incident {incident}); "
                "the call was not completed. An operator can find the incident in the logs."
            )
