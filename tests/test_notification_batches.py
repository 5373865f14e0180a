"""A burst's notices go out in batches: one claim, one read and one email connection for a
batch, the deliveries marked sent a group at a time as they go out (always before the batch
ends), and none sent twice by two workers."""

from __future__ import annotations

import smtplib
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from notifications import channels, tasks
from notifications.models import Delivery, Notification
from notifications.services import Message, notify_many
from notifications.tasks import attempt_deliveries, retry_failed_deliveries, send_notifications
from routing.models import Offer
from tests.factories import AgentFactory, LeadFactory
from tests.threads import failures, together

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("America/New_York"))
COUNTING = f"{__name__}.CountingEmailBackend"


class CountingEmailBackend(EmailBackend):
    """The test outbox, counting the connections opened (one SMTP session each)."""

    opened = 0

    def open(self) -> bool:
        CountingEmailBackend.opened += 1
        return True


class DroppingEmailBackend(CountingEmailBackend):
    """A mail server that drops the session of the first email it is sent."""

    dropped = False

    def send_messages(self, messages):
        if not DroppingEmailBackend.dropped:
            DroppingEmailBackend.dropped = True
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


class SlowEmailBackend(CountingEmailBackend):
    pause = 0.3

    def send_messages(self, messages):
        time.sleep(self.pause)
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = COUNTING
    settings.SITE_URL = "https://leads.example.com"
    CountingEmailBackend.opened = 0
    DroppingEmailBackend.dropped = False


def team(count: int) -> list[Agent]:
    return [AgentFactory(user=None) for _ in range(count)]


def offered(agents: list[Agent], leads: int = 1) -> list[int]:
    """Each lead offered to every agent: the "lead offered" notices, not yet sent."""
    made = [LeadFactory(lead_type="buyer", price=450000, city="Hoboken") for _ in range(leads)]
    Offer.objects.bulk_create([
        Offer(lead=lead, agent=agent, offered_at=NOW, clock_starts_at=NOW,
              deadline=NOW + timedelta(minutes=5))
        for lead in made for agent in agents])
    notes = notify_many([Message([a.pk for a in agents], Notification.Event.LEAD_OFFERED,
                                 f"New lead: {lead.title}", "Claim it by 10:05.", lead.pk)
                         for lead in made], now=NOW)
    return [n.pk for n in notes]


def statements_to_send(ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert send_notifications(ids, now=NOW) == len(ids)
    return len(queries)


def test_a_batch_costs_a_fixed_few_statements_and_one_per_group_of_sent_marks(monkeypatch):
    few, many = offered(team(3)), offered(team(12), leads=2)

    assert statements_to_send(few) <= 12
    # The sent marks go in groups: a notice more costs no statement until a group is full.
    assert statements_to_send(many) == statements_to_send(offered(team(3)))
    monkeypatch.setattr(tasks, "MARK_EVERY", 10)
    assert statements_to_send(offered(team(12), leads=2)) == statements_to_send(
        offered(team(3))) + 2  # 24 marks: 10, 10 and 4
    assert len(mail.outbox) == 3 + 24 + 3 + 24 + 3
    assert all(m.subject.startswith("New buyer lead, $450,000, Hoboken: claim by ")
               for m in mail.outbox)
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Delivery.Status.SENT, 1)}


def test_a_batch_of_emails_opens_one_email_connection():
    agents = team(8)
    ids = offered(agents)

    assert send_notifications(ids, now=NOW) == 8

    assert CountingEmailBackend.opened == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.email for a in agents)


def test_a_dropped_mail_session_fails_one_email_and_the_batch_goes_on(settings):
    settings.EMAIL_BACKEND = f"{__name__}.DroppingEmailBackend"
    ids = offered(team(4))

    assert send_notifications(ids, now=NOW) == 3

    failed = Delivery.objects.get(status=Delivery.Status.FAILED)
    assert failed.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert failed.next_attempt_at == NOW + tasks.BACKOFF[0]
    assert CountingEmailBackend.opened == 2  # a new session after the dropped one
    assert retry_failed_deliveries(now=NOW + tasks.BACKOFF[0]) == 1
    assert len(mail.outbox) == 4


