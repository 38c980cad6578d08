"""Time windows compiled for fast checks against an epoch timestamp handed in by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from quartermaster.config import WEEKDAYS, TimeWindow, parse_hours


@dataclass(frozen=True, slots=True)
class Window:
    """A compiled ``when:``; absent parts are ``None`` and always hold."""

    days: frozenset[int] | None
    hours: tuple[int, int] | None
    zone: ZoneInfo
    not_before: float | None
    not_after: float | None

    @classmethod
    def compile(cls, when: TimeWindow) -> Window:
        """Compile a validated ``TimeWindow``."""
        return cls(
            days=None if when.days is None else frozenset(WEEKDAYS.index(d) for d in when.days),
            hours=None if when.hours is None else parse_hours(when.hours),
            zone=ZoneInfo(when.timezone),
            not_before=None if when.not_before is None else when.not_before.timestamp(),
            not_after=None if when.not_after is None else when.not_after.timestamp(),
        )

    def contains(self, now: float) -> bool:
        """Whether the instant ``now`` (seconds since the epoch) is inside the window."""
        if self.not_before is not None and now < self.not_before:
            return False
        if self.not_after is not None and now > self.not_after:
            return False
        if self.days is None and self.hours is None:
            return True
        local = datetime.fromtimestamp(now, self.zone)
        if self.days is not None and local.weekday() not in self.days:
            return False
        if self.hours is not None:
            minute = local.hour * 60 + local.minute
            start, end = self.hours
            if start <= end:
                return start <= minute < end
            return minute >= start or minute < end
        return True

    def why_empty(self) -> str | None:
        """Why no instant can ever be inside this window, or ``None`` if some can."""
        if self.days is not None and not self.days:
            return "its time window lists no days"
        if self.hours is not None and self.hours[0] == self.hours[1]:
            return "its hours start and end at the same minute"
        if (
            self.not_before is not None
            and self.not_after is not None
            and self.not_before > self.not_after
        ):
            return "its not_before is after its not_after"
        return None

    def why_closed(self, now: float) -> str | None:
        """Why ``now`` is outside the window (for explanations), or ``None`` if inside."""
        if self.not_before is not None and now < self.not_before:
            return "before its not_before"
        if self.not_after is not None and now > self.not_after:
            return "after its not_after"
        if self.contains(now):
            return None
        local = datetime.fromtimestamp(now, self.zone)
        return f"outside its days/hours (local time {local:%a %H:%M} {self.zone.key})"
