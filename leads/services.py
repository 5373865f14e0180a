"""Work on a lead once it is in: the activity log, speed to lead and the agent's stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from agents.access import is_manager
from agents.models import Agent
from config.errors import ApplicationError
from config.text import plural
from leads import followups
from leads.models import Activity, Lead, Stage
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


# --- stages -----------------------------------------------------------------------------------


class StageRefused(ApplicationError):
    """The stage cannot be set as asked; the message says why (``extra["field"]``: which field
    of the API's body is wrong)."""

    status_code = 400


class NotYourLead(StageRefused):
    status_code = 403


#: The longest lost reason kept (``Lead.lost_reason``).
LOST_REASON_MAX = 200


@dataclass(frozen=True)
class StageChange:
    """What setting a stage did, for the words the agent reads."""

    lead: Lead
    stage: Stage
    changed: bool
    follow_up_cleared: bool = False
    appointments_cancelled: int = 0

    @property
    def message(self) -> str:
        if not self.changed:
            return f"Already {self.stage.name}."
        text = f"Stage: {self.stage.name}."
        if self.follow_up_cleared:
            text += " Its follow-up is removed."
        if self.appointments_cancelled:
            text += f" {plural(self.appointments_cancelled, 'appointment')} cancelled."
        return text


def current_stage(lead: Lead) -> Stage | None:
    """The lead's stage: a lead never moved is in the first stage (None: there are none)."""
    return lead.stage if lead.stage_id is not None else Stage.objects.first()


def _stage_status(lead: Lead, stage: Stage) -> str:
    """A won stage closes the lead, a lost one ends it (dead), an open one reopens it."""
    if stage.outcome == Stage.Outcome.WON:
        return Lead.Status.CLOSED
    if stage.outcome == Stage.Outcome.LOST:
        return Lead.Status.DEAD
    if lead.status in (Lead.Status.CLOSED, Lead.Status.DEAD):
        return Lead.Status.CONTACTED if lead.first_contact_at else Lead.Status.ASSIGNED
    return lead.status


def set_stage(lead: Lead, stage: Stage, by: Agent, lost_reason: str = "", *,
              now: datetime | None = None) -> StageChange:
    """Move the lead to ``stage``, on its timeline ("Stage: Contacted → Lost: ...").

    The lead's agent or a manager only. Locks the lead row (``SELECT ... FOR UPDATE``: the
    lock order's lead step), then writes its own rows. A won (closed) or lost stage needs a
    first contact logged before, and lost needs a reason; either ends the lead's follow-up and
    cancels its appointments still to come (off the Today list, the reminders and the calendar
    feed). An open stage reopens a closed or lost lead. The time is taken once the lock is
    held, so two taps at once stand on the timeline in the order they took effect.
    """
    reason = " ".join(lost_reason.split())[:LOST_REASON_MAX]
    ends = stage.outcome in (Stage.Outcome.WON, Stage.Outcome.LOST)
    if stage.outcome == Stage.Outcome.LOST and not reason:
        raise StageRefused(f"Say why the lead is {stage.name.lower()}.",
                           extra={"field": "lost_reason"})
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        now = now or timezone.now()
        if locked.owner_id != by.pk and not is_manager(by):
            raise NotYourLead("Only the lead's agent or a manager can change its stage.")
        if locked.owner_id is None:
            raise StageRefused("This lead has no agent yet: claim it first.")
        if ends and locked.first_contact_at is None:
            raise StageRefused(f"Log your first contact (a call, text, email or meeting) "
                               f"before you mark this lead {stage.name}.")
        before = current_stage(locked)
        if before is not None and before.pk == stage.pk and locked.lost_reason == (
                reason if stage.outcome == Stage.Outcome.LOST else ""):
            _copy(locked, lead)
            return StageChange(lead, stage, changed=False)
        cleared = ends and locked.follow_up_at is not None
        updates = {"stage": stage, "status": _stage_status(locked, stage),
                   "lost_reason": reason if stage.outcome == Stage.Outcome.LOST else ""}
        if ends:
            updates.update(follow_up_at=None, follow_up_note="", follow_up_reminded_at=None)
        Lead.objects.filter(pk=locked.pk).update(**updates)
        for name, value in updates.items():
            setattr(locked, name, value)
        body = f"Stage: {before.name if before else 'none'} → {stage.name}"
        if reason and stage.outcome == Stage.Outcome.LOST:
            body += f": {reason}"
        if cleared:
            body += ". Follow-up removed"
        Activity.objects.record(
            lead=locked, kind=Activity.Kind.STAGE, actor=by, created_at=now, body=body,
            data={"from": before.key if before else None, "to": stage.key,
                  "lost_reason": updates["lost_reason"]})
        cancelled = 0
        if ends:
            for appointment in locked.appointments.select_related("lead").filter(
                    cancelled_at__isnull=True, starts_at__gt=now).order_by("starts_at", "id"):
                followups.cancel_appointment(appointment, by, now=now)
                cancelled += 1
        _copy(locked, lead)
    return StageChange(lead, stage, changed=True, follow_up_cleared=cleared,
                       appointments_cancelled=cancelled)


def _copy(source: Lead, target: Lead) -> None:
    """The caller's instance reads what was written."""
    for name in ("stage", "status", "lost_reason", "follow_up_at", "follow_up_note",
                 "follow_up_reminded_at", "first_contact_at"):
        setattr(target, name, getattr(source, name))
