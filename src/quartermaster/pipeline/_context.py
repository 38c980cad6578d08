"""What flows through the pipeline: the request as asked, and the facts stages add to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.shared.dispatcher import ProgressFnT
from mcp.types import CallToolResult, InputRequiredResult, Tool

from ..audit import Intent
from ..broker import IssuedGrant
from ..credentials import Lease
from ..identity import Principal, RunIdentity
from ..policy import Decision
from ..store import ApprovalRecord

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
    audience: str | None = None
    """The system a grant for this tool is valid at (default: the backend's name)."""
    handle_arguments: tuple[str, ...] = ()
    """Argument paths where the agent may pass a ``secret://`` handle."""
    credentials: tuple[str, ...] = ()
    """Credential sources a call leases from (``credentials:`` names), in order."""
    quarantined: str | None = None
    """Why the tool's definition is held back (pinning), or ``None`` if it is accepted."""


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
    client_name: str | None = None
    client_version: str | None = None
    run_id: str | None = None
    """The run the client says this call belongs to (``_meta["quartermaster/run_id"]``): a
    label for grouping calls, validated, never a source of authority."""
    connection_key: str | None = None
    """Identifies the client's connection (handshake era) so a run id can last a session."""


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
    principal: Principal | None = None
    """Who authenticated on the transport (set by the front; ``None`` means nobody)."""
    started: float = 0.0
    """Monotonic time the call entered the pipeline."""

    # Filled by the stages, in pipeline order.
    identity: RunIdentity | None = None
    risk: str | None = None
    target: str | None = None
    arguments: dict[str, Any] | None = None
    """The arguments after screening (raw secret values refused or replaced by handles)."""
    args_sha256: str | None = None
    decision: Decision | None = None
    approval: ApprovalRecord | None = None
    approval_via: str | None = None
    grant: IssuedGrant | None = None
    leases: dict[str, Lease] = field(default_factory=dict)
    """The credentials leased for this call, by source name (values in memory only)."""
    session_leases: dict[str, Lease] = field(default_factory=dict)
    """The credentials the caller's own downstream session started with (per-identity
    servers): handed over too, so the intent names them; they end with the session."""
    downstream: Any = None
    """The caller's own session of a per-identity server, chosen before the intent is written."""
    intent: Intent | None = None
    redactions: dict[str, int] = field(default_factory=dict)
    outcome: str | None = None
    """How the call ended, as the ledger records it (set by the settle stage)."""
    downstream_meta: dict[str, Any] = field(default_factory=dict)
    """Extra ``_meta`` for an MCP downstream (the grant, under ``quartermaster/grant``)."""
