"""Target templates: filled from arguments, refusing anything that could widen a target."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quartermaster.policy import TargetInvalid, TargetTemplate, render_target


def test_renders_strings_integers_and_booleans() -> None:
    template = TargetTemplate.parse("repo:{owner}/{name}#{number}:{draft}")
    args = {"owner": "acme", "name": "api", "number": 4812, "draft": False}
    assert template.render(args) == "repo:acme/api#4812:false"


def test_literal_braces() -> None:
    assert render_target("{{x}}:{id}", {"id": 7}) == "{x}:7"


def test_template_without_fields() -> None:
    assert render_target("billing:settings", {}) == "billing:settings"


def test_missing_argument_names_it() -> None:
    with pytest.raises(TargetInvalid, match="argument 'ticket_id' is missing") as info:
        render_target("ticket:{ticket_id}", {"id": 1})
    assert info.value.argument == "ticket_id"


@pytest.mark.parametrize("value", ["*", "48*", "4?12", "[0-9]", "a]", "a\\b"])
def test_glob_metacharacters_are_refused(value: str) -> None:
    with pytest.raises(TargetInvalid, match="could widen the target"):
        render_target("ticket:{ticket_id}", {"ticket_id": value})


@pytest.mark.parametrize("value", ["4812\n", "a\x00b", "x\u202ey", "\x1b[31m"])
def test_control_and_format_characters_are_refused(value: str) -> None:
    with pytest.raises(TargetInvalid):
        render_target("ticket:{ticket_id}", {"ticket_id": value})


@pytest.mark.parametrize("value", [None, 1.5, ["a"], {"a": 1}, ""])
def test_other_types_and_empty_values_are_refused(value: object) -> None:
    with pytest.raises(TargetInvalid):
        render_target("ticket:{ticket_id}", {"ticket_id": value})


def test_overlong_value_is_refused() -> None:
    with pytest.raises(TargetInvalid, match="longer than"):
        render_target("ticket:{t}", {"t": "x" * 257})


def test_error_text_never_contains_the_value() -> None:
    value = secrets.token_urlsafe(16) + "*"
    with pytest.raises(TargetInvalid) as info:
        render_target("doc:{id}", {"id": value})
    assert value not in str(info.value)


@pytest.mark.parametrize(
    "template", ["ticket:{", "ticket:}", "ticket:{a.b}", "ticket:{0}", "t:{x!r}", "t:*{x}", "{}"]
)
def test_malformed_templates_are_configuration_errors(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        TargetTemplate.parse(template)


@given(st.text(min_size=1, max_size=40))
def test_a_rendered_value_never_carries_glob_syntax(value: str) -> None:
    try:
        rendered = render_target("ticket:{id}", {"id": value})
    except TargetInvalid:
        return
    assert rendered == "ticket:" + value
    assert not set(rendered) & set("*?[]\\")
