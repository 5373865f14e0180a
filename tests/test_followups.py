"""A lead's next follow-up: quick picks in the brokerage's time, set from the lead's page and the
agent API, done or moved to tomorrow (on the timeline), and reminded once by the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.agenda import quick_picks, tomorrow_same_time
from leads.followups import set_follow_up
from leads.models import Activity, Appointment, Lead
from notifications.models import Notification
from routing.clock import run_clock
from tests.factories import AgentFactory, LeadFactory

NY = ZoneInfo("America/New_York")
TZ = "America/New_York"


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


# --- the quick picks and "move to tomorrow" (plain Python) ------------------------------------


def test_quick_picks_fall_on_round_times_in_the_brokerage_day():
    picks = quick_picks(ny(2026, 12, 2, 10, 7), TZ)  # a Wednesday morning
    assert picks == {
        "later_today": ny(2026, 12, 2, 13, 30),
        "tomorrow_morning": ny(2026, 12, 3, 9, 0),
        "in_3_days": ny(2026, 12, 5, 9, 0),
        "next_week": ny(2026, 12, 7, 9, 0),  # Monday
    }


def test_later_today_is_not_offered_in_the_evening_and_next_week_from_a_monday_is_a_week_on():
    picks = quick_picks(ny(2026, 12, 7, 18, 0), TZ)  # Monday, 18:00: 21:00 is too late
    assert "later_today" not in picks
    assert picks["next_week"] == ny(2026, 12, 14, 9, 0)


def test_moving_to_tomorrow_keeps_the_time_of_day_across_the_clock_change():
    # Saturday 14:00 before the clocks go back on Sunday Nov 1, 2026: still 14:00 local.
    due = ny(2026, 10, 31, 14, 0)
    moved = tomorrow_same_time(due, ny(2026, 10, 31, 15, 0), TZ)
    assert moved.astimezone(NY).replace(tzinfo=None) == datetime(2026, 11, 1, 14, 0)
    assert moved.astimezone(UTC) - due.astimezone(UTC) == timedelta(hours=25)
    # An overdue one from last week lands tomorrow, not the day after its own date.
    assert tomorrow_same_time(ny(2026, 11, 20, 11, 30), ny(2026, 11, 30, 8, 0), TZ) == ny(
        2026, 12, 1, 11, 30)


# --- the lead's page --------------------------------------------------------------------------


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def lead(ann):
    return LeadFactory(first_name="Pat", last_name="Buyer", phone="+13125550199", owner=ann,
                       status=Lead.Status.CONTACTED, assigned_at=timezone.now())


@pytest.fixture
def client_ann(client, ann, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(ann.user)
    return client


@pytest.mark.django_db
def test_a_quick_pick_sets_the_follow_up_and_the_timeline_says_when(client_ann, lead):
    page = client_ann.get(reverse("lead-detail", args=[lead.pk]))
    assert "No follow-up set." in page.content.decode()
    assert "Tomorrow morning" in page.content.decode()

    answer = client_ann.post(reverse("follow-up-set", args=[lead.pk]),
                             {"pick": "tomorrow_morning", "note": "Ask about the second visit"},
                             follow=True)
    lead.refresh_from_db()
    local = timezone.localtime(lead.follow_up_at, NY)
    assert (local.hour, local.minute) == (9, 0)
    assert local.date() == timezone.localtime(timezone.now(), NY).date() + timedelta(days=1)
    assert lead.follow_up_note == "Ask about the second visit"
    entry = lead.activities.get(kind=Activity.Kind.FOLLOW_UP)
    assert entry.body == "Follow up tomorrow 9:00: Ask about the second visit"
    text = answer.content.decode()
    assert "Follow up tomorrow 9:00" in text
    assert "Move to tomorrow" in text


@pytest.mark.django_db
def test_a_time_already_past_is_refused_and_the_note_typed_is_kept(client_ann, lead):
    past = timezone.localtime(timezone.now() - timedelta(hours=2), NY)
    answer = client_ann.post(reverse("follow-up-set", args=[lead.pk]),
                             {"at": past.strftime("%Y-%m-%dT%H:%M"), "note": "Call about offer"})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "has passed: pick a later time." in text
    assert 'value="Call about offer"' in text
    lead.refresh_from_db()
    assert lead.follow_up_at is None
    assert not lead.activities.filter(kind=Activity.Kind.FOLLOW_UP).exists()


@pytest.mark.django_db
def test_done_clears_the_follow_up_and_logs_it(client_ann, lead, ann):
    now = timezone.now()
    set_follow_up(lead, ann, now + timedelta(hours=1), note="Send the comps", now=now)
    client_ann.post(reverse("follow-up-done", args=[lead.pk]))
    lead.refresh_from_db()
    assert lead.follow_up_at is None and lead.follow_up_note == ""
    done = lead.activities.get(kind=Activity.Kind.FOLLOW_UP_DONE)
    assert done.actor == ann
    assert done.body.startswith("Was due today") and "(Send the comps)" in done.body


@pytest.mark.django_db
def test_move_to_tomorrow_from_the_page(client_ann, lead, ann):
    now = timezone.now()
    set_follow_up(lead, ann, now + timedelta(minutes=5), now=now)
    before = lead.follow_up_at
    client_ann.post(reverse("follow-up-tomorrow", args=[lead.pk]), {"next": "today"})
    lead.refresh_from_db()
    assert timezone.localtime(lead.follow_up_at, NY).date() == (
        timezone.localtime(now, NY).date() + timedelta(days=1))
    assert timezone.localtime(lead.follow_up_at, NY).time() == timezone.localtime(
        before, NY).time().replace(second=0, microsecond=0)


@pytest.mark.django_db
def test_another_agents_lead_is_not_found(client, lead):
    bob = AgentFactory()
    client.force_login(bob.user)
    answer = client.post(reverse("follow-up-set", args=[lead.pk]), {"pick": "in_3_days"})
    assert answer.status_code == 404
    lead.refresh_from_db()
    assert lead.follow_up_at is None


# --- the agent API ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_sets_a_follow_up_at_a_brokerage_time_and_marks_it_done(client_ann, lead):
    at = timezone.localtime(timezone.now(), NY) + timedelta(days=2)
    naive = at.replace(tzinfo=None, second=0, microsecond=0).isoformat()
    url = reverse("api-agent-follow-up", args=[lead.pk])
    answer = client_ann.put(url, {"at": naive, "note": "Pre-approval"},
                            content_type="application/json")
    assert answer.status_code == 200, answer.json()
    lead.refresh_from_db()
    assert timezone.localtime(lead.follow_up_at, NY).replace(tzinfo=None).isoformat() == naive
    assert answer.json()["note"] == "Pre-approval"

    both = client_ann.put(url, {"at": naive, "pick": "next_week"},
                          content_type="application/json")
    assert both.status_code == 400
    assert "either" in both.json()["errors"]["at"]

    done = client_ann.post(reverse("api-agent-follow-up-done", args=[lead.pk]), {},
                           content_type="application/json")
    assert done.json()["follow_up_at"] is None
    again = client_ann.post(reverse("api-agent-follow-up-done", args=[lead.pk]), {},
                            content_type="application/json")
    assert again.status_code == 400
    assert again.json()["errors"]["follow_up"] == "This lead has no follow-up to mark done."


# --- reminders by the clock -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_clock_reminds_a_follow_up_once_at_its_time(lead, ann):
    now = timezone.now()
    set_follow_up(lead, ann, now + timedelta(minutes=10), note="Talk financing", now=now)
    assert run_clock(now + timedelta(minutes=9)).day_reminders == 0
    assert run_clock(now + timedelta(minutes=10)).day_reminders == 1
    assert run_clock(now + timedelta(minutes=11)).day_reminders == 0
    notice = Notification.objects.get(event=Notification.Event.FOLLOW_UP_DUE)
    assert (notice.recipient, notice.lead) == (ann, lead)
    assert notice.title == "Follow up now: Pat Buyer"
    assert notice.body == "Talk financing"
    # Moved to a new time: reminded again then.
    set_follow_up(lead, ann, now + timedelta(hours=2), now=now + timedelta(minutes=12))
    assert run_clock(now + timedelta(hours=2)).day_reminders == 1
    assert Notification.objects.filter(event=Notification.Event.FOLLOW_UP_DUE).count() == 2


@pytest.mark.django_db
def test_an_appointment_is_reminded_before_it_starts_and_never_when_cancelled(lead, ann,
                                                                             settings):
    from leads.followups import AppointmentFields, book_appointment, cancel_appointment

    settings.APPOINTMENT_REMINDER_MINUTES = 45
    now = timezone.now()
    first = book_appointment(lead, ann, AppointmentFields(
        starts_at=now + timedelta(hours=2), location="12 Elm St"), now=now)
    second = book_appointment(lead, ann, AppointmentFields(
        starts_at=now + timedelta(hours=3)), now=now)
    cancel_appointment(second, ann, now=now)
    assert run_clock(now + timedelta(minutes=74)).day_reminders == 0
    assert run_clock(now + timedelta(minutes=75)).day_reminders == 1
    assert run_clock(now + timedelta(minutes=150)).day_reminders == 0
    notice = Notification.objects.get(event=Notification.Event.APPOINTMENT_SOON)
    assert notice.title == "Appointment soon: Pat Buyer"
    assert "at 12 Elm St" in notice.body
    assert Appointment.objects.get(pk=first.pk).reminded_at is not None


@pytest.mark.django_db
def test_the_reminder_reaches_the_agent_by_email_with_a_button_to_the_lead(lead, ann,
                                                                           settings):
    from django.core import mail

    from notifications.tasks import send_notifications

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://leads.example.com"
    now = timezone.now()
    set_follow_up(lead, ann, now + timedelta(minutes=1), note="Talk financing", now=now)
    run_clock(now + timedelta(minutes=1))
    send_notifications([Notification.objects.get(event=Notification.Event.FOLLOW_UP_DUE).pk])
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert "Follow up now: Pat Buyer" in message.subject
    assert "Talk financing" in message.body
    assert f"https://leads.example.com/leads/{lead.pk}/" in message.body
