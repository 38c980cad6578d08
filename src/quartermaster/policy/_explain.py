"""``explain``: the decision for one hypothetical call, and what every rule made of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ._engine import PolicyEngine
from ._errors import TargetInvalid
from ._model import CallFacts, Decision, ToolFacts, grant_ttl
from ._target import TargetTemplate

Verdict = Literal["decides", "overridden", "no match"]
"""What one rule did: decided the call, matched but lost (to a forbid or an earlier
permit), or did not match."""


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule's part in an explanation."""

    rule_id: str
    effect: str
    verdict: Verdict
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a call would be decided as it is.

    ``decision`` is ``None`` when the target could not be rendered (``target_error`` says
    why; the pipeline would refuse such a call before deciding). ``grant_ttl`` is the
    lifetime the grant would really have (the rule's TTL or the tool's own, whichever is
    shorter); ``None`` when the call is denied.
    """

    facts: CallFacts
    decision: Decision | None
    target_error: str | None
    rules: tuple[RuleTrace, ...]
    grant_ttl: int | None = None

    def render(self) -> str:
        """A plain-text report, one rule per line."""
        f = self.facts
        lines = [
            f"call:     agent={f.agent} tenant={f.tenant} human={f.human or '-'} "
            f"tool={f.tool} risk={f.risk} target={f.target or '-'}",
        ]
        if self.decision is None:
            lines.append(f"refused:  {self.target_error}")
            return "\n".join(lines)
        d = self.decision
        lines.append(f"decision: {d.effect} ({d.reason})")
        if d.effect != "deny":
            lines.append(f"approval: {d.approval.describe()}   ttl: {self.grant_ttl}s")
        lines.append(f"policy:   {d.policy_version[:16]}")
        width = max((len(r.rule_id) for r in self.rules), default=4)
        for trace in self.rules:
            rule = f"{trace.rule_id:<{width}}  {trace.effect:<6}  {trace.verdict:<10}"
            lines.append(f"  {rule}  {trace.detail}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (dataclasses as dicts)."""
        return asdict(self)


def explain(
    engine: PolicyEngine,
    *,
    agent: str,
    tenant: str,
    human: str | None,
    tool: ToolFacts,
    arguments: Mapping[str, object],
    now: float,
) -> Explanation:
    """Explain the decision for ``agent`` (in ``tenant``, for ``human``) calling ``tool``.

    Every rule of the policy is listed, in file order, with its verdict.
    """
    target: str | None = None
    facts = CallFacts(agent, tenant, human, tool.name, tool.risk, None)
    if tool.target_template is not None:
        try:
            target = TargetTemplate.parse(tool.target_template).render(arguments)
        except TargetInvalid as exc:
            return Explanation(facts, None, exc.message, ())
    facts = CallFacts(agent, tenant, human, tool.name, tool.risk, target)
    decision = engine.decide(facts, now=now)
    traces = []
    for compiled in engine.rules:
        miss = compiled.mismatch(facts, now)
        effect = compiled.rule.effect
        if miss is not None:
            traces.append(RuleTrace(compiled.id, effect, "no match", miss))
        elif compiled.id == decision.rule_id:
            traces.append(RuleTrace(compiled.id, effect, "decides", decision.reason))
        elif decision.rule_id is not None and decision.effect == "deny":
            detail = "matched, but forbid rules win" if not compiled.forbid else "matched too"
            traces.append(RuleTrace(compiled.id, effect, "overridden", detail))
        else:
            detail = f"matched, but the earlier permit '{decision.rule_id}' decides"
            traces.append(RuleTrace(compiled.id, effect, "overridden", detail))
    lifetime = grant_ttl(decision.ttl, tool.ttl) if decision.allowed else None
    return Explanation(facts, decision, None, tuple(traces), lifetime)
