"""The public surface of ``quartermaster.policy`` is exactly what is documented."""

from __future__ import annotations

import quartermaster.policy as policy

EXPECTED = {
    "AccessRow",
    "ApprovalRequirement",
    "CallFacts",
    "Classification",
    "Decision",
    "Effect",
    "Explanation",
    "Finding",
    "PolicyDenied",
    "PolicyEngine",
    "RiskSource",
    "RuleTrace",
    "Subject",
    "TargetInvalid",
    "TargetTemplate",
    "ToolFacts",
    "classify",
    "explain",
    "grant_ttl",
    "inventory",
    "inventory_json",
    "inventory_table",
    "policy_version",
    "render_target",
    "unreachable_rules",
    "unreached_tools",
}


def test_exported_members() -> None:
    public = {name for name in dir(policy) if not name.startswith("_")}
    assert public == EXPECTED


def test_every_export_is_documented() -> None:
    for name in EXPECTED - {"Effect", "RiskSource", "Subject"}:
        assert getattr(policy, name).__doc__, name


def test_errors_derive_from_the_root() -> None:
    from quartermaster._errors import QuartermasterError

    assert issubclass(policy.PolicyDenied, QuartermasterError)
    assert issubclass(policy.TargetInvalid, QuartermasterError)
