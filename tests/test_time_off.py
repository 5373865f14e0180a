"""Scheduled time off: the agent is skipped for exactly that time, comes back by themselves in
their place, and the agent or a manager (nobody else) sets and cancels it, on the page and the
API."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent, TimeOff
from agents.services import sync_access
from agents.time_off import (
    TimeOffForbidden,
    TimeOffRefused,
    add_time_off,
    cancel_time_off,
)
from leads.intake import receive_lead
from leads.models import Lead
from routing.backtest import Availability, availability_in
from routing.fairness import agent_standing
from routing.models import Brokerage, RoutingRecord
from tests.factories import AgentFactory, RosterFactory, RuleFactory, TimeOffFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """A moment of tomorrow, brokerage time (time off is only set ahead)."""
    day = (timezone.now().astimezone(NY) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


_counter = iter(range(1, 1_000_000))


def owner_at(at: datetime) -> str | None:
    n = next(_counter)
    result = receive_lead({"first_name": "Pat", "last_name": f"Buyer{n}",
                           "email": f"pat{n}@example.org"}, channel="api", received_at=at)
    lead = Lead.objects.select_related("owner").get(pk=result.lead.pk)
    return lead.owner.name if lead.owner else None


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", **kw)


def rotation(*agents: Agent) -> None:
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members(list(agents)))


# --- routing ----------------------------------------------------------------------------------


def test_away_for_exactly_the_time_off_then_back_in_their_place():
    a, b, c = agent("A"), agent("B"), agent("C")
    rotation(a, b, c)
    start, end = tomorrow_at(11), tomorrow_at(12)
    TimeOffFactory(agent=b, starts_at=start, ends_at=end, note="vacation")

    assert owner_at(start - timedelta(seconds=1)) == "A"
    assert owner_at(start) == "C"  # from the first second: B's turn is skipped
    record = RoutingRecord.objects.latest("id")
    assert record.skipped_turns == [{"agent": b.pk, "why": "away"}]
    whys = [s.get("why") for s in record.trace if s.get("agent") == "b@example.com"]
    assert whys == [f"away until {end:%a} 12:00 (vacation)"]
    assert owner_at(end - timedelta(seconds=1)) == "A"
    # Back at the last second's end, by themselves, in their place: B, then C, then A.
    assert [owner_at(end + timedelta(minutes=m)) for m in range(3)] == ["B", "C", "A"]


def test_time_off_back_to_back_says_when_they_are_really_back():
    a, b = agent("A"), agent("B")
    rotation(a, b)
    TimeOffFactory(agent=b, starts_at=tomorrow_at(8), ends_at=tomorrow_at(12), note="dentist")
    TimeOffFactory(agent=b, starts_at=tomorrow_at(12), ends_at=tomorrow_at(15), note="")

    assert [owner_at(tomorrow_at(11)), owner_at(tomorrow_at(11, 1))] == ["A", "A"]
    whys = {s.get("why") for s in RoutingRecord.objects.latest("id").trace
            if s.get("agent") == "b@example.com"}
    assert whys == {f"away until {tomorrow_at(15):%a} 15:00 (dentist)"}
    assert owner_at(tomorrow_at(15)) == "B"


def test_a_new_time_off_renews_the_snapshot_routing_reads():
    a, b = agent("A"), agent("B")
    rotation(a, b)
    assert owner_at(tomorrow_at(9)) == "A"  # the snapshot is read and cached
    time_off = TimeOffFactory(agent=b, starts_at=tomorrow_at(9), ends_at=tomorrow_at(18))
    assert owner_at(tomorrow_at(10)) == "A"
    time_off.delete()
    assert owner_at(tomorrow_at(10, 5)) == "B"


def test_time_off_costs_no_statement_per_lead():
    a, b, c = agent("A"), agent("B"), agent("C")
    rotation(a, b, c)
    owner_at(tomorrow_at(9))  # snapshot read
    with CaptureQueriesContext(connection) as plain:
        owner_at(tomorrow_at(9, 1))
    TimeOffFactory(agent=c, starts_at=tomorrow_at(8), ends_at=tomorrow_at(20))
    assert owner_at(tomorrow_at(9, 2)) == "A"  # C skipped; the new snapshot read
    assert owner_at(tomorrow_at(9, 3)) == "B"
    with CaptureQueriesContext(connection) as away:
        assert owner_at(tomorrow_at(9, 4)) == "A"  # C skipped
    assert len(away.captured_queries) == len(plain.captured_queries)


def test_the_agents_turn_page_says_they_are_away_and_words_missed_turns():
    a, b = agent("A"), agent("B")
    rotation(a, b)
    now = timezone.now()
    ends = now + timedelta(days=2)
    TimeOffFactory(agent=b, starts_at=now - timedelta(hours=1), ends_at=ends, note="vacation")
    owner_at(now - timedelta(minutes=30))
    owner_at(now - timedelta(minutes=20))

    standing = agent_standing(b, now)[0]
    local_end = ends.astimezone(NY)
    assert standing.why_not_now.startswith(f"You are away until {local_end:%a}")
    assert "(vacation): leads come to you again after that" in standing.why_not_now
    reasons = {t.reason for t in standing.missed}
    assert reasons and all(r.startswith("away until") and r.endswith("(vacation)")
                           for r in reasons)


# --- who may set and cancel -------------------------------------------------------------------


def test_the_agent_sets_their_own_and_a_manager_anyones_but_not_a_colleague():
    ann, bob = agent("Ann"), agent("Bob")
    boss = agent("Boss", role=Agent.Role.MANAGER)
    now = timezone.now()
    own = add_time_off(agent=ann, starts_at=tomorrow_at(9), ends_at=tomorrow_at(17),
                       note="  vacation ", by=ann.user, now=now)
    assert (own.source, own.note, own.created_by) == (TimeOff.Source.AGENT, "vacation", ann.user)
    set_for = add_time_off(agent=ann, starts_at=tomorrow_at(18), ends_at=tomorrow_at(20),
                           by=boss.user, now=now)
    assert set_for.source == TimeOff.Source.MANAGER
    with pytest.raises(TimeOffForbidden):
        add_time_off(agent=ann, starts_at=tomorrow_at(9), ends_at=tomorrow_at(10),
                     by=bob.user, now=now)
    with pytest.raises(TimeOffForbidden):
        cancel_time_off(time_off=own, by=bob.user, now=now)
    assert TimeOff.objects.filter(agent=ann).count() == 2


def test_time_off_must_end_after_it_starts_and_in_the_future():
    ann = agent("Ann")
    now = timezone.now()
    for starts_at, ends_at in ((tomorrow_at(10), tomorrow_at(10)),
                               (tomorrow_at(10), tomorrow_at(9)),
                               (now - timedelta(days=2), now - timedelta(days=1)),
                               (tomorrow_at(10), tomorrow_at(10) + timedelta(days=400))):
        with pytest.raises(TimeOffRefused):
            add_time_off(agent=ann, starts_at=starts_at, ends_at=ends_at, by=ann.user, now=now)
    assert not TimeOff.objects.exists()


def test_cancel_deletes_time_off_ahead_and_ends_one_under_way_now():
    ann = agent("Ann")
    now = timezone.now()
    ahead = TimeOffFactory(agent=ann, source=TimeOff.Source.MANAGER)
    assert cancel_time_off(time_off=ahead, by=ann.user, now=now) is None
    assert not TimeOff.objects.filter(pk=ahead.pk).exists()
    under_way = TimeOffFactory(agent=ann, starts_at=now - timedelta(hours=2))
    kept = cancel_time_off(time_off=under_way, by=ann.user, now=now)
    assert kept is not None and kept.ends_at == now
    with pytest.raises(TimeOffRefused, match="already"):
        cancel_time_off(time_off=kept, by=ann.user, now=now)


def test_the_calendars_time_off_is_cancelled_in_the_calendar_or_by_a_manager():
    ann, boss = agent("Ann"), agent("Boss", role=Agent.Role.MANAGER)
    now = timezone.now()
    from_calendar = TimeOffFactory(agent=ann, source=TimeOff.Source.CALENDAR)
    with pytest.raises(TimeOffRefused, match="away calendar"):
        cancel_time_off(time_off=from_calendar, by=ann.user, now=now)
    assert cancel_time_off(time_off=from_calendar, by=boss.user, now=now) is None


# --- the page ---------------------------------------------------------------------------------


def test_the_availability_page_lists_adds_and_cancels_time_off():
    ann, bob = agent("Ann"), agent("Bob")
    TimeOffFactory(agent=bob, note="bob's trip")
    TimeOffFactory(agent=ann, source=TimeOff.Source.CALENDAR, note="Ski week",
                   starts_at=tomorrow_at(8) + timedelta(days=3))
    client = Client()
    client.force_login(ann.user)

    answer = client.post(reverse("time-off-add"), {
        "starts_at": f"{tomorrow_at(9):%Y-%m-%dT%H:%M}",
        "ends_at": f"{tomorrow_at(17):%Y-%m-%dT%H:%M}", "note": "dentist"})
    assert answer.status_code == 302
    added = TimeOff.objects.get(agent=ann, note="dentist")
    assert (added.starts_at, added.ends_at) == (tomorrow_at(9), tomorrow_at(17))

    page = client.get(reverse("availability")).content.decode()
    assert "dentist" in page and "Ski week" in page and "from your away calendar" in page
    assert "bob's trip" not in page

    refused = client.post(reverse("time-off-add"), {
        "starts_at": f"{tomorrow_at(9):%Y-%m-%dT%H:%M}",
        "ends_at": f"{tomorrow_at(8):%Y-%m-%dT%H:%M}"})
    assert refused.status_code == 400
    assert "must end after it starts" in refused.content.decode()

    bobs = TimeOff.objects.get(agent=bob)
    assert client.post(reverse("time-off-cancel", args=[bobs.pk])).status_code == 404
    assert client.post(reverse("time-off-cancel", args=[added.pk])).status_code == 302
    assert not TimeOff.objects.filter(pk=added.pk).exists()


# --- the API ----------------------------------------------------------------------------------


def api(who: Agent) -> Client:
    token, _ = Token.objects.get_or_create(user=who.user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def test_api_lists_sets_and_cancels_my_time_off():
    ann, bob = agent("Ann"), agent("Bob")
    TimeOffFactory(agent=bob)
    TimeOffFactory(agent=ann, starts_at=timezone.now() - timedelta(days=3),
                   ends_at=timezone.now() - timedelta(days=2))  # over: not listed
    url = reverse("api-agent-time-off")

    made = api(ann).post(url, {"starts_at": tomorrow_at(9).isoformat(),
                               "ends_at": tomorrow_at(17).isoformat(), "note": "vacation"},
                         content_type="application/json")
    assert made.status_code == 201
    body = made.json()
    assert (body["note"], body["source"]) == ("vacation", "agent")

    listed = api(ann).get(url).json()
    assert [t["id"] for t in listed] == [body["id"]]

    wrong = api(ann).post(url, {"starts_at": tomorrow_at(9).isoformat(),
                                "ends_at": tomorrow_at(8).isoformat()},
                          content_type="application/json")
    assert wrong.status_code == 400
    assert "end after it starts" in str(wrong.json())

    bobs = TimeOff.objects.get(agent=bob)
    assert api(ann).delete(reverse("api-agent-time-off-one", args=[bobs.pk])).status_code == 404
    gone = api(ann).delete(reverse("api-agent-time-off-one", args=[body["id"]]))
    assert gone.status_code == 204
    assert not TimeOff.objects.filter(pk=body["id"]).exists()


def test_api_cancelling_time_off_under_way_ends_it_now():
    ann = agent("Ann")
    under_way = TimeOffFactory(agent=ann, starts_at=timezone.now() - timedelta(hours=1))
    answer = api(ann).delete(reverse("api-agent-time-off-one", args=[under_way.pk]))
    assert answer.status_code == 200
    under_way.refresh_from_db()
    assert under_way.ends_at <= timezone.now()
    assert answer.json()["id"] == under_way.pk


# --- the demo ---------------------------------------------------------------------------------


def test_the_demo_has_a_vacation_next_week_and_an_agent_away_today(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Time off: Olivia Bennett from " in out.getvalue()
    now = timezone.now()
    vacation = TimeOff.objects.get(agent__email="olivia.bennett@example.com")
    assert vacation.starts_at > now and vacation.starts_at - now <= timedelta(days=7)
    assert vacation.starts_at.astimezone(NY).weekday() == 0  # next Monday
    away = TimeOff.objects.get(agent__email="noah.goldberg@example.com")
    assert away.starts_at <= now < away.ends_at
    assert Brokerage.load().gradual_return_leads == 3


# --- the admin --------------------------------------------------------------------------------


def test_a_manager_sets_time_off_in_the_admin_as_a_managers(client):
    ann = agent("Ann")
    boss = agent("Boss", role=Agent.Role.MANAGER)
    sync_access(boss)
    client.force_login(boss.user)
    starts = tomorrow_at(9)
    answer = client.post(reverse("admin:agents_timeoff_add"), {
        "agent": ann.pk, "starts_at_0": f"{starts:%Y-%m-%d}", "starts_at_1": "09:00",
        "ends_at_0": f"{starts:%Y-%m-%d}", "ends_at_1": "17:00", "note": "training"})
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    made = TimeOff.objects.get(agent=ann)
    assert (made.source, made.created_by, made.starts_at) == (
        TimeOff.Source.MANAGER, boss.user, starts)
    listed = client.get(reverse("admin:agents_timeoff_changelist") + "?source=manager")
    assert "training" in listed.content.decode()

    refused = client.post(reverse("admin:agents_timeoff_add"), {
        "agent": ann.pk, "starts_at_0": f"{starts:%Y-%m-%d}", "starts_at_1": "17:00",
        "ends_at_0": f"{starts:%Y-%m-%d}", "ends_at_1": "09:00"})
    assert "The time off must end after it starts." in refused.content.decode()


def test_the_back_test_replays_an_agent_away_as_paused():
    trace = [{"stage": "agent", "agent": "b@example.com", "why": "away until Fri 12:00"},
             {"stage": "agent", "agent": "a@example.com", "why": None}]
    assert dict(availability_in(trace)) == {"a@example.com": Availability.AVAILABLE,
                                            "b@example.com": Availability.PAUSED}


def test_why_did_i_get_this_lead_says_who_was_away():
    a, b, c = agent("Ann"), agent("Bo"), agent("Cy")
    rotation(a, b, c)
    now = timezone.now()
    TimeOffFactory(agent=b, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1))
    owner_at(now - timedelta(minutes=2))
    owner_at(now - timedelta(minutes=1))
    lead = Lead.objects.get(owner=c)
    client = Client()
    client.force_login(c.user)
    page = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Bo was away (time off), so it came to you" in page


def test_the_agents_list_says_who_is_away(client):
    ann = agent("Ann")
    boss = agent("Boss", role=Agent.Role.MANAGER)
    sync_access(boss)
    now = timezone.now()
    TimeOffFactory(agent=ann, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=2))
    client.force_login(boss.user)
    listed = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    until = timezone.localtime(now + timedelta(days=2), NY)
    assert f"✈ Away until {until:%a %d %b %H:%M}" in listed
