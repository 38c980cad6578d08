"""Properties of the decide stage over random policies and calls."""

from __future__ import annotations

import fnmatch
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from quartermaster.config._policy import PolicyConfig
from quartermaster.policy import CallFacts, PolicyEngine

AGENTS = ["support-1", "support-2", "finance", "ops"]
TOOLS = ["crm__get", "crm__note", "pay__refund", "ops__rm", "x"]
TENANTS = ["t-a", "t-b"]
HUMANS = [None, "alice@example.com", "bob@corp.test"]
TARGETS = [None, "ticket:1", "ticket:vip-2", "order:9"]
RISKS = ["read", "write", "dangerous"]

AGENT_GLOBS = ["*", "support-*", "finance", "s?pport-[12]", "nobody"]
TOOL_GLOBS = ["*", "crm__*", "crm__get", "*__rm", "pay__*", "x", "[cp]*", "?rm__get"]
TENANT_GLOBS = ["*", "t-a", "t-?"]
HUMAN_GLOBS = ["*", "*@example.com", "bob@*"]
TARGET_GLOBS = ["*", "ticket:*", "ticket:vip-*", "order:?"]
APPROVALS: list[Any] = [
    None,
    "none",
    "step_up",
    {"step_up": {"group": "g"}},
    {"quorum": {"group": "g", "required": 2}},
]


def maybe(values: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.none() | st.lists(st.sampled_from(values), min_size=1, max_size=2)


@st.composite
def rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=8))
    out = []
    for index in range(count):
        rule: dict[str, Any] = {
            "id": f"r{index}",
            "effect": draw(st.sampled_from(["permit", "forbid"])),
        }
        for key, pool in (
            ("agent", AGENT_GLOBS),
            ("tool", TOOL_GLOBS),
            ("tenant", TENANT_GLOBS),
            ("human", HUMAN_GLOBS),
            ("target", TARGET_GLOBS),
            ("risk", RISKS),
        ):
            value = draw(maybe(pool))
            if value is not None:
                rule[key] = value
        if rule["effect"] == "permit":
            approval = draw(st.sampled_from(APPROVALS))
            if approval is not None:
                rule["approval"] = approval
            ttl = draw(st.none() | st.integers(min_value=1, max_value=10_000))
            if ttl is not None:
                rule["ttl"] = ttl
        out.append(rule)
    return out


calls = st.builds(
    CallFacts,
    agent=st.sampled_from(AGENTS),
    tenant=st.sampled_from(TENANTS),
    human=st.sampled_from(HUMANS),
    tool=st.sampled_from(TOOLS),
    risk=st.sampled_from(RISKS),
    target=st.sampled_from(TARGETS),
)


def build(rule_list: list[dict[str, Any]], max_ttl: int) -> PolicyEngine:
    section = {"groups": {"g": ["a", "b"]}, "rules": rule_list}
    return PolicyEngine(PolicyConfig.model_validate(section), max_ttl=max_ttl)


def naive_match(rule: dict[str, Any], facts: CallFacts) -> bool:
    """The reference: every key, read straight from the YAML shape with fnmatchcase."""
    for key, value in (
        ("agent", facts.agent),
        ("tool", facts.tool),
        ("tenant", facts.tenant),
        ("human", facts.human),
        ("target", facts.target),
    ):
        if key in rule and (
            value is None or not any(fnmatch.fnmatchcase(value, g) for g in rule[key])
        ):
            return False
    return "risk" not in rule or facts.risk in rule["risk"]


@settings(max_examples=200)
@given(rules(), calls, st.integers(min_value=1, max_value=5000))
def test_engine_agrees_with_a_linear_scan(
    rule_list: list[dict[str, Any]], facts: CallFacts, max_ttl: int
) -> None:
    decision = build(rule_list, max_ttl).decide(facts, now=0.0)
    matching = [r for r in rule_list if naive_match(r, facts)]
    forbids = [r for r in matching if r["effect"] == "forbid"]
    permits = [r for r in matching if r["effect"] == "permit"]
    if forbids:
        # Forbid always wins.
        assert (decision.effect, decision.rule_id) == ("deny", forbids[0]["id"])
    elif permits:
        assert decision.rule_id == permits[0]["id"]
        assert decision.effect in ("allow", "allow_after_approval")
    else:
        # Default deny.
        assert (decision.effect, decision.rule_id) == ("deny", None)


@settings(max_examples=200)
@given(rules(), calls, st.integers(min_value=1, max_value=5000))
def test_no_policy_lets_a_dangerous_call_through_without_a_human(
    rule_list: list[dict[str, Any]], facts: CallFacts, max_ttl: int
) -> None:
    decision = build(rule_list, max_ttl).decide(facts, now=0.0)
    if facts.risk == "dangerous":
        assert decision.effect != "allow"
        if decision.allowed:
            assert decision.approval.required >= 1
    if decision.effect == "allow_after_approval":
        assert decision.approval.needed
    if decision.effect == "allow":
        assert not decision.approval.needed


@settings(max_examples=200)
@given(rules(), calls, st.integers(min_value=1, max_value=5000))
def test_ttl_never_exceeds_the_cap(
    rule_list: list[dict[str, Any]], facts: CallFacts, max_ttl: int
) -> None:
    decision = build(rule_list, max_ttl).decide(facts, now=0.0)
    if decision.allowed:
        assert decision.ttl is not None
        assert 1 <= decision.ttl <= max_ttl
    else:
        assert decision.ttl is None
