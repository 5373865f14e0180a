"""Follow-up and appointment reminders go out exactly once, even when two clock loops reach them
at the same moment (a restart overlapping the old process): each is claimed by a conditional
UPDATE of its ``reminded_at``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Appointment, Lead
from leads.reminders import send_due_reminders
from notifications.models import Notification
from tests.factories import AgentFactory, LeadFactory
from tests.threads import failures, together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_loops_at_once_send_each_reminder_once():
    now = timezone.now()
    agents = [AgentFactory() for _ in range(3)]
    leads = [LeadFactory(owner=agents[i % 3], status=Lead.Status.CONTACTED,
                         follow_up_at=now - timedelta(minutes=1)) for i in range(30)]
    for lead in leads[:10]:
        Appointment.objects.create(lead=lead, agent=lead.owner, starts_at=now + timedelta(
            minutes=10), ends_at=now + timedelta(minutes=70), created_at=now, updated_at=now)

    results = together([lambda: send_due_reminders(now), lambda: send_due_reminders(now)])
    assert not failures(results), failures(results)
    assert sum(results) == 40
    assert Notification.objects.filter(event=Notification.Event.FOLLOW_UP_DUE).count() == 30
    assert Notification.objects.filter(event=Notification.Event.APPOINTMENT_SOON).count() == 10
    assert not Lead.objects.filter(follow_up_reminded_at__isnull=True).exists()
    assert send_due_reminders(now + timedelta(seconds=5)) == 0
