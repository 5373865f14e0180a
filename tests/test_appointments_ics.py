"""Appointments: booked, changed and cancelled from the lead's page (each on the timeline), an
``.ics`` per appointment, and the agent's calendar feed behind a secret address. The files are
read back with ``icalendar``, as a phone's calendar would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from leads.followups import AppointmentFields, book_appointment, new_feed_token, set_follow_up
from leads.models import Activity, Appointment, Lead
from tests.factories import AgentFactory, LeadFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = "https://leads.example.com"


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def lead(ann):
    return LeadFactory(first_name="Pat", last_name="Buyer", phone="+13125550199", owner=ann,
                       status=Lead.Status.CONTACTED, assigned_at=timezone.now())


def local_input(moment: datetime) -> str:
    return timezone.localtime(moment, NY).strftime("%Y-%m-%dT%H:%M")


def events(body: bytes) -> list:
    return [c for c in Calendar.from_ical(body).walk("VEVENT")]


def test_booking_from_the_lead_page_puts_it_on_the_page_and_the_timeline(client, ann, lead):
    client.force_login(ann.user)
    starts = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    answer = client.post(reverse("appointment-new", args=[lead.pk]), {
        "starts_at": local_input(starts), "minutes": "45", "location": "12 Elm St, Hoboken",
        "with_whom": "Pat and Sam", "note": "Bring the disclosures"}, follow=True)
    appointment = Appointment.objects.get(lead=lead)
    assert (appointment.agent, appointment.starts_at, appointment.ends_at) == (
        ann, starts, starts + timedelta(minutes=45))
    text = answer.content.decode()
    assert "Appointment booked for tomorrow" in text
    assert "At 12 Elm St, Hoboken" in text and "With Pat and Sam" in text
    entry = lead.activities.get(kind=Activity.Kind.APPOINTMENT)
    assert entry.body.startswith("tomorrow ") and entry.body.endswith(
        ", 45 min, at 12 Elm St, Hoboken, with Pat and Sam")


def test_a_bad_booking_keeps_what_was_typed(client, ann, lead):
    client.force_login(ann.user)
    answer = client.post(reverse("appointment-new", args=[lead.pk]), {
        "starts_at": "", "minutes": "45", "location": "12 Elm St"})
    assert answer.status_code == 400
    assert 'value="12 Elm St"' in answer.content.decode()
    assert not Appointment.objects.exists()


def test_changing_and_cancelling_are_on_the_timeline(client, ann, lead):
    client.force_login(ann.user)
    now = timezone.now()
    appointment = book_appointment(lead, ann, AppointmentFields(
        starts_at=now + timedelta(days=2), location="Office"), now=now)
    later = (now + timedelta(days=3)).replace(second=0, microsecond=0)
    page = client.get(reverse("appointment-edit", args=[appointment.pk]))
    assert 'value="Office"' in page.content.decode()
    client.post(reverse("appointment-edit", args=[appointment.pk]), {
        "starts_at": local_input(later), "minutes": "30", "location": "The listing"})
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.location, appointment.sequence) == (
        later, "The listing", 1)
    client.post(reverse("appointment-cancel", args=[appointment.pk]))
    appointment.refresh_from_db()
    assert appointment.cancelled_at is not None
    kinds = list(lead.activities.values_list("kind", flat=True))
    assert kinds == [Activity.Kind.APPOINTMENT, Activity.Kind.APPOINTMENT_EDIT,
                     Activity.Kind.APPOINTMENT_CANCEL]
    page = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "None coming up." in page


def test_the_ics_of_an_appointment_reads_back_with_a_stable_uid(client, ann, lead):
    client.force_login(ann.user)
    now = timezone.now()
    starts = datetime(2030, 5, 4, 14, 30, tzinfo=NY)
    appointment = book_appointment(lead, ann, AppointmentFields(
        starts_at=starts, minutes=60, location="12 Elm St", with_whom="Pat",
        note="Second showing"), now=now)
    answer = client.get(reverse("appointment-ics", args=[appointment.pk]))
    assert answer["Content-Type"].startswith("text/calendar")
    [event] = events(answer.content)
    assert str(event["UID"]) == f"appointment-{appointment.pk}@leads.example.com"
    assert event.decoded("DTSTART") == starts.astimezone(UTC)
    assert event.decoded("DTSTART").tzinfo is not None
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert event.decoded("DTSTAMP") is not None
    assert str(event["LOCATION"]) == "12 Elm St"
    assert str(event["SUMMARY"]) == "Appointment: Pat Buyer"
    description = str(event["DESCRIPTION"])
    assert "(312) 555-0199" in description and "Second showing" in description
    assert f"https://leads.example.com/leads/{lead.pk}/" in description

    # The same appointment again: the same UID; cancelled: a cancel of it.
    again = client.get(reverse("appointment-ics", args=[appointment.pk]))
    assert str(events(again.content)[0]["UID"]) == str(event["UID"])
    client.post(reverse("appointment-cancel", args=[appointment.pk]))
    cancelled = client.get(reverse("appointment-ics", args=[appointment.pk])).content
    assert str(Calendar.from_ical(cancelled)["METHOD"]) == "CANCEL"
    [gone] = events(cancelled)
    assert (str(gone["STATUS"]), str(gone["UID"]), gone["SEQUENCE"]) == (
        "CANCELLED", str(event["UID"]), 1)


def test_another_agent_cannot_download_it(client, ann, lead):
    appointment = book_appointment(lead, ann, AppointmentFields(
        starts_at=timezone.now() + timedelta(days=1)), now=timezone.now())
    client.force_login(AgentFactory().user)
    assert client.get(reverse("appointment-ics", args=[appointment.pk])).status_code == 404


def test_the_calendar_feed_lists_appointments_and_follow_ups_without_a_login(client, ann,
                                                                           lead):
    now = timezone.now()
    book_appointment(lead, ann, AppointmentFields(starts_at=now + timedelta(days=1),
                                                  location="12 Elm St"), now=now)
    set_follow_up(lead, ann, now + timedelta(hours=3), note="Lender call", now=now)
    other = LeadFactory(owner=AgentFactory(), first_name="Not", last_name="Hers")
    set_follow_up(other, other.owner, now + timedelta(hours=1), now=now)
    feed = new_feed_token(ann, now=now)

    answer = client.get(reverse("calendar-feed", args=[feed.token]))
    assert answer.status_code == 200
    calendar = Calendar.from_ical(answer.content)
    assert str(calendar["X-WR-CALNAME"]) == "Leads: Ann Lee"
    summaries = sorted(str(e["SUMMARY"]) for e in calendar.walk("VEVENT"))
    assert summaries == ["Appointment: Pat Buyer", "Follow up: Pat Buyer"]

    assert client.get(reverse("calendar-feed", args=[feed.token[:-1] + "x"])).status_code == 404
    assert client.get("/calendar/short.ics").status_code == 404


def test_a_new_address_from_the_today_page_retires_the_old_one(client, ann):
    client.force_login(ann.user)
    page = client.get(reverse("today")).content.decode()
    assert "Get my calendar address" in page
    client.post(reverse("calendar-feed-new"))
    first = ann.calendar_feed.token
    page = client.get(reverse("today")).content.decode()
    assert f"https://leads.example.com/calendar/{first}.ics" in page
    assert f"webcal://leads.example.com/calendar/{first}.ics" in page
    client.post(reverse("calendar-feed-new"))
    ann.calendar_feed.refresh_from_db()
    assert ann.calendar_feed.token != first
    client.logout()
    assert client.get(reverse("calendar-feed", args=[first])).status_code == 404
    assert client.get(reverse("calendar-feed", args=[ann.calendar_feed.token])).status_code == 200


def test_managers_list_appointments_by_when_and_filter_upcoming_and_past(client, ann, lead):
    from agents.models import Agent
    from agents.services import sync_access

    now = timezone.now()
    soon = book_appointment(lead, ann, AppointmentFields(
        starts_at=now + timedelta(days=1), minutes=45, location="12 Elm St",
        with_whom="Pat and Sam", note=""), now=now)
    earlier = book_appointment(lead, ann, AppointmentFields(
        starts_at=now + timedelta(hours=2), minutes=30, location="The office",
        with_whom="Pat", note=""), now=now)
    Appointment.objects.filter(pk=earlier.pk).update(  # a meeting held last week
        starts_at=now - timedelta(days=7), ends_at=now - timedelta(days=7) + timedelta(hours=1))
    mia = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(mia)
    client.force_login(mia.user)

    listed = client.get(reverse("admin:leads_appointment_changelist")).content.decode()
    assert "12 Elm St" in listed and "The office" in listed and "Ann Lee" in listed
    assert listed.index("12 Elm St") < listed.index("The office")  # the latest first
    upcoming = client.get(reverse("admin:leads_appointment_changelist"),
                          {"when": "upcoming"}).content.decode()
    assert "12 Elm St" in upcoming and "The office" not in upcoming
    past = client.get(reverse("admin:leads_appointment_changelist"),
                      {"when": "past"}).content.decode()
    assert "The office" in past and "12 Elm St" not in past
    page = client.get(reverse("admin:leads_appointment_change", args=[soon.pk]))
    assert page.status_code == 200 and "Pat and Sam" in page.content.decode()
    assert client.get(reverse("admin:leads_appointment_add")).status_code == 403
