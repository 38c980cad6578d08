"""What flows through the pipeline: the request as asked, and the facts stages add to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.shared.dispatcher import ProgressFnT
from mcp.types import CallToolResult, InputRequiredResult, Tool

ProgressFn = ProgressFnT
"""Reports progress to the calling client: ``(progress, total, message)``."""

CallResult = CallToolResult | InputRequiredResult
"""A finished call, or (2026-07-28 clients only) a request for the human's input."""


@dataclass(frozen=True)
class ToolRoute:
    """Where an exposed tool really lives and what the admin said about it."""

    exposed_name: str
    backend: str
    """Name of the downstream server or HTTP system that serves it."""
    kind: Literal["mcp", "http"]
    original_name: str
    tool: Tool
    """The tool as offered to agents (renamed, annotations as the downstream sent them)."""
    declared_risk: str | None = None
    server_default_risk: str | None = None
    target_template: str | None = None
    ttl: float | None = None


@dataclass(frozen=True)
class ToolCall:
    """One tools/call exactly as the agent sent it."""

    name: str
    arguments: Mapping[str, Any]
    meta: Mapping[str, Any]
    """The caller's ``_meta`` minus the progress token; untrusted."""
    protocol_version: str | None = None
    input_responses: Mapping[str, Any] | None = None
    request_state: str | None = None


@dataclass
class CallContext:
    """The state of one call as it moves through the stages.

    Each stage reads what earlier stages decided and adds its own facts; nothing else shares
    state between stages. Fields start empty and are filled in pipeline order.
    """

    call: ToolCall
    route: ToolRoute
    session: Any = None
    """The SDK's server session of the caller (for pushed elicitation); ``None`` in unit tests."""
    report_progress: ProgressFn | None = None
    downstream_meta: dict[str, Any] = field(default_factory=dict)
    """Extra ``_meta`` for the downstream call (a grant, the run id)."""
    downstream_headers: dict[str, str] = field(default_factory=dict)
    """Extra HTTP headers for an HTTP tool's request (a grant as a bearer token)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Facts a stage records for later stages and the audit row, by stage-owned key."""
