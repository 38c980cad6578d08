"""The broker config section and its durations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quartermaster.config._broker import BrokerConfig, parse_duration


def test_broker_config_bounds() -> None:
    assert BrokerConfig().key_retire_after == 330
    assert BrokerConfig.model_validate({"default_ttl": "2m", "max_ttl": "5m"}).default_ttl == 120
    with pytest.raises(ValidationError, match=r"exceeds broker\.max_ttl"):
        BrokerConfig(default_ttl=600, max_ttl=300)
    with pytest.raises(ValidationError, match="less than or equal"):
        BrokerConfig.model_validate({"max_ttl": "2h"})
    with pytest.raises(ValidationError, match="less than or equal"):
        BrokerConfig(clock_skew=301)
    with pytest.raises(ValidationError):
        BrokerConfig(algorithm="HS256")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BrokerConfig(default_uses=0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("5m", 300), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [True, -1, "-5m", "5 weeks", None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
