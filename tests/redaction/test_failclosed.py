"""Fail closed: a rule over the time budget, an engine that raises, a result too large."""

from __future__ import annotations

import re
import secrets

import pytest

from quartermaster._clock import ManualClock
from quartermaster._errors import QuartermasterError
from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import RedactionFailed, Redactor, Rule
from quartermaster.redaction._rule import PROVIDER


class SlowClock(ManualClock):
    """Every look at the monotonic clock costs a second."""

    def monotonic(self) -> float:
        self.advance(1.0)
        return super().monotonic()


def test_rule_over_the_time_budget_withholds_the_text() -> None:
    secret = "slow-" + secrets.token_hex(8)
    rule = Rule("slow", r"slow-[0-9a-f]{16}", ("slow-",), PROVIDER)
    redactor = Redactor(RedactionConfig(time_budget_ms=500), clock=SlowClock(), extra_rules=[rule])
    with pytest.raises(RedactionFailed, match="time budget of 500 ms exceeded") as info:
        redactor.redact(f"value {secret}")
    assert secret not in str(info.value)
    assert isinstance(info.value, QuartermasterError)


def test_a_check_that_raises_becomes_redaction_failed() -> None:
    secret = "boom-" + secrets.token_hex(8)

    def explode(m: re.Match[str]) -> bool:
        raise ZeroDivisionError(m.group())

    rule = Rule("boom", r"boom-[0-9a-f]{16}", ("boom-",), PROVIDER, explode)
    redactor = Redactor(extra_rules=[rule])
    with pytest.raises(RedactionFailed, match="internal error") as info:
        redactor.session().text(f"x {secret}")
    assert secret not in str(info.value)
    assert info.value.__cause__ is not None


class BrokenEngine:
    name = "broken"
    starts: frozenset[int] = frozenset()

    def candidates(self, text: str) -> dict[int, list[tuple[int, int]]]:
        raise RuntimeError("engine fault")


def test_an_engine_that_raises_becomes_redaction_failed() -> None:
    redactor = Redactor()
    redactor._engine = BrokenEngine()
    session = redactor.session()
    with pytest.raises(RedactionFailed):
        session.text("ghp_" + secrets.token_hex(18))
    with pytest.raises(RedactionFailed):
        session.json({"a": ["text"]})
    with pytest.raises(RedactionFailed):
        session.stream().flush()


def test_text_over_the_size_limit_is_withheld() -> None:
    redactor = Redactor(RedactionConfig(max_output_bytes=1000))
    with pytest.raises(RedactionFailed, match="max_output_bytes=1000"):
        redactor.redact("a" * 1001)
    with pytest.raises(RedactionFailed, match="max_output_bytes"):
        redactor.redact("é" * 600)  # 1200 bytes in UTF-8
    assert redactor.redact("a" * 1000) == "a" * 1000


def test_stream_failure_is_raised_not_passed_through() -> None:
    redactor = Redactor(RedactionConfig(max_output_bytes=2000, stream_holdback_chars=256))
    stream = redactor.session().stream()
    with pytest.raises(RedactionFailed):
        stream.feed("z" * 3000)
