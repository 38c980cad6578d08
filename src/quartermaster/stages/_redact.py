"""Step 8: nothing secret goes back to the model; a redactor failure withholds the result."""

from __future__ import annotations

import json
from collections import deque
from typing import Any, TypeVar

import mcp.types as types
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from ..pipeline import CallContext, CallResult, Next
from ..redaction import MessageStream, RedactionSession, Redactor
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
    data: Any = _redact_json_texts(
        session, model.model_dump(by_alias=True, mode="json", exclude_none=True), _JSON_DEPTH
    )
    return type(model).model_validate(
        _keep_literals(data, session.json(_joined_texts(session, data)))
    )


def _joined_texts(session: RedactionSession, data: Any) -> Any:
    """``data`` with the texts of its content items redacted as one text: a secret cut across
    two text items (or resource contents) is replaced in both; the rest is left to ``json``."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in ("content", "contents"):
        items = data.get(key)
        if not isinstance(items, list):
            continue
        where = [
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and isinstance(item.get("text"), str)
        ]
        if len(where) < 2:
            continue
        texts = session.texts([items[i]["text"] for i in where])
        copied = list(items)
        for i, text in zip(where, texts, strict=True):
            copied[i] = {**items[i], "text": text}
        out[key] = copied
    return out


_JSON_DEPTH = 3
"""How many levels of JSON text inside JSON text are decoded before redaction."""


def _redact_json_texts(session: RedactionSession, value: Any, depth: int) -> Any:
    """``value`` with every string that holds a JSON object or array redacted as its reader
    decodes it.

    Escapes in JSON text (``\\uXXXX``, ``\\/``, a doubly escaped string) change what a secret
    looks like; the reader of the text (the model) decodes them. So a JSON text is decoded,
    its strings redacted, and, only if anything was replaced, written back compactly. The
    text is redacted as text afterwards as well.
    """
    if isinstance(value, dict):
        return {k: _redact_json_texts(session, v, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json_texts(session, v, depth) for v in value]
    if not isinstance(value, str) or depth == 0 or value.lstrip()[:1] not in ("{", "["):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    redacted = session.json(_redact_json_texts(session, decoded, depth - 1))
    if redacted == decoded:
        return value
    return json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))


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
    """Redacts the result and every progress message of the call, each as one stream: the
    text items of a result together, the progress messages of a call together.

    Every result type is redacted the same way: a tool's result, a resource's contents, a
    rendered prompt, completion values. A downstream's JSON-RPC error keeps its code; its
    message is redacted and its data dropped.
    """

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
                issued = [ctx.grant.token] if ctx.grant is not None else []
                handed = [*ctx.leases.values(), *ctx.session_leases.values()]
                issued += [value for lease in handed for value in lease.secrets()]
                if issued:
                    known = known.with_values(issued)
                sessions.append(self._redactor.session(known))
            return sessions[0]

        upstream = ctx.report_progress
        # Progress messages are one stream: a secret cut across two of them is found whole.
        # A message waits (at most a window's worth of text) until the next shows where its
        # last token ends; what is still held is sent before the result.
        streams: list[MessageStream] = []
        held: deque[tuple[float, float | None, bool]] = deque()

        async def send(released: list[str]) -> None:
            assert upstream is not None
            for text in released:
                progress, total, has_message = held.popleft()
                await upstream(progress, total, text if has_message else None)

        if upstream is not None:

            async def redacted_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                if not streams:
                    window = self._redactor.config.stream_holdback_chars
                    streams.append(MessageStream(await session(), window=window))
                held.append((progress, total, message is not None))
                await send(streams[0].feed(message or ""))

            ctx.report_progress = redacted_progress
        try:
            result = await call_next(ctx)
            if streams:
                await send(streams[0].flush())
            if not isinstance(result, types.InputRequiredResult):
                result = redact_model(await session(), result)
        except MCPError as exc:
            message = (await session()).text(exc.error.message)
            raise MCPError(exc.error.code, message) from None
        finally:
            ctx.redactions = dict(sessions[0].counts) if sessions else {}
        return result
