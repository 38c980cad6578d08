"""The access matrix: which agent, in which tenant, may call which tool, how, and for how long.

Rows are derived from the rules, not from traffic: for each agent and tenant label and each
declared tool, the rules that can apply, in the order the engine tries them. A rule with
conditions (a human, a target or a time window) gets a row with those conditions and the
rules after it still appear, because they decide when the conditions do not hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

from ._analysis import reached_tools
from ._engine import CompiledRule, PolicyEngine, with_floor
from ._glob import globs_cover
from ._model import ToolFacts, grant_ttl


@dataclass(frozen=True, slots=True)
class AccessRow:
    """One line of the access matrix."""

    agent: str
    tenant: str
    tool: str
    server: str
    risk: str
    effect: str
    rule_id: str
    approval: str
    ttl: int | None
    conditions: str


def _labels(patterns: Iterable[tuple[str, ...] | None]) -> list[str]:
    labels: set[str] = set()
    for globs in patterns:
        labels.update(globs if globs is not None else ("*",))
    return sorted(labels)


def _conditions(compiled: CompiledRule) -> str:
    rule = compiled.rule
    parts = []
    if rule.human is not None:
        parts.append("human " + "|".join(rule.human))
    if rule.target is not None:
        parts.append("target " + "|".join(rule.target))
    if rule.when is not None:
        w = rule.when
        when = [",".join(w.days)] if w.days is not None else []
        when += [w.hours] if w.hours is not None else []
        when += [f"from {w.not_before.isoformat()}"] if w.not_before is not None else []
        when += [f"until {w.not_after.isoformat()}"] if w.not_after is not None else []
        parts.append("when " + " ".join([*when, w.timezone]))
    return "; ".join(parts) or "-"


def _row(agent: str, tenant: str, tool: ToolFacts, compiled: CompiledRule) -> AccessRow:
    permit = not compiled.forbid
    return AccessRow(
        agent=agent,
        tenant=tenant,
        tool=tool.name,
        server=tool.server,
        risk=tool.risk,
        effect=compiled.rule.effect,
        rule_id=compiled.id,
        approval=with_floor(compiled.approval, tool.risk)[0].describe() if permit else "-",
        ttl=grant_ttl(compiled.ttl, tool.ttl) if permit else None,
        conditions=_conditions(compiled),
    )


def inventory(
    engine: PolicyEngine,
    tools: Sequence[ToolFacts],
    *,
    agents: Sequence[str] | None = None,
    tenants: Sequence[str] | None = None,
) -> list[AccessRow]:
    """The access matrix rows (floors, the TTL cap and each tool's own ``ttl`` applied).

    ``agents`` and ``tenants`` default to every pattern the rules use (``*`` standing for
    "any", when some rule leaves the key out). A rule applies to a label when its patterns
    match everything the label does. Forbids are listed too; a rule without conditions ends
    the list for its tool, as nothing after it can decide.
    """
    rows: list[AccessRow] = []
    if agents is None:
        agents = _labels(r.rule.agent for r in engine.rules)
    if tenants is None:
        tenants = _labels(r.rule.tenant for r in engine.rules)
    for agent in agents:
        for tenant in tenants:
            for tool in tools:
                rows.extend(
                    _row(agent, tenant, tool, compiled)
                    for compiled in _applicable(engine, agent, tenant, tool)
                )
    return rows


def _applicable(
    engine: PolicyEngine, agent: str, tenant: str, tool: ToolFacts
) -> Iterator[CompiledRule]:
    forbids, permits = engine.candidates(tool.name)
    for compiled in (*forbids, *permits):
        rule = compiled.rule
        if not reached_tools(compiled, [tool]):
            continue
        if not (globs_cover(rule.agent, (agent,)) and globs_cover(rule.tenant, (tenant,))):
            continue
        yield compiled
        if rule.human is None and rule.target is None and rule.when is None:
            return


_COLUMNS = ("agent", "tenant", "tool", "server", "risk", "effect", "rule_id", "approval", "ttl")


def inventory_table(rows: Sequence[AccessRow]) -> str:
    """The rows as an aligned plain-text table (conditions in the last column)."""
    header = (*_COLUMNS, "conditions")
    cells = [header] + [
        tuple(
            "-" if v is None else str(v) for v in (*(getattr(r, c) for c in _COLUMNS), r.conditions)
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def inventory_json(rows: Sequence[AccessRow]) -> str:
    """The rows as a JSON array of objects (stable key order)."""
    return json.dumps([asdict(row) for row in rows], indent=2)
