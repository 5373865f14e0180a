"""Channels are chosen when a notification is made; non-urgent notices wait for the end of the
recipient's quiet hours (offers, reminders, escalations and new leads do not)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from notifications import sms
from notifications.models import Delivery, Notification, Preference
from notifications.services import notify
from notifications.tasks import retry_failed_deliveries, send_notifications
from routing.models import Brokerage
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

TZ = "America/Chicago"
E = Notification.Event


def at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo(TZ))


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    brokerage = Brokerage.load()
    brokerage.timezone = TZ
    brokerage.save()
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def test_a_preference_changed_later_neither_resends_nor_withholds_old_notices():
    ann = AgentFactory(phone="+13125550101")
    pref = Preference.objects.create(agent=ann, email=True, sms=False)
    [old] = notify([ann.pk], E.REGISTERED_AGAIN, "Pat Buyer registered again", now=at(10))
    assert old.channels == ["email"]

    pref.email, pref.sms = False, True  # changed before the task ran, then again after
    pref.save()
    send_notifications([old.pk], now=at(10))
    assert [m.to for m in mail.outbox] == [[ann.email]] and sms.outbox == []

    send_notifications([old.pk], now=at(10, 5))  # a second run, the retry sweep
    retry_failed_deliveries(now=at(11))
    assert len(mail.outbox) == 1 and sms.outbox == []
    assert list(Delivery.objects.values_list("channel", flat=True)) == ["email"]

    [new] = notify([ann.pk], E.REGISTERED_AGAIN, "Sam registered again", now=at(12))
    send_notifications([new.pk], now=at(12))
    assert new.channels == ["sms"]
    assert len(mail.outbox) == 1 and [m.to for m in sms.outbox] == ["+13125550101"]


def test_a_non_urgent_notice_waits_for_the_end_of_quiet_hours_urgent_ones_do_not():
    ann = AgentFactory(quiet_hours_start=time(21), quiet_hours_end=time(7))
    [later] = notify([ann.pk], E.OFFER_WITHDRAWN, "Claimed by another agent", now=at(23))
    [offer] = notify([ann.pk], E.LEAD_OFFERED, "Lead offered: Buyer lead, Hoboken",
                     now=at(23))
    assert later.send_after == at(7, day=21) and offer.send_after is None

    send_notifications([later.pk, offer.pk], now=at(23))
    assert [m.subject for m in mail.outbox] == ["Lead offered: Buyer lead, Hoboken"]
    assert Notification.objects.filter(read_at__isnull=True).count() == 2  # the bell: both

    retry_failed_deliveries(now=at(6, 59, day=21))
    assert len(mail.outbox) == 1
    retry_failed_deliveries(now=at(7, 0, day=21))
    assert [m.subject for m in mail.outbox][1:] == ["Claimed by another agent"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_outside_quiet_hours_nothing_waits():
    ann = AgentFactory(quiet_hours_start=time(21), quiet_hours_end=time(7))
    [note] = notify([ann.pk], E.OFFER_WITHDRAWN, "Claimed by another agent", now=at(12))
    assert note.send_after is None
    send_notifications([note.pk], now=at(12))
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(("start", "end", "now", "until"), [
    (time(21), time(7), at(23), at(7, day=21)),          # across midnight, before it
    (time(21), time(7), at(2), at(7)),                   # across midnight, after it
    (time(21), time(7), at(7), None),                    # the end is not quiet any more
    (time(21), time(7), at(20, 59), None),
    (time(12), time(14), at(13), at(14)),                # a lunch break
    (time(12), time(14), at(15), None),
    (None, time(7), at(2), None),                        # not set
])
def test_quiet_until(start, end, now, until):
    agent = AgentFactory.build(quiet_hours_start=start, quiet_hours_end=end)
    assert agent.quiet_until(now, TZ) == until
    if until is not None:
        assert until - now <= timedelta(hours=24)
