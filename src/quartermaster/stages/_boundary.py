"""The outermost stage: every refusal becomes an error the model can read; nothing leaks.

A tool call's refusal is a tool error (``isError``), so the model can correct itself; any
other request's is a JSON-RPC error, since MCP has no error result for resources or prompts.
"""

from __future__ import annotations

import logging
import secrets

import mcp.types as types
from mcp.shared.exceptions import MCPError

from .._errors import DownstreamError, QuartermasterError
from ..pipeline import CallContext, CallResult, Next
from ..redaction import RedactionFailed, Redactor
from ._known import SecretsInPlay

logger = logging.getLogger("quartermaster.pipeline")


def tool_error(message: str) -> types.CallToolResult:
    """A tool result that tells the model what went wrong."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class ErrorBoundary:
    """Turns Quartermaster's refusals into errors for the agent and hides internal failures.

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
            # A downstream that failed is the server's error; any other refusal is the request's.
            code = (
                types.INTERNAL_ERROR if isinstance(exc, DownstreamError) else types.INVALID_REQUEST
            )
            message = f"{ctx.call.name}: {exc.message}"
            try:
                shown = self._redactor.session(await self._secrets.for_redaction()).text(message)
            except RedactionFailed:
                shown = (
                    f"{ctx.call.name}: the call was refused; its reason was withheld because "
                    "the redactor failed on it"
                )
            return _refused(ctx, code, shown)
        except MCPError:
            raise  # the downstream's own protocol error, already redacted
        except Exception:
            incident = secrets.token_hex(6)
            logger.exception(
                "internal error in %s %r (incident %s)", ctx.call.method, ctx.call.name, incident
            )
            return _refused(
                ctx,
                types.INTERNAL_ERROR,
                f"{ctx.call.name}: Quartermaster failed internally (incident {incident}); "
                "the request was not completed. An operator can find the incident in the logs.",
            )


def _refused(ctx: CallContext, code: int, message: str) -> CallResult:
    if ctx.call.method == "tools/call":
        return tool_error(message)
    raise MCPError(code, message) from None