def test_each_email_names_its_own_open_offer():
    ann, bob = team(2)
    ids = offered([ann, bob])
    lead_id = Notification.objects.get(pk=ids[0]).lead_id
    # Bob's open offer has a later, ended one beside it: the open one is the email's.
    ended = Offer.objects.create(
        lead_id=lead_id, agent=bob, status=Offer.Status.EXPIRED, round=2,
        offered_at=NOW + timedelta(minutes=1), clock_starts_at=NOW,
        deadline=NOW + timedelta(minutes=6))
    send_notifications(ids, now=NOW)

    for agent in (ann, bob):
        offer = Offer.objects.get(agent=agent, status=Offer.Status.OFFERED)
        [message] = [m for m in mail.outbox if m.to == [agent.email]]
        assert f"https://leads.example.com/offers/#offer-{offer.pk}" in message.body
        assert f"#offer-{ended.pk}" not in message.body


def test_a_batch_that_held_its_claim_too_long_hands_the_rest_back(settings, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.SlowEmailBackend"
    monkeypatch.setattr(tasks, "SEND_WITHIN", timedelta(seconds=0.15))
    agents = team(3)
    ids = offered(agents)

    assert send_notifications(ids, now=NOW) == 1

    waiting = Delivery.objects.exclude(status=Delivery.Status.SENT)
    assert [(d.status, d.attempts) for d in waiting] == [(Delivery.Status.PENDING, 0)] * 2
    monkeypatch.setattr(tasks, "SEND_WITHIN", tasks.CLAIM / 2)
    assert retry_failed_deliveries(now=NOW) == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.email for a in agents)


def test_claiming_a_batch_takes_only_the_due_deliveries():
    ids = offered(team(3))
    send_notifications(ids, now=NOW)
    sent = list(Delivery.objects.values_list("pk", flat=True))
    retried = Delivery.objects.create(notification_id=ids[0], channel=Delivery.Channel.SMS,
                                      status=Delivery.Status.FAILED, attempts=1,
                                      next_attempt_at=NOW)

    assert tasks.claim_all(Delivery.objects, [*sent, retried.pk], now=NOW) == {retried.pk}
    retried.refresh_from_db()
    assert (retried.status, retried.attempts) == (Delivery.Status.SENDING, 2)
    assert retried.next_attempt_at == NOW + tasks.CLAIM
    assert tasks.claim_all(Delivery.objects, [retried.pk], now=NOW) == set()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_batch_send_each_delivery_once(settings, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.SlowEmailBackend"
    monkeypatch.setattr(SlowEmailBackend, "pause", 0.01)
    ids = offered(team(15), leads=2)
    Delivery.objects.bulk_create([Delivery(notification_id=pk, channel=Delivery.Channel.EMAIL)
                                  for pk in ids])
    pks = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))

    results = together([lambda: attempt_deliveries(pks, now=NOW),
                        lambda: attempt_deliveries(pks[::-1], now=NOW),
                        lambda: send_notifications(ids, now=NOW),
                        lambda: retry_failed_deliveries(now=NOW)])

    assert not failures(results)
    assert sum(results) == len(pks) == 30
    assert len(mail.outbox) == 30
    assert len({m.body for m in mail.outbox}) == 30  # each its own offer
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Delivery.Status.SENT, 1)}


def test_channels_read_for_a_batch_the_offers_of_its_offer_notices_only():
    ann = AgentFactory()
    ids = offered([ann])
    note = Notification.objects.select_related("recipient", "lead").get(pk=ids[0])
    other = Notification.objects.create(recipient=ann, event=Notification.Event.LEAD_ASSIGNED,
                                        lead=note.lead, title="Yours", created_at=NOW)

    offers = channels.open_offers_of([note, other])

    assert offers == {(note.lead_id, ann.pk): Offer.objects.get(agent=ann)}
    assert channels.open_offers_of([other]) == {}


def test_the_emails_of_a_batch_read_as_each_one_rendered_alone():
    ann, bob = team(2)
    ids = offered([ann, bob], leads=2)
    first = Notification.objects.get(pk=ids[0])
    Offer.objects.filter(lead_id=first.lead_id, agent=ann).update(status=Offer.Status.EXPIRED)
    lead = LeadFactory(owner=bob, message="Café au lait & <b>tea</b>?", neighborhood="Old Town",
                       first_contact_due_at=NOW + timedelta(hours=1))
    ids += [n.pk for n in notify_many([
        Message([bob.pk], Notification.Event.LEAD_ASSIGNED, f"Yours now: {lead.title}",
                "Call within the hour.", lead.pk),
        Message([ann.pk], Notification.Event.AGENT_DEACTIVATED, "Bob's leads moved on",
                "Two came to you.", None),
    ], now=NOW)]
    notices = Notification.objects.select_related("recipient", "lead").in_bulk(ids)

    assert send_notifications(ids, now=NOW) == len(ids) == 6

    alone = []
    for note in notices.values():
        content = channels.email_content(note)
        context = {"c": content, "recipient": note.recipient}
        alone.append(([note.recipient.email], content.subject,
                      render_to_string("notifications/email/notice.txt", context),
                      [(render_to_string("notifications/email/notice.html", context),
                        "text/html")]))
    assert sorted((m.to, m.subject, m.body, m.alternatives) for m in mail.outbox) == sorted(alone)
    assert {m.from_email for m in mail.outbox} == {settings.DEFAULT_FROM_EMAIL}


