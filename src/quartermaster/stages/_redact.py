"""Step 8: nothing secret goes back to the model; a redactor failure withholds the result."""

from __future__ import annotations

from typing import Any, TypeVar

import mcp.types as types

from ..pipeline import CallContext, CallResult, Next
from ..redaction import RedactionSession, Redactor
from ._known import SecretsInPlay

M = TypeVar("M", bound=types.Result)


def redact_model(session: RedactionSession, model: M) -> M:
    """``model`` with every string value redacted (text, URIs, structured content, ``_meta``).

    Keys and structure are kept, so the result still validates as the same MCP type.
    Raises ``RedactionFailed`` (the caller withholds the result) if the redactor fails.
    """
    data: Any = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return type(model).model_validate(session.json(data))


class Redact:
    """Redacts the result and every progress message of the call."""

    name = "redact"

    def __init__(self, redactor: Redactor, secrets: SecretsInPlay) -> None:
        self._redactor = redactor
        self._secrets = secrets

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Redact on the way back; counts by kind go to the audit row."""
        known = await self._secrets.for_redaction()
        if ctx.grant is not None:
            known = known.with_values([ctx.grant.token])
        session = self._redactor.session(known)
        upstream = ctx.report_progress
        if upstream is not None:

            async def redacted_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                await upstream(progress, total, session.text(message) if message else message)

            ctx.report_progress = redacted_progress
        try:
            result = await call_next(ctx)
            if isinstance(result, types.CallToolResult):
                result = redact_model(session, result)
        finally:
            ctx.redactions = dict(session.counts)
        return result
