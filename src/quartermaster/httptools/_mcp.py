"""Offering a declared HTTP tool to agents as an MCP ``Tool``."""

from __future__ import annotations

from mcp.types import Tool, ToolAnnotations

from ..config import TOOL_SEPARATOR, HttpToolConfig


def exposed_name(system: str, name: str) -> str:
    """The name agents see for tool ``name`` of system ``system``: ``system__name``."""
    return f"{system}{TOOL_SEPARATOR}{name}"


def to_mcp_tool(
    system: str, name: str, tool: HttpToolConfig, *, expose_as: str | None = None
) -> Tool:
    """The MCP ``Tool`` for a declared HTTP tool.

    The annotations follow the admin's risk class, never the method alone: only a ``read``
    tool is offered as read-only, only a ``dangerous`` one as destructive. Idempotency follows
    the method (GET, HEAD, PUT, DELETE), and every HTTP tool reaches outside Quartermaster, so
    ``openWorldHint`` is true.
    """
    return Tool(
        name=expose_as or exposed_name(system, name),
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.risk == "read",
            destructive_hint=tool.risk == "dangerous",
            idempotent_hint=tool.idempotent,
            open_world_hint=True,
        ),
    )