class RefusingEmailBackend(CountingEmailBackend):
    """A mail server that refuses the third email it is sent, and notes at each email how many
    deliveries were marked sent by then."""

    seen = 0
    marked: list[int] = []

    def send_messages(self, messages):
        RefusingEmailBackend.marked.append(
            Delivery.objects.filter(status=Delivery.Status.SENT).count())
        RefusingEmailBackend.seen += 1
        if RefusingEmailBackend.seen == 3:
            raise smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"No such user")})
        return super().send_messages(messages)


def test_sent_marks_are_written_in_groups_while_the_batch_goes_on(settings, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingEmailBackend"
    monkeypatch.setattr(RefusingEmailBackend, "seen", 0)
    monkeypatch.setattr(RefusingEmailBackend, "marked", [])
    monkeypatch.setattr(tasks, "MARK_EVERY", 2)
    ids = offered(team(6))

    assert send_notifications(ids, now=NOW) == 5

    # Marked two by two as they went out (the refused third in between, on its own).
    assert RefusingEmailBackend.marked == [0, 0, 2, 2, 2, 4]
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)
    assert failed.last_error.startswith("SMTPRecipientsRefused")
    assert failed.next_attempt_at == NOW + tasks.BACKOFF[0]
    sent = Delivery.objects.exclude(pk=failed.pk)
    assert {(d.status, d.attempts, d.sent_at, d.next_attempt_at) for d in sent} == {
        (Delivery.Status.SENT, 1, NOW, None)}


def test_a_slow_batch_writes_its_marks_within_a_short_while(settings, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingEmailBackend"
    monkeypatch.setattr(RefusingEmailBackend, "seen", -10)  # refuses none of these
    monkeypatch.setattr(RefusingEmailBackend, "marked", [])
    monkeypatch.setattr(tasks, "MARK_WITHIN", timedelta(0))
    ids = offered(team(3))

    assert send_notifications(ids, now=NOW) == 3

    assert RefusingEmailBackend.marked == [0, 1, 2]


def test_an_interrupted_batch_marks_what_went_out_and_the_rest_goes_later(monkeypatch):
    ids = offered(team(5))
    real_send = channels.send
    calls = []

    def interrupted(channel, notification, sending=None):
        calls.append(notification.pk)
        if len(calls) == 3:
            raise KeyboardInterrupt  # not a channel failure: it ends the batch
        return real_send(channel, notification, sending)

    monkeypatch.setattr(channels, "send", interrupted)
    with pytest.raises(KeyboardInterrupt):
        send_notifications(ids, now=NOW)

    statuses = dict(Delivery.objects.values_list("notification_id", "status"))
    assert [statuses[pk] for pk in calls] == [Delivery.Status.SENT] * 2 + [Delivery.Status.SENDING]
    monkeypatch.setattr(channels, "send", real_send)
    assert retry_failed_deliveries(now=NOW + tasks.CLAIM / 2) == 0  # still claimed
    assert retry_failed_deliveries(now=NOW + tasks.CLAIM) == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        Notification.objects.filter(pk__in=ids).values_list("recipient__email", flat=True))


def test_a_worker_killed_before_its_marks_were_written_sends_them_once_more(monkeypatch):
    ids = offered(team(4))
    monkeypatch.setattr(tasks.SentMarks, "flush", lambda marks: None)  # killed before a write

    assert send_notifications(ids, now=NOW) == 4

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENDING}
    monkeypatch.undo()
    assert retry_failed_deliveries(now=NOW + tasks.CLAIM) == 4
    assert retry_failed_deliveries(now=NOW + tasks.CLAIM + tasks.BACKOFF[-1]) == 0
    # Each went out twice at most (at least once), and is now marked sent for good.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        2 * list(Notification.objects.filter(pk__in=ids).values_list("recipient__email",
                                                                     flat=True)))
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Delivery.Status.SENT, 2)}
