"""Reading the ``--now`` option of the commands: ISO-8601, naive means brokerage time.

A naive time that the brokerage's clocks skip (the spring-forward gap) or show twice (the
fall-back hour) is refused with the reason, rather than silently read as some other moment:
the error names the gap, or the two offsets that tell the two moments apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.management.base import CommandError
from django.utils import timezone

from routing.models import Brokerage


def parse_now(value: str | None) -> datetime:
    if not value:
        return timezone.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: '{value}' is not an ISO-8601 date and time") from exc
    if timezone.is_naive(moment):
        moment = local_moment(moment, Brokerage.load().tz_name)
    return moment


def local_moment(naive: datetime, tz_name: str, option: str = "--now") -> datetime:
    """A wall-clock time in the zone; CommandError (naming the ``option``) when it does not
    exist or is ambiguous."""
    tz = ZoneInfo(tz_name)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after:
        return first
    shown = naive.isoformat(timespec="minutes" if not naive.second else "seconds")
    old, new = _change(first, second, tz)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise CommandError(
            f"{option}: {shown} does not exist in {tz_name}: the clocks jump from {old:%H:%M} "
            f"to {new:%H:%M} that day; give a time outside the gap, or an offset")
    raise CommandError(
        f"{option}: {shown} happens twice in {tz_name} (the clocks go back from {old:%H:%M} to "
        f"{new:%H:%M} that day): give the offset, {shown}{_offset(before)} for the first time "
        f"or {shown}{_offset(after)} for the second")


def _change(first: datetime, second: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The clock change around a skipped or repeated wall-clock time: the wall clock just
    before it and just after it (02:00 and 03:00 in spring, 02:00 and 01:00 in autumn)."""
    low, high = sorted((first.astimezone(UTC), second.astimezone(UTC)))
    moment = low
    while moment < high and moment.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
        moment += timedelta(minutes=1)
    start = (moment + low.astimezone(tz).utcoffset()).replace(tzinfo=None)
    end = moment.astimezone(tz).replace(tzinfo=None)
    return start, end


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
