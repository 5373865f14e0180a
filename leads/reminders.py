"""Follow-up and appointment reminders, sent by the clock (``routing.clock.run_clock``) through
the agent's channels (``notifications.services.notify_many``: push, email, SMS as they chose).

Exactly once, however many clock loops run: each reminder is claimed by a conditional UPDATE of
its ``reminded_at`` (only the one that finds it still empty sends it), in the transaction that
stores the notification.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from leads.display import day_time
from leads.models import Appointment, Lead
from notifications.models import Notification
from notifications.services import Message, notify_many
from routing.models import Brokerage

#: An appointment is reminded this long before it starts (``APPOINTMENT_REMINDER_MINUTES``).
APPOINTMENT_REMINDER_MINUTES = 30
#: A follow-up the clock missed by more than this (the clock was down) is not reminded late.
STALE = timedelta(hours=12)


def reminder_lead_time() -> timedelta:
    return timedelta(minutes=getattr(settings, "APPOINTMENT_REMINDER_MINUTES",
                                     APPOINTMENT_REMINDER_MINUTES))


def send_due_reminders(now: datetime, *, keep_going: Callable[[], bool] | None = None) -> int:
    """Every follow-up due by ``now`` and every appointment starting within the reminder's lead
    time, not reminded yet: one notice each to its agent. How many were sent."""
    go = keep_going or (lambda: True)
    sent = 0
    due_leads = (Lead.objects.filter(follow_up_at__lte=now, follow_up_at__gt=now - STALE,
                                     follow_up_reminded_at__isnull=True, owner__isnull=False)
                 .order_by("follow_up_at").values_list("pk", flat=True))
    tz_name = ""
    for lead_id in due_leads:
        if not go():
            return sent
        tz_name = tz_name or Brokerage.load().tz_name
        sent += _remind_follow_up(lead_id, now, tz_name)
    due_appointments = (Appointment.objects.filter(
        cancelled_at__isnull=True, reminded_at__isnull=True, starts_at__gt=now,
        starts_at__lte=now + reminder_lead_time()).order_by("starts_at")
        .values_list("pk", flat=True))
    for appointment_id in due_appointments:
        if not go():
            return sent
        tz_name = tz_name or Brokerage.load().tz_name
        sent += _remind_appointment(appointment_id, now, tz_name)
    return sent


def _remind_follow_up(lead_id: int, now: datetime, tz_name: str) -> int:
    with transaction.atomic():
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None or lead.owner_id is None or lead.follow_up_at is None:
            return 0
        if not Lead.objects.filter(pk=lead_id, follow_up_at=lead.follow_up_at,
                                   owner_id=lead.owner_id,
                                   follow_up_reminded_at__isnull=True).update(
                follow_up_reminded_at=now):
            return 0
        body = lead.follow_up_note or "It is on your Today list."
        notify_many([Message([lead.owner_id], Notification.Event.FOLLOW_UP_DUE,
                             f"Follow up now: {lead.title}", body, lead_id=lead.pk)],
                    now=now, tz_name=tz_name)
        return 1


def _remind_appointment(appointment_id: int, now: datetime, tz_name: str) -> int:
    with transaction.atomic():
        appointment = Appointment.objects.select_related("lead").filter(
            pk=appointment_id).first()
        if appointment is None or not Appointment.objects.filter(
                pk=appointment_id, starts_at=appointment.starts_at, cancelled_at__isnull=True,
                reminded_at__isnull=True).update(reminded_at=now):
            return 0
        lead = appointment.lead
        where = f" at {appointment.location}" if appointment.location else ""
        body = f"{day_time(appointment.starts_at, now, tz_name).capitalize()}{where}."
        if appointment.with_whom:
            body += f" With {appointment.with_whom}."
        notify_many([Message([appointment.agent_id], Notification.Event.APPOINTMENT_SOON,
                             f"Appointment soon: {lead.title}", body, lead_id=lead.pk)],
                    now=now, tz_name=tz_name)
        return 1
