"""Reading the ``--now`` option of the commands: ISO-8601, naive means brokerage time."""

from __future__ import annotations

from datetime import datetime
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
        moment = moment.replace(tzinfo=ZoneInfo(Brokerage.load().tz_name))
    return moment
