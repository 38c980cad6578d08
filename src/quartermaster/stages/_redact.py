"""Step 8: nothing secret goes back to the model; a redactor failure withholds the result."""

from __future__ import annotations

from typing import Any, TypeVar

import mcp.types as types
from pydantic import BaseModel

from ..pipeline import CallContext, CallResult, Next
from ..redaction import RedactionSession, Redactor
from ._known import SecretsInPlay

M = TypeVar("M", bound=BaseModel)

_LITERAL_KEYS = frozenset({"type", "role"})
_LITERALS = frozenset(
    {
        "text", "image", "audio", "resource", "resource_link", "user", "assistant",
        "object", "string", "array", "number", "integer", "boolean", "null",
    }
)  # fmt: skip
"""MCP content and role tags and JSON Schema types: fixed words that cannot carry a secret,
kept as they are so that a broad admin rule cannot break the protocol's structure."""


def redact_model(session: RedactionSession, model: M) -> M:
    """``model`` with every string redacted (text, URIs, schemas, structured content, ``_meta``).

    Structure is kept, so the result still validates as the same MCP type. Raises
    ``RedactionFailed`` (the caller withholds the result) if the redactor fails.
    """
    data: Any = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return type(model).model_validate(_keep_literals(data, session.json(data)))


def _keep_literals(original: Any, redacted: Any) -> Any:
    # Keys only change when they held a secret, so items pair up in order.
    if isinstance(original, dict) and isinstance(redacted, dict):
        return {
            new_key: (
                old_value
                if old_key in _LITERAL_KEYS
                and isinstance(old_value, str)
                and old_value in _LITERALS
                else _keep_literals(old_value, new_value)
            )
            for (old_key, old_value), (new_key, new_value) in zip(
                original.items(), redacted.items(), strict=True
            )
        }
    if isinstance(original, list) and isinstance(redacted, list):
        return [_keep_literals(o, r) for o, r in zip(original, redacted, strict=True)]
    return redacted


class Redact:
    """Redacts the result and every progress message of the call."""

    name = "redact"

    def __init__(self, redactor: Redactor, secrets: SecretsInPlay) -> None:
        self._redactor = redactor
        self._secrets = secrets

    async def __call__(self, ctx: CallContext, call_next: Next) -> CallResult:
        """Redact on the way back; counts by kind go to the audit row.

        The session is opened at the first byte to redact, not before the call: credentials
        the call resolves on its way down (an ``env://`` or ``file://`` handle read for the
        first time) are then among its known values.
        """
        sessions: list[RedactionSession] = []

        async def session() -> RedactionSession:
            if not sessions:
                known = await self._secrets.for_redaction()
                if ctx.grant is not None:
                    known = known.with_values([ctx.grant.token])
                sessions.append(self._redactor.session(known))
            return sessions[0]

        upstream = ctx.report_progress
        if upstream is not None:

            async def redacted_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                text = (await session()).text(message) if message else message
                await upstream(progress, total, text)

            ctx.report_progress = redacted_progress
        try:
            result = await call_next(ctx)
            if isinstance(result, types.CallToolResult):
                result = redact_model(await session(), result)
        finally:
            ctx.redactions = dict(sessions[0].counts) if sessions else {}
        return result
