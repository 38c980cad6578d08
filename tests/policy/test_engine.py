"""The decide stage: the decision table, the index, floors and caps."""

from __future__ import annotations

from typing import Any

import pytest

from quartermaster.config._base import RiskClass
from quartermaster.policy import CallFacts, PolicyDenied, PolicyEngine, Subject, policy_version
from tests.policy.policy_support import NOW, engine, policy

RULES: list[dict[str, Any]] = [
    {
        "id": "support-read",
        "effect": "permit",
        "agent": "support-*",
        "tool": "crm__*",
        "risk": "read",
    },
    {
        "id": "support-note",
        "effect": "permit",
        "agent": "support-*",
        "tool": "crm__append_note",
        "target": "ticket:*",
        "ttl": 600,
    },
    {
        "id": "refund",
        "effect": "permit",
        "agent": "finance-agent",
        "human": "*@example.com",
        "tool": "payments__refund",
        "approval": {"quorum": {"group": "fin", "required": 2}},
    },
    {"id": "ops-any", "effect": "permit", "agent": "ops", "ttl": 5000},
    {"id": "no-tenant-b", "effect": "forbid", "tenant": "tenant-b", "risk": ["write", "dangerous"]},
    {
        "id": "no-vip",
        "effect": "forbid",
        "target": "ticket:vip-*",
        "description": "VIP tickets are off limits",
    },
]
GROUPS = {"fin": ["alice@example.com", "bob@example.com"]}


def call(
    tool: str,
    risk: RiskClass = "read",
    *,
    agent: str = "support-1",
    tenant: str = "tenant-a",
    human: str | None = "carol@example.com",
    target: str | None = None,
) -> CallFacts:
    return CallFacts(agent, tenant, human, tool, risk, target)


ENGINE = engine(RULES, max_ttl=900, groups=GROUPS)


@pytest.mark.parametrize(
    ("facts", "effect", "rule_id", "approval", "ttl"),
    [
        (call("crm__get_ticket"), "allow", "support-read", "none", 300),
        (call("crm__get_ticket", "write"), "deny", None, "none", None),
        (
            call("crm__append_note", "write", target="ticket:4812"),
            "allow",
            "support-note",
            "none",
            600,
        ),
        (call("crm__append_note", "write", target="ticket:vip-1"), "deny", "no-vip", "none", None),
        (call("crm__append_note", "write"), "deny", None, "none", None),
        (
            call("crm__append_note", "write", target="ticket:1", tenant="tenant-b"),
            "deny",
            "no-tenant-b",
            "none",
            None,
        ),
        (call("crm__get_ticket", tenant="tenant-b"), "allow", "support-read", "none", 300),
        (call("crm__get_ticket", agent="sales-1"), "deny", None, "none", None),
        (
            call("payments__refund", "dangerous", agent="finance-agent"),
            "allow_after_approval",
            "refund",
            "2 of fin",
            300,
        ),
        (
            call("payments__refund", "dangerous", agent="finance-agent", human=None),
            "deny",
            None,
            "none",
            None,
        ),
        (
            call("payments__refund", "dangerous", agent="finance-agent", human="x@evil.test"),
            "deny",
            None,
            "none",
            None,
        ),
        # ops-any: TTL capped at the broker maximum; read auto, write auto, dangerous raised.
        (call("anything__x", "read", agent="ops"), "allow", "ops-any", "none", 900),
        (call("anything__x", "write", agent="ops"), "allow", "ops-any", "none", 900),
        (
            call("anything__x", "dangerous", agent="ops"),
            "allow_after_approval",
            "ops-any",
            "step-up",
            900,
        ),
    ],
)
def test_decision_table(
    facts: CallFacts, effect: str, rule_id: str | None, approval: str, ttl: int | None
) -> None:
    decision = ENGINE.decide(facts, now=NOW)
    assert (decision.effect, decision.rule_id, decision.approval.describe(), decision.ttl) == (
        effect,
        rule_id,
        approval,
        ttl,
    )
    assert decision.policy_version == ENGINE.version
    assert decision.allowed == (effect != "deny")


def test_the_floor_is_recorded() -> None:
    decision = ENGINE.decide(call("x__rm", "dangerous", agent="ops"), now=NOW)
    assert decision.floor_applied
    assert "dangerous tool always needs a human" in decision.reason
    assert not ENGINE.decide(call("x__rm", "write", agent="ops"), now=NOW).floor_applied


def test_forbid_wins_whatever_the_order() -> None:
    rules: list[dict[str, Any]] = [
        {"id": "allow-all", "effect": "permit"},
        {"id": "stop", "effect": "forbid", "tool": "a__b"},
    ]
    for ordered in (rules, rules[::-1]):
        assert engine(ordered).decide(call("a__b"), now=NOW).rule_id == "stop"


def test_first_matching_permit_decides() -> None:
    e = engine(
        [
            {"id": "narrow", "effect": "permit", "tool": "a__b", "ttl": 60, "approval": "step_up"},
            {"id": "broad", "effect": "permit", "tool": "a__*", "ttl": 120},
        ]
    )
    assert e.decide(call("a__b"), now=NOW).rule_id == "narrow"
    assert e.decide(call("a__c"), now=NOW).rule_id == "broad"


def test_default_deny_with_no_rules() -> None:
    decision = engine([]).decide(call("crm__get"), now=NOW)
    assert (decision.effect, decision.rule_id, decision.ttl) == ("deny", None, None)
    assert "no permit rule matches" in decision.reason


