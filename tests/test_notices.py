"""What agents are told and when it stops counting: titles that give away no contact details
before the claim, one notice per event and person, offer notices done once the offer ends, and
sending queued only after the commit (with a sweep for a task that never ran)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction
from django_q.models import OrmQ, Schedule

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Lead
from notifications import sms, tasks
from notifications.models import Delivery, Notification, Preference
from notifications.services import Message, notify, notify_many, unread_for
from notifications.tasks import send_notifications
from routing.claims import (
    assign_lead,
    claim_offer,
    decline_offer,
    move_to_pond,
    return_to_routing,
)
from routing.clock import run_clock
from routing.models import Offer, Rule
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
MIN = timedelta(minutes=1)
E = Notification.Event
EMAIL, PHONE = "jordan.secret@example.org", "+12015550123"


@pytest.fixture(autouse=True)
def _backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    settings.SITE_URL = "https://leads.example.com"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", user=None, **kw)


def manager(name: str = "Meg") -> Agent:
    return agent(name, role=Agent.Role.MANAGER)


def rule(agents: list[Agent], **kw) -> Rule:
    kw.setdefault("delivery", Rule.Delivery.CLAIM)
    return RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members(agents), **kw)


def nameless(at: datetime = NOW, **fields) -> Lead:
    """A lead that gave only contact details, a type and a town."""
    data = {"email": EMAIL, "phone": PHONE, "lead_type": "buyer", "city": "Hoboken", **fields}
    return Lead.objects.get(pk=receive_lead(data, channel="api", received_at=at).lead.pk)


def unread(who: Agent, lead: Lead) -> list[str]:
    return list(unread_for(who.pk).filter(lead=lead).order_by("id")
                .values_list("event", flat=True))


def open_offer(lead: Lead, who: Agent) -> Offer:
    return Offer.objects.get(lead=lead, agent=who, status=Offer.Status.OFFERED)


# --- Item 3: a lead's title gives away no contact details ------------------------------------


def test_a_lead_is_titled_by_name_else_type_and_area_else_its_number():
    assert LeadFactory(first_name="Pat", last_name="Doe", email=EMAIL).title == "Pat Doe"
    assert LeadFactory(first_name="", last_name="", email=EMAIL, phone=PHONE,
                       lead_type="buyer", city="Hoboken").title == "Buyer lead, Hoboken"
    seller = LeadFactory(first_name="", last_name="", email=EMAIL, lead_type="seller")
    assert seller.title == f"Seller lead #{seller.pk}"
    bare = LeadFactory(first_name="", last_name="", email=EMAIL, phone=PHONE)
    assert bare.title == f"Lead #{bare.pk}" == str(bare)


def test_no_message_to_agents_shows_a_nameless_leads_email_or_phone(settings):
    ann, bob, cy, meg = agent("Ann"), agent("Bob"), agent("Cy"), manager()
    for person in (ann, bob, cy, meg):
        Preference.objects.create(agent=person, email=True, sms=True)
        person.phone = f"+1312555{person.pk:04d}"
        person.save()
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM, escalate_to=cy)
    claimed = nameless()  # offered to Ann and Bob
    run_clock(NOW + 3 * MIN)  # reminders
    claim_offer(open_offer(claimed, bob).pk, bob, now=NOW + 4 * MIN)  # Ann: withdrawn
    escalated = nameless(NOW + 5 * MIN, email="other@example.org", phone="+12015550999")
    run_clock(NOW + 11 * MIN)  # nobody claims: escalated to Cy, managers told

    notes = list(Notification.objects.all())
    events = {n.event for n in notes}
    assert {E.LEAD_OFFERED, E.OFFER_REMINDER, E.OFFER_WITHDRAWN, E.LEAD_ESCALATED} <= events
    send_notifications([n.pk for n in notes], now=NOW + 12 * MIN)
    texts = ([f"{n.title}\n{n.body}" for n in notes]
             + [f"{m.subject}\n{m.body}" for m in mail.outbox] + [m.body for m in sms.outbox])
    assert len(mail.outbox) == len(sms.outbox) == len(notes)
    for text in texts:
        for secret in (EMAIL, "jordan.secret", "5550123", "other@example.org", "5550999"):
            assert secret not in text
    assert Notification.objects.get(recipient=ann, lead=claimed, event=E.LEAD_OFFERED).title == (
        "Lead offered: Buyer lead, Hoboken")
    assert Notification.objects.get(recipient=cy, lead=escalated).title == (
        "New lead: Buyer lead, Hoboken")


# --- Item 14: one notice per event and person; offer notices done when the offer ends --------


def test_a_manager_who_is_also_the_escalation_target_gets_one_notice():
    ann, meg = agent("Ann"), manager()
    rule([ann], escalate_to=meg)
    lead = nameless()

    run_clock(NOW + 5 * MIN)  # Ann lets it expire: escalated to Meg, a manager

    assert Lead.objects.get(pk=lead.pk).owner_id == meg.pk
    assert list(Notification.objects.filter(recipient=meg, lead=lead)
                .values_list("event", flat=True)) == [E.LEAD_ESCALATED]


def test_notify_many_tells_each_person_once_per_event_and_lead():
    ann, bob = agent("Ann"), agent("Bob")
    lead = LeadFactory()
    notify_many([Message([ann.pk, bob.pk], E.LEAD_ESCALATED, "New lead: Pat", lead_id=lead.pk),
                 Message([ann.pk], E.LEAD_ESCALATED, "Pat escalated", lead_id=lead.pk),
                 Message([ann.pk], E.LEAD_ASSIGNED, "New lead: Pat", lead_id=lead.pk)], now=NOW)
    assert sorted(Notification.objects.values_list("recipient__name", "event", "title")) == [
        ("Ann", E.LEAD_ASSIGNED, "New lead: Pat"), ("Ann", E.LEAD_ESCALATED, "New lead: Pat"),
        ("Bob", E.LEAD_ESCALATED, "New lead: Pat")]


def test_the_offer_and_reminder_notices_are_done_once_the_offer_expires():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    lead = nameless()
    run_clock(NOW + 3 * MIN)
    assert unread(ann, lead) == [E.LEAD_OFFERED, E.OFFER_REMINDER]

    run_clock(NOW + 5 * MIN)  # expired: offered to Bob

    assert unread(ann, lead) == []
    assert Notification.objects.filter(recipient=ann, lead=lead,
                                       read_at=NOW + 5 * MIN).count() == 2
    assert unread(bob, lead) == [E.LEAD_OFFERED]


def test_the_offer_notice_is_done_once_the_agent_declines():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    lead = nameless()
    decline_offer(open_offer(lead, ann).pk, ann, now=NOW + MIN)
    assert unread(ann, lead) == []
    assert unread(bob, lead) == [E.LEAD_OFFERED]


def test_the_offer_notice_is_done_once_claimed_and_withdrawn_for_the_others():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    lead = nameless()
    run_clock(NOW + 3 * MIN)
    claim_offer(open_offer(lead, bob).pk, bob, now=NOW + 4 * MIN)
    assert unread(bob, lead) == []
    assert unread(ann, lead) == [E.OFFER_WITHDRAWN]  # the news stays, the stale offer goes


@pytest.mark.parametrize("manager_moves", ["return_to_routing", "move_to_pond", "assign_lead"])
def test_the_offer_notice_is_done_when_a_manager_withdraws_the_offer(manager_moves):
    ann, meg = agent("Ann"), manager()
    rule([ann])
    lead = nameless()
    assert unread(ann, lead) == [E.LEAD_OFFERED]
    if manager_moves == "return_to_routing":
        return_to_routing(lead.pk, by=meg, now=NOW + MIN)
        assert list(Offer.objects.filter(lead=lead).values_list("status", flat=True)) == [
            Offer.Status.WITHDRAWN, Offer.Status.OFFERED]
        assert unread(ann, lead) == [E.LEAD_OFFERED]  # the new round's offer only
        assert unread_for(ann.pk).get(lead=lead).created_at == NOW + MIN
    elif manager_moves == "move_to_pond":
        move_to_pond(lead.pk, by=meg, now=NOW + MIN)
        assert unread(ann, lead) == []
    else:
        assign_lead(lead.pk, meg, by=meg, now=NOW + MIN)
        assert unread(ann, lead) == []


# --- Item 9: sending is queued once the change commits; a sweep sends what no task did -------


def test_the_send_task_is_committed_with_the_change(django_capture_on_commit_callbacks):
    ann = agent("Ann")
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        notify([ann.pk], E.LEAD_ASSIGNED, "New lead: Pat", now=NOW)
        assert OrmQ.objects.count() == 1  # the ORM broker's row, in the change's transaction
    assert callbacks == []


def test_with_redis_the_send_task_is_queued_only_when_the_change_commits(
        django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("notifications.queueing.Conf.ORM", None)  # not transactional
    ann = agent("Ann")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notify([ann.pk], E.LEAD_ASSIGNED, "New lead: Pat", now=NOW)
        assert OrmQ.objects.count() == 0  # a Redis worker could not find it yet: not queued
    assert len(callbacks) == 1


def test_the_sweep_sends_notifications_whose_task_never_ran():
    ann, quiet = agent("Ann"), agent("Quiet")
    Preference.objects.create(agent=quiet, email=False, sms=False)
    notify([ann.pk, quiet.pk], E.LEAD_ASSIGNED, "New lead: Pat", now=NOW)  # task lost

    # Within a minute its own task may still come: the sweep leaves it.
    assert tasks.send_undelivered_notifications(now=NOW + 30 * timedelta(seconds=1)) == 0
    assert tasks.send_undelivered_notifications(now=NOW + 2 * MIN) == 2
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert Delivery.objects.get().status == Delivery.Status.SENT
    assert not Notification.objects.filter(dispatched_at__isnull=True).exists()
    assert tasks.send_undelivered_notifications(now=NOW + 3 * MIN) == 0  # once
    assert len(mail.outbox) == 1


def test_a_notification_its_task_sent_is_not_swept_again():
    ann = agent("Ann")
    [note] = notify([ann.pk], E.LEAD_ASSIGNED, "New lead: Pat", now=NOW)
    send_notifications([note.pk], now=NOW + 5 * timedelta(seconds=1))
    assert tasks.send_undelivered_notifications(now=NOW + 5 * MIN) == 0
    assert len(mail.outbox) == 1


def test_the_sweep_is_scheduled_every_minute():
    schedule = Schedule.objects.get(name="send undelivered notifications")
    assert schedule.func == "notifications.tasks.send_undelivered_notifications"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)
