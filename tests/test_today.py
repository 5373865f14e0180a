"""The Today list: the agent's calls to make, overdue follow-ups first, then today's follow-ups
and appointments in time order, with one-tap call and text links and Done / Move to tomorrow."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.agenda import Entry, plan_day
from leads.followups import agent_day
from leads.models import Appointment, Lead
from tests.factories import AgentFactory, LeadFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=NY)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com")


def owned(agent, name: str, follow_up_at: datetime | None = None, **fields) -> Lead:
    first, last = name.split()
    return LeadFactory(first_name=first, last_name=last, owner=agent, phone="+13125550199",
                       status=Lead.Status.CONTACTED, follow_up_at=follow_up_at, **fields)


def appointment(lead: Lead, starts_at: datetime, **fields) -> Appointment:
    return Appointment.objects.create(lead=lead, agent=lead.owner, starts_at=starts_at,
                                      ends_at=starts_at + timedelta(hours=1), created_at=NOON,
                                      updated_at=NOON, **fields)


def test_plan_day_puts_overdue_follow_ups_first_then_today_in_time_order():
    entries = [
        Entry("follow_up", 1, NOON + timedelta(hours=2), 1),        # 14:00 today
        Entry("appointment", 7, NOON - timedelta(hours=1), 2),      # 11:00 today, started
        Entry("follow_up", 2, NOON - timedelta(days=2), 2),         # two days ago
        Entry("follow_up", 3, NOON - timedelta(minutes=30), 3),     # 11:30 today, overdue
        Entry("appointment", 8, NOON + timedelta(hours=1), 4),      # 13:00 today
        Entry("follow_up", 4, NOON + timedelta(hours=13), 4),       # tomorrow 1:00
        Entry("appointment", 9, NOON - timedelta(days=1), 5),       # yesterday
    ]
    day = plan_day(entries, NOON, "America/New_York")
    assert [(e.kind, e.ref) for e in day.overdue] == [("follow_up", 2), ("follow_up", 3)]
    assert [(e.kind, e.ref) for e in day.today] == [
        ("appointment", 7), ("appointment", 8), ("follow_up", 1)]
    assert plan_day([], NOON, "America/New_York").empty


def test_the_agents_day_holds_only_their_own_and_skips_cancelled_appointments(ann):
    late = owned(ann, "Lou Late", NOON - timedelta(days=1))
    soon = owned(ann, "Sue Soon", NOON + timedelta(hours=3))
    shown = owned(ann, "Sam Showing")
    appointment(shown, NOON + timedelta(hours=1), location="12 Elm St")
    appointment(shown, NOON + timedelta(hours=2), cancelled_at=NOON)
    owned(AgentFactory(), "Bob Other", NOON - timedelta(hours=1))
    owned(ann, "Tim Tomorrow", NOON + timedelta(days=1))

    day, overdue, later = agent_day(ann, NOON)
    assert [line.lead for line in overdue] == [late]
    assert [(line.lead, line.entry.kind) for line in later] == [
        (shown, "appointment"), (soon, "follow_up")]
    assert [line.when for line in later] == ["13:00", "15:00"]
    assert overdue[0].when == "yesterday 12:00"


def test_the_page_says_in_words_when_there_is_nothing_to_do(client, ann):
    client.force_login(ann.user)
    page = client.get(reverse("today")).content.decode()
    assert "Nothing to do today: no follow-up is due and no appointment is booked." in page
    assert 'aria-current="page">Today<' in page


def test_the_page_lists_an_overdue_follow_up_with_call_text_and_actions(client, ann):
    client.force_login(ann.user)
    lead = owned(ann, "Lou Late", timezone.now() - timedelta(hours=1),
                 follow_up_note="Ask about the inspection")
    page = client.get(reverse("today")).content.decode()
    assert "Overdue: " in page and "Lou Late" in page and "Ask about the inspection" in page
    assert 'href="tel:+13125550199"' in page and 'href="sms:+13125550199"' in page

    answer = client.post(reverse("follow-up-done", args=[lead.pk]), {"next": "today"},
                         follow=True)
    assert answer.redirect_chain[-1][0] == reverse("today")
    assert "Follow-up with Lou Late done." in answer.content.decode()
    assert "Nothing to do today" in answer.content.decode()


def test_move_to_tomorrow_from_today_takes_it_off_the_list(client, ann):
    client.force_login(ann.user)
    lead = owned(ann, "Lou Late", timezone.now() - timedelta(hours=1))
    answer = client.post(reverse("follow-up-tomorrow", args=[lead.pk]), {"next": "today"},
                         follow=True)
    text = answer.content.decode()
    assert "Lou Late: follow up tomorrow" in text
    assert "Nothing to do today" in text


def test_the_api_answers_the_same_day(client, ann):
    client.force_login(ann.user)
    late = owned(ann, "Lou Late", timezone.now() - timedelta(hours=1))
    body = client.get(reverse("api-agent-today")).json()
    assert [(row["kind"], row["lead"]["id"], row["overdue"]) for row in body["overdue"]] == [
        ("follow_up", late.pk, True)]
    assert body["overdue"][0]["lead"]["follow_up_at"] is not None
