"""Time windows: days, hours, time zones, daylight saving and absolute bounds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from quartermaster._clock import ManualClock
from quartermaster.config._policy import TimeWindow
from quartermaster.policy import CallFacts
from quartermaster.policy._window import Window
from tests.policy.policy_support import engine

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: ZoneInfo = UTC) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def window(**when: Any) -> Window:
    return Window.compile(TimeWindow.model_validate(when))


OFFICE = {
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "hours": "09:00-17:00",
    "timezone": "Europe/Berlin",
}


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        (at(2027, 1, 15, 8, 0), True),  # Fri 09:00 CET (UTC+1)
        (at(2027, 1, 15, 7, 59), False),  # Fri 08:59 CET
        (at(2027, 1, 15, 15, 59), True),  # Fri 16:59 CET
        (at(2027, 1, 15, 16, 0), False),  # Fri 17:00 CET: the end is exclusive
        (at(2027, 7, 16, 7, 0), True),  # Fri 09:00 CEST (UTC+2)
        (at(2027, 7, 16, 6, 30), False),  # Fri 08:30 CEST although 09:00 would be CET
        (at(2027, 1, 16, 10, 0), False),  # Saturday
        (at(2027, 1, 17, 23, 30), False),  # Sun 23:30 UTC is Mon 00:30 Berlin, outside hours
    ],
)
def test_office_hours_in_berlin(instant: float, inside: bool) -> None:
    assert window(**OFFICE).contains(instant) is inside


def test_days_are_local_days() -> None:
    fridays = window(days=["fri"], timezone="Europe/Berlin")
    assert fridays.contains(at(2027, 1, 15, 22, 30))  # Fri 23:30 Berlin
    assert not fridays.contains(at(2027, 1, 15, 23, 30))  # Sat 00:30 Berlin, still Fri in UTC


def test_hours_may_wrap_past_midnight() -> None:
    night = window(hours="22:00-06:00")
    assert night.contains(at(2027, 1, 15, 22, 0))
    assert night.contains(at(2027, 1, 16, 5, 59))
    assert not night.contains(at(2027, 1, 16, 6, 0))
    assert not night.contains(at(2027, 1, 15, 21, 59))


def test_spring_forward_skips_the_missing_hour() -> None:
    # 2027-03-28: Berlin clocks jump from 02:00 to 03:00 (01:00 UTC).
    missing = window(hours="02:00-03:00", timezone="Europe/Berlin")
    start = at(2027, 3, 27, 23, 0)
    minutes = [start + 60 * m for m in range(4 * 60)]
    assert not any(missing.contains(t) for t in minutes)
    before = datetime.fromtimestamp(at(2027, 3, 28, 0, 59), BERLIN)
    after = datetime.fromtimestamp(at(2027, 3, 28, 1, 0), BERLIN)
    assert (before.hour, after.hour) == (1, 3)


def test_fall_back_repeats_the_hour_and_both_count() -> None:
    # 2027-10-31: Berlin clocks go from 03:00 CEST back to 02:00 CET (01:00 UTC).
    repeated = window(hours="02:00-03:00", timezone="Europe/Berlin")
    assert repeated.contains(at(2027, 10, 31, 0, 30))  # 02:30 CEST
    assert repeated.contains(at(2027, 10, 31, 1, 30))  # 02:30 CET, an hour later
    inside = [
        t for t in (at(2027, 10, 30, 22, 0) + 60 * m for m in range(6 * 60)) if repeated.contains(t)
    ]
    assert len(inside) == 120  # two real hours


def test_absolute_bounds_are_inclusive() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    bounded = window(not_before=start.isoformat(), not_after=end.isoformat())
    assert not bounded.contains(start.timestamp() - 0.001)
    assert bounded.contains(start.timestamp())
    assert bounded.contains(end.timestamp())
    assert not bounded.contains(end.timestamp() + 0.001)


def test_bounds_with_offsets_are_instants() -> None:
    bounded = window(not_before="2027-01-01T09:00:00+01:00")
    assert bounded.contains(at(2027, 1, 1, 8, 0))
    assert not bounded.contains(at(2027, 1, 1, 7, 59))


def test_why_closed_and_why_empty() -> None:
    assert window(**OFFICE).why_closed(at(2027, 1, 16, 10)) == (
        "outside its days/hours (local time Sat 11:00 Europe/Berlin)"
    )
    assert window(not_before="2030-01-01T00:00:00Z").why_closed(0.0) == "before its not_before"
    assert window(not_after="2000-01-01T00:00:00Z").why_closed(at(2027, 1, 1, 0)) == (
        "after its not_after"
    )
    assert window(days=[]).why_empty() == "its time window lists no days"
    assert window(hours="09:00-09:00").why_empty() == "its hours start and end at the same minute"
    assert (
        window(not_before="2030-01-02T00:00:00Z", not_after="2030-01-01T00:00:00Z").why_empty()
        == "its not_before is after its not_after"
    )
    assert window(**OFFICE).why_empty() is None


def test_decision_follows_an_injected_clock() -> None:
    clock = ManualClock(start=at(2027, 1, 15, 15, 30))  # Fri 16:30 Berlin
    e = engine([{"id": "office", "effect": "permit", "when": OFFICE}])
    facts = CallFacts("a", "t", None, "crm__get", "read")
    assert e.decide(facts, now=clock.now()).effect == "allow"
    clock.advance(30 * 60)
    assert e.decide(facts, now=clock.now()).effect == "deny"
    clock.advance(2 * 24 * 3600 + 16 * 3600)  # Mon 09:00 Berlin
    assert e.decide(facts, now=clock.now()).rule_id == "office"


def test_a_forbid_window_only_forbids_inside_it() -> None:
    e = engine(
        [
            {"id": "all", "effect": "permit"},
            {"id": "night", "effect": "forbid", "when": {"hours": "22:00-06:00"}},
        ]
    )
    facts = CallFacts("a", "t", None, "crm__get", "read")
    assert e.decide(facts, now=at(2027, 1, 15, 23)).rule_id == "night"
    assert e.decide(facts, now=at(2027, 1, 15, 12)).rule_id == "all"
