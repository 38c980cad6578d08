"""Turning an HTTP response (already read, within its size limit) into an MCP tool result.

    2xx JSON object          -> structuredContent = the object, plus compact JSON text
    2xx JSON array or scalar -> structuredContent = {"result": value}, plus compact JSON text
    2xx text                 -> text
    2xx binary               -> isError: binary responses are not passed to agents
    anything else            -> isError naming the status, with the body as text

Results still contain whatever the system sent; the pipeline redacts them before they reach
the agent.
"""

from __future__ import annotations

import codecs
import json
from email.message import Message

from mcp.types import CallToolResult, TextContent

_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
        "application/csv",
    }
)


def error_result(message: str) -> CallToolResult:
    """An ``isError`` result carrying ``message`` for the model to read."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _media_type(content_type: str | None) -> tuple[str, str]:
    message = Message()
    message["content-type"] = content_type or "application/octet-stream"
    charset = message.get_param("charset")
    encoding = charset if isinstance(charset, str) else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    return message.get_content_type(), encoding


def _kind(media_type: str, declared: bool, body: bytes) -> str:
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith("+xml"):
        return "text"
    if not declared:
        # No Content-Type at all: text when it decodes cleanly, binary otherwise.
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            return "binary"
        return "binary" if "\x00" in decoded else "text"
    return "binary"


def _render(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(kind, text) of a body: kind is json, text or binary; text is empty for binary."""
    media_type, encoding = _media_type(content_type)
    kind = _kind(media_type, content_type is not None, body)
    if kind == "binary":
        return kind, ""
    return kind, body.decode(encoding, errors="replace")


def success_result(
    body: bytes, content_type: str | None, *, status: int, where: str
) -> CallToolResult:
    """Map a 2xx response to a result; ``where`` names the tool for messages."""
    if not body:
        return CallToolResult(content=[TextContent(type="text", text=f"HTTP {status}: no content")])
    kind, text = _render(body, content_type)
    if kind == "binary":
        return error_result(
            f"{where} answered with a binary body ({content_type or 'no content type'}, "
            f"{len(body)} bytes); binary responses are not passed to agents"
        )
    if kind == "text":
        return CallToolResult(content=[TextContent(type="text", text=text)])
    try:
        value = json.loads(text)
    except ValueError:
        return error_result(f"{where} answered with {content_type} that is not valid JSON")
    structured = value if isinstance(value, dict) else {"result": value}
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(
        content=[TextContent(type="text", text=compact)], structured_content=structured
    )


def status_result(
    body: bytes, content_type: str | None, *, status: int, reason: str, where: str
) -> CallToolResult:
    """Map a non-2xx, non-3xx response to an ``isError`` result naming the status."""
    heading = f"{where} failed: HTTP {status} {reason}".rstrip()
    if not body:
        return error_result(heading)
    kind, text = _render(body, content_type)
    if kind == "binary":
        return error_result(f"{heading} (binary body of {len(body)} bytes omitted)")
    return error_result(f"{heading}\n{text}")


def redirect_result(status: int, location: str | None, *, where: str) -> CallToolResult:
    """Map a 3xx response: redirects are never followed, the agent is told where it pointed."""
    to = f" to {location}" if location else ""
    return error_result(
        f"{where} answered HTTP {status} (a redirect{to}); redirects are not followed, so the "
        "request was not completed"
    )
