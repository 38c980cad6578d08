"""What an approver is shown, and how their answer is read: pure text and a form schema.

The prompt says exactly what is asked: which agent, on whose behalf, which tool on which
target, with which arguments (already redacted by the caller), how risky, and how long the
grant will live. Characters that could hide or reorder text on a terminal or in a chat
client (control characters, bidirectional overrides, zero-width characters) are shown as
``\\uXXXX`` escapes, so an argument cannot disguise itself. Per the MCP specification a form
elicitation must never ask for a secret: the form asks only yes/no and an optional reason.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from quartermaster.store import ApprovalRecord

MAX_ARGUMENTS_CHARS = 4000
"""Arguments longer than this (as JSON) are cut in the prompt; the digest still binds all."""

_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})

REQUESTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Approve this call",
            "description": "Yes runs this one call with exactly these arguments; no refuses it.",
            "default": False,
        },
        "reason": {
            "type": "string",
            "title": "Reason (optional)",
            "description": "Recorded in the audit trail. Never type a password or key here.",
            "maxLength": 500,
        },
    },
    "required": ["approve"],
}
"""The ``requestedSchema`` of the approval form: a boolean and an optional reason."""


def visible(text: str) -> str:
    """``text`` with every invisible or control character written as ``\\uXXXX``."""
    return "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _HIDDEN else ch for ch in text
    )


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole % 3600 == 0 and whole >= 3600:
        return f"{whole // 3600} h"
    if whole % 60 == 0 and whole >= 60:
        return f"{whole // 60} min"
    return f"{whole} s"


def summarize(*, agent: str, tool: str, target: str | None, requester: str | None) -> str:
    """One line for lists and audit rows: who wants to run what, on what, for whom."""
    on = f" on {target}" if target else ""
    behalf = f" for {requester}" if requester else " (autonomous)"
    return visible(f"{agent} wants to run {tool}{on}{behalf}")


@dataclass(frozen=True, slots=True)
class ApprovalPrompt:
    """An approval question: the message and the form schema of a form elicitation."""

    message: str
    requested_schema: dict[str, Any] = field(
        default_factory=lambda: copy.deepcopy(REQUESTED_SCHEMA)
    )


def shown_arguments(redacted_arguments: Mapping[str, object]) -> str:
    """The arguments as every approver sees them (the prompt, ``approvals show``, ``GET
    /approvals/{id}``): indented JSON, cut after ``MAX_ARGUMENTS_CHARS`` with a note saying
    so. ``redacted_arguments`` must already have secrets replaced."""
    arguments = json.dumps(
        redacted_arguments, indent=2, sort_keys=True, ensure_ascii=False, default=repr
    )
    if len(arguments) > MAX_ARGUMENTS_CHARS:
        cut = len(arguments) - MAX_ARGUMENTS_CHARS
        arguments = (
            f"{arguments[:MAX_ARGUMENTS_CHARS]}\n[... {cut} more characters not shown; the "
            "approval binds the complete arguments by their digest below]"
        )
    return arguments


def render_prompt(
    record: ApprovalRecord, *, redacted_arguments: Mapping[str, object], grant_ttl: float
) -> ApprovalPrompt:
    """The question for ``record``; ``redacted_arguments`` must already have secrets replaced.

    ``grant_ttl`` is how long (seconds) the grant minted after approval will live.
    """
    arguments = shown_arguments(redacted_arguments)
    counted = sum(1 for vote in record.votes if vote.decision == "approve")
    if record.group is None:
        needed = "one approval from any human (you may confirm your own request)"
    else:
        needed = f"{record.required} of group {record.group}"
        if counted:
            needed += f" ({counted} given so far)"
    expires = datetime.fromtimestamp(record.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"Approve a {record.risk} tool call?",
        "",
        f"Agent:        {record.agent} (tenant {record.tenant})",
        f"On behalf of: {record.requester or 'nobody: an autonomous run'}",
        f"Tool:         {record.tool}",
        f"Target:       {record.target or '(none)'}",
        f"Risk:         {record.risk}",
        f"Grant:        lives {_duration(grant_ttl)}, for this one call with exactly these "
        "arguments",
        f"Needs:        {needed}",
        f"Request:      {record.approval_id} (run {record.run_id}, answer before {expires})",
        "",
        "Arguments (secrets redacted):",
        *arguments.split("\n"),
        f"Arguments digest: sha256:{record.args_sha256}",
    ]
    # Line by line, so that nothing inside a value can start a line of its own.
    return ApprovalPrompt(message="\n".join(visible(line) for line in lines))


class FormAnswer(Protocol):
    """A form elicitation's answer, as the protocol delivers it (MCP's ``ElicitResult``)."""

    @property
    def action(self) -> Literal["accept", "decline", "cancel"]: ...

    @property
    def content(self) -> Mapping[str, Any] | None: ...


def read_response(result: FormAnswer) -> tuple[str | None, str | None]:
    """``(decision, reason)`` from an approver's form answer.

    ``accept`` with ``approve: true`` is ``"approve"``; ``accept`` without it and ``decline``
    are ``"deny"``; ``cancel`` (the approver dismissed the form) is ``None``: no vote, the
    request stays pending until someone decides or it expires.
    """
    if result.action == "cancel":
        return None, None
    content = result.content or {}
    reason = content.get("reason")
    text = visible(reason)[:500] if isinstance(reason, str) and reason else None
    if result.action == "accept" and content.get("approve") is True:
        return "approve", text
    return "deny", text
