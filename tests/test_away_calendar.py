"""An agent's away calendar: which events mean away (Outlook's out of office, Google's all-day
busy events, a weekly recurring "OOO"), and the refresh that stores them as time off, replacing
only the calendar's own, from public addresses only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from agents.away_calendar import AwayCalendarError, away_periods
from agents.away_feed import FeedRefused, feed_url, fetch_feed, refresh_away_calendars
from agents.models import TimeOff
from routing.models import Brokerage
from tests.factories import AgentFactory, TimeOffFactory
from tests.threads import serving

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=NY)  # a Tuesday
ICS = Path(__file__).parent / "fixtures" / "ics"


def periods(name: str) -> list[tuple[str, str, str]]:
    found = away_periods((ICS / name).read_bytes(), now=NOW, tz_name="America/New_York")
    return [(f"{p.starts_at.astimezone(NY):%a %m-%d %H:%M}",
             f"{p.ends_at.astimezone(NY):%a %m-%d %H:%M}", p.note) for p in found]


# --- which events mean away -------------------------------------------------------------------


def test_outlook_out_of_office_counts_busy_meetings_and_cancelled_ones_do_not():
    assert periods("outlook_oof.ics") == [
        ("Mon 12-07 09:00", "Fri 12-11 12:00", "Away - family trip"),  # BUSYSTATUS:OOF
        ("Tue 12-15 13:00", "Tue 12-15 17:00", "Out of office"),  # said in the summary
    ]


def test_google_all_day_busy_events_count_free_ones_and_timed_ones_do_not():
    # "Mom's birthday" is all day but Free; the open house is timed; the conference is
    # beyond the next 30 days.
    assert periods("google_all_day.ics") == [
        ("Mon 12-21 00:00", "Thu 12-24 00:00", "Ski week"),
    ]


def test_a_weekly_recurring_ooo_marks_every_week_but_the_excluded_one():
    assert periods("weekly_recurring.ics") == [
        ("Fri 12-04 14:00", "Fri 12-04 18:00", "OOO - kids' pickup"),
        ("Fri 12-18 14:00", "Fri 12-18 18:00", "OOO - kids' pickup"),  # 12-11 excluded
        ("Fri 12-25 14:00", "Fri 12-25 18:00", "OOO - kids' pickup"),
    ]


def test_a_file_that_is_no_calendar_is_refused():
    with pytest.raises(AwayCalendarError):
        away_periods(b"<html>Sign in</html>", now=NOW, tz_name="America/New_York")


def test_webcal_addresses_are_https_and_other_schemes_refused():
    assert feed_url(" webcal://p01-caldav.icloud.com/published/2/abc ") == (
        "https://p01-caldav.icloud.com/published/2/abc")
    with pytest.raises(FeedRefused):
        feed_url("file:///etc/passwd")


# --- the refresh ------------------------------------------------------------------------------


class CalendarServer(ThreadingHTTPServer):
    """Serves ``body`` as text/calendar on 127.0.0.1."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/calendar.ics"


class _Handler(BaseHTTPRequestHandler):
    server: CalendarServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def calendar_server() -> Iterator[CalendarServer]:
    with serving(CalendarServer()) as server:
        yield server


@pytest.fixture
def local_calendars_allowed(settings):
    settings.AWAY_CALENDAR_PRIVATE_HOSTS = ["127.0.0.1"]


