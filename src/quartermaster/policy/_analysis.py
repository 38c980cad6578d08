"""Static checks of a policy against the declared tools, for ``quartermaster check``.

``unreachable_rules`` finds rules that can never decide a call; ``unreached_tools`` finds
tools no permit can ever reach. Both are conservative in the safe direction: a rule is only
called unreachable when that is proven (see ``glob_covers``). When the tool list is not
complete (``check --offline`` knows only the tools the admin declared, not all a server
offers), nothing is concluded from the tools a rule reaches: only its time window is judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quartermaster.config import PolicyConfig

from ._engine import CompiledRule, compile_rule
from ._glob import globs_cover
from ._model import ToolFacts


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of an analysis: the rule id or tool name, and why it is reported."""

    name: str
    reason: str


def compile_policy(policy: PolicyConfig) -> tuple[CompiledRule, ...]:
    """Every rule of ``policy`` compiled (TTL capped at the policy default; analysis ignores it)."""
    return tuple(
        compile_rule(i, rule, default_ttl=policy.default_ttl, max_ttl=policy.default_ttl)
        for i, rule in enumerate(policy.rules)
    )


def reached_tools(compiled: CompiledRule, tools: Sequence[ToolFacts]) -> list[ToolFacts]:
    """The declared tools a rule can match: tool glob, risk class and target all permitting
    (a rule about resources or prompts matches no tool)."""
    if compiled.subject not in (None, "tool"):
        return []
    return [
        tool
        for tool in tools
        if (compiled.tool is None or compiled.tool.match(tool.name) is not None)
        and (compiled.risks is None or tool.risk in compiled.risks)
        and (compiled.rule.target is None or tool.target_template is not None)
    ]


def covers(broad: CompiledRule, narrow: CompiledRule, tools: Sequence[ToolFacts]) -> bool:
    """Whether ``broad`` matches every call ``narrow`` can match (``tools`` = what it reaches)."""
    if broad.window is not None:
        return False
    b, n = broad.rule, narrow.rule
    return (
        all(tool in reached_tools(broad, [tool]) for tool in tools)
        and globs_cover(b.agent, n.agent)
        and globs_cover(b.tenant, n.tenant)
        and globs_cover(b.human, n.human)
        and globs_cover(b.target, n.target)
    )


def _why_unreachable(
    compiled: CompiledRule,
    earlier: Sequence[CompiledRule],
    every: Sequence[CompiledRule],
    tools: Sequence[ToolFacts],
    now: float | None,
    tools_complete: bool,
) -> str | None:
    if compiled.window is not None:
        empty = compiled.window.why_empty()
        if empty is not None:
            return f"never applies: {empty}"
        ended = compiled.window.not_after
        if now is not None and ended is not None and ended < now:
            return "expired: its not_after is in the past"
    if compiled.subject not in (None, "tool") or not tools_complete:
        # Resources and prompts are listed by running downstreams, not declared, and so are
        # tools when the servers were not asked (check --offline): whether such a rule is
        # reached cannot be known, so it is never reported.
        return None
    reach = reached_tools(compiled, tools)
    if not reach:
        by_name = [t for t in tools if compiled.tool is None or compiled.tool.match(t.name)]
        if not by_name:
            return "its tool pattern matches no declared tool"
        if compiled.rule.target is not None and all(t.target_template is None for t in by_name):
            return "it requires a target, but none of its tools has a target template"
        return (
            f"its tools ({', '.join(t.name for t in by_name[:5])}) have no risk class in "
            f"{sorted(compiled.risks or ())}"
        )
    if compiled.forbid:
        return None
    for other in every:
        if other.forbid and covers(other, compiled, reach):
            return f"shadowed: forbid rule '{other.id}' matches every call this rule does"
    for other in earlier:
        if not other.forbid and covers(other, compiled, reach):
            return f"never decides: earlier permit '{other.id}' matches every call this rule does"
    return None


def unreachable_rules(
    policy: PolicyConfig,
    tools: Sequence[ToolFacts],
    *,
    now: float | None = None,
    tools_complete: bool = True,
) -> list[Finding]:
    """Rules that can never decide a call, each with the reason.

    Reported: an empty time window; (with ``now``) a window that has ended; a tool glob,
    risk list or target key that no declared tool satisfies; a permit shadowed by a forbid
    without a time window that matches every call it does; a permit after an earlier permit
    (without a time window) that matches every call it does. With ``tools_complete`` false
    (``tools`` is not every tool there is), only the time-window reasons are reported.
    """
    compiled = compile_policy(policy)
    findings = []
    for position, rule in enumerate(compiled):
        reason = _why_unreachable(rule, compiled[:position], compiled, tools, now, tools_complete)
        if reason is not None:
            findings.append(Finding(rule.id, reason))
    return findings


def unreached_tools(
    policy: PolicyConfig,
    tools: Sequence[ToolFacts],
    *,
    now: float | None = None,
    tools_complete: bool = True,
) -> list[Finding]:
    """Declared tools that no permit rule can ever allow (so agents can never call them).

    A tool counts as reached when some permit that is not in ``unreachable_rules`` (with the
    same ``now`` and ``tools_complete``) can match it; forbids that cover only some of its
    callers do not matter. Each tool in ``tools`` is judged, complete list or not.
    """
    compiled = compile_policy(policy)
    found = unreachable_rules(policy, tools, now=now, tools_complete=tools_complete)
    dead = {finding.name for finding in found}
    findings = []
    for tool in tools:
        permits = [r for r in compiled if not r.forbid and reached_tools(r, [tool])]
        live = [r for r in permits if r.id not in dead]
        if live:
            continue
        if permits:
            ids = ", ".join(f"'{r.id}'" for r in permits)
            findings.append(Finding(tool.name, f"the only permits for it ({ids}) never apply"))
        else:
            findings.append(Finding(tool.name, f"no permit rule reaches this {tool.risk} tool"))
    return findings
