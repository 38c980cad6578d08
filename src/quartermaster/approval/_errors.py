"""Approval errors: what an agent, an approver or an operator is told when approval stops a call.

    QuartermasterError
    └── ApprovalError
        ├── ApprovalRequired       the call waits for people; carries the approval id
        ├── ApprovalDenied         an approver said no
        ├── ApprovalExpired        nobody decided in time, or the approval was not spent in time
        ├── ApprovalMismatch       the approval was for other arguments, another run or tool
        ├── ApprovalNotFound       no approval has this id
        ├── ApprovalClosed         a vote on a request that is already decided
        ├── QuorumUnreachable      fewer eligible approvers than the rule requires
        ├── ApprovalTampered       the store says approved, the sealed ledger rows do not
        └── VoteRefused            this approver may not cast this vote
            ├── SelfApprovalRefused
            ├── DuplicateVote
            ├── NotInApproverGroup
            └── ClientApprovalRefused

    RuntimeError
    └── IllegalTransition          a programming error: the state machine was driven wrongly

Messages name approval ids, tools, groups and people, never argument values.
"""

from __future__ import annotations

import shlex

from quartermaster._errors import QuartermasterError


class ApprovalError(QuartermasterError):
    """Approval stopped or refused something."""

    def __init__(self, approval_id: str, message: str) -> None:
        super().__init__(message)
        self.approval_id = approval_id


class ApprovalRequired(ApprovalError):
    """The call may run only once people approve it."""

    def __init__(
        self,
        approval_id: str,
        detail: str = "",
        *,
        config_path: str | None = None,
        console_url: str | None = None,
    ) -> None:
        # The command is printed so that it works exactly as shown, from any directory, for
        # an approver whose credential is in the environment.
        config = f" --config {shlex.quote(config_path)}" if config_path else ""
        console = f", or in the console at {console_url}" if console_url else ""
        super().__init__(
            approval_id,
            f"approval {approval_id} is waiting for approvers{detail}; an approver can decide "
            f"with 'quartermaster approvals approve {approval_id}{config}' (or deny; with "
            "their approver credential in $QUARTERMASTER_APPROVER_CREDENTIAL) or through the "
            f"HTTP approval API{console}, then retry the same call with the same arguments",
        )


class ApprovalDenied(ApprovalError):
    """An approver denied the request."""

    def __init__(self, approval_id: str, by: str | None = None) -> None:
        who = f" by {by}" if by else ""
        super().__init__(
            approval_id,
            f"approval {approval_id} was denied{who}; the call will not run. Ask the approver "
            "why, or request again with different arguments",
        )


class ApprovalExpired(ApprovalError):
    """Approvers did not decide in time, or the approval was not used in time."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(
            approval_id,
            f"approval {approval_id} expired; make the call again to request a new approval",
        )


class ApprovalMismatch(ApprovalError):
    """The approval does not cover this call: other arguments, another run or another tool."""

    def __init__(self, approval_id: str, what: str) -> None:
        super().__init__(
            approval_id,
            f"approval {approval_id} was given for {what}; an approval covers one exact call, "
            "so this one needs a new approval",
        )


class ApprovalNotFound(ApprovalError):
    """No approval request has this id."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(approval_id, f"no approval request has the id {approval_id!r}")


class ApprovalClosed(ApprovalError):
    """A vote arrived for a request that is no longer pending."""

    def __init__(self, approval_id: str, state: str) -> None:
        super().__init__(
            approval_id, f"approval {approval_id} is already {state}; votes are no longer taken"
        )


class QuorumUnreachable(ApprovalError):
    """The group has fewer eligible approvers than the rule requires."""

    def __init__(self, approval_id: str, group: str | None, required: int, eligible: int) -> None:
        super().__init__(
            approval_id,
            f"the call needs {required} approvers from group '{group}', but only {eligible} "
            "members may approve it (the requester never approves their own call); ask an "
            "administrator to add approvers to the group",
        )


class ApprovalTampered(ApprovalError):
    """The stored approval is not backed by the sealed rows of the audit ledger."""

    def __init__(self, approval_id: str, why: str) -> None:
        super().__init__(
            approval_id,
            f"approval {approval_id} cannot be used: {why}. The approval store was changed "
            "outside Quartermaster; the call will not run. Run 'quartermaster audit verify' "
            "and make the call again to request a new approval",
        )
        self.why = why


class VoteRefused(ApprovalError):
    """This approver may not cast this vote."""


class SelfApprovalRefused(VoteRefused):
    """The requester (or the agent itself) tried to approve their own request."""

    def __init__(self, approval_id: str, approver: str) -> None:
        super().__init__(
            approval_id,
            f"{approver} asked for approval {approval_id} and cannot approve it; another "
            "member of the approver group must",
        )


class DuplicateVote(VoteRefused):
    """The approver already voted on this request; each approver counts once."""

    def __init__(self, approval_id: str, approver: str) -> None:
        super().__init__(
            approval_id, f"{approver} already voted on approval {approval_id}; a vote counts once"
        )


class NotInApproverGroup(VoteRefused):
    """The approver is not a member of the group the rule names."""

    def __init__(self, approval_id: str, approver: str, group: str) -> None:
        super().__init__(
            approval_id,
            f"{approver} is not in approver group '{group}' and cannot vote on approval "
            f"{approval_id}",
        )


class ClientApprovalRefused(VoteRefused):
    """The caller's own MCP client answered "approve" where a person must approve."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(
            approval_id,
            f"approval {approval_id} needs an approver authenticated as a person (the "
            "'quartermaster approvals' CLI with an approver credential, or the HTTP approval "
            "API); an answer from the MCP client does not count for it",
        )


class IllegalTransition(RuntimeError):
    """The approval state machine was asked for a move its table does not allow (a bug)."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"an approval in state {state!r} cannot take event {event!r}")
        self.state = state
        self.event = event