@pytest.mark.django_db
def test_refresh_replaces_the_calendars_time_off_only(calendar_server, local_calendars_allowed):
    calendar_server.body = (ICS / "outlook_oof.ics").read_bytes()
    ann = AgentFactory(away_calendar_url=calendar_server.url)
    own = TimeOffFactory(agent=ann, starts_at=datetime(2026, 12, 2, 9, tzinfo=NY),
                         ends_at=datetime(2026, 12, 2, 12, tzinfo=NY), note="dentist")
    by_manager = TimeOffFactory(agent=ann, source=TimeOff.Source.MANAGER,
                                starts_at=datetime(2026, 12, 3, 9, tzinfo=NY),
                                ends_at=datetime(2026, 12, 3, 12, tzinfo=NY))
    TimeOffFactory(agent=ann, source=TimeOff.Source.CALENDAR, note="gone from the calendar",
                   starts_at=datetime(2026, 12, 4, 9, tzinfo=NY),
                   ends_at=datetime(2026, 12, 4, 12, tzinfo=NY))
    over = TimeOffFactory(agent=ann, source=TimeOff.Source.CALENDAR, note="last week",
                          starts_at=datetime(2026, 11, 24, 9, tzinfo=NY),
                          ends_at=datetime(2026, 11, 24, 12, tzinfo=NY))

    assert refresh_away_calendars(NOW) == 1
    calendar = TimeOff.objects.filter(agent=ann, source=TimeOff.Source.CALENDAR, ends_at__gt=NOW)
    assert sorted(calendar.values_list("note", flat=True)) == ["Away - family trip",
                                                               "Out of office"]
    assert TimeOff.objects.filter(pk__in=[own.pk, by_manager.pk, over.pk]).count() == 3
    ann.refresh_from_db()
    assert (ann.away_calendar_checked_at, ann.away_calendar_error) == (NOW, "")

    # Read again unchanged: nothing rewritten, the routing snapshot kept.
    token = Brokerage.load().config_token
    ids = set(calendar.values_list("pk", flat=True))
    assert refresh_away_calendars(NOW) == 0
    assert set(calendar.values_list("pk", flat=True)) == ids
    assert Brokerage.load().config_token == token

    # The event moved in the calendar: the row follows.
    calendar_server.body = calendar_server.body.replace(b"20261211T120000", b"20261211T170000")
    assert refresh_away_calendars(NOW) == 1
    trip = calendar.get(note="Away - family trip")
    assert trip.ends_at == datetime(2026, 12, 11, 17, tzinfo=NY)
    assert Brokerage.load().config_token != token


@pytest.mark.django_db
def test_a_removed_feed_drops_the_calendars_time_off(calendar_server, local_calendars_allowed):
    calendar_server.body = (ICS / "google_all_day.ics").read_bytes()
    ann = AgentFactory(away_calendar_url=calendar_server.url)
    refresh_away_calendars(NOW)
    assert TimeOff.objects.filter(agent=ann, source=TimeOff.Source.CALENDAR).count() == 1
    ann.away_calendar_url = ""
    ann.save()
    assert refresh_away_calendars(NOW) == 1
    assert not TimeOff.objects.filter(agent=ann, source=TimeOff.Source.CALENDAR).exists()


@pytest.mark.django_db
def test_a_private_host_is_refused_and_the_time_off_kept(calendar_server, settings):
    settings.AWAY_CALENDAR_PRIVATE_HOSTS = []
    calendar_server.body = (ICS / "outlook_oof.ics").read_bytes()
    ann = AgentFactory(away_calendar_url=calendar_server.url)
    kept = TimeOffFactory(agent=ann, source=TimeOff.Source.CALENDAR,
                          starts_at=datetime(2026, 12, 4, 9, tzinfo=NY),
                          ends_at=datetime(2026, 12, 4, 12, tzinfo=NY))

    assert refresh_away_calendars(NOW) == 0
    ann.refresh_from_db()
    assert "loopback" in ann.away_calendar_error
    assert TimeOff.objects.filter(pk=kept.pk).exists()


def test_a_feed_over_the_size_limit_is_refused(calendar_server, local_calendars_allowed):
    calendar_server.body = (ICS / "outlook_oof.ics").read_bytes()
    with pytest.raises(FeedRefused, match="larger"):
        fetch_feed(calendar_server.url, max_bytes=100)
    assert fetch_feed(calendar_server.url).startswith(b"BEGIN:VCALENDAR")


@pytest.mark.django_db
def test_the_task_cluster_refreshes_every_15_minutes():
    schedule = Schedule.objects.get(name="refresh away calendars")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "agents.away_feed.refresh_away_calendars", Schedule.MINUTES, 15)


@pytest.mark.django_db
def test_the_agent_saves_their_away_calendar_on_the_availability_page():
    ann = AgentFactory()
    client = Client()
    client.force_login(ann.user)
    answer = client.post(reverse("away-calendar"),
                         {"url": "webcal://p01-caldav.icloud.com/published/2/abc"})
    assert answer.status_code == 302
    ann.refresh_from_db()
    assert ann.away_calendar_url == "webcal://p01-caldav.icloud.com/published/2/abc"
    refused = client.post(reverse("away-calendar"), {"url": "file:///etc/passwd"})
    assert refused.status_code == 400
    ann.refresh_from_db()
    assert ann.away_calendar_url.startswith("webcal://")
    assert client.post(reverse("away-calendar"), {"url": ""}).status_code == 302
    ann.refresh_from_db()
    assert ann.away_calendar_url == ""
