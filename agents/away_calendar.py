"""An agent's away calendar read as time off: which events of an iCalendar feed mean "away".

Pure: the feed's bytes in, the periods out (no database, no network; ``agents.away_feed``
fetches and stores). Recurring events are expanded (``recurring-ical-events``), so a weekly
"OOO Friday afternoons" marks every Friday.

An event means away when it is
- *out of office*: Outlook's ``X-MICROSOFT-CDO-BUSYSTATUS:OOF``, or a summary saying "out of
  office", "OOO" or "vacation" (any case);
- or *all-day and busy*: a date-only event that is not ``TRANSP:TRANSPARENT`` (Google's
  "Free") nor Outlook's ``FREE``.
Cancelled events never count. An all-day event runs from midnight to midnight in the
brokerage's time zone, as does a floating (zone-less) time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

#: How far ahead the calendar is read.
DAYS_AHEAD = 30
NOTE_CHARS = 200
AWAY_WORDS = re.compile(r"out[\s-]+of[\s-]+(the\s+)?office|\booo\b|vacation", re.IGNORECASE)


class AwayCalendarError(ValueError):
    """The feed is no iCalendar file."""


@dataclass(frozen=True)
class AwayPeriod:
    starts_at: datetime
    ends_at: datetime
    note: str


def _moment(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    return datetime.combine(value, time.min, tzinfo=zone)


def _text(event: Any, name: str) -> str:
    return str(event.get(name, "") or "").strip()


def means_away(event: Any) -> bool:
    """Out of office, or an all-day event that is busy (see the module's docstring)."""
    if _text(event, "STATUS").upper() == "CANCELLED":
        return False
    busy_status = _text(event, "X-MICROSOFT-CDO-BUSYSTATUS").upper()
    if busy_status == "OOF" or AWAY_WORDS.search(_text(event, "SUMMARY")):
        return True
    start = event.get("DTSTART")
    all_day = start is not None and not isinstance(start.dt, datetime)
    free = _text(event, "TRANSP").upper() == "TRANSPARENT" or busy_status == "FREE"
    return all_day and not free


def away_periods(data: bytes, *, now: datetime, tz_name: str,
                 days: int = DAYS_AHEAD) -> list[AwayPeriod]:
    """The feed's away events overlapping the next ``days`` days, in time order (duplicates,
    e.g. one event listed twice, once)."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise AwayCalendarError("not an iCalendar file") from exc
    zone = ZoneInfo(tz_name)
    until = now + timedelta(days=days)
    try:
        events = recurring_ical_events.of(calendar).between(now, until)
    except (ValueError, TypeError) as exc:
        raise AwayCalendarError(f"the calendar's events could not be read ({exc})") from exc
    found: set[AwayPeriod] = set()
    for event in events:
        if not means_away(event) or event.get("DTSTART") is None:
            continue
        raw_start = event["DTSTART"].dt
        starts_at = _moment(raw_start, zone)
        if event.get("DTEND") is not None:
            ends_at = _moment(event["DTEND"].dt, zone)
        elif event.get("DURATION") is not None:
            ends_at = starts_at + event["DURATION"].dt
        else:  # RFC 5545: a date lasts the day, a date-time no time at all
            ends_at = starts_at + (timedelta(days=1) if not isinstance(raw_start, datetime)
                                   else timedelta(0))
        if ends_at <= starts_at or ends_at <= now:
            continue
        note = _text(event, "SUMMARY")[:NOTE_CHARS] or "away (calendar)"
        found.add(AwayPeriod(starts_at, ends_at, note))
    return sorted(found, key=lambda p: (p.starts_at, p.ends_at, p.note))