def test_policy_denied_says_how_to_get_access() -> None:
    denied = PolicyDenied.from_decision("crm__x", engine([]).decide(call("crm__x"), now=NOW))
    assert "default deny" in str(denied)
    assert "ask an administrator" in str(denied)
    forbid = ENGINE.decide(call("crm__append_note", "write", target="ticket:vip-9"), now=NOW)
    error = PolicyDenied.from_decision("crm__append_note", forbid)
    assert error.rule_id == "no-vip"
    assert "VIP tickets are off limits" in str(error)
    assert "forbid rules win" in str(error)


def test_star_on_human_and_target_demands_a_value() -> None:
    e = engine([{"id": "p", "effect": "permit", "human": "*", "target": "*"}])
    assert e.decide(call("t", human=None, target="x"), now=NOW).effect == "deny"
    assert e.decide(call("t", human="h", target=None), now=NOW).effect == "deny"
    assert e.decide(call("t", human="h", target="x"), now=NOW).effect == "allow"


def test_globs_are_case_sensitive_and_span_separators() -> None:
    e = engine([{"id": "p", "effect": "permit", "tool": "crm*note"}])
    assert e.decide(call("crm__append_note"), now=NOW).effect == "allow"
    assert e.decide(call("CRM__append_note"), now=NOW).effect == "deny"


def test_index_finds_rules_by_exact_name_prefix_and_wildcard() -> None:
    e = engine(
        [
            {"id": "exact", "effect": "permit", "tool": "crm__get"},
            {"id": "prefix", "effect": "permit", "tool": "crm__*"},
            {"id": "inner", "effect": "permit", "tool": "*__get"},
            {"id": "any", "effect": "permit"},
            {"id": "other", "effect": "permit", "tool": ["pay__*", "crm__g?t"]},
        ]
    )
    forbids, permits = e.candidates("crm__get")
    assert forbids == ()
    assert [r.id for r in permits] == ["exact", "prefix", "inner", "any", "other"]
    assert [r.id for r in e.candidates("pay__send")[1]] == ["any", "other"]
    assert [r.id for r in e.candidates("crm")[1]] == ["any"]
    assert e.candidates("crm__get") is e.candidates("crm__get")


def test_version_is_stable_and_sensitive() -> None:
    a = policy(RULES, groups=GROUPS)
    b = policy(RULES, groups=GROUPS)
    assert policy_version(a) == policy_version(b)
    assert len(policy_version(a)) == 64
    changed = [dict(RULES[0], ttl=601), *RULES[1:]]
    assert policy_version(policy(changed, groups=GROUPS)) != policy_version(a)


def test_engine_exposes_groups_as_sets() -> None:
    assert ENGINE.groups == {"fin": frozenset(GROUPS["fin"])}


def test_max_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_ttl"):
        PolicyEngine(policy([]), max_ttl=0)


def test_mismatch_and_matches_agree_on_the_table() -> None:
    facts = call("crm__append_note", "write", target="ticket:4812")
    for compiled in ENGINE.rules:
        assert compiled.matches(facts, NOW) == (compiled.mismatch(facts, NOW) is None)


def request(subject: Subject, name: str, **facts: Any) -> CallFacts:
    return CallFacts(
        facts.get("agent", "support-1"), "tenant-a", "carol@example.com", name, "read",
        subject=subject,
    )  # fmt: skip


SUBJECTS = engine(
    [
        {"id": "docs", "effect": "permit", "resource": "docs://*"},
        {"id": "review", "effect": "permit", "prompt": ["docs__review", "docs__sum?"]},
        {"id": "same-name-tool", "effect": "permit", "tool": "docs://readme"},
        {"id": "no-payroll", "effect": "forbid", "resource": "payroll://*"},
        {"id": "nobody-else", "effect": "forbid", "agent": "intruder"},
    ]
)


@pytest.mark.parametrize(
    ("facts", "effect", "rule_id"),
    [
        (request("resource", "docs://readme"), "allow", "docs"),
        (request("resource", "docs://pages/{page}"), "allow", "docs"),
        (request("resource", "payroll://2026/salaries"), "deny", "no-payroll"),
        (request("resource", "wiki://home"), "deny", None),
        (request("prompt", "docs__review"), "allow", "review"),
        (request("prompt", "docs__sums"), "allow", "review"),
        (request("prompt", "docs://readme"), "deny", None),
        (request("tool", "docs://readme"), "allow", "same-name-tool"),
        (request("tool", "docs__review"), "deny", None),
        (request("resource", "docs://readme", agent="intruder"), "deny", "nobody-else"),
        (request("prompt", "docs__review", agent="intruder"), "deny", "nobody-else"),
    ],
)
def test_rules_match_resources_by_uri_and_prompts_by_name(
    facts: CallFacts, effect: str, rule_id: str | None
) -> None:
    decision = SUBJECTS.decide(facts, now=NOW)
    assert (decision.effect, decision.rule_id) == (effect, rule_id)
    for compiled in SUBJECTS.rules:
        assert compiled.matches(facts, NOW) == (compiled.mismatch(facts, NOW) is None)


def test_default_deny_names_the_resource() -> None:
    decision = SUBJECTS.decide(request("resource", "wiki://home"), now=NOW)
    assert "for the resource 'wiki://home'" in decision.reason


def test_a_rule_covers_one_subject_at_most() -> None:
    with pytest.raises(ValueError, match="split it into one rule each"):
        policy([{"id": "x", "effect": "permit", "tool": "a", "prompt": "b"}])
