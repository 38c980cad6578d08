"""The decide stage: rules compiled once into an engine that answers in microseconds.

Evaluation order, which ``docs/policy.md`` documents for admins:

1. Only rules that cover the request's subject (tool, resource or prompt) and whose globs
   match its name are looked at (an index by exact name and by literal prefix finds them;
   the result is memoised per subject and name). A rule without ``tool``, ``resource`` or
   ``prompt`` covers every request.
2. If any matching rule is a ``forbid``, the call is denied, whatever permits say.
3. Otherwise the first matching ``permit`` in file order decides: TTL and approval.
4. Nothing matched: deny (default deny).

Then the floors: a permit can never auto-approve a dangerous tool; such a permit becomes a
step-up and the decision records ``floor_applied``.

``listable`` answers the listings' question (may this caller see this item at all?) with the
same rules: see its docstring for how the facts a listing cannot know (the target, the hour)
are read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from quartermaster.config import (
    ApprovalSpec,
    PolicyConfig,
    PolicyRule,
    QuorumApproval,
    StepUpApproval,
)

from ._glob import compile_globs, is_literal, literal_prefix
from ._model import (
    NO_APPROVAL,
    STEP_UP,
    ApprovalRequirement,
    CallFacts,
    Decision,
    Subject,
)
from ._window import Window

_MEMO_LIMIT = 65_536


def policy_version(policy: PolicyConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of ``policy``: equal policies, equal versions."""
    canonical = json.dumps(
        policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def approval_requirement(spec: ApprovalSpec | None) -> ApprovalRequirement:
    """The requirement a rule's ``approval`` key asks for (before any floor)."""
    if isinstance(spec, QuorumApproval):
        return ApprovalRequirement("quorum", spec.quorum.required, spec.quorum.group)
    if isinstance(spec, StepUpApproval):
        return ApprovalRequirement("step_up", 1, spec.step_up.group)
    if spec == "step_up":
        return STEP_UP
    return NO_APPROVAL


def with_floor(approval: ApprovalRequirement, risk: str) -> tuple[ApprovalRequirement, bool]:
    """The approval after the risk floors, and whether a floor raised it.

    Reads may be auto-approved and writes follow the rule; a dangerous tool always needs at
    least one human, so ``none`` becomes a step-up.
    """
    if risk == "dangerous" and not approval.needed:
        return STEP_UP, True
    return approval, False


def _pattern(globs: tuple[str, ...] | None, *, optional_value: bool) -> re.Pattern[str] | None:
    # ``None`` means "no condition". For keys whose value is always present, ``*`` is no
    # condition either; for ``human`` and ``target``, ``*`` still demands a value.
    if globs is None or (not optional_value and "*" in globs):
        return None
    return compile_globs(globs)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule ready for matching: precompiled globs, risk set, window, capped TTL."""

    index: int
    rule: PolicyRule
    agent: re.Pattern[str] | None
    tenant: re.Pattern[str] | None
    human: re.Pattern[str] | None
    tool: re.Pattern[str] | None
    """The pattern over the names of the rule's subject (tools, resource URIs or prompts)."""
    subject: Subject | None
    """What the rule covers; ``None`` for every kind of request."""
    target: re.Pattern[str] | None
    risks: frozenset[str] | None
    window: Window | None
    ttl: int
    approval: ApprovalRequirement

    @property
    def id(self) -> str:
        """The rule's id."""
        return self.rule.id

    @property
    def forbid(self) -> bool:
        """Whether this is a forbid rule."""
        return self.rule.effect == "forbid"

    def matches(self, facts: CallFacts, now: float) -> bool:
        """Whether every condition of the rule holds for ``facts`` at ``now``."""
        # The hot path: no strings built, cheapest tests first. ``mismatch`` says the same
        # in words for explanations; tests pin that the two agree.
        return (
            (self.risks is None or facts.risk in self.risks)
            and (self.subject is None or self.subject == facts.subject)
            and (self.tool is None or self.tool.match(facts.tool) is not None)
            and (self.agent is None or self.agent.match(facts.agent) is not None)
            and (self.tenant is None or self.tenant.match(facts.tenant) is not None)
            and (
                self.human is None
                or (facts.human is not None and self.human.match(facts.human) is not None)
            )
            and (
                self.target is None
                or (facts.target is not None and self.target.match(facts.target) is not None)
            )
            and (self.window is None or self.window.contains(now))
        )

    def could_match(self, facts: CallFacts, now: float, *, has_target: bool) -> bool:
        """Whether some call with these identity facts, name and risk can match the rule,
        whatever its target and whenever it is made from ``now`` on (``facts.target`` is
        ignored; ``has_target`` says whether calls of it render one)."""
        if self.target is not None and not has_target:
            return False
        if self.window is not None and (
            self.window.why_empty() is not None
            or (self.window.not_after is not None and self.window.not_after < now)
        ):
            return False
        return (
            (self.risks is None or facts.risk in self.risks)
            and (self.subject is None or self.subject == facts.subject)
            and (self.tool is None or self.tool.match(facts.tool) is not None)
            and (self.agent is None or self.agent.match(facts.agent) is not None)
            and (self.tenant is None or self.tenant.match(facts.tenant) is not None)
            and (
                self.human is None
                or (facts.human is not None and self.human.match(facts.human) is not None)
            )
        )

    @property
    def unconditional(self) -> bool:
        """Whether the rule holds for every target and at every moment (no ``target``, no
        ``when``): a forbid like that refuses every call it could match."""
        return self.target is None and self.window is None

    def mismatch(self, facts: CallFacts, now: float) -> str | None:
        """The first condition that does not hold, in words, or ``None`` if all hold."""
        if self.subject is not None and self.subject != facts.subject:
            return f"the rule covers {self.subject}s, this is a {facts.subject}"
        if self.tool is not None and self.tool.match(facts.tool) is None:
            return f"{facts.subject} does not match"
        if self.risks is not None and facts.risk not in self.risks:
            return f"risk class {facts.risk} is not in {sorted(self.risks)}"
        if self.agent is not None and self.agent.match(facts.agent) is None:
            return "agent does not match"
        if self.tenant is not None and self.tenant.match(facts.tenant) is None:
            return "tenant does not match"
        if self.human is not None and (
            facts.human is None or self.human.match(facts.human) is None
        ):
            return "no delegating human" if facts.human is None else "human does not match"
        if self.target is not None and (
            facts.target is None or self.target.match(facts.target) is None
        ):
            return "the tool names no target" if facts.target is None else "target does not match"
        if self.window is not None:
            return self.window.why_closed(now)
        return None


def compile_rule(index: int, rule: PolicyRule, *, default_ttl: int, max_ttl: int) -> CompiledRule:
    """Compile one validated rule (``index`` is its position in the file)."""
    return CompiledRule(
        index=index,
        rule=rule,
        agent=_pattern(rule.agent, optional_value=False),
        tenant=_pattern(rule.tenant, optional_value=False),
        human=_pattern(rule.human, optional_value=True),
        tool=_pattern(rule.names, optional_value=False),
        subject=rule.subject,
        target=_pattern(rule.target, optional_value=True),
        risks=None if rule.risk is None else frozenset(rule.risk),
        window=None if rule.when is None else Window.compile(rule.when),
        ttl=min(rule.ttl or default_ttl, max_ttl),
        approval=approval_requirement(rule.approval),
    )


def _key(subject: Subject, name: str) -> str:
    # One index for every subject: a tool and a resource of the same name never meet.
    return f"{subject}\0{name}"


class PolicyEngine:
    """A compiled policy. Build once per configuration; ``decide`` is pure and fast.

    ``max_ttl`` is the broker's longest grant lifetime in seconds: no decision exceeds it.
    """

    def __init__(self, policy: PolicyConfig, *, max_ttl: int) -> None:
        if max_ttl < 1:
            raise ValueError("max_ttl must be at least one second")
        self.policy = policy
        self.max_ttl = max_ttl
        self.version = policy_version(policy)
        self.groups: Mapping[str, frozenset[str]] = {
            name: frozenset(members) for name, members in policy.groups.items()
        }
        self.rules: tuple[CompiledRule, ...] = tuple(
            compile_rule(i, rule, default_ttl=policy.default_ttl, max_ttl=max_ttl)
            for i, rule in enumerate(policy.rules)
        )
        self._any_tool: list[CompiledRule] = []
        self._exact: dict[str, list[CompiledRule]] = {}
        self._by_prefix: dict[str, list[CompiledRule]] = {}
        for compiled in self.rules:
            if compiled.tool is None:
                self._any_tool.append(compiled)
                continue
            for glob in dict.fromkeys(compiled.rule.names or ()):
                key = _key(compiled.subject or "tool", glob)
                if is_literal(glob):
                    self._exact.setdefault(key, []).append(compiled)
                else:
                    self._by_prefix.setdefault(
                        _key(compiled.subject or "tool", literal_prefix(glob)), []
                    ).append(compiled)
        self._prefix_lengths = sorted({len(prefix) for prefix in self._by_prefix})
        self._memo: dict[str, tuple[tuple[CompiledRule, ...], tuple[CompiledRule, ...]]] = {}

    def candidates(
        self, tool: str, subject: Subject = "tool"
    ) -> tuple[tuple[CompiledRule, ...], tuple[CompiledRule, ...]]:
        """``(forbids, permits)`` that cover ``subject`` and whose globs match the name
        ``tool``, each in file order."""
        key = _key(subject, tool)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        found: dict[int, CompiledRule] = {
            r.index: r for r in self._any_tool if r.subject in (None, subject)
        }
        for compiled in self._exact.get(key, ()):
            found[compiled.index] = compiled
        for length in self._prefix_lengths:
            if length > len(key):
                break
            for compiled in self._by_prefix.get(key[:length], ()):
                if compiled.tool is not None and compiled.tool.match(tool) is not None:
                    found[compiled.index] = compiled
        ordered = [found[index] for index in sorted(found)]
        result = (
            tuple(r for r in ordered if r.forbid),
            tuple(r for r in ordered if not r.forbid),
        )
        if len(self._memo) >= _MEMO_LIMIT:
            # Tool names come from configuration, so this only trips under abuse; start over
            # rather than grow without bound.
            self._memo.clear()
        self._memo[key] = result
        return result

    def decide(self, facts: CallFacts, *, now: float) -> Decision:
        """The decision for one call at the instant ``now`` (seconds since the epoch)."""
        forbids, permits = self.candidates(facts.tool, facts.subject)
        for compiled in forbids:
            if compiled.matches(facts, now):
                return self._forbidden(compiled)
        for compiled in permits:
            if compiled.matches(facts, now):
                return self._permitted(compiled, facts)
        return Decision(
            effect="deny",
            rule_id=None,
            reason=(
                f"no permit rule matches agent '{facts.agent}' in tenant '{facts.tenant}' "
                + (
                    f"for this {facts.risk} tool"
                    if facts.subject == "tool"
                    else f"for the log messages of server '{facts.tool}'"
                    if facts.subject == "logging"
                    else f"for the {facts.subject} '{facts.tool}'"
                )
            ),
            ttl=None,
            approval=NO_APPROVAL,
            policy_version=self.version,
        )

    def listable(self, facts: CallFacts, *, has_target: bool, now: float) -> bool:
        """Whether a listing shows this caller the item of ``facts`` (a tool, resource,
        template or prompt): whether policy could let them use it.

        A listing knows the caller, the name and the risk class, but not the target of a
        later call nor its hour. So it leaves out what every call would be refused: no permit
        can match (default deny; a permit whose ``target`` the item never renders, or whose
        window is empty or over, cannot), or a forbid without ``target`` and ``when`` matches.
        A forbid that depends on the target or the hour hides nothing (other calls pass it),
        and a permit limited to office hours lists its tool all day: the listing does not
        change with the clock, and a call outside the hours is refused with the reason.
        """
        forbids, permits = self.candidates(facts.tool, facts.subject)
        for compiled in forbids:
            if compiled.unconditional and compiled.could_match(facts, now, has_target=has_target):
                return False
        return any(p.could_match(facts, now, has_target=has_target) for p in permits)

    def _forbidden(self, compiled: CompiledRule) -> Decision:
        detail = compiled.rule.description or "forbidden"
        return Decision(
            effect="deny",
            rule_id=compiled.id,
            reason=f"rule '{compiled.id}': {detail}",
            ttl=None,
            approval=NO_APPROVAL,
            policy_version=self.version,
        )

    def _permitted(self, compiled: CompiledRule, facts: CallFacts) -> Decision:
        approval, floor = with_floor(compiled.approval, facts.risk)
        reason = f"permitted by rule '{compiled.id}'"
        if floor:
            reason += "; raised to step-up because a dangerous tool always needs a human"
        elif approval.needed:
            reason += f"; needs approval: {approval.describe()}"
        return Decision(
            effect="allow_after_approval" if approval.needed else "allow",
            rule_id=compiled.id,
            reason=reason,
            ttl=compiled.ttl,
            approval=approval,
            policy_version=self.version,
            floor_applied=floor,
        )
