"""An ISA's work on their leads: stages, temperature, follow-ups, qualification and the queue.
The hand-off is ``leads.isa.handoffs``; managers' figures are ``leads.isa.figures``.

A lead routed to an ISA (a rule whose roster holds ISAs) is theirs like any agent's lead
(``owner``); its ISA stage runs alongside the agent statuses, which it leaves alone::

    new -> contacted -> nurturing -> qualified -> handed off
      \\________________\\___________\\-> dead (with a reason; may come back to nurturing)

A lead held by an ISA with no stage yet reads as ``new``; the ISA's first logged contact makes
it ``contacted``. Marking it dead also makes the lead ``dead`` (no longer open).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When

from agents.access import is_manager
from agents.models import Agent
from config.errors import ApplicationError
from leads.models import Activity, Lead, Qualification
from leads.services import log_activity

Stage = Lead.IsaStage
OPEN_STAGES = (Stage.NEW, Stage.CONTACTED, Stage.NURTURING, Stage.QUALIFIED)
# Where an ISA may move a lead by hand (the hand-off moves it to "handed off").
NEXT_STAGES: dict[str, frozenset[str]] = {
    Stage.NEW: frozenset({Stage.CONTACTED, Stage.NURTURING, Stage.QUALIFIED, Stage.DEAD}),
    Stage.CONTACTED: frozenset({Stage.NURTURING, Stage.QUALIFIED, Stage.DEAD}),
    Stage.NURTURING: frozenset({Stage.CONTACTED, Stage.QUALIFIED, Stage.DEAD}),
    Stage.QUALIFIED: frozenset({Stage.NURTURING, Stage.DEAD}),
    Stage.DEAD: frozenset({Stage.NURTURING}),
    Stage.HANDED_OFF: frozenset(),
}
TEMPERATURE_RANK = {Lead.Temperature.HOT: 0, Lead.Temperature.WARM: 1, Lead.Temperature.COLD: 2}
NO_TEMPERATURE = 3
QUEUE_GROUPS = ("New", "Follow-ups due", "Later")


class IsaRefused(ApplicationError):
    """The change is not allowed; the message says why, in words for the ISA."""

    status_code = 403  # not this person's lead to change, or not in this stage


# --- Pure rules ------------------------------------------------------------------------------


def stage_of(lead: Lead) -> str:
    """The lead's ISA stage; "new" while an ISA holds it and nobody set one."""
    return lead.isa_stage or Stage.NEW


def stage_change_error(current: str, wanted: str, *, reason: str = "") -> str | None:
    """Why an ISA may not move a lead from ``current`` to ``wanted`` (None: they may)."""
    current = current or Stage.NEW
    if wanted == current:
        return None
    if wanted not in Stage.values:
        return f"Unknown stage {wanted!r}."
    if wanted == Stage.HANDED_OFF:
        return "Use Hand off to pass the lead to an agent."
    if current == Stage.HANDED_OFF:
        return "This lead was handed off: the agent has it now."
    if wanted == Stage.NEW:
        return "A lead cannot become new again."
    if wanted == Stage.DEAD and not reason.strip():
        return "Say why the lead is dead."
    if wanted not in NEXT_STAGES[current]:
        return (f"A {Stage(current).label.lower()} lead cannot be set to "
                f"{Stage(wanted).label.lower()}.")
    return None


def queue_group(stage: str, follow_up_on: date | None, today: date) -> int:
    """0: new leads, 1: follow-ups due today (or overdue), 2: the rest."""
    if (stage or Stage.NEW) == Stage.NEW:
        return 0
    if follow_up_on is not None and follow_up_on <= today:
        return 1
    return 2


def queue_key(stage: str, follow_up_on: date | None, temperature: str, received_at: datetime,
              lead_id: int, today: date) -> tuple:
    """The order an ISA works their leads in (the queue's SQL order, in Python).

    New leads oldest first; then follow-ups due, the longest overdue first; then the rest, hot
    before warm before cold, the nearest follow-up first. Ties: oldest lead first.
    """
    group = queue_group(stage, follow_up_on, today)
    rank = TEMPERATURE_RANK.get(temperature, NO_TEMPERATURE) if group else 0
    due = follow_up_on if group == 1 else None
    later = follow_up_on if group == 2 else None
    return (group, due is None, due or date.min, rank, later is None, later or date.min,
            received_at, lead_id)


# --- Who may do what -------------------------------------------------------------------------


def holds(lead: Lead, agent: Agent | None) -> bool:
    """The agent is the ISA holding the lead (its owner)."""
    return agent is not None and agent.role == Agent.Role.ISA and lead.owner_id == agent.pk


