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

import hmac
from collections.abc import Mapping, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from quartermaster.store import ApprovalRecord, Vote

from ._errors import (
    ApprovalClosed,
    ApprovalExpired,
    ClientApprovalRefused,
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

VIAS: Final[frozenset[str]] = frozenset({"elicitation", "cli", "http", "console"})
"""Where a vote can come from (recorded with it): ``elicitation`` is the caller's own MCP
client answering a form; ``cli``, ``http`` and ``console`` (the browser console) are
approvers authenticated as themselves (an approver credential or an identity-provider
token)."""

PERSON_VIAS: Final[frozenset[str]] = frozenset({"cli", "http", "console"})
"""The ways of voting that authenticate the approver as a person."""

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


def next_state(state: str, event: str) -> State:
    """The state after ``event``.

    Raises:
        IllegalTransition: the table has no such move.
    """
    new = TRANSITIONS.get((state, event))
    if new is None:
        raise IllegalTransition(state, event)
    return new


@dataclass(frozen=True, slots=True)
class CallBinding:
    """The call an approval is asked to cover: who asks, in which run, which tool, which
    arguments (by digest). ``run_id`` is ``None`` when the caller's run cannot be bound (a
    2026-07-28 call naming no run is a run of its own, which no retry could ever match)."""

    agent: str
    tenant: str
    requester: str | None
    run_id: str | None
    tool: str
    args_sha256: str


def mismatch(record: ApprovalRecord, call: CallBinding) -> str | None:
    """What about ``call`` the approval ``record`` does not cover, or ``None`` if it covers it.

    The one rule for "this approval is for this call", used when a retry looks for an earlier
    approval, when a 2026-07-28 answer names one, and when one is spent. The digest is
    compared in constant time: it binds the arguments, and a timing oracle on it would let a
    caller learn how much of a guessed argument set matches.
    """
    if (record.agent, record.tenant, record.requester) != (
        call.agent,
        call.tenant,
        call.requester,
    ):
        return "another caller"
    if call.run_id is not None and record.run_id != call.run_id:
        return "another run"
    if record.tool != call.tool:
        return f"the tool '{record.tool}'"
    if not hmac.compare_digest(record.args_sha256, call.args_sha256):
        return "other arguments"
    return None


def client_may_confirm(record: ApprovalRecord, *, client_step_up: bool) -> bool:
    """Whether an answer from the caller's own MCP client (a form elicitation) may approve.

    Only a plain step-up (no approver group) of a tool that is not dangerous, and only where
    the admin allows it (``approval: {step_up: {via: client}}``): the client program is the
    agent's own runtime, which may answer for the human. A quorum vote and a dangerous tool's
    floor need an approver authenticated as that person.
    """
    return client_step_up and record.group is None and record.risk != "dangerous"


def may_approve(
    record: ApprovalRecord,
    approver: str,
    members: Set[str] | None,
    *,
    via: str,
    client_step_up: bool,
) -> bool:
    """Whether an approve vote by ``approver`` (cast ``via``) counts towards the quorum.

    The agent never approves itself. With a group, the approver must be a member and must
    not be the requesting human. Without a group (a plain step-up), any one human may
    confirm, the requesting human included: that confirmation is the point of a step-up.
    A vote through the client counts only where :func:`client_may_confirm` says so.
    """
    if approver == record.agent:
        return False
    if via not in PERSON_VIAS and not client_may_confirm(record, client_step_up=client_step_up):
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
    client_step_up: bool = False,
) -> Vote:
    """The vote to record, if ``approver`` may cast it now.

    ``members`` is the approver group of ``record.group`` (``None`` when it has none). The
    requesting human may always deny (withdraw) their own request, and a denial through the
    client always counts.

    Raises:
        ValueError: ``decision`` or ``via`` is not one of the known values, or ``approver``
            is empty.
        ApprovalClosed: the request is already decided.
        ApprovalExpired: the request's time is up.
        SelfApprovalRefused: the requester or the agent tried to approve.
        NotInApproverGroup: the approver is not in the group.
        ClientApprovalRefused: an approval through the client where a person must approve.
        DuplicateVote: the approver already voted.
    """
    if decision not in _DECISIONS:
        raise ValueError(f"a vote is 'approve' or 'deny', not {decision!r}")
    if via not in VIAS:
        raise ValueError(f"a vote comes via one of {sorted(VIAS)}, not {via!r}")
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
    if (
        decision == "approve"
        and via not in PERSON_VIAS
        and not client_may_confirm(record, client_step_up=client_step_up)
    ):
        raise ClientApprovalRefused(record.approval_id)
    if any(vote.approver == approver for vote in record.votes):
        raise DuplicateVote(record.approval_id, approver)
    return Vote(approver=approver, decision=decision, at=now, via=via)


def approvals_counted(
    record: ApprovalRecord, members: Set[str] | None, *, client_step_up: bool = False
) -> int:
    """How many distinct, eligible approvers have approved."""
    return len(
        {
            vote.approver
            for vote in record.votes
            if vote.decision == "approve"
            and may_approve(
                record, vote.approver, members, via=vote.via, client_step_up=client_step_up
            )
        }
    )


def outcome(
    record: ApprovalRecord,
    *,
    members: Set[str] | None,
    now: float,
    client_step_up: bool = False,
) -> Event | None:
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
    if approvals_counted(record, members, client_step_up=client_step_up) >= record.required:
        return "quorum_reached"
    if now >= record.expires_at:
        return "timed_out"
    return None
