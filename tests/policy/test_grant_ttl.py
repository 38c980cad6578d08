"""``grant_ttl``: the one rule for how long a grant lives."""

from __future__ import annotations

import pytest

from quartermaster.policy import grant_ttl


@pytest.mark.parametrize(
    ("rule", "tool", "expected"),
    [
        (300, 120, 120),  # the tool's own ttl is shorter
        (60, 120, 60),  # the rule's is shorter
        (60, None, 60),
        (None, 90.9, 90),  # whole seconds, as the grant's exp is
        (300, 0.2, 1),  # never less than a second
        (None, None, None),  # the broker's default applies
    ],
)
def test_the_shorter_of_the_rule_and_the_tool(
    rule: int | None, tool: float | None, expected: int | None
) -> None:
    assert grant_ttl(rule, tool) == expected
