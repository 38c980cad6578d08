"""What flows through the pipeline: the request as asked, and the facts stages add to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.shared.dispatcher import ProgressFnT
from mcp.types import (
    CallToolResult,
    CompleteResult,
    ElicitResult,
    EmptyResult,
    GetPromptResult,
    InputRequiredResult,
    ReadResourceResult,
    Tool,
)

from ..audit import Intent
from ..broker import IssuedGrant
from ..credentials import Lease
from ..httptools import ResolvedAuth
from ..identity import Principal, RunIdentity
from ..policy import Decision, Subject
from ..store import ApprovalRecord

ProgressFn = ProgressFnT
"""Reports progress to the calling client: ``(progress, total, message)``."""

CallResult = (
    CallToolResult
    | InputRequiredResult
    | ReadResourceResult
    | GetPromptResult
    | CompleteResult
    | EmptyResult
)
"""A finished request (the result type of its method), or (tool calls of 2026-07-28 clients
only) a request for the human's input."""

Method = Literal[
    "tools/call",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
]
"""The MCP requests that reach a downstream, each of which the pipeline runs."""

ListingMethod = Literal[
    "tools/list", "resources/list", "resources/templates/list", "prompts/list"
]  # fmt: skip
"""The listings: answered from the catalog, decided per caller (never sent downstream)."""

Ask = Callable[[str, dict[str, Any]], Awaitable[ElicitResult]]
"""Puts a form (message, requested JSON schema) to the human at the client and waits."""

OpenUrl = Callable[[str, str, str], Awaitable[ElicitResult]]
"""Asks the human at the client to open a URL (message, URL, elicitation id) and waits for
their consent; the answer says only whether they went there."""


@dataclass(frozen=True)
class HumanChannel:
    """How this request may ask the human at the client, worked out once by the front.

    Stages never see the client's session or its protocol era, only this.
    """

    way: Literal["none", "ask", "reply"] = "none"
    """``ask``: put the question now and wait for the answer (:attr:`ask`); ``reply``: answer
    the request with the question (an ``InputRequiredResult``), the answer comes with the
    retried request; ``none``: the client cannot be asked (it declared no form elicitation,
    cannot receive requests, or the request is not a tool call)."""
    ask: Ask | None = None
    """Puts a form to the human (``ask``, and the client declared form elicitation)."""
    form: bool = True
    """Whether the client declared form elicitation (it can put a yes/no to its human)."""
    url: bool = False
    """Whether the client declared URL-mode elicitation (it can send its human to a page)."""
    open_url: OpenUrl | None = None
    """Sends the human to a page now (``ask``, and the client declared URL mode)."""


@dataclass(frozen=True)
class ToolRoute:
    """Where an exposed tool, resource or prompt really lives and what the admin said about it.

    For a resource, ``exposed_name`` and ``original_name`` are its URI; for a prompt, the
    namespaced and the downstream's own name.
    """

    exposed_name: str
    backend: str
    """Name of the downstream server or HTTP system that serves it."""
    kind: Literal["mcp", "http"]
    original_name: str
    tool: Tool | None
    """The tool as offered to agents (renamed, annotations as the downstream sent them);
    ``None`` for a resource or a prompt."""
    declared_risk: str | None = None
    server_default_risk: str | None = None
    target_template: str | None = None
    ttl: float | None = None
    audience: str | None = None
    """The system a grant for this tool is valid at (default: the backend's name)."""
    handle_arguments: tuple[str, ...] = ()
    """Argument paths where the agent may pass a ``secret://`` handle."""
    subject: Subject = "tool"
    """What the route leads to: a tool, a resource, a prompt, or (``logging/setLevel``) a
    downstream server's log messages."""
    credentials: tuple[str, ...] = ()
    """Credential sources a call leases from (``credentials:`` names), in order."""
    quarantined: str | None = None
    """Why the tool's definition is held back (pinning), or ``None`` if it is accepted."""


@dataclass(frozen=True)
class ToolCall:
    """One request exactly as the agent sent it: a tool call, a resource read, a prompt, ...

    ``name`` is what the request acts on (the tool's or prompt's exposed name, the resource's
    URI) and ``arguments`` what it passes (a tool's arguments, a prompt's arguments, the
    argument being completed).
    """

    name: str
    arguments: Mapping[str, Any]
    meta: Mapping[str, Any]
    """The caller's ``_meta`` minus the progress token; untrusted."""
    method: Method = "tools/call"
    params: Any = None
    """The request's own parameters for the downstream, when they are more than ``name`` and
    ``arguments`` (the reference and argument of a completion)."""
    input_responses: Mapping[str, Any] | None = None
    request_state: str | None = None
    client_name: str | None = None
    client_version: str | None = None
    run_id: str | None = None
    """The run the client says this call belongs to (``_meta["quartermaster/run_id"]``): a
    label for grouping calls, validated, never a source of authority."""
    connection_key: str | None = None
    """Identifies the client's connection (handshake era) so a run id can last a session."""


@dataclass(frozen=True)
class ListedItem:
    """One item a listing could show, with what policy needs to know about it."""

    name: str
    """The tool's or prompt's exposed name, the resource's URI, the template's URI template."""
    subject: Subject
    risk: str
    """The tool's risk class as the classify stage finds it (``read`` for the others)."""
    has_target: bool = False
    """Whether calls of the tool render a target (a ``target`` template is declared)."""


@dataclass(frozen=True)
class Listing:
    """One listing request as the client sent it, with the items the catalog holds."""

    method: ListingMethod
    items: tuple[ListedItem, ...]
    client_name: str | None = None
    client_version: str | None = None
    run_id: str | None = None
    """The run the client names in ``_meta`` (a label, as for a call)."""
    connection_key: str | None = None
    """The client's connection (handshake era), so the listing shares the calls' run."""


@dataclass
class CallContext:
    """The state of one call as it moves through the stages.

    Each stage reads what earlier stages decided and adds its own facts; nothing else shares
    state between stages. Fields start empty and are filled in pipeline order.
    """

    call: ToolCall
    route: ToolRoute
    human: HumanChannel = field(default_factory=HumanChannel)
    """How the human at the client may be asked (for approvals)."""
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
    outgoing: Outgoing | None = None
    """What goes downstream, credentials delivered (set by the deliver stage)."""


@dataclass(frozen=True)
class Outgoing:
    """The request as it goes downstream: the last step only sends it.

    It holds secret values (``secret://`` handles resolved, HTTP credentials): it lives only
    for the downstream call and is never logged, recorded or shown.
    """

    arguments: Mapping[str, Any]
    """The screened arguments with their handles replaced by values."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """The ``_meta`` for an MCP downstream (the caller's, plus the grant)."""
    auth: ResolvedAuth | None = None
    """The credentials for an HTTP system."""

    def __repr__(self) -> str:
        return f"Outgoing(<{len(self.arguments)} arguments, withheld>)"
