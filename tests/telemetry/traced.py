"""What the telemetry tests share: a traced configuration and a downstream that echoes."""

from __future__ import annotations

from typing import Any

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext

from quartermaster.proxy import Proxy

PLAIN = """
version: 1
servers:
  desk:
    command: "{python}"
    args: ["-c", "pass"]
policy:
  rules:
    - {{id: desk-reads, effect: permit, tool: "desk__*", risk: [read, write]}}
store:
  url: sqlite:///state/qm.db
"""
"""A proxy with one downstream, ``desk``, whose tools every caller may use (no telemetry)."""

CONFIG = (
    PLAIN
    + """telemetry:
  enabled: true
  endpoint: {endpoint}
  prometheus: true
"""
)
""":data:`PLAIN` with traces and metrics sent to ``{endpoint}`` and Prometheus on."""

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def desk(seen_meta: list[dict[str, Any]], leaked: str) -> Server[Any]:
    """A downstream whose ``echo`` returns its text and a token it should not have shown."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return types.ListToolsResult(tools=[types.Tool(name="echo", input_schema=schema)])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        seen_meta.append(dict(ctx.meta or {}))
        text = f"{(params.arguments or {}).get('text')} token={leaked}"
        return types.CallToolResult(content=[types.TextContent(text=text)])

    return Server("desk", on_list_tools=list_tools, on_call_tool=call_tool)


async def flushed(proxy: Proxy) -> None:
    assert proxy.telemetry is not None
    await anyio.to_thread.run_sync(proxy.telemetry.flush)
