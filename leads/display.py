"""A lead's facts, times and amounts in words, the same on every page and in the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from leads.models import Lead, area_of


def area(lead: Lead) -> str:
    """Neighborhood, city and zip in one line (what is known of them; the lead's title uses
    the same words)."""
    return area_of(lead)


def local(moment: datetime, tz_name: str | None = None) -> datetime:
    return timezone.localtime(moment, ZoneInfo(tz_name) if tz_name else None)


def clock_time(moment: datetime, now: datetime, tz_name: str | None = None) -> str:
    """``8:00`` today, ``Mon 8:00`` another day (brokerage time)."""
    at, today = local(moment, tz_name), local(now, tz_name)
    text = f"{at.hour}:{at.minute:02d}"
    return text if at.date() == today.date() else f"{at:%a} {text}"


def short_age(since: datetime, now: datetime) -> str:
    """How long ago, in a word: ``<1 min``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return "<1 min"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def duration(span: timedelta) -> str:
    """A duration a person reads: ``45 s``, ``12 min``, ``1 h 5 min``, ``2 d 3 h``."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours % 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def money(price: Decimal | None) -> str:
    return f"${price:,.0f}" if price is not None else ""


def time_left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def essentials(lead: Lead) -> dict:
    """What an agent sees of a lead before deciding: no contact details."""
    return {
        "lead": lead,
        "name": lead.full_name or "(no name)",
        "source": lead.source,
        "type": lead.get_lead_type_display() if lead.lead_type else "",
        "price": money(lead.price),
        "area": area(lead),
        "message": lead.message,
        "tags": lead.tags,
    }


def day_time(moment: datetime, now: datetime, tz_name: str | None = None) -> str:
    """When, as a person says it (brokerage time): ``today 14:30``, ``tomorrow 9:00``,
    ``yesterday 16:00``, ``Thu Dec 5, 9:00``."""
    at, today = local(moment, tz_name), local(now, tz_name).date()
    clock = f"{at.hour}:{at.minute:02d}"
    days = (at.date() - today).days
    words = {0: "today", 1: "tomorrow", -1: "yesterday"}
    if days in words:
        return f"{words[days]} {clock}"
    return f"{at:%a %b} {at.day}, {clock}"
