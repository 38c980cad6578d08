"""``PolicyEngine.listable``: what a listing shows a caller (issue 13).

A listing knows the caller, the name and the risk class but not a later call's target or
hour: it leaves out only what every call would be refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from quartermaster.policy import CallFacts
from tests.policy.policy_support import NOW, engine


def facts(**changes: Any) -> CallFacts:
    base: dict[str, Any] = {
        "agent": "support-bot",
        "tenant": "acme",
        "human": "alice@example.com",
        "tool": "crm__append_note",
        "risk": "write",
    }
    return CallFacts(**{**base, **changes})


PERMIT = {"id": "notes", "effect": "permit", "tool": "crm__*"}


@pytest.mark.parametrize(
    ("rules", "changes", "has_target", "shown"),
    [
        pytest.param([], {}, False, False, id="default-deny"),
        pytest.param([PERMIT], {}, False, True, id="permit"),
        pytest.param([PERMIT], {"tool": "hr__fire"}, False, False, id="other-tool"),
        pytest.param([{**PERMIT, "agent": "other"}], {}, False, False, id="other-agent"),
        pytest.param([{**PERMIT, "risk": "read"}], {}, False, False, id="risk-excluded"),
        pytest.param([{**PERMIT, "human": "*"}], {"human": None}, False, False, id="no-human"),
        pytest.param([{**PERMIT, "target": "ticket:*"}], {}, True, True, id="target-some"),
        pytest.param([{**PERMIT, "target": "ticket:*"}], {}, False, False, id="target-never"),
        pytest.param(
            [PERMIT, {"id": "f", "effect": "forbid", "agent": "support-*"}],
            {},
            False,
            False,
            id="forbid-hides",
        ),
        pytest.param(
            [PERMIT, {"id": "f", "effect": "forbid", "target": "ticket:vip-*"}],
            {},
            True,
            True,
            id="forbid-on-some-targets-hides-nothing",
        ),
        pytest.param(
            [PERMIT, {"id": "f", "effect": "forbid", "when": {"hours": "00:00-24:00"}}],
            {},
            False,
            True,
            id="forbid-in-a-window-hides-nothing",
        ),
        pytest.param(
            [{**PERMIT, "when": {"days": ["sun"]}}], {}, False, True, id="permit-on-sundays"
        ),
        pytest.param(
            [{**PERMIT, "when": {"not_after": "2020-01-01T00:00:00Z"}}],
            {},
            False,
            False,
            id="permit-window-over",
        ),
        pytest.param(
            [{"id": "docs", "effect": "permit", "resource": "crm__*"}],
            {},
            False,
            False,
            id="resource-rule-is-not-a-tool-rule",
        ),
        pytest.param(
            [{"id": "docs", "effect": "permit", "resource": "docs://*"}],
            {"tool": "docs://faq", "subject": "resource", "risk": "read"},
            False,
            True,
            id="resource",
        ),
    ],
)
def test_listable(
    rules: list[dict[str, Any]], changes: dict[str, Any], has_target: bool, shown: bool
) -> None:
    assert engine(rules).listable(facts(**changes), has_target=has_target, now=NOW) is shown


def test_a_listed_item_is_one_some_call_of_can_be_permitted() -> None:
    # Whatever listable says, a call it hides is refused for every target.
    policy = engine(
        [
            {**PERMIT, "target": "ticket:1*"},
            {"id": "f", "effect": "forbid", "tool": "crm__append_note"},
        ]
    )
    call = facts(target="ticket:12")
    assert policy.listable(call, has_target=True, now=NOW) is False
    assert policy.decide(call, now=NOW).effect == "deny"