def may_work(lead: Lead, agent: Agent | None) -> bool:
    """The holding ISA, or a manager while an ISA holds the lead."""
    if holds(lead, agent):
        return True
    return is_manager(agent) and lead.owner is not None and lead.owner.role == Agent.Role.ISA


def may_see(lead: Lead, agent: Agent | None) -> bool:
    """The holding ISA, the lead's ISA after a hand-off (its second contact), or a manager."""
    if agent is None:
        return False
    return is_manager(agent) or lead.owner_id == agent.pk or lead.isa_id == agent.pk


def _require_work(lead: Lead, actor: Agent) -> None:
    if not may_work(lead, actor):
        if lead.isa_stage == Stage.HANDED_OFF:
            raise IsaRefused("This lead was handed off: the agent has it now.")
        raise IsaRefused("Only the ISA who holds this lead, or a manager, can change it.")


# --- Changes ---------------------------------------------------------------------------------


def log_contact(lead: Lead, actor: Agent, kind: str, body: str, *, now: datetime) -> Activity:
    """Log a call, text, email, meeting or note; the holding ISA's first contact makes a new
    lead "contacted" (and sets speed to lead). The lead's ISA may log after the hand-off too."""
    if not (may_work(lead, actor) or lead.isa_id == actor.pk):
        raise IsaRefused("Only the lead's ISA, or a manager, can log on it here.")
    with transaction.atomic():
        activity = log_activity(lead, actor, kind, body, now=now)
        if holds(lead, actor):
            changed = ["isa"] if lead.isa_id != actor.pk else []
            lead.isa = actor
            if kind in Lead.CONTACT_KINDS and stage_of(lead) == Stage.NEW:
                lead.isa_stage = Stage.CONTACTED
                changed.append("isa_stage")
            elif not lead.isa_stage:
                lead.isa_stage = Stage.NEW
                changed.append("isa_stage")
            if changed:
                lead.save(update_fields=changed)
    return activity


def update_card(
    lead: Lead, actor: Agent, *, stage: str, dead_reason: str = "", temperature: str = "",
    follow_up_on: date | None = None, now: datetime,
) -> list[str]:
    """Set the stage, temperature and follow-up date; the changes, in words (none: [])."""
    _require_work(lead, actor)
    current = stage_of(lead)
    error = stage_change_error(current, stage, reason=dead_reason)
    if error:
        raise IsaRefused(error)
    if temperature and temperature not in Lead.Temperature.values:
        raise IsaRefused(f"Unknown temperature {temperature!r}.")
    changes = []
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if stage != current:
            changes.append(f"Stage: {Stage(current).label} -> {Stage(stage).label}"
                           + (f" ({dead_reason.strip()})" if stage == Stage.DEAD else ""))
            if stage == Stage.DEAD:
                lead.status = Lead.Status.DEAD
                lead.dead_reason = dead_reason.strip()[:200]
                lead.first_contact_due_at = None
            elif current == Stage.DEAD:
                lead.status = (Lead.Status.CONTACTED if lead.first_contact_at
                               else Lead.Status.ASSIGNED)
                lead.dead_reason = ""
        elif stage == Stage.DEAD and dead_reason.strip() != lead.dead_reason:
            lead.dead_reason = dead_reason.strip()[:200]
            changes.append(f"Dead: {lead.dead_reason}")
        lead.isa_stage = stage
        if temperature != lead.temperature:
            changes.append(f"Temperature: {_label(Lead.Temperature, temperature)}")
            lead.temperature = temperature
        if follow_up_on != lead.follow_up_on:
            changes.append(f"Follow up on {day_text(follow_up_on)}" if follow_up_on
                           else "Follow-up date removed")
            lead.follow_up_on = follow_up_on
        if holds(lead, actor):
            lead.isa = actor
        elif lead.isa_id is None:
            lead.isa = lead.owner
        lead.save()
        if changes:
            Activity.objects.record(lead=lead, kind=Activity.Kind.ISA_UPDATE, actor=actor,
                                    created_at=now, body="\n".join(changes))
    return changes


QUALIFICATION_FIELDS = ("timeframe", "pre_approved", "budget", "areas", "side")


def save_qualification(lead: Lead, actor: Agent, values: dict[str, Any], *,
                       now: datetime) -> Qualification:
    """Store the qualification facts (``QUALIFICATION_FIELDS``) the agent will get."""
    _require_work(lead, actor)
    with transaction.atomic():
        qualification, _ = Qualification.objects.select_for_update().get_or_create(lead=lead)
        before = facts_of_qualification(qualification)
        for name in QUALIFICATION_FIELDS:
            if name in values:
                value = values[name]
                if name not in ("pre_approved", "budget"):
                    value = (value or "").strip()
                setattr(qualification, name, value)
        qualification.updated_at, qualification.updated_by = now, actor
        qualification.save()
        after = facts_of_qualification(qualification)
        if after != before:
            lines = [f"{label}: {after.get(key) or '(none)'}" for key, label in FACT_LABELS
                     if key != "temperature" and after.get(key) != before.get(key)]
            Activity.objects.record(lead=lead, kind=Activity.Kind.ISA_UPDATE, actor=actor,
                                    created_at=now, body="Qualification\n" + "\n".join(lines))
    lead.qualification = qualification
    return qualification


