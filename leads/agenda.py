"""The agent's day in plain Python: when the follow-up quick picks fall, where a moved follow-up
lands, and the order of the Today list. Plain data in, plain data out (``leads.followups`` reads
and writes the rows); every wall-clock time is the brokerage's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Quick picks land on the hour or half hour; "later today" is offered until this hour.
MORNING = time(9, 0)
LATER_TODAY_HOURS = 3
LAST_CALL = time(20, 0)

PICK_LABELS = {
    "later_today": "Later today",
    "tomorrow_morning": "Tomorrow morning",
    "in_3_days": "In 3 days",
    "next_week": "Next week",
}


def wall(day: date, at: time, tz: ZoneInfo) -> datetime:
    """That wall-clock time of that day in the zone (a time the clocks skip moves forward)."""
    moment = datetime.combine(day, at, tzinfo=tz)
    return moment.astimezone(ZoneInfo("UTC")).astimezone(tz)


def _half_hour_up(moment: datetime) -> datetime:
    """The next full or half hour at or after ``moment``."""
    floor = moment.replace(minute=0, second=0, microsecond=0)
    for step in (0, 30, 60):
        candidate = floor + timedelta(minutes=step)
        if candidate >= moment:
            return candidate
    return floor + timedelta(hours=1)  # not reached


def quick_picks(now: datetime, tz_name: str) -> dict[str, datetime]:
    """The follow-up times one tap sets, by pick: later today (in about three hours, while
    that is still before the evening), tomorrow at nine, in three days at nine, and next
    Monday at nine (a week on, when today is Monday)."""
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    today = local.date()
    picks: dict[str, datetime] = {}
    later = _half_hour_up(local + timedelta(hours=LATER_TODAY_HOURS))
    if later.date() == today and later.time() <= LAST_CALL:
        picks["later_today"] = later
    picks["tomorrow_morning"] = wall(today + timedelta(days=1), MORNING, tz)
    picks["in_3_days"] = wall(today + timedelta(days=3), MORNING, tz)
    picks["next_week"] = wall(today + timedelta(days=7 - today.weekday()), MORNING, tz)
    return picks


def tomorrow_same_time(due: datetime, now: datetime, tz_name: str) -> datetime:
    """"Move to tomorrow": the day after today, at the follow-up's own wall-clock time (an
    overdue one from last week lands tomorrow, not the day after its old date)."""
    tz = ZoneInfo(tz_name)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return wall(tomorrow, due.astimezone(tz).time().replace(second=0, microsecond=0), tz)


def day_bounds(now: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """Today's start and the next day's start in the zone."""
    tz = ZoneInfo(tz_name)
    today = now.astimezone(tz).date()
    return wall(today, time(0), tz), wall(today + timedelta(days=1), time(0), tz)


@dataclass(frozen=True)
class Entry:
    """One line of the Today list: a follow-up (``kind="follow_up"``, ``ref`` the lead's id) or
    an appointment (``kind="appointment"``, ``ref`` its id)."""

    kind: str
    ref: int
    at: datetime
    lead_id: int


@dataclass(frozen=True)
class Day:
    overdue: list[Entry]
    today: list[Entry]

    @property
    def empty(self) -> bool:
        return not self.overdue and not self.today


def plan_day(entries: list[Entry], now: datetime, tz_name: str) -> Day:
    """Overdue follow-ups first (oldest first), then today's follow-ups and appointments in
    time order; an appointment never counts as overdue (it happened, or it is gone), and
    anything after today waits for its day."""
    start, end = day_bounds(now, tz_name)
    overdue = sorted((e for e in entries if e.kind == "follow_up" and e.at < now),
                     key=lambda e: (e.at, e.ref))
    today = sorted((e for e in entries if e.at < end and (
        e.at >= now if e.kind == "follow_up" else e.at >= start)),
        key=lambda e: (e.at, e.kind != "appointment", e.ref))
    return Day(overdue=overdue, today=today)
