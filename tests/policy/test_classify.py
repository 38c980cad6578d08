"""Risk classes: the admin's word is the floor; annotations only ever raise it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.types import ToolAnnotations

from quartermaster.config._base import RISK_ORDER, RiskClass
from quartermaster.policy import Classification, classify

RISKS: list[RiskClass] = ["read", "write", "dangerous"]


def ann(read_only: bool | None = None, destructive: bool | None = None) -> ToolAnnotations:
    return ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive)


@pytest.mark.parametrize(
    ("declared", "default", "annotations", "expected"),
    [
        ("read", None, None, Classification("read", "admin tool")),
        ("read", "dangerous", None, Classification("read", "admin tool")),
        (None, "write", None, Classification("write", "admin server default")),
        (None, None, None, Classification("write", "not declared")),
        (None, None, ann(), Classification("write", "not declared")),
        (None, None, ann(read_only=False), Classification("write", "not declared")),
        # readOnlyHint is a claim by the downstream: it never makes an undeclared tool a read.
        (None, None, ann(read_only=True), Classification("write", "not declared")),
        (
            None,
            None,
            ann(destructive=True),
            Classification("dangerous", "annotation destructiveHint"),
        ),
        # A tool claiming both is believed only in the dangerous direction.
        (
            None,
            None,
            ann(read_only=True, destructive=True),
            Classification("dangerous", "annotation destructiveHint"),
        ),
        # readOnlyHint never lowers what the admin said.
        ("write", None, ann(read_only=True), Classification("write", "admin tool")),
        (
            None,
            "dangerous",
            ann(read_only=True),
            Classification("dangerous", "admin server default"),
        ),
        # destructiveHint raises even a declared class.
        (
            "read",
            None,
            ann(destructive=True),
            Classification("dangerous", "annotation destructiveHint"),
        ),
        ("dangerous", None, ann(destructive=True), Classification("dangerous", "admin tool")),
        # destructiveHint false is no claim at all.
        (None, None, ann(destructive=False), Classification("write", "not declared")),
    ],
)
def test_classify_table(
    declared: RiskClass | None,
    default: RiskClass | None,
    annotations: ToolAnnotations | None,
    expected: Classification,
) -> None:
    assert classify(declared, default, annotations) == expected


@given(
    declared=st.sampled_from([None, *RISKS]),
    default=st.sampled_from([None, *RISKS]),
    read_only=st.sampled_from([None, True, False]),
    destructive=st.sampled_from([None, True, False]),
)
def test_annotations_never_lower_the_admin(
    declared: RiskClass | None,
    default: RiskClass | None,
    read_only: bool | None,
    destructive: bool | None,
) -> None:
    result = classify(declared, default, ann(read_only, destructive))
    admin = declared if declared is not None else default
    if admin is not None:
        assert RISK_ORDER[result.risk] >= RISK_ORDER[admin]
    if destructive:
        assert result.risk == "dangerous"
    if result.risk == "read":
        assert admin == "read"
    if admin is None:
        assert result.risk != "read"


def test_describe_names_the_source() -> None:
    assert classify(None, None, ann(destructive=True)).describe() == (
        "dangerous (annotation destructiveHint)"
    )