# --- Facts -----------------------------------------------------------------------------------

FACT_LABELS = (
    ("timeframe", "Timeframe"),
    ("pre_approved", "Pre-approved"),
    ("budget", "Budget"),
    ("areas", "Areas"),
    ("side", "Buyer or seller"),
    ("temperature", "Temperature"),
)


def day_text(day: date) -> str:
    return f"{day:%a %b} {day.day}, {day.year}"


def facts_lines(facts: dict[str, str]) -> list[str]:
    """Qualification facts in a fixed order, as ``Label: value`` lines."""
    return [f"{label}: {facts[key]}" for key, label in FACT_LABELS if facts.get(key)]


def _label(choices, value: str) -> str:
    return choices(value).label if value in choices.values else "(none)"


def facts_of_qualification(q: Qualification | None) -> dict[str, str]:
    if q is None:
        return {}
    facts = {
        "timeframe": q.get_timeframe_display() if q.timeframe else "",
        "pre_approved": {True: "yes", False: "no"}.get(q.pre_approved, ""),
        "budget": f"${q.budget:,.0f}" if isinstance(q.budget, Decimal | int) else "",
        "areas": q.areas,
        "side": q.get_side_display() if q.side else "",
    }
    return {k: v for k, v in facts.items() if v}


def qualification_of(lead: Lead) -> Qualification | None:
    try:
        return lead.qualification
    except Qualification.DoesNotExist:
        return None


def qualification_facts(lead: Lead) -> dict[str, str]:
    """What the receiving agent gets with the lead: the facts, and the temperature."""
    facts = facts_of_qualification(qualification_of(lead))
    if lead.temperature:
        facts["temperature"] = lead.get_temperature_display()
    return facts


# --- The queue -------------------------------------------------------------------------------


def in_care_of(isa: Agent | None) -> QuerySet[Lead]:
    """Leads an ISA holds (every ISA's, for ``None``), handed-off ones aside."""
    leads = Lead.objects.select_related("owner").filter(
        status__in=(*Lead.OPEN_STATUSES, Lead.Status.DEAD)).exclude(
        isa_stage=Stage.HANDED_OFF)
    if isa is None:
        return leads.filter(owner__role=Agent.Role.ISA)
    return leads.filter(owner=isa)


def queue(isa: Agent | None, *, today: date, stage: str = "", source: str = "",
          temperature: str = "") -> QuerySet[Lead]:
    """The ISA's leads in the order they work them (``queue_key``), filtered.

    Dead leads only show when asked for (``stage="dead"``).
    """
    leads = in_care_of(isa)
    if stage == Stage.NEW:
        leads = leads.filter(isa_stage__in=("", Stage.NEW))
    elif stage in Stage.values:
        leads = leads.filter(isa_stage=stage)
    else:
        leads = leads.exclude(isa_stage=Stage.DEAD)
    if source:
        leads = leads.filter(source__iexact=source)
    if temperature == "none":
        leads = leads.filter(temperature="")
    elif temperature:
        leads = leads.filter(temperature=temperature)
    is_new = Q(isa_stage="") | Q(isa_stage=Stage.NEW)
    due = Q(follow_up_on__lte=today)
    group = Case(When(is_new, then=Value(0)), When(due, then=Value(1)), default=Value(2),
                 output_field=IntegerField())
    rank = Case(When(is_new, then=Value(0)),
                *(When(temperature=t, then=Value(r)) for t, r in TEMPERATURE_RANK.items()),
                default=Value(NO_TEMPERATURE), output_field=IntegerField())
    return leads.annotate(
        queue_group=group, temperature_rank=rank,
        due_on=Case(When(is_new, then=Value(None)), When(due, then=F("follow_up_on")),
                    default=Value(None)),
        later_on=Case(When(is_new | due, then=Value(None)), default=F("follow_up_on")),
    ).order_by("queue_group", F("due_on").asc(nulls_last=True), "temperature_rank",
               F("later_on").asc(nulls_last=True), "received_at", "id")


def queue_sources(isa: Agent | None) -> list[str]:
    return sorted({s for s in in_care_of(isa).values_list("source", flat=True) if s},
                  key=str.lower)
