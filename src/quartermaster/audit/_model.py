"""What an audit row says: frozen values in, canonical JSON bodies out.

Secret values never enter these types: arguments arrive already redacted (``args_redacted``)
and the raw arguments are only ever HMAC-ed by the ledger. Every body carries ``v`` (the body
format version) and, where they apply, the flat top-level members the queries filter on:
``run_id``, ``agent``, ``tenant``, ``human``, ``tool``, ``outcome``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

BODY_VERSION = 1

CALL_INTENT = "call.intent"
CALL_OUTCOME = "call.outcome"
CALL_REFUSED = "call.refused"
GRANT_ISSUED = "grant.issued"
GRANT_REVOKED = "grant.revoked"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_VOTED = "approval.voted"
APPROVAL_DECIDED = "approval.decided"
KEY_CREATED = "key.created"
KEY_ROTATED = "key.rotated"
KEY_RETIRED = "key.retired"
SECRET_CHANGED = "secret.changed"  # noqa: S105 (an event kind, not a secret)
SECRET_USED = "secret.used"  # noqa: S105 (an event kind, not a secret)
MASTER_KEY_ROTATED = "vault.master_key_rotated"
LEASE_ISSUED = "lease.issued"
LEASE_REVOKED = "lease.revoked"
LEASE_EXPIRED = "lease.expired"
LEASE_REVOKE_FAILED = "lease.revoke_failed"
LEASE_RENEWED = "lease.renewed"
DEFINITION_PINNED = "definition.pinned"
DEFINITION_QUARANTINED = "definition.quarantined"
DEFINITION_ACCEPTED = "definition.accepted"
CONSOLE_LINK_ISSUED = "console.link_issued"
CONSOLE_SIGNED_IN = "console.signed_in"
CATALOG_LISTED = "catalog.listed"


class EventRecorder(Protocol):
    """Where a part records the administrative events it causes (the ``Ledger`` is one)."""

    async def record_event(self, event: AuditEvent) -> object:
        """Append ``event`` to the ledger."""
        ...


EVENT_KINDS = frozenset(
    {
        CALL_REFUSED,
        GRANT_ISSUED,
        GRANT_REVOKED,
        APPROVAL_REQUESTED,
        APPROVAL_VOTED,
        APPROVAL_DECIDED,
        KEY_CREATED,
        KEY_ROTATED,
        KEY_RETIRED,
        SECRET_CHANGED,
        SECRET_USED,
        MASTER_KEY_ROTATED,
        LEASE_ISSUED,
        LEASE_REVOKED,
        LEASE_EXPIRED,
        LEASE_REVOKE_FAILED,
        LEASE_RENEWED,
        DEFINITION_PINNED,
        DEFINITION_QUARANTINED,
        DEFINITION_ACCEPTED,
        CONSOLE_LINK_ISSUED,
        CONSOLE_SIGNED_IN,
        CATALOG_LISTED,
    }
)
"""Kinds ``Ledger.record_event`` accepts (calls go through ``record_intent``/``settle``)."""

Outcome = Literal["ok", "tool_error", "denied", "timeout", "downstream_down", "error", "unknown"]
"""How a call ended: the tool ran and succeeded or reported an error; the call was refused;
the downstream hung, was unreachable, or something else failed; or nobody knows, because the
Quartermaster that made it stopped before writing the outcome (settled on a later start)."""

OUTCOMES: frozenset[str] = frozenset(
    {"ok", "tool_error", "denied", "timeout", "downstream_down", "error", "unknown"}
)

STOPPED_ERROR = "Quartermaster stopped"
"""The ``error`` of an ``unknown`` outcome written for an intent whose writer died."""

Decision = Literal["allow", "deny", "approve"]
"""The policy decision: allowed outright, denied, or allowed only after human approval."""

_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ApproverVote:
    """One approver's vote as the ledger records it."""

    approver: str
    decision: str
    at: float
    via: str


@dataclass(frozen=True)
class ApprovalInfo:
    """The approval a call went through: which request, how many were needed, who voted."""

    approval_id: str
    required: int
    votes: tuple[ApproverVote, ...]
    decided_at: float | None = None


