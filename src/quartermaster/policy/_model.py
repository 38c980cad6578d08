"""The values policy works on and hands back: facts in, a frozen decision out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from quartermaster.config import RiskClass

Effect = Literal["deny", "allow", "allow_after_approval"]
"""What the pipeline does with a call: refuse it, run it, or run it once people approve."""

ApprovalKind = Literal["none", "step_up", "quorum"]
"""No approval, one human, or M distinct members of a group."""

Subject = Literal["tool", "resource", "prompt", "logging"]
"""What a request acts on: a tool (call), a resource (read, subscription), a prompt, or a
downstream server's log messages (``logging/setLevel``)."""


@dataclass(frozen=True, slots=True)
class ToolFacts:
    """What the admin's configuration says about one tool, as policy analysis needs it.

    ``name`` is the namespaced name agents see (``crm__append_note``); ``risk`` is the class
    after ``classify``; ``target_template`` is e.g. ``ticket:{ticket_id}`` or ``None``;
    ``ttl`` is the tool's own grant lifetime in seconds (``servers.X.tools.Y.ttl``), if any.
    """

    name: str
    server: str
    risk: RiskClass
    target_template: str | None = None
    ttl: float | None = None


def grant_ttl(decision_ttl: int | None, tool_ttl: float | None) -> int | None:
    """The lifetime in whole seconds a grant really gets: the shorter of the deciding rule's
    TTL (already capped by the broker maximum) and the tool's own ``ttl``, at least 1 s.

    The one place this rule lives: the approve and grant stages mint by it, and ``policy
    explain`` and ``policy inventory`` show it. ``None`` when neither says (the broker's
    ``default_ttl`` then applies).
    """
    limits = [ttl for ttl in (decision_ttl, tool_ttl) if ttl]
    return max(1, int(min(limits))) if limits else None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Everything the decide stage looks at for one call.

    ``agent``, ``tenant`` and ``human`` (the delegating person, ``None`` for an autonomous
    run) come from the transport's authentication, never from what the agent says. ``risk``
    comes from ``classify`` and ``target`` from ``TargetTemplate.render``. ``tool`` is the
    name of what the request acts on: the tool's name, the resource's URI or the prompt's
    name, as ``subject`` says.
    """

    agent: str
    tenant: str
    human: str | None
    tool: str
    risk: RiskClass
    target: str | None = None
    subject: Subject = "tool"


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    """Who must approve before the call runs.

    ``required`` is 0 for ``none`` and 1 for ``step_up``. ``group`` names the approver group
    (``None`` for a step-up any single human may confirm).
    """

    kind: ApprovalKind
    required: int
    group: str | None = None

    @property
    def needed(self) -> bool:
        """Whether any human must approve."""
        return self.kind != "none"

    def describe(self) -> str:
        """A short human-readable form: ``none``, ``step-up``, ``2 of finance``."""
        if self.kind == "none":
            return "none"
        if self.kind == "step_up":
            return "step-up" if self.group is None else f"step-up by {self.group}"
        return f"{self.required} of {self.group}"


NO_APPROVAL = ApprovalRequirement("none", 0)
"""The requirement of a read (or a write the rule auto-approves)."""

STEP_UP = ApprovalRequirement("step_up", 1)
"""One human, with no group restriction: the floor for dangerous tools."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The decide stage's answer for one call.

    ``rule_id`` is ``None`` only for the default deny. ``ttl`` (seconds) is the grant
    lifetime for an allowed call, already capped by the broker maximum; ``None`` when denied.
    ``floor_applied`` says a risk floor raised the rule's approval (a dangerous tool the
    rule would have auto-approved). ``policy_version`` is the SHA-256 of the canonical policy.
    """

    effect: Effect
    rule_id: str | None
    reason: str
    ttl: int | None
    approval: ApprovalRequirement
    policy_version: str
    floor_applied: bool = False

    @property
    def allowed(self) -> bool:
        """Whether the call may run (possibly after approval)."""
        return self.effect != "deny"
