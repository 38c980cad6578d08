"""Analysis for the CLI: unreachable rules, unreached tools, explain, the access matrix."""

from __future__ import annotations

import json

from quartermaster.policy import (
    AccessRow,
    Finding,
    ToolFacts,
    explain,
    inventory,
    inventory_json,
    inventory_table,
    unreachable_rules,
    unreached_tools,
)
from tests.policy.policy_support import NOW, engine, policy

TOOLS = [
    ToolFacts("crm__get_ticket", "crm", "read", "ticket:{ticket_id}"),
    ToolFacts("crm__append_note", "crm", "write", "ticket:{ticket_id}"),
    ToolFacts("payments__refund", "payments", "dangerous", "order:{order_id}"),
    ToolFacts("ops__status", "ops", "read"),
]

POLICY = """
groups:
  fin: [alice@example.com, bob@example.com]
rules:
  - id: support-read
    effect: permit
    agent: "support-*"
    tool: "crm__*"
    risk: read
  - id: support-note
    effect: permit
    agent: "support-*"
    tool: crm__append_note
    target: "ticket:*"
    ttl: 600
  - id: refunds
    effect: permit
    agent: finance
    tool: payments__refund
    approval: {quorum: {group: fin, required: 2}}
  - id: typo
    effect: permit
    tool: "cmr__*"
  - id: reads-only-but-write-tool
    effect: permit
    tool: crm__append_note
    risk: read
  - id: target-on-untargeted
    effect: permit
    tool: ops__status
    target: "x:*"
  - id: freeze-tenant-b
    effect: forbid
    tenant: tenant-b
  - id: shadowed
    effect: permit
    tenant: tenant-b
    tool: "crm__*"
  - id: after-broader
    effect: permit
    agent: support-1
    tool: crm__get_ticket
    risk: read
  - id: never
    effect: permit
    when: {days: []}
  - id: ended
    effect: permit
    when: {not_after: "2020-01-01T00:00:00Z"}
  - id: zero-hours
    effect: permit
    when: {hours: "10:00-10:00"}
  - id: backwards
    effect: permit
    when: {not_before: "2030-01-02T00:00:00Z", not_after: "2030-01-01T00:00:00Z"}
"""


def test_unreachable_rules_with_reasons() -> None:
    found = {f.name: f.reason for f in unreachable_rules(policy(POLICY), TOOLS, now=NOW)}
    assert found == {
        "typo": "its tool pattern matches no declared tool",
        "reads-only-but-write-tool": "its tools (crm__append_note) have no risk class in ['read']",
        "target-on-untargeted": "it requires a target, but none of its tools has a target template",
        "shadowed": "shadowed: forbid rule 'freeze-tenant-b' matches every call this rule does",
        "after-broader": (
            "never decides: earlier permit 'support-read' matches every call this rule does"
        ),
        "never": "never applies: its time window lists no days",
        "ended": "expired: its not_after is in the past",
        "zero-hours": "never applies: its hours start and end at the same minute",
        "backwards": "never applies: its not_before is after its not_after",
    }


def test_without_now_an_ended_window_is_not_reported() -> None:
    names = {f.name for f in unreachable_rules(policy(POLICY), TOOLS)}
    assert "ended" not in names


def test_a_narrower_forbid_does_not_shadow() -> None:
    p = policy(
        [
            {"id": "p", "effect": "permit", "tool": "crm__*"},
            {"id": "f", "effect": "forbid", "tool": "crm__append_note"},
            {"id": "f2", "effect": "forbid", "tool": "crm__*", "human": "*"},
            {"id": "f3", "effect": "forbid", "tool": "crm__*", "when": {"hours": "00:00-24:00"}},
        ]
    )
    assert unreachable_rules(p, TOOLS) == []


def test_unreached_tools() -> None:
    p = policy(
        [
            {"id": "reads", "effect": "permit", "risk": "read"},
            {"id": "dead", "effect": "permit", "tool": "payments__*", "when": {"days": []}},
        ]
    )
    assert unreached_tools(p, TOOLS) == [
        Finding("crm__append_note", "no permit rule reaches this write tool"),
        Finding("payments__refund", "the only permits for it ('dead') never apply"),
    ]


def test_explain_lists_every_rule() -> None:
    e = engine(POLICY)
    result = explain(
        e,
        agent="support-1",
        tenant="tenant-a",
        human=None,
        tool=TOOLS[0],
        arguments={"ticket_id": 4812},
        now=NOW,
    )
    assert result.facts.target == "ticket:4812"
    assert result.decision is not None
    assert result.decision.rule_id == "support-read"
    verdicts = {t.rule_id: (t.verdict, t.detail) for t in result.rules}
    assert len(verdicts) == len(e.rules)
    assert verdicts["support-read"] == ("decides", "permitted by rule 'support-read'")
    assert verdicts["support-note"] == ("no match", "tool does not match")
    assert verdicts["refunds"] == ("no match", "tool does not match")
    assert verdicts["after-broader"][0] == "overridden"
    assert verdicts["freeze-tenant-b"] == ("no match", "tenant does not match")
    assert verdicts["never"][1].startswith("outside its days/hours")
    text = result.render()
    assert "decision: allow (permitted by rule 'support-read')" in text
    assert "support-note" in text
    assert json.loads(json.dumps(result.to_dict()))["decision"]["rule_id"] == "support-read"


