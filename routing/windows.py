"""Weekly time windows (rule hours, shifts) in the brokerage's time zone. Pure Python."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY_MINUTE = 24 * 60


def minute_of(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class WeeklyWindow:
    """On ``days`` from ``start`` to ``end``: half-open, an end of 23:59 means midnight.

    An end before the start runs past midnight into the next day.
    """

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    @property
    def _end_minute(self) -> int:
        end = minute_of(self.end)
        return END_OF_DAY_MINUTE if end == 23 * 60 + 59 else end

    def contains(self, local: datetime) -> bool:
        """Whether the local (brokerage time) moment falls inside the window."""
        minute = local.hour * 60 + local.minute + local.second / 60
        start, end = minute_of(self.start), self._end_minute
        day = local.weekday()
        if start < end:
            return day in self.days and start <= minute < end
        # Overnight: the part after the start belongs to that day, the rest to the next one.
        return (day in self.days and minute >= start) or (
            (day - 1) % 7 in self.days and minute < end
        )

    def describe(self) -> str:
        return f"{describe_days(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"


def parse_days(names: list[str] | tuple[str, ...]) -> frozenset[int]:
    return frozenset(DAY_NAMES.index(name.strip().lower()[:3]) for name in names)


def describe_days(days: frozenset[int] | set[int]) -> str:
    """``{0..4}`` -> ``Mon-Fri``; ``{5, 6}`` -> ``Sat, Sun``; ``{0, 2}`` -> ``Mon, Wed``."""
    ordered = sorted(days)
    if not ordered:
        return "No days"
    if len(ordered) == 7:
        return "Every day"
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        first, last = DAY_NAMES[run[0]].title(), DAY_NAMES[run[-1]].title()
        parts.append(first if len(run) == 1 else f"{first}-{last}" if len(run) > 2 else
                     f"{first}, {last}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Calendar:
    """Clock arithmetic inside weekly windows (the actionable window): deadlines that pause
    at night and resume in the morning. No windows means the clock always runs."""

    windows: tuple[WeeklyWindow, ...]
    tz_name: str
    horizon_days: int = 60

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (aware datetimes), merged and in order, ending after ``start``."""
        start = start.astimezone(UTC)  # absolute time: lengths stay right across DST changes
        if not self.windows:
            yield start, datetime.max.replace(tzinfo=start.tzinfo)
            return
        tz = ZoneInfo(self.tz_name)
        first_day = start.astimezone(tz).date() - timedelta(days=1)
        pending: tuple[datetime, datetime] | None = None
        for offset in range(self.horizon_days):
            for begin, end in sorted(self._day_intervals(first_day + timedelta(days=offset), tz)):
                if end <= start:
                    continue
                if pending and begin <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                    continue
                if pending:
                    yield pending
                pending = (begin, end)
        if pending:
            yield pending

    def _day_intervals(self, day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        found = []
        for window in self.windows:
            if day.weekday() not in window.days:
                continue
            begin = datetime.combine(day, window.start, tzinfo=tz)
            end_minute = window._end_minute
            end_day = day if end_minute > minute_of(window.start) else day + timedelta(days=1)
            end = datetime.combine(end_day, time(0), tzinfo=tz) + timedelta(minutes=end_minute)
            found.append((begin.astimezone(UTC), end.astimezone(UTC)))
        return found

    def is_open(self, moment: datetime) -> bool:
        return any(w.contains(moment.astimezone(ZoneInfo(self.tz_name))) for w in self.windows) \
            or not self.windows

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if the clock runs then, else when it next starts running."""
        for begin, _ in self.intervals(moment):
            return max(begin, moment)
        raise ValueError("the actionable window never opens")

    def add(self, moment: datetime, minutes: float) -> datetime:
        """The moment when ``minutes`` of running clock have passed since ``moment``."""
        remaining = timedelta(minutes=minutes)
        moment = moment.astimezone(UTC)
        for begin, end in self.intervals(moment):
            begin = max(begin, moment)
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
        raise ValueError("the actionable window never opens")

    def running_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of running clock between two moments (a countdown's remaining time)."""
        total = 0.0
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        for begin, stop in self.intervals(start):
            if begin >= end:
                break
            total += (min(stop, end) - max(begin, start)).total_seconds()
        return max(total, 0.0)