@dataclass(frozen=True)
class GrantInfo:
    """The grant minted for a call: its id, audience and lifetime."""

    jti: str
    audience: str
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class CredentialInfo:
    """A credential really handed to the downstream for a call: which source and lease, the
    scope it carries, and its lifetime (never its value)."""

    source: str
    kind: str
    lease_id: str
    scope: str
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class CallRecord:
    """Everything known about a request (a tool call, a resource read ...) before the
    downstream is asked.

    ``human`` is the person on whose behalf the agent acts and ``delegation`` the chain from
    that person to the agent (outermost first); ``autonomous`` is true when no human started
    this run. ``target_system`` is the audience (the system acted on), ``target`` the object
    (``ticket:4812``). ``args_redacted`` is the redactor's text of the arguments.
    """

    run_id: str
    session_id: str | None
    agent: str
    tenant: str
    human: str | None
    delegation: tuple[str, ...]
    autonomous: bool
    client_name: str | None
    client_version: str | None
    tool: str
    server: str
    target_system: str | None
    risk: str
    target: str | None
    args_redacted: str
    decision: Decision
    rule_id: str | None
    policy_version: str | None
    approval: ApprovalInfo | None = None
    grant: GrantInfo | None = None
    method: str = "tools/call"
    """The MCP request (``resources/read``, ``prompts/get`` ...); ``tool`` then holds the
    resource's URI or the prompt's name."""
    credentials: tuple[CredentialInfo, ...] = ()

    def __post_init__(self) -> None:
        if self.decision not in ("allow", "deny", "approve"):
            raise ValueError(f"decision must be allow, deny or approve, not {self.decision!r}")


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended. ``error`` is a short, already-redacted reason (never a secret)."""

    outcome: Outcome
    latency_ms: float
    redactions: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {self.outcome!r}")
        if any(n < 0 for n in self.redactions.values()):
            raise ValueError("redaction counts cannot be negative")


@dataclass(frozen=True)
class AuditEvent:
    """A non-call ledger event: a grant issued or revoked, an approval, a key rotation.

    ``detail`` holds ids, names, counts and times only (lower-case keys, JSON values); it is
    the caller's duty never to put a secret value here.
    """

    kind: str
    run_id: str | None = None
    agent: str | None = None
    tenant: str | None = None
    human: str | None = None
    tool: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown audit event kind {self.kind!r}")
        for key in self.detail:
            if not _DETAIL_KEY.match(key):
                raise ValueError(f"audit event detail key {key!r} is not a lower-case identifier")


@dataclass(frozen=True)
class Intent:
    """A durable ``call.intent`` row: pass it to ``Ledger.settle`` when the call ends."""

    seq: int
    ts: float
    call: CallRecord


def _approval_body(a: ApprovalInfo | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {
        "approval_id": a.approval_id,
        "required": a.required,
        "decided_at": a.decided_at,
        "votes": [
            {"approver": v.approver, "decision": v.decision, "at": v.at, "via": v.via}
            for v in a.votes
        ],
    }


def _grant_body(g: GrantInfo | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "jti": g.jti,
        "audience": g.audience,
        "issued_at": g.issued_at,
        "expires_at": g.expires_at,
    }


def _identity(call: CallRecord) -> dict[str, Any]:
    return {
        "v": BODY_VERSION,
        "run_id": call.run_id,
        "session_id": call.session_id,
        "agent": call.agent,
        "tenant": call.tenant,
        "human": call.human,
        "tool": call.tool,
        "server": call.server,
    }


def intent_body(
    call: CallRecord, args_hmac: str, arg_hmacs: Mapping[str, str], boot: str | None = None
) -> dict[str, Any]:
    """The body of a ``call.intent`` row (``credentials`` only when leases were handed over);
    ``boot`` names the ledger writer that made it."""
    body: dict[str, Any] = {
        **_identity(call),
        "boot": boot,
        "method": call.method,
        "delegation": list(call.delegation),
        "autonomous": call.autonomous,
        "client": {"name": call.client_name, "version": call.client_version},
        "target_system": call.target_system,
        "risk": call.risk,
        "target": call.target,
        "args": call.args_redacted,
        "args_hmac": args_hmac,
        "arg_hmacs": dict(arg_hmacs),
        "decision": call.decision,
        "rule_id": call.rule_id,
        "policy_version": call.policy_version,
        "approval": _approval_body(call.approval),
        "grant": _grant_body(call.grant),
    }
    if call.credentials:
        body["credentials"] = [
            {
                "source": c.source,
                "kind": c.kind,
                "lease_id": c.lease_id,
                "scope": c.scope,
                "issued_at": c.issued_at,
                "expires_at": c.expires_at,
            }
            for c in call.credentials
        ]
    return body


def outcome_body(intent: Intent, outcome: CallOutcome) -> dict[str, Any]:
    """The body of a ``call.outcome`` row: identity repeated so the row reads on its own."""
    return {
        **_identity(intent.call),
        "intent_seq": intent.seq,
        "decision": intent.call.decision,
        "outcome": outcome.outcome,
        "latency_ms": round(outcome.latency_ms, 3),
        "redactions": {k: int(v) for k, v in sorted(outcome.redactions.items())},
        "error": outcome.error,
    }


def stopped_outcome_body(intent: Mapping[str, Any], intent_seq: int) -> dict[str, Any]:
    """The ``call.outcome`` body settling an intent (a decoded ``call.intent`` body) whose
    writer stopped before it wrote an outcome: outcome ``unknown``, latency unknown."""
    return {
        **{k: intent.get(k) for k in ("run_id", "session_id", "agent", "tenant", "human")},
        **{k: intent.get(k) for k in ("tool", "server")},
        "v": BODY_VERSION,
        "intent_seq": intent_seq,
        "decision": intent.get("decision"),
        "outcome": "unknown",
        "latency_ms": None,
        "redactions": {},
        "error": STOPPED_ERROR,
    }


def event_body(event: AuditEvent) -> dict[str, Any]:
    """The body of an event row."""
    return {
        "v": BODY_VERSION,
        "run_id": event.run_id,
        "agent": event.agent,
        "tenant": event.tenant,
        "human": event.human,
        "tool": event.tool,
        "detail": dict(event.detail),
    }
