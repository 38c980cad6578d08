"""The public surface of ``quartermaster.approval``."""

from __future__ import annotations

import quartermaster.approval as approval
from quartermaster._errors import QuartermasterError

EXPECTED = {
    "ApprovalClosed",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalMismatch",
    "ApprovalNotFound",
    "ApprovalPrompt",
    "ApprovalRequired",
    "ApprovalSeal",
    "ApprovalService",
    "ApprovalTampered",
    "CallBinding",
    "ClientApprovalRefused",
    "DuplicateVote",
    "Event",
    "FINAL_STATES",
    "IllegalTransition",
    "MAX_REASON",
    "NotInApproverGroup",
    "PERSON_VIAS",
    "QuorumUnreachable",
    "REQUESTED_SCHEMA",
    "SelfApprovalRefused",
    "State",
    "TRANSITIONS",
    "VIAS",
    "VoteRefused",
    "approval_json",
    "cast_vote",
    "check_vote",
    "client_may_confirm",
    "mismatch",
    "new_approval_id",
    "next_state",
    "outcome",
    "read_response",
    "request_approval",
    "shown_arguments",
    "visible",
    "render_prompt",
    "summarize",
}


def test_exported_members() -> None:
    assert {name for name in dir(approval) if not name.startswith("_")} == EXPECTED


def test_error_tree() -> None:
    for name in EXPECTED:
        value = getattr(approval, name)
        if isinstance(value, type) and issubclass(value, Exception):
            if name == "IllegalTransition":
                assert issubclass(value, RuntimeError)
                assert not issubclass(value, QuartermasterError)
            else:
                assert issubclass(value, approval.ApprovalError), name
                assert issubclass(value, QuartermasterError)
    for name in ("SelfApprovalRefused", "DuplicateVote", "NotInApproverGroup"):
        assert issubclass(getattr(approval, name), approval.VoteRefused)
