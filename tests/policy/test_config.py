"""The ``policy:`` section: shapes, defaults and cross references."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from quartermaster.config._policy import (
    PolicyConfig,
    QuorumApproval,
    StepUpApproval,
    parse_hours,
)

EXAMPLE = """
groups:
  finance-approvers: [alice@example.com, bob@example.com, carol@example.com]
default_ttl: 300
rules:
  - id: support-reads
    effect: permit
    agent: "support-*"
    tool: "crm__*"
    risk: read
    ttl: 600
  - id: refunds
    effect: permit
    agent: finance-agent
    tool: payments__refund
    target: "order:*"
    approval: {quorum: {group: finance-approvers, required: 2}}
    when: {days: [mon, tue, wed, thu, fri], hours: "09:00-17:00", timezone: Europe/Berlin}
  - id: notes
    effect: permit
    tool: [crm__append_note, crm__tag]
    approval: step_up
  - id: lead-only
    effect: permit
    tool: ops__deploy
    approval: {step_up: {group: finance-approvers}}
  - id: no-prod-at-night
    effect: forbid
    tenant: prod
    when: {hours: "22:00-06:00", timezone: UTC}
"""


def load(text: str) -> PolicyConfig:
    return PolicyConfig.model_validate(yaml.safe_load(text))


def test_the_documented_example_loads() -> None:
    policy = load(EXAMPLE)
    reads, refunds, notes, lead, night = policy.rules
    assert reads.agent == ("support-*",)
    assert reads.risk == ("read",)
    assert notes.tool == ("crm__append_note", "crm__tag")
    assert isinstance(refunds.approval, QuorumApproval)
    assert refunds.approval.quorum.required == 2
    assert notes.approval == "step_up"
    assert isinstance(lead.approval, StepUpApproval)
    assert night.when is not None
    assert night.when.hours == "22:00-06:00"


def rule(**extra: Any) -> dict[str, Any]:
    return {"id": "r", "effect": "permit", **extra}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": [rule(), rule()]}, "used twice"),
        ({"rules": [rule(approval={"quorum": {"group": "nope"}})]}, "not declared"),
        (
            {
                "groups": {"g": ["a"]},
                "rules": [rule(approval={"quorum": {"group": "g", "required": 2}})],
            },
            "has only 1",
        ),
        ({"rules": [rule(approval={"step_up": {"group": "x"}})]}, "not declared"),
        ({"rules": [{"id": "r", "effect": "forbid", "ttl": 5}]}, "grants nothing"),
        ({"rules": [{"id": "r", "effect": "forbid", "approval": "step_up"}]}, "grants nothing"),
        ({"rules": [rule(tool=[])]}, "at least one pattern"),
        ({"rules": [rule(agent=" a")]}, "whitespace"),
        ({"rules": [rule(risk=[])]}, "at least one risk"),
        ({"rules": [rule(risk=["harmless"])]}, "risk"),
        ({"rules": [rule(when={"hours": "9-17"})]}, "09:00-17:30"),
        ({"rules": [rule(when={"hours": "09:00-24:30"})]}, "hours"),
        ({"rules": [rule(when={"timezone": "Mars/Olympus"})]}, "unknown time zone"),
        ({"rules": [rule(when={"not_before": "2030-01-01T00:00:00"})]}, "timezone"),
        ({"rules": [rule(when={"days": ["monday"]})]}, "days"),
        ({"rules": [rule(id="bad id")]}, "rule id"),
        ({"rules": [rule(ttl=0)]}, "ttl"),
        ({"rules": [rule(colour="red")]}, "colour"),
        ({"groups": {"g": []}}, "no members"),
        ({"groups": {"g": ["a", "a"]}}, "twice"),
        ({"groups": {"g h": ["a"]}}, "group name"),
    ],
)
def test_mistakes_are_reported(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PolicyConfig.model_validate(section)


def test_an_empty_policy_is_valid_and_denies_everything_later() -> None:
    policy = PolicyConfig()
    assert policy.rules == ()
    assert policy.default_ttl == 300


def test_parse_hours() -> None:
    assert parse_hours("09:00-17:30") == (540, 1050)
    assert parse_hours("22:00-06:00") == (1320, 360)
    assert parse_hours("00:00-24:00") == (0, 1440)


def test_the_section_is_frozen() -> None:
    policy = load(EXAMPLE)
    with pytest.raises(ValidationError):
        policy.default_ttl = 5
