"""Notifications: stored in-app, sent by email and SMS per preference, retried with back-off."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from leads.intake import receive_lead
from notifications import sms
from notifications.models import Delivery, Notification, Preference
from notifications.services import notify
from notifications.tasks import (
    BACKOFF,
    CLAIM,
    MAX_ATTEMPTS,
    attempt,
    retry_failed_deliveries,
    send_notifications,
)
from notifications.texting import opt_out
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import failures, together

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("America/New_York"))
PHONE = "+13125550101"
LOCMEM_SMS = "notifications.sms.LocmemSmsBackend"


class FailingSmsBackend(sms.BaseSmsBackend):
    def send(self, to: str, body: str) -> None:
        raise ConnectionError("provider unreachable")


class SlowSmsBackend(sms.LocmemSmsBackend):
    def send(self, to: str, body: str) -> None:
        time.sleep(0.2)
        super().send(to, body)


@pytest.fixture(autouse=True)
def _backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = LOCMEM_SMS
    settings.SITE_URL = "https://leads.example.com"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def tell(*agents, title="New lead: Pat Buyer", body="Call within 5 minutes."):
    notes = notify([a.pk for a in agents], Notification.Event.LEAD_OFFERED, title, body=body,
                   now=NOW)
    return [n.pk for n in notes]


def test_notify_stores_in_app_notifications_and_queues_one_task(
        django_capture_on_commit_callbacks):
    ann, bob = AgentFactory(), AgentFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notify([ann.pk, bob.pk, ann.pk], Notification.Event.LEAD_ASSIGNED, "Lead assigned",
               body="Pat Buyer is yours.", now=NOW)

    stored = Notification.objects.order_by("recipient__name")
    assert [(n.recipient, n.title, n.body, n.read_at) for n in stored] == [
        (ann, "Lead assigned", "Pat Buyer is yours.", None),
        (bob, "Lead assigned", "Pat Buyer is yours.", None),
    ]
    assert OrmQ.objects.count() == 1  # one task for all of them, sent by the cluster
    assert not Delivery.objects.exists() and not mail.outbox


def test_notify_inside_a_rolled_back_transaction_queues_nothing():
    ann = AgentFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        tell(ann)
        raise RuntimeError("routing failed")

    assert not Notification.objects.exists()
    assert OrmQ.objects.count() == 0


def test_task_sends_by_email_and_sms_per_preference():
    default = AgentFactory(phone=PHONE)  # no preference row: email only
    both = AgentFactory(phone="+13125550102")
    Preference.objects.create(agent=both, email=True, sms=True)
    sms_only = AgentFactory(phone="+13125550103")
    Preference.objects.create(agent=sms_only, email=False, sms=True)
    no_phone = AgentFactory()
    Preference.objects.create(agent=no_phone, email=True, sms=True)
    quiet = AgentFactory(phone="+13125550104")
    Preference.objects.create(agent=quiet, email=False, sms=False)

    sent = send_notifications(tell(default, both, sms_only, no_phone, quiet))

    assert sent == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [default.email, both.email, no_phone.email])
    message = mail.outbox[0]
    assert message.subject == "New lead: Pat Buyer"
    assert "Call within 5 minutes." in message.body
    assert "https://leads.example.com/notifications/" in message.body
    assert sorted(m.to for m in sms.outbox) == ["+13125550102", "+13125550103"]
    assert sms.outbox[0].body.startswith("New lead: Pat Buyer\nCall within 5 minutes.")
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert Delivery.objects.filter(notification__recipient=quiet).count() == 0
    assert not Delivery.objects.filter(notification__recipient=no_phone,
                                       channel=Delivery.Channel.SMS).exists()
    assert Notification.objects.filter(read_at__isnull=True).count() == 5  # still unread in-app


def test_running_the_task_twice_sends_once():
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=True, sms=True)
    ids = tell(ann)

    assert send_notifications(ids) == 2
    assert send_notifications(ids) == 0

    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    assert Delivery.objects.count() == 2
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def test_failing_sms_is_recorded_and_email_still_goes_out(settings):
    settings.SMS_BACKEND = f"{__name__}.FailingSmsBackend"
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=True, sms=True)

    assert send_notifications(tell(ann), now=NOW) == 1  # no exception out of the task

    assert [m.to for m in mail.outbox] == [[ann.email]]
    text = Delivery.objects.get(channel=Delivery.Channel.SMS)
    assert text.status == Delivery.Status.FAILED
    assert text.attempts == 1
    assert text.last_error == "ConnectionError: provider unreachable"
    assert text.next_attempt_at == NOW + timedelta(minutes=1)
    assert text.sent_at is None
    assert Delivery.objects.get(channel=Delivery.Channel.EMAIL).status == Delivery.Status.SENT


def test_retry_sends_a_failed_delivery_once_its_time_comes(settings):
    settings.SMS_BACKEND = f"{__name__}.FailingSmsBackend"
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=True, sms=True)
    send_notifications(tell(ann), now=NOW)
    settings.SMS_BACKEND = LOCMEM_SMS  # the provider is back

    assert retry_failed_deliveries(now=NOW + timedelta(seconds=30)) == 0  # not yet
    assert sms.outbox == []
    assert retry_failed_deliveries(now=NOW + timedelta(minutes=1)) == 1

    assert [m.to for m in sms.outbox] == [PHONE]
    text = Delivery.objects.get(channel=Delivery.Channel.SMS)
    assert (text.status, text.attempts, text.last_error) == (Delivery.Status.SENT, 2, "")
    assert text.next_attempt_at is None and text.sent_at == NOW + timedelta(minutes=1)
    assert retry_failed_deliveries(now=NOW + timedelta(hours=5)) == 0
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1


def test_failures_back_off_then_give_up_after_five_attempts(settings):
    settings.SMS_BACKEND = f"{__name__}.FailingSmsBackend"
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=False, sms=True)
    send_notifications(tell(ann), now=NOW)
    text = Delivery.objects.get()
    waits = []
    at = NOW
    while text.next_attempt_at is not None:
        waits.append(text.next_attempt_at - at)
        at = text.next_attempt_at
        retry_failed_deliveries(now=at)
        text.refresh_from_db()

    assert tuple(waits) == BACKOFF == (timedelta(minutes=1), timedelta(minutes=5),
                                       timedelta(minutes=30), timedelta(hours=2))
    assert (text.status, text.attempts) == (Delivery.Status.FAILED, MAX_ATTEMPTS)
    assert MAX_ATTEMPTS == 5
    settings.SMS_BACKEND = LOCMEM_SMS
    assert retry_failed_deliveries(now=NOW + timedelta(days=1)) == 0  # given up
    assert sms.outbox == []


def test_a_delivery_claimed_by_another_worker_is_not_sent_again():
    ann = AgentFactory()
    ids = tell(ann)
    send_notifications(ids, now=NOW)
    email = Delivery.objects.get()
    # Another worker claimed it (status sending) and is still within its claim.
    Delivery.objects.filter(pk=email.pk).update(
        status=Delivery.Status.SENDING, attempts=1, next_attempt_at=NOW + CLAIM)
    mail.outbox.clear()

    assert attempt(email.pk, now=NOW + timedelta(minutes=1)) is False
    assert send_notifications(ids, now=NOW + timedelta(minutes=1)) == 0
    assert retry_failed_deliveries(now=NOW + timedelta(minutes=1)) == 0
    assert mail.outbox == []

    # That worker died: once its claim ends the retry takes the delivery over.
    assert retry_failed_deliveries(now=NOW + CLAIM) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts, len(mail.outbox)) == (Delivery.Status.SENT, 2, 1)


def test_sms_without_a_phone_any_more_gives_up_at_once():
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=False, sms=True)
    ids = tell(ann)
    ann.phone = ""
    ann.save()
    Delivery.objects.create(notification_id=ids[0], channel=Delivery.Channel.SMS)

    assert send_notifications(ids, now=NOW) == 0

    text = Delivery.objects.get()
    assert (text.status, text.next_attempt_at) == (Delivery.Status.FAILED, None)
    assert "no phone number" in text.last_error


def test_retry_schedule_is_registered():
    schedule = Schedule.objects.get(name="retry notification deliveries")
    assert schedule.func == "notifications.tasks.retry_failed_deliveries"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


def test_sms_backends(settings, tmp_path, capsys):
    settings.SMS_FROM = "+13125550000"
    settings.SMS_FILE_PATH = str(tmp_path / "out" / "sms.jsonl")
    file_backend = sms.get_sms_backend("notifications.sms.FileSmsBackend")
    file_backend.send(PHONE, "one")
    file_backend.send(PHONE, "two\nlines")
    lines = [json.loads(line) for line in (tmp_path / "out" / "sms.jsonl").read_text()
             .splitlines()]
    assert [(r["to"], r["from"], r["body"]) for r in lines] == [
        (PHONE, "+13125550000", "one"), (PHONE, "+13125550000", "two\nlines")]

    settings.SMS_BACKEND = "notifications.sms.ConsoleSmsBackend"
    backend = sms.get_sms_backend()
    assert isinstance(backend, sms.ConsoleSmsBackend)
    backend.send(PHONE, "hello")
    assert f"SMS to {PHONE} from +13125550000\nhello" in capsys.readouterr().out

    sms.get_sms_backend(LOCMEM_SMS).send(PHONE, "kept")
    assert sms.outbox == [sms.SmsMessage(PHONE, "kept", "+13125550000")]
    with pytest.raises(NotImplementedError):
        sms.BaseSmsBackend().send(PHONE, "x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_delivery_twice(settings):
    settings.SMS_BACKEND = f"{__name__}.SlowSmsBackend"
    ann = AgentFactory(phone=PHONE)
    Preference.objects.create(agent=ann, email=False, sms=True)
    ids = tell(ann)
    pk = Delivery.objects.create(notification_id=ids[0], channel=Delivery.Channel.SMS).pk
    runs = [lambda: attempt(pk), lambda: attempt(pk), lambda: send_notifications(ids),
            lambda: send_notifications(ids), retry_failed_deliveries, retry_failed_deliveries]
    assert not failures(together(runs))
    assert len(sms.outbox) == 1
    text = Delivery.objects.get()
    assert (text.status, text.attempts) == (Delivery.Status.SENT, 1)


def test_admin_lists_notifications_preferences_and_failed_deliveries(admin_client, settings):
    settings.SMS_BACKEND = f"{__name__}.FailingSmsBackend"
    ann = AgentFactory(name="Ann Lee", phone=PHONE)
    Preference.objects.create(agent=ann, email=True, sms=True)
    ids = tell(ann)
    send_notifications(ids, now=NOW)
    text = Delivery.objects.get(channel=Delivery.Channel.SMS)

    page = admin_client.get("/admin/notifications/notification/")
    assert page.status_code == 200 and b"New lead: Pat Buyer" in page.content
    page = admin_client.get(f"/admin/notifications/notification/{ids[0]}/change/")
    assert page.status_code == 200 and b"provider unreachable" in page.content
    page = admin_client.get("/admin/notifications/preference/")
    assert page.status_code == 200 and b"Ann Lee" in page.content

    failed = admin_client.get("/admin/notifications/delivery/")
    assert failed.status_code == 200
    assert list(failed.context["cl"].queryset) == [text]  # opens on the failed ones
    every = admin_client.get("/admin/notifications/delivery/?status=all")
    assert every.context["cl"].queryset.count() == 2

    response = admin_client.post("/admin/notifications/delivery/",
                                 {"action": "retry_now", "_selected_action": [text.pk]})
    assert response.status_code == 302
    text.refresh_from_db()
    assert text.status == Delivery.Status.FAILED and text.next_attempt_at is not None
    settings.SMS_BACKEND = LOCMEM_SMS
    assert retry_failed_deliveries() == 1 and [m.to for m in sms.outbox] == [PHONE]


def test_routed_leads_go_out_as_the_agent_wants_them_now():
    """Routing keeps how everyone can be reached in its cached snapshot: a preference or an
    opt-out changed between two leads counts for the second."""
    agent = AgentFactory(phone=PHONE)
    RuleFactory(name="Everything", is_catch_all=True,
                roster=RosterFactory.with_members([agent]))

    def channels_of_next_lead(n: int) -> list[str]:
        result = receive_lead({"first_name": "Pat", "last_name": f"Buyer{n}",
                               "email": f"pat{n}@example.org", "source": "Zillow"},
                              channel="file", received_at=timezone.now())
        assert result.status == "assigned"
        return Notification.objects.filter(recipient=agent).latest("id").channels

    assert channels_of_next_lead(1) == ["email"]
    Preference.objects.create(agent=agent, email=True, sms=True)
    assert channels_of_next_lead(2) == ["email", "sms"]
    opt_out(phone=PHONE, keyword="STOP", now=timezone.now())
    assert channels_of_next_lead(3) == ["email"]


def test_the_task_row_is_the_one_django_qs_orm_broker_writes():
    """``OrmBroker`` (the configured broker) writes the queue's row as django-q's ORM broker
    does, its key, payload and lock, each with its id, and takes it back the same way."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM

    from notifications.queueing import OrmBroker, queue_broker

    assert type(get_broker()) is OrmBroker and queue_broker() is queue_broker()
    before = timezone.now()
    with transaction.atomic():
        ours, theirs = OrmBroker(list_key="q"), ORM(list_key="q")
        first, second = ours.enqueue("signed-1"), theirs.enqueue("signed-2")
    rows = OrmQ.objects.in_bulk([first, second])
    assert first != second
    assert [(rows[pk].key, rows[pk].payload) for pk in (first, second)] == [
        ("q", "signed-1"), ("q", "signed-2")]
    assert before <= rows[first].lock <= rows[second].lock <= timezone.now()
    time.sleep(0.01)
    taken = [payload for _ in range(2) for _, payload in ours.dequeue()]  # one at a time
    assert sorted(taken) == ["signed-1", "signed-2"]
