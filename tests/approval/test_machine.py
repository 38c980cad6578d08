"""The pure approval state machine: the table, vote checks and outcomes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.approval import (
    FINAL_STATES,
    TRANSITIONS,
    ApprovalClosed,
    ApprovalExpired,
    ClientApprovalRefused,
    DuplicateVote,
    IllegalTransition,
    NotInApproverGroup,
    SelfApprovalRefused,
    check_vote,
    next_state,
    outcome,
)
from quartermaster.store import Vote
from tests.approval.approval_support import ALICE, BOB, CAROL, DAVE, GROUPS, T0, record, vote

FIN = frozenset(GROUPS["fin"])
STATES = ["pending", "approved", "denied", "expired", "consumed"]
EVENTS = ["quorum_reached", "denied", "timed_out", "spent"]


def test_the_table() -> None:
    assert dict(TRANSITIONS) == {
        ("pending", "quorum_reached"): "approved",
        ("pending", "denied"): "denied",
        ("pending", "timed_out"): "expired",
        ("approved", "spent"): "consumed",
        ("approved", "timed_out"): "expired",
    }


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, EVENTS)))
def test_every_move_is_in_the_table_or_illegal(state: str, event: str) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) == TRANSITIONS[(state, event)]
    else:
        with pytest.raises(IllegalTransition, match=f"{state!r} cannot take event {event!r}"):
            next_state(state, event)


def test_nothing_leaves_a_final_state() -> None:
    assert not [key for key in TRANSITIONS if key[0] in FINAL_STATES]
    assert issubclass(IllegalTransition, RuntimeError)


def test_a_member_may_vote() -> None:
    cast = check_vote(record(), BOB, "approve", "http", members=FIN, now=T0 + 1)
    assert (cast.approver, cast.decision, cast.via, cast.at) == (BOB, "approve", "http", T0 + 1)


def test_the_requester_cannot_approve_their_own_request() -> None:
    with pytest.raises(SelfApprovalRefused, match="cannot approve it"):
        check_vote(record(), ALICE, "approve", "cli", members=FIN, now=T0)


def test_the_requester_may_withdraw() -> None:
    assert check_vote(record(), ALICE, "deny", "cli", members=FIN, now=T0).decision == "deny"


def test_the_agent_never_approves_itself() -> None:
    for group in ("fin", None):
        with pytest.raises(SelfApprovalRefused):
            check_vote(
                record(group=group, required=1),
                "finance-agent",
                "approve",
                "cli",
                members=FIN if group else None,
                now=T0,
            )


def test_an_outsider_cannot_vote() -> None:
    for decision in ("approve", "deny"):
        with pytest.raises(NotInApproverGroup, match="not in approver group 'fin'"):
            check_vote(record(), DAVE, decision, "http", members=FIN, now=T0)


def test_an_unknown_group_has_no_members() -> None:
    with pytest.raises(NotInApproverGroup):
        check_vote(record(), BOB, "approve", "cli", members=frozenset(), now=T0)


def test_a_plain_step_up_may_be_confirmed_by_the_requester() -> None:
    step_up = record(group=None, required=1, risk="write")
    assert check_vote(
        step_up, ALICE, "approve", "elicitation", members=None, now=T0, client_step_up=True
    )
    assert check_vote(step_up, DAVE, "approve", "cli", members=None, now=T0)


def test_a_client_answer_never_fills_a_dangerous_floor_or_a_quorum_seat() -> None:
    for made in (record(), record(group=None, required=1)):  # dangerous, as built
        with pytest.raises(ClientApprovalRefused):
            check_vote(
                made, BOB, "approve", "elicitation", members=FIN, now=T0, client_step_up=True
            )
    # A client vote already stored (by an older release, or written into the store) does not
    # count towards a quorum either.
    forged = record(group=None, required=1, votes=(Vote(BOB, "approve", T0, "elicitation"),))
    assert outcome(forged, members=None, now=T0, client_step_up=True) is None


def test_one_vote_per_approver() -> None:
    with pytest.raises(DuplicateVote, match="counts once"):
        check_vote(record(votes=(vote(BOB),)), BOB, "deny", "cli", members=FIN, now=T0)


def test_votes_stop_at_the_deadline() -> None:
    with pytest.raises(ApprovalExpired):
        check_vote(record(), BOB, "approve", "cli", members=FIN, now=T0 + 300)
    with pytest.raises(ApprovalExpired):
        check_vote(record(state="expired"), BOB, "approve", "cli", members=FIN, now=T0)


@pytest.mark.parametrize("state", ["approved", "denied", "consumed"])
def test_decided_requests_take_no_votes(state: str) -> None:
    with pytest.raises(ApprovalClosed, match=f"already {state}"):
        check_vote(record(state=state), BOB, "approve", "cli", members=FIN, now=T0)


@pytest.mark.parametrize(
    ("decision", "via", "approver"),
    [("yes", "cli", BOB), ("approve", "email", BOB), ("approve", "cli", "")],
)
def test_malformed_votes_are_programming_errors(decision: str, via: str, approver: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        check_vote(record(), approver, decision, via, members=FIN, now=T0)


@pytest.mark.parametrize(
    ("votes", "now", "expected"),
    [
        ((), T0, None),
        ((vote(BOB),), T0, None),
        ((vote(BOB), vote(CAROL)), T0, "quorum_reached"),
        ((vote(BOB), vote(CAROL, "deny")), T0, "denied"),
        ((vote(BOB), vote(CAROL), vote(ALICE, "deny")), T0, "denied"),
        # The requester's approve (if it got recorded somehow) never counts.
        ((vote(BOB), vote(ALICE)), T0, None),
        # Nor does an outsider's, nor the agent's.
        ((vote(BOB), vote(DAVE)), T0, None),
        ((vote(BOB), vote("finance-agent")), T0, None),
        ((vote(BOB),), T0 + 300, "timed_out"),
        # Votes cast in time still count at the deadline.
        ((vote(BOB), vote(CAROL)), T0 + 300, "quorum_reached"),
    ],
)
def test_outcome(votes: tuple[Vote, ...], now: float, expected: str | None) -> None:
    assert outcome(record(votes=votes), members=FIN, now=now) == expected


def test_outcome_of_an_approved_request_is_only_its_deadline() -> None:
    approved = record(state="approved")
    assert outcome(approved, members=FIN, now=T0) is None
    assert outcome(approved, members=FIN, now=T0 + 300) == "timed_out"
    assert outcome(record(state="consumed"), members=FIN, now=T0 + 999) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from([ALICE, BOB, CAROL, DAVE, "finance-agent"]),
            st.sampled_from(["approve", "deny"]),
        ),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=2),
)
def test_quorum_needs_distinct_eligible_members_and_no_deny(
    attempts: list[tuple[str, str]], required: int
) -> None:
    current = record(required=required)
    for approver, decision in attempts:
        try:
            cast = check_vote(current, approver, decision, "cli", members=FIN, now=T0)
        except (SelfApprovalRefused, NotInApproverGroup, DuplicateVote):
            continue
        current = record(
            approval_id=current.approval_id, required=required, votes=(*current.votes, cast)
        )
    approvers = {v.approver for v in current.votes if v.decision == "approve"}
    assert ALICE not in approvers
    assert approvers <= {BOB, CAROL}
    result = outcome(current, members=FIN, now=T0)
    if result == "quorum_reached":
        assert len(approvers) >= required
        assert all(v.decision == "approve" for v in current.votes)
    if any(v.decision == "deny" for v in current.votes):
        assert result == "denied"
