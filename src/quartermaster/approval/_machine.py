"""The approval lifecycle as a table, with no I/O (in the manner of h11's ``_state.py``).

    pending ──quorum_reached──▶ approved ──spent──▶ consumed
       │                           │
       ├──denied──▶ denied         └──timed_out──▶ expired
       └──timed_out──▶ expired

An approved request can still expire: it is bound to one call that should follow at once,
so an approval nobody spent before ``expires_at`` cannot be spent later. Every other move
raises ``IllegalTransition``. The functions below read a record and the time and say what
should happen; ``ApprovalService`` makes it happen with compare-and-set writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from types import MappingProxyType
from typing import Final, Literal

from quartermaster.store import ApprovalRecord, Vote

from ._errors import (
    ApprovalClosed,
    ApprovalExpired,
    DuplicateVote,
    IllegalTransition,
    NotInApproverGroup,
    SelfApprovalRefused,
)

State = Literal["pending", "approved", "denied", "expired", "consumed"]
"""Where an approval request is in its life."""

Event = Literal["quorum_reached", "denied", "timed_out", "spent"]
"""What can happen to an approval request."""

Decision = Literal["approve", "deny"]
"""An approver's vote."""

TRANSITIONS: Final[Mapping[tuple[str, str], State]] = MappingProxyType(
    {
        ("pending", "quorum_reached"): "approved",
        ("pending", "denied"): "denied",
        ("pending", "timed_out"): "expired",
        ("approved", "spent"): "consumed",
        ("approved", "timed_out"): "expired",
    }
)
"""Every legal move: ``(state, event) -> new state``."""

FINAL_STATES: Final[frozenset[str]] = frozenset({"denied", "expired", "consumed"})
"""States nothing leaves."""

_DECISIONS = frozenset({"approve", "deny"})
_VIA = frozenset({"elicitation", "cli", "http"})


def next_state(state: str, event: str) -> State:
    """The state after ``event``.

    Raises:
        IllegalTransition: the table has no such move.
    """
    new = TRANSITIONS.get((state, event))
    if new is None:
        raise IllegalTransition(state, event)
    return new


def may_approve(record: ApprovalRecord, approver: str, members: Set[str] | None) -> bool:
    """Whether an approve vote by ``approver`` counts towards the quorum.

    The agent never approves itself. With a group, the approver must be a member and must
    not be the requesting human. Without a group (a plain step-up), any one human may
    confirm, the requesting human included: that confirmation is the point of a step-up.
    """
    if approver == record.agent:
        return False
    if record.group is None:
        return True
    return members is not None and approver in members and approver != record.requester


def check_vote(
    record: ApprovalRecord,
    approver: str,
    decision: str,
    via: str,
    *,
    members: Set[str] | None,
    now: float,
) -> Vote:
    """The vote to record, if ``approver`` may cast it now.

    ``members`` is the approver group of ``record.group`` (``None`` when it has none). The
    requesting human may always deny (withdraw) their own request.

    Raises:
        ValueError: ``decision`` or ``via`` is not one of the known values, or ``approver``
            is empty.
        ApprovalClosed: the request is already decided.
        ApprovalExpired: the request's time is up.
        SelfApprovalRefused: the requester or the agent tried to approve.
        NotInApproverGroup: the approver is not in the group.
        DuplicateVote: the approver already voted.
    """
    if decision not in _DECISIONS:
        raise ValueError(f"a vote is 'approve' or 'deny', not {decision!r}")
    if via not in _VIA:
        raise ValueError(f"a vote comes via one of {sorted(_VIA)}, not {via!r}")
    if not approver:
        raise ValueError("an approver must be named")
    if record.state == "expired" or (record.state == "pending" and now >= record.expires_at):
        raise ApprovalExpired(record.approval_id)
    if record.state != "pending":
        raise ApprovalClosed(record.approval_id, record.state)
    withdrawal = decision == "deny" and approver == record.requester
    if not withdrawal:
        if approver == record.agent or (record.group is not None and approver == record.requester):
            raise SelfApprovalRefused(record.approval_id, approver)
        if record.group is not None and (members is None or approver not in members):
            raise NotInApproverGroup(record.approval_id, approver, record.group)
    if any(vote.approver == approver for vote in record.votes):
        raise DuplicateVote(record.approval_id, approver)
    return Vote(approver=approver, decision=decision, at=now, via=via)


def approvals_counted(record: ApprovalRecord, members: Set[str] | None) -> int:
    """How many distinct, eligible approvers have approved."""
    return len(
        {
            vote.approver
            for vote in record.votes
            if vote.decision == "approve" and may_approve(record, vote.approver, members)
        }
    )


def outcome(record: ApprovalRecord, *, members: Set[str] | None, now: float) -> Event | None:
    """What should happen to a request given its votes and the time; ``None``: nothing yet.

    Any deny wins; then a reached quorum; then the deadline. For an approved request only
    the deadline matters.
    """
    if record.state == "approved":
        return "timed_out" if now >= record.expires_at else None
    if record.state != "pending":
        return None
    if any(vote.decision == "deny" for vote in record.votes):
        return "denied"
    if approvals_counted(record, members) >= record.required:
        return "quorum_reached"
    if now >= record.expires_at:
        return "timed_out"
    return None