def test_explain_a_forbid_and_the_permits_it_overrides() -> None:
    result = explain(
        engine(POLICY),
        agent="support-1",
        tenant="tenant-b",
        human="carol@example.com",
        tool=TOOLS[0],
        arguments={"ticket_id": 1},
        now=NOW,
    )
    assert result.decision is not None
    assert result.decision.rule_id == "freeze-tenant-b"
    verdicts = {t.rule_id: (t.verdict, t.detail) for t in result.rules}
    assert verdicts["support-read"] == ("overridden", "matched, but forbid rules win")
    assert "deny" in result.render()


def test_explain_reports_an_unrenderable_target() -> None:
    result = explain(
        engine(POLICY),
        agent="support-1",
        tenant="tenant-a",
        human=None,
        tool=TOOLS[1],
        arguments={"ticket_id": "*"},
        now=NOW,
    )
    assert result.decision is None
    assert result.target_error is not None
    assert "could widen the target" in result.target_error
    assert "refused:" in result.render()


def test_inventory_rows() -> None:
    e = engine(
        """
groups:
  fin: [alice@example.com, bob@example.com]
rules:
  - {id: support-read, effect: permit, agent: "support-*", tool: "crm__*", risk: read, ttl: 5000}
  - {id: support-note, effect: permit, agent: "support-*", tool: crm__append_note,
     target: "ticket:*"}
  - {id: refunds, effect: permit, agent: finance, tool: payments__refund,
     approval: {quorum: {group: fin, required: 2}}}
  - {id: ops, effect: permit, agent: ops, tool: "payments__*"}
  - {id: night, effect: forbid, when: {hours: "22:00-06:00", timezone: Europe/Berlin}}
""",
        max_ttl=900,
    )
    rows = inventory(e, TOOLS)
    table = {(r.agent, r.tool, r.rule_id): r for r in rows}
    assert table[("support-*", "crm__get_ticket", "support-read")].ttl == 900
    note = table[("support-*", "crm__append_note", "support-note")]
    assert (note.approval, note.conditions, note.ttl) == ("none", "target ticket:*", 300)
    refund = table[("finance", "payments__refund", "refunds")]
    assert (refund.approval, refund.risk) == ("2 of fin", "dangerous")
    assert table[("ops", "payments__refund", "ops")].approval == "step-up"  # the floor
    assert table[("*", "ops__status", "night")].effect == "forbid"
    assert table[("*", "ops__status", "night")].conditions == "when 22:00-06:00 Europe/Berlin"
    assert ("finance", "crm__get_ticket", "support-read") not in table
    assert {r.agent for r in rows} == {"*", "finance", "ops", "support-*"}
    text = inventory_table(rows)
    assert text.splitlines()[0].split() == [
        "agent",
        "tenant",
        "tool",
        "server",
        "risk",
        "effect",
        "rule_id",
        "approval",
        "ttl",
        "conditions",
    ]
    assert len(text.splitlines()) == len(rows) + 1
    assert [AccessRow(**row) for row in json.loads(inventory_json(rows))] == rows


def test_inventory_for_given_agents_stops_after_an_unconditional_rule() -> None:
    e = engine(
        [
            {"id": "first", "effect": "permit", "tool": "crm__*"},
            {"id": "second", "effect": "permit", "tool": "crm__get_ticket"},
            {"id": "stop", "effect": "forbid", "agent": "bad", "tool": "crm__*"},
        ]
    )
    rows = inventory(e, TOOLS[:1], agents=["good", "bad"], tenants=["t"])
    assert [(r.agent, r.rule_id) for r in rows] == [("good", "first"), ("bad", "stop")]


def test_with_an_incomplete_tool_list_only_windows_are_reported() -> None:
    # check --offline knows no downstream tool: a rule is not "unreachable" for that.
    found = {
        f.name: f.reason
        for f in unreachable_rules(policy(POLICY), TOOLS, now=NOW, tools_complete=False)
    }
    assert found == {
        "never": "never applies: its time window lists no days",
        "ended": "expired: its not_after is in the past",
        "zero-hours": "never applies: its hours start and end at the same minute",
        "backwards": "never applies: its not_before is after its not_after",
    }


def test_resource_and_prompt_rules_are_neither_unreachable_nor_reaching_tools() -> None:
    p = policy(
        [
            {"id": "docs", "effect": "permit", "resource": "docs://*"},
            {"id": "prompts", "effect": "permit", "prompt": "crm__*"},
            {"id": "no-docs", "effect": "forbid", "resource": "*"},
        ]
    )
    assert unreachable_rules(p, TOOLS) == []
    assert {f.name for f in unreached_tools(p, TOOLS)} == {t.name for t in TOOLS}
