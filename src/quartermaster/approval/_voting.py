"""Casting a vote and keeping it in the audit ledger: one way for every channel.

The CLI, the HTTP approval API and the approve stage (a form answered through the client)
all vote through :func:`cast_vote`, so every vote writes an ``approval.voted`` row naming the
way it came (``via``), and exactly one ``approval.decided`` row follows the vote that settled
the request, however many approvers vote at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quartermaster.audit import AuditEvent, Ledger
from quartermaster.store import ApprovalRecord

from ._errors import ApprovalNotFound
from ._seal import APPROVAL_REQUESTED, APPROVAL_VOTED
from ._service import ApprovalService

MAX_REASON = 500
"""A vote's reason is cut to this many characters before it is recorded."""

APPROVAL_DECIDED = "approval.decided"


async def request_approval(
    approvals: ApprovalService,
    ledger: Ledger,
    *,
    run_id: str,
    agent: str,
    tenant: str,
    requester: str | None,
    tool: str,
    target: str | None,
    args_sha256: str,
    risk: str,
    required: int,
    group: str | None,
    ttl: float,
    arguments: str | None = None,
) -> ApprovalRecord:
    """Create a pending approval request (``ApprovalService.request``) and record it in the
    ledger, sealed (see ``ApprovalSeal``).

    Raises:
        ValueError, QuorumUnreachable, StoreError: see ``ApprovalService.request``.
        AuditUnavailable: the request row could not be written.
    """
    record = await approvals.request(
        run_id=run_id,
        agent=agent,
        tenant=tenant,
        requester=requester,
        tool=tool,
        target=target,
        args_sha256=args_sha256,
        risk=risk,
        required=required,
        group=group,
        ttl=ttl,
        arguments=arguments,
    )
    detail: dict[str, Any] = {"approval_id": record.approval_id, "required": record.required}
    if approvals.seal is not None:
        detail["seal"] = approvals.seal.request(record)
    await ledger.record_event(_event(record, APPROVAL_REQUESTED, detail))
    return record


async def cast_vote(
    approvals: ApprovalService,
    ledger: Ledger,
    approval_id: str,
    approver: str,
    decision: str,
    *,
    via: str,
    redact: Callable[[str], str],
    tenant: str | None = None,
    reason: str | None = None,
) -> ApprovalRecord:
    """Vote ``decision`` ("approve" or "deny") as ``approver``, and record it in the ledger.

    With ``tenant`` (the approver's own), a request of another tenant is not found, as an
    unknown id is not: approvers see and decide only their own tenant's requests. ``reason``
    is cut to :data:`MAX_REASON` characters and passed through ``redact`` before it is
    recorded.

    Exactly one of several votes cast at once decides the request; a vote that came too
    late (the request was decided meanwhile, possibly on another replica) raises
    ``ApprovalClosed`` and did not count.

    Raises:
        ApprovalNotFound, ApprovalClosed, ApprovalExpired, SelfApprovalRefused,
            NotInApproverGroup, ClientApprovalRefused, DuplicateVote: from
            ``ApprovalService.vote``.
        AuditUnavailable: the vote was stored but its row could not be written.
    """
    current = await approvals.get(approval_id)
    if tenant is not None and current.tenant != tenant:
        raise ApprovalNotFound(approval_id)
    detail: dict[str, Any] = {
        "approval_id": approval_id,
        "approver": approver,
        "decision": decision,
        "via": via,
    }
    if reason:
        detail["reason"] = redact(reason[:MAX_REASON])
    seal = approvals.seal
    if seal is not None:
        detail["seal"] = seal.vote(approval_id, approver, decision, via)

    async def keep() -> None:
        await ledger.record_event(_event(current, APPROVAL_VOTED, detail))

    # An approval is durable in the ledger before it is stored: a call it wakes, on any
    # replica, finds its sealed row when it spends the approval. A denial is recorded only
    # once the store took it: a denial that lost the race to an approval must not stand in
    # the ledger beside the call that approval let run (and a call woken by a denial needs
    # no evidence to stop).
    approving = decision == "approve"
    record, decided = await approvals.vote_and_settle(
        approval_id, approver, decision, via, before_store=(lambda _: keep()) if approving else None
    )
    if not approving:
        await keep()
    if decided:
        await ledger.record_event(
            _event(
                record,
                APPROVAL_DECIDED,
                {"approval_id": approval_id, "state": record.state, "votes": len(record.votes)},
            )
        )
    return record


def _event(record: ApprovalRecord, kind: str, detail: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        kind=kind,
        run_id=record.run_id,
        agent=record.agent,
        tenant=record.tenant,
        human=record.requester,
        tool=record.tool,
        detail=detail,
    )


def approval_json(record: ApprovalRecord) -> dict[str, Any]:
    """An approval request as JSON (what the CLI and the HTTP endpoint show)."""
    return {
        "approval_id": record.approval_id,
        "state": record.state,
        "run_id": record.run_id,
        "agent": record.agent,
        "tenant": record.tenant,
        "requester": record.requester,
        "tool": record.tool,
        "target": record.target,
        "risk": record.risk,
        "required": record.required,
        "group": record.group,
        "summary": record.summary,
        "args_sha256": record.args_sha256,
        "arguments": record.arguments,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "state_changed_at": record.state_changed_at,
        "votes": [
            {"approver": v.approver, "decision": v.decision, "at": v.at, "via": v.via}
            for v in record.votes
        ],
    }
