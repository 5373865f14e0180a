"""iCalendar text for an appointment's ``.ics`` and an agent's calendar feed (RFC 5545, with
``icalendar``). Plain data in, bytes out: ``leads.followups`` says what goes in.

Times are written in UTC, which every calendar shows in its own zone; each event's UID is
stable (the appointment's or the lead's id and the site), so a calendar that opens the file
again, or refreshes the feed, updates its copy instead of adding another, and SEQUENCE counts
the appointment's changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event

PRODID = "-//leadrouter//The agent's day//EN"


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    stamp: datetime
    location: str = ""
    description: str = ""
    url: str = ""
    sequence: int = 0
    cancelled: bool = False


def calendar_bytes(events: list[CalendarEvent], *, name: str = "",
                   cancel: bool = False) -> bytes:
    """A VCALENDAR of these events. ``cancel``: a single cancelled appointment's file
    (METHOD:CANCEL), which removes it from the calendar that holds it."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "CANCEL" if cancel else "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
        # Feeds: calendars that honour it look again every quarter of an hour.
        cal.add("refresh-interval", "PT15M", parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", "PT15M")
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.stamp.astimezone(UTC))
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", item.summary)
        event.add("sequence", item.sequence)
        event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
        if item.location:
            event.add("location", item.location)
        if item.description:
            event.add("description", item.description)
        if item.url:
            event.add("url", item.url)
        cal.add_component(event)
    return cal.to_ical()
