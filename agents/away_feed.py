"""Agents' away calendars: fetch each feed, and store its away events as time off.

Run by the task cluster every 15 minutes (the "refresh away calendars" schedule,
``refresh_away_calendars``). A feed's time off (``source=calendar``) is replaced on each read,
and only when it changed, so an unchanged calendar does not renew the routing snapshot; time
off the agent or a manager set is never touched.

The URL is typed by a person but fetched from the server: like webhooks, it may only reach
public addresses (checked at connection, redirects included), unless its host is in
``settings.AWAY_CALENDAR_PRIVATE_HOSTS``; with a timeout and a size limit.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from agents.away_calendar import AwayCalendarError, AwayPeriod, away_periods
from agents.models import Agent, TimeOff
from notifications.queueing import queue_with_commit
from notifications.webhooks.addresses import GuardedHTTPHandler, GuardedHTTPSHandler
from routing.models import Brokerage

logger = logging.getLogger(__name__)

PRIVATE_HOSTS_SETTING = "AWAY_CALENDAR_PRIVATE_HOSTS"
TIMEOUT_SECONDS = 10
MAX_BYTES = 2_000_000
ERROR_CHARS = 300


class FeedRefused(OSError):
    """The feed cannot be read: its address, its size or its answer."""


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) to checked addresses only, no proxy, redirects followed (each checked again)."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler(),
                    GuardedHTTPHandler(setting=PRIVATE_HOSTS_SETTING),
                    GuardedHTTPSHandler(setting=PRIVATE_HOSTS_SETTING)):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def feed_url(url: str) -> str:
    """``webcal://`` (what calendars hand out) is HTTPS; other schemes are refused."""
    url = url.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://"):]
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FeedRefused("only http, https and webcal addresses are read")
    return url


def fetch_feed(url: str, *, timeout: float = TIMEOUT_SECONDS, max_bytes: int = MAX_BYTES
               ) -> bytes:
    """The feed's bytes; FeedRefused (or RefusedAddress) says why not."""
    request = urllib.request.Request(feed_url(url), headers={
        "User-Agent": "leadrouter away calendar", "Accept": "text/calendar, */*;q=0.5"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise FeedRefused(f"the calendar answered HTTP {exc.code}") from exc
    except (http.client.HTTPException, ValueError) as exc:
        raise FeedRefused(f"the calendar could not be read ({exc})") from exc
    if len(data) > max_bytes:
        raise FeedRefused(f"the calendar is larger than {max_bytes // 1_000_000} MB")
    return data


def store_periods(agent: Agent, periods: list[AwayPeriod], *, now: datetime) -> bool:
    """Make the agent's calendar time off not yet over exactly these periods; True when it
    changed. Rows the agent or a manager set are left as they are, and so is the calendar's
    time off that is over (the turns missed meanwhile still say "away until ...")."""
    wanted = {(p.starts_at, p.ends_at, p.note[:200]) for p in periods}
    with transaction.atomic():
        rows = list(TimeOff.objects.select_for_update().filter(
            agent=agent, source=TimeOff.Source.CALENDAR, ends_at__gt=now))
        have = {(r.starts_at, r.ends_at, r.note): r for r in rows}
        if set(have) == wanted:
            return False
        for key, row in have.items():
            if key not in wanted:
                row.delete()  # each save and delete renews the routing snapshot (signals)
        for starts_at, ends_at, note in sorted(wanted - set(have)):
            TimeOff.objects.create(agent=agent, starts_at=starts_at, ends_at=ends_at, note=note,
                                   source=TimeOff.Source.CALENDAR)
    return True


def refresh_agent(agent: Agent, *, now: datetime, tz_name: str) -> bool:
    """Read the agent's away calendar and store it; the outcome is kept on the agent
    (``away_calendar_checked_at``, ``away_calendar_error``). True when the time off changed.

    A feed that cannot be read leaves the stored time off as it was (a calendar server down
    for an hour does not bring an agent back from vacation)."""
    error = ""
    changed = False
    try:
        periods = away_periods(fetch_feed(agent.away_calendar_url), now=now, tz_name=tz_name)
        changed = store_periods(agent, periods, now=now)
    except (OSError, AwayCalendarError) as exc:  # URLError, RefusedAddress, timeouts too
        error = str(getattr(exc, "reason", None) or exc)[:ERROR_CHARS] or type(exc).__name__
        logger.info("Away calendar of agent %s: %s", agent.pk, error)
    # A queryset update: the agent's row changes no routing fact, so no new snapshot.
    Agent.objects.filter(pk=agent.pk).update(away_calendar_checked_at=now,
                                             away_calendar_error=error)
    return changed


def set_away_calendar(agent: Agent, url: str) -> None:
    """Save the agent's away calendar address (empty: none) and have the task cluster read it
    at once; its time off follows within seconds, or at the next refresh."""
    url = url.strip()
    if url:
        feed_url(url)  # refuses schemes other than http, https and webcal
    agent.away_calendar_url = url
    agent.away_calendar_error = ""
    agent.save(update_fields=["away_calendar_url", "away_calendar_error"])
    queue_with_commit(lambda: async_task("agents.away_feed.refresh_away_calendars",
                                         task_name="refresh away calendars"))


def refresh_away_calendars(now: datetime | None = None) -> int:
    """The schedule's task: every active agent's away calendar (and the calendar time off of
    those who removed their feed, or left, dropped); the number of agents whose changed."""
    now = now or timezone.now()
    tz_name = Brokerage.load().tz_name
    readers = Agent.objects.filter(is_active=True).exclude(away_calendar_url="")
    changed = sum(refresh_agent(agent, now=now, tz_name=tz_name) for agent in readers)
    dropped = Agent.objects.filter(time_off__source=TimeOff.Source.CALENDAR,
                                   time_off__ends_at__gt=now).exclude(
        pk__in=readers.values("pk")).distinct()
    return changed + sum(store_periods(agent, [], now=now) for agent in dropped)
