"""The fallback engine's shortcuts are exact: the positions it tries are where matches start,
and it finds what hyperscan finds."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import Redactor
from quartermaster.redaction._catalog import builtin_rules
from quartermaster.redaction._engine import hyperscan_available
from quartermaster.redaction._providers import TOKENS, provider_rules
from tests.redaction.secret_cases import ALNUM, cases

_AT_ANCHOR = {r.kind: r.anchors for r in provider_rules() if r.at_anchor}
_REGEX = {e[0]: e[1] for e in TOKENS}


@pytest.mark.parametrize("kind", sorted(_AT_ANCHOR))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_rule_tried_only_at_its_anchors_starts_with_one(kind: str, data: st.DataObject) -> None:
    # The fallback engine tries an at_anchor rule at one position per hit, where the anchor
    # starts; every token of the format must start with one of its anchors.
    token = data.draw(st.from_regex(_REGEX[kind], fullmatch=True))
    assert token.lower().startswith(_AT_ANCHOR[kind]), (kind, token)


@pytest.mark.skipif(not hyperscan_available(), reason="compares against hyperscan")
def test_the_fallback_engine_redacts_generated_cases_as_hyperscan_does() -> None:
    hyperscan = Redactor(RedactionConfig(engine="hyperscan"))
    fallback = Redactor(RedactionConfig(engine="fallback"))
    for case in cases(seed=3, per_family=20):
        assert fallback.redact(case.text) == hyperscan.redact(case.text), case.text


_FOLDED = [r for r in builtin_rules() if r.lead_folded is not None]
_PIECES = ["Token", "API_KEY", "pass", "PassWord", "sEsSiOn_Id", "x", " = ", "\n", "Ab9",
           "cookie", "Dev.Azure", "İ", "ß", "-", "_"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=30), index=st.integers(0, 10**6))
def test_a_folded_lead_finds_what_the_case_insensitive_lead_finds(
    pieces: list[str], index: int
) -> None:
    # The lead runs over the lower-cased window, case-sensitively, where lower-casing keeps
    # the length; it must start where the (?i) lead starts.
    rule = _FOLDED[index % len(_FOLDED)]
    text = "".join(pieces)
    lowered = text.lower()
    if len(lowered) != len(text) or rule.lead_compiled is None or rule.lead_folded is None:
        return  # the redactor falls back to the (?i) lead here
    expected = [m.start() for m in rule.lead_compiled.finditer(text)]
    assert [m.start() for m in rule.lead_folded.finditer(lowered)] == expected, rule.kind


@pytest.mark.parametrize("engine", ["fallback", "hyperscan"])
def test_an_open_ended_format_is_taken_whole_past_400_characters(engine: str) -> None:
    if engine == "hyperscan" and not hyperscan_available():
        pytest.skip("hyperscan is not installed")
    rng = random.Random(8)
    token = "ops_eyJ" + "".join(rng.choice(ALNUM + "+/") for _ in range(700))
    out = Redactor(RedactionConfig(engine=engine)).redact(f"OP_SERVICE_ACCOUNT={token}\n")  # type: ignore[arg-type]
    assert out == "OP_SERVICE_ACCOUNT=[REDACTED:onepassword_service_token#1]\n"
