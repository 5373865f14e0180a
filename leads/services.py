"""Work on a lead once it is in: the activity log and speed to lead."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When

from agents.models import Agent
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.models import WebhookEvent


def log_activity(lead: Lead, actor: Agent, kind: str, body: str, *, now: datetime) -> Activity:
    """Log a call, text, email, meeting or note on a lead.

    The owner's first logged contact (not a note, not merely opening the lead) sets speed to
    lead, stops the first-contact clock and is told to the webhooks (``lead.contacted``).
    """
    if kind not in Activity.Kind.values or kind not in (*Lead.CONTACT_KINDS, Activity.Kind.NOTE):
        raise ValueError(f"Unknown activity kind {kind!r}")
    with transaction.atomic():
        activity = Activity.objects.record(lead=lead, kind=kind, actor=actor, created_at=now,
                                           body=body)
        if kind in Lead.CONTACT_KINDS and lead.owner_id == actor.pk:
            first = Lead.objects.filter(pk=lead.pk, owner_id=actor.pk,
                                        first_contact_at__isnull=True).update(
                first_contact_at=now, first_contact_due_at=None,
                status=Case(When(status=Lead.Status.ASSIGNED, then=Value(Lead.Status.CONTACTED)),
                            default=F("status")))
            if first:
                lead.refresh_from_db(fields=["first_contact_at", "first_contact_due_at",
                                             "status"])
                webhooks.emit(WebhookEvent.LEAD_CONTACTED, lead, now=now, data={
                    "agent": actor, "kind": kind, "contacted_at": now,
                    "speed_to_lead_seconds": round(speed_to_lead(lead).total_seconds())})
    return activity


def speed_to_lead(lead: Lead) -> timedelta | None:
    """From arrival to the owner's first logged contact."""
    if lead.first_contact_at is None:
        return None
    return lead.first_contact_at - lead.received_at
