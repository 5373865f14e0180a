"""ISA hand-offs: a lead goes from the ISA who worked it to an agent, who must claim or contact
it in time, or it escalates.

The ISA (or a manager for them) chooses the receiving side: an agent by name, or a
``HandoffTarget`` set up by managers (a roster, a selection and a delivery mode, like a rule's).

* The decision is the engine's: ``decide_handoff`` builds a ``RuleInfo`` from the target (its id
  is the target's id, negated, so it never meets a real rule) and calls ``engine.deliver`` /
  ``engine.continue_rule`` on a copy of the configuration holding only that rule. No database.
* ``preview_handoff`` says who would get the lead, or why nobody can, changing nothing; the
  pages show it before the ISA confirms.
* ``hand_off`` locks the lead row (``SELECT ... FOR UPDATE``) and checks its state again, so two
  clicks at once give one hand-off; a partial unique index (one open ``Handoff`` per lead) backs
  it up. It stores a ``RoutingRecord`` (the trace names the hand-off, its target, the agent
  chosen and why), offers, the ``Handoff`` row, a timeline entry with the ISA's note and the
  qualification facts, and tells the receiving agent.
* Afterwards: hand-off offers are ordinary ``Offer`` rows (without a rule), so agents claim and
  decline them on their offers page and the routing clock expires them. ``activity_logged``
  runs on every new ``Activity`` (the ``activity_recorded`` signal, connected in
  ``LeadsConfig.ready``), inside the
  claim's or the clock's transaction, with the lead row locked: a declined or expired hand-off
  offer moves on through the *target* (next agent for ``claim``, then the target's escalation);
  ``claims.move_on``, called right after, then finds nothing left to do. A claim starts the
  first-contact window, a first contact by the agent closes the hand-off.
* ``run_handoff_clock`` (a django-q schedule, every minute) escalates hand-offs whose agent
  logged no first contact in time: to the target's ``escalate_to`` or the pond; a hand-off to
  a named agent comes back to the ISA. The ISA is told either way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.access import is_manager
from agents.models import Agent
from config.errors import ApplicationError
from leads.isa.queue import facts_lines, qualification_facts
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.links import absolute_url
from notifications.models import Notification, WebhookEvent
from notifications.services import Message, close_offer_notices, notify_many
from routing import engine
from routing.claims import continue_round, offers_next_agent
from routing.engine import (
    AGENT,
    Cursor,
    Decision,
    RoutingConfig,
)
from routing.engine.handoff import (
    DEFAULT_CONTACT_MINUTES,
    NAMED_RULE,
    HandoffPreview,
    TargetSpec,
    decide_handoff,
    decide_named,
    handoff_summary,
    preview_of,
    with_target,
)
from routing.engine.trace import step
from routing.models import Handoff, HandoffRotation, HandoffTarget, Offer, RoutingRecord
from routing.recording import (
    first_contact_due,
    routed_messages,
    save_cursors,
    save_decision,
)
from routing.selectors import cursor_of, facts_of, routing_config
from routing.services import agent_loads

OPEN_STAGES = (Lead.IsaStage.NEW, Lead.IsaStage.CONTACTED, Lead.IsaStage.NURTURING,
               Lead.IsaStage.QUALIFIED)


class HandoffRefused(ApplicationError):
    """The hand-off cannot happen; the message says why, in words for the ISA. Nothing changed."""

    status_code = 409  # the lead's state (or the targets') does not allow it now


# --- The decision (pure) ---------------------------------------------------------------------


def spec_of(target: HandoffTarget) -> TargetSpec:
    return TargetSpec(
        id=target.pk, name=target.name, roster_id=target.roster_id, selection=target.selection,
        delivery=target.delivery, claim_timeout_minutes=target.claim_timeout_minutes,
        first_contact_minutes=target.first_contact_minutes,
        escalate_to_id=target.escalate_to_id,
    )


def preview_handoff(
    lead_id: int, *, isa: Agent, target: HandoffTarget | int | None = None,
    agent: Agent | int | None = None, now: datetime,
) -> HandoffPreview:
    """Who would get the lead, or why nobody can; changes nothing.

    Raises ``HandoffRefused`` when ``isa`` may not hand this lead off at all.
    """
    lead = Lead.objects.select_related("owner").get(pk=lead_id)
    holder = check_can_hand_off(lead, isa)
    target_obj, agent_id = _receiving_side(target, agent)
    config = routing_config()
    if target_obj is not None:
        rotation = HandoffRotation.objects.filter(target=target_obj).first()
        cursor = cursor_of(rotation) if rotation else Cursor()
        decision = _decide_target(config, target_obj, lead, now, cursor, holder)
    else:
        decision = _decide_named(config, agent_id, lead, now, holder)
    return preview_of(config, decision)


def _receiving_side(target: HandoffTarget | int | None,
                    agent: Agent | int | None) -> tuple[HandoffTarget | None, int | None]:
    if (target is None) == (agent is None):
        raise HandoffRefused("Choose who receives the lead: a hand-off target or an agent.")
    if target is not None:
        target_obj = (target if isinstance(target, HandoffTarget)
                      else HandoffTarget.objects.filter(pk=target).first())
        if target_obj is None or not target_obj.is_active:
            raise HandoffRefused("This hand-off target is not in use any more: pick another.")
        return target_obj, None
    return None, agent.pk if isinstance(agent, Agent) else int(agent)


def check_can_hand_off(lead: Lead, actor: Agent) -> Agent:
    """The ISA holding the lead, if ``actor`` may hand it off now; else ``HandoffRefused``."""
    if lead.isa_stage == Lead.IsaStage.HANDED_OFF or Handoff.objects.filter(
        lead=lead, status__in=Handoff.OPEN
    ).exists():
        raise HandoffRefused("This lead was already handed off.")
    if not is_manager(actor) and not (actor.role == Agent.Role.ISA and lead.owner_id == actor.pk):
        raise HandoffRefused("Only the ISA who holds this lead, or a manager, can hand it off.")
    holder = lead.owner
    if holder is None or holder.role != Agent.Role.ISA:
        raise HandoffRefused("This lead is not with an ISA, so there is nothing to hand off.")
    if lead.isa_stage == Lead.IsaStage.DEAD or lead.status not in Lead.OPEN_STATUSES:
        raise HandoffRefused("This lead is marked dead: set it back to nurturing first.")
    return holder


def _decide_target(config: RoutingConfig, target: HandoffTarget, lead: Lead, now: datetime,
                   cursor: Cursor, holder: Agent) -> Decision:
    spec = spec_of(target)
    _, rule = with_target(config, spec)
    loads = agent_loads(engine.agents_needing_loads(config, [rule]), now, config.timezone)
    return decide_handoff(config, spec, facts_of(lead), at=now, cursor=cursor, loads=loads,
                          by=holder.name)


def _decide_named(config: RoutingConfig, agent_id: int, lead: Lead, now: datetime,
                  holder: Agent) -> Decision:
    info = config.agents.get(agent_id)
    capped = {agent_id} if info is not None and info.has_caps else set()
    loads = agent_loads(capped, now, config.timezone)
    return decide_named(config, agent_id, facts_of(lead), at=now, loads=loads, by=holder.name)


# --- The hand-off ----------------------------------------------------------------------------


def hand_off(
    lead_id: int, *, isa: Agent, target: HandoffTarget | int | None = None,
    agent: Agent | int | None = None, note: str, now: datetime,
) -> Handoff:
    """Hand the lead to a target's agent (or agents, when offered) or to a named agent.

    ``isa`` is who acts: the ISA holding the lead, or a manager. Raises ``HandoffRefused``
    (nothing changed) when they may not, when the lead was already handed off, or when nobody
    can take it.
    """
    try:
        with transaction.atomic():
            lead = Lead.objects.select_for_update().get(pk=lead_id)
            lead.owner = Agent.objects.get(pk=lead.owner_id) if lead.owner_id else None
            holder = check_can_hand_off(lead, isa)
            target_obj, agent_id = _receiving_side(target, agent)
            config = routing_config()
            rotation = None
            if target_obj is not None:
                rotation = _lock_rotation(target_obj)
                decision = _decide_target(config, target_obj, lead, now, cursor_of(rotation),
                                          holder)
            else:
                decision = _decide_named(config, agent_id, lead, now, holder)
            if decision.outcome not in ("assigned", "offered"):
                raise HandoffRefused(decision.summary)
            facts = qualification_facts(lead)
            lead.isa = holder
            lead.isa_stage = Lead.IsaStage.HANDED_OFF
            lead.handed_off_at = now
            lead.follow_up_on = None
            lead.routing_round += 1  # the hand-off's offers are a new round
            offers = _store(lead, decision, config, rotation, now)
            contact_minutes = contact_minutes_of(target_obj)
            handoff = Handoff.objects.create(
                lead=lead, isa=holder, by=isa, target=target_obj,
                target_name=target_obj.name if target_obj else "",
                agent_id=decision.agent_id or (decision.offered_to[0]
                                               if len(decision.offered_to) == 1 else None),
                note=note.strip(), facts=facts, created_at=now,
                status=(Handoff.Status.ASSIGNED if decision.outcome == "assigned"
                        else Handoff.Status.OFFERED),
                contact_due_at=(first_contact_due(config, contact_minutes, now)
                                if decision.outcome == "assigned" else None),
            )
            Activity.objects.record(
                lead=lead, kind=Activity.Kind.HANDED_OFF, actor=isa, created_at=now,
                body=handoff_text(handoff, decision.summary),
                data={"handoff": handoff.pk, "target": handoff.target_name,
                      "note": handoff.note, "facts": facts})
            notify_many(_handoff_messages(lead, handoff, decision, config, offers), now=now,
                        tz_name=config.timezone)
            webhooks.emit_many([
                webhooks.Event(WebhookEvent.LEAD_HANDED_OFF, lead, {
                    "isa": holder, "by": isa, "target": handoff.target_name or None,
                    "outcome": decision.outcome, "summary": decision.summary,
                    "note": handoff.note, "facts": facts}),
                *webhooks.decision_events(lead, decision, config, offers, handoff=True),
            ], now=now, config=config)
            return handoff
    except IntegrityError as exc:  # the one-open-hand-off index: someone was faster
        if Handoff.objects.filter(lead_id=lead_id, status__in=Handoff.OPEN).exists():
            raise HandoffRefused("This lead was already handed off.") from exc
        raise


def contact_minutes_of(target: HandoffTarget | None) -> int:
    """Minutes the receiving agent has for the first contact: the target's, or the default
    for an agent named by the ISA."""
    return target.first_contact_minutes if target else DEFAULT_CONTACT_MINUTES


def _lock_rotation(target: HandoffTarget) -> HandoffRotation:
    HandoffRotation.objects.get_or_create(target=target)
    return HandoffRotation.objects.select_for_update().get(target=target)


def _store(lead: Lead, decision: Decision, config: RoutingConfig,
           rotation: HandoffRotation | None, now: datetime) -> list[Offer]:
    """Save a hand-off decision: rotation, lead, routing record and offers (none of them
    pointing at a rule: the target's rule exists only in the decision). The hand-off's own
    first-contact clock (``Handoff.contact_due_at``) runs instead of a rule's.

    ``rotation`` is the target's (locked), None for an agent named by the ISA."""
    if rotation is not None:
        save_cursors(decision.cursors, {(-rotation.target_id, AGENT): rotation})
    minutes = rotation.target.claim_timeout_minutes if rotation else None
    target_id = rotation.target_id if rotation else None
    return save_decision(lead, replace(decision, rule_id=None, handoff_target_id=target_id),
                         config, now=now, version=None, claim_minutes=minutes)


def handoff_text(handoff: Handoff, summary: str) -> str:
    """What the receiving agent reads: the ISA's note, then the qualification facts."""
    parts = [f"{summary}. From ISA {handoff.isa.name}."]
    if handoff.note:
        parts.append(f"Note: {handoff.note}")
    parts.extend(facts_lines(handoff.facts))
    return "\n".join(parts)


def _handoff_messages(lead: Lead, handoff: Handoff, decision: Decision, config: RoutingConfig,
                      offers: list[Offer]) -> list[Message]:
    name = lead.title  # never the contact details: they stay hidden until claimed
    details = "\n".join([f"From ISA {handoff.isa.name}."]
                        + ([f"Note: {handoff.note}"] if handoff.note else [])
                        + facts_lines(handoff.facts))
    if decision.outcome == "assigned":
        return [Message([decision.agent_id], Notification.Event.LEAD_ASSIGNED,
                        f"Hand-off: {name}", details, lead_id=lead.pk)]
    link = absolute_url("offers", fallback="/")
    deadlines = {o.agent_id: engine.to_local(o.deadline, config.timezone) for o in offers}
    return [
        Message([agent_id], Notification.Event.LEAD_OFFERED, f"Hand-off offered: {name}",
                f"Claim it by {deadlines[agent_id]:%a %H:%M}: {link}\n{details}",
                lead_id=lead.pk)
        for agent_id in decision.offered_to if agent_id in deadlines
    ]


# --- After the hand-off: claims, passes, first contacts --------------------------------------

OFFER_CLOSED_KINDS = frozenset({Activity.Kind.EXPIRED, Activity.Kind.DECLINED,
                                Activity.Kind.WITHDRAWN})
FOLLOWED_KINDS = frozenset({Activity.Kind.CLAIMED, *OFFER_CLOSED_KINDS, Activity.Kind.REASSIGNED,
                            Activity.Kind.POND, *Lead.CONTACT_KINDS})


def follow_activity(sender: type[Activity], *, activity: Activity, **_: object) -> None:
    """``activity_recorded`` receiver (connected in ``LeadsConfig.ready``)."""
    activity_logged(activity)


def follow_activities(sender: type[Activity], *, activities: list[Activity], **_: object
                      ) -> None:
    """``activities_recorded`` receiver: ``activity_logged`` for the entries whose lead has an
    open hand-off, found in one query for them all."""
    followed = [a for a in activities if a.kind in FOLLOWED_KINDS]
    if not followed:
        return
    open_leads = set(Handoff.objects.filter(lead_id__in_ids={a.lead_id for a in followed},
                                            status__in=Handoff.OPEN)
                     .values_list("lead_id", flat=True))
    for activity in followed:
        if activity.lead_id in open_leads:
            activity_logged(activity)


def activity_logged(activity: Activity) -> None:
    """Move the lead's open hand-off on after a timeline entry (see the module's docstring).

    Runs in the transaction that logged the activity; for expired and declined offers, before
    ``claims.move_on`` (which then finds the lead already moved on).
    """
    if activity.kind not in FOLLOWED_KINDS:
        return
    handoff = (Handoff.objects.filter(lead_id=activity.lead_id, status__in=Handoff.OPEN)
               .select_related("target", "isa", "agent").first())
    if handoff is None:
        return
    now = activity.created_at
    if activity.kind in OFFER_CLOSED_KINDS:
        _offer_closed(handoff, now=now, why=activity.body or "The offer closed")
    elif activity.kind == Activity.Kind.CLAIMED:
        _claimed(handoff, activity.actor_id, now=now)
    elif activity.kind in Lead.CONTACT_KINDS:
        _contacted(handoff, activity.actor_id, now=now)
    else:  # a manager assigned it, returned it to routing or moved it to the pond
        _taken_over(handoff, now=now)


def _claimed(handoff: Handoff, agent_id: int | None, *, now: datetime) -> None:
    if handoff.status != Handoff.Status.OFFERED or agent_id is None:
        return
    if not Lead.objects.filter(pk=handoff.lead_id, owner_id=agent_id).exists():
        return  # not this hand-off's offer
    minutes = contact_minutes_of(handoff.target)
    handoff.status = Handoff.Status.ASSIGNED
    handoff.agent_id = agent_id
    handoff.contact_due_at = first_contact_due(routing_config(), minutes, now)
    handoff.save(update_fields=["status", "agent", "contact_due_at"])


def _contacted(handoff: Handoff, agent_id: int | None, *, now: datetime) -> None:
    if handoff.status != Handoff.Status.ASSIGNED or agent_id is None:
        return
    if agent_id != handoff.agent_id or not Lead.objects.filter(
        pk=handoff.lead_id, owner_id=agent_id
    ).exists():
        return  # the ISA's or someone else's entry
    handoff.status = Handoff.Status.CONTACTED
    handoff.contacted_at = handoff.closed_at = now
    handoff.save(update_fields=["status", "contacted_at", "closed_at"])
    # The ISA's first contact already set the lead's first_contact_at: the agent's moves the
    # agent's own status on, as a first contact does.
    contacted = Lead.objects.filter(pk=handoff.lead_id, status=Lead.Status.ASSIGNED).update(
        status=Lead.Status.CONTACTED)
    if not contacted:
        return
    config = routing_config()
    if webhooks.wanted(WebhookEvent.LEAD_CONTACTED, config):
        lead = Lead.objects.get(pk=handoff.lead_id)
        if lead.first_contact_at is not None:  # else log_activity tells it (speed to lead)
            webhooks.emit(WebhookEvent.LEAD_CONTACTED, lead, now=now, config=config, data={
                "agent": config.agents.get(agent_id), "contacted_at": now,
                "after_handoff": True})


def _taken_over(handoff: Handoff, *, now: datetime) -> None:
    lead = Lead.objects.select_related("owner").get(pk=handoff.lead_id)
    if handoff.status == Handoff.Status.ASSIGNED and lead.owner_id == handoff.agent_id:
        return
    handoff.status = Handoff.Status.TAKEN_OVER
    handoff.closed_at = now
    handoff.save(update_fields=["status", "closed_at"])
    if lead.owner is not None and lead.owner.role == Agent.Role.ISA:
        # Routed to an ISA again: their queue starts it as a new lead.
        Lead.objects.filter(pk=lead.pk).update(isa_stage="", handed_off_at=None)


def _offer_closed(handoff: Handoff, *, now: datetime, why: str) -> None:
    if handoff.status != Handoff.Status.OFFERED:
        return
    lead = Lead.objects.select_for_update().get(pk=handoff.lead_id)
    if lead.status != Lead.Status.OFFERED or lead.offers.filter(
        status=Offer.Status.OFFERED
    ).exists():
        return  # claimed meanwhile, or other offers still open (first to claim)
    if handoff.target is None:
        _back_to_isa(handoff, lead, now=now, why=why)
        return
    # As for a rule: claim with timeout offers the next agent; first to claim escalates.
    _move_on(handoff, lead, now=now, why=why,
             allow_next=offers_next_agent(handoff.target.delivery, owner_silent=False))


def _move_on(handoff: Handoff, lead: Lead, *, now: datetime, why: str,
             allow_next: bool) -> Decision:
    """The next agent of the target (``allow_next``), else the target's escalation."""
    target = handoff.target
    config = routing_config()
    spec = spec_of(target)
    cfg, rule = with_target(config, spec)
    rotation = _lock_rotation(target)
    decision = continue_round(
        lead, cfg, rule.id, {(rule.id, AGENT): cursor_of(rotation)}, now=now, why=why,
        excluded=[handoff.agent_id] if handoff.agent_id else [], allow_next=allow_next)
    decision = replace(decision, trace=[
        step("handoff", f"Hand-off by {handoff.isa.name} to target '{target.name}' moves on",
              target=target.name), *decision.trace])
    missed = handoff.agent_id if handoff.status == Handoff.Status.ASSIGNED else None
    escalated = decision.reason == "escalated"
    if not escalated:
        decision = replace(decision, reason="handoff")
        decision = replace(decision, summary=handoff_summary(config, spec, decision))
    offers = _store(lead, decision, config, rotation, now)
    Activity.objects.record(
        lead=lead, kind=Activity.Kind.ESCALATED if escalated else Activity.Kind.OFFERED,
        created_at=now, body=f"{why}: {decision.summary}")
    if escalated:
        handoff.status = Handoff.Status.ESCALATED
        handoff.agent_id = decision.agent_id
        handoff.closed_at = now
    else:
        handoff.status = Handoff.Status.OFFERED
        handoff.agent_id = decision.offered_to[0] if len(decision.offered_to) == 1 else None
    handoff.save(update_fields=["status", "agent", "closed_at"])
    messages = []
    if escalated:
        messages.extend(routed_messages(lead, decision, config, offers))
        messages.append(Message(
            [handoff.isa_id], Notification.Event.LEAD_ESCALATED,
            f"Your hand-off of {lead.title} escalated", f"{why}. {decision.summary}.",
            lead_id=lead.pk))
        if missed:
            messages.append(Message(
                [missed], Notification.Event.IDLE_REASSIGNED,
                f"Escalated, no first contact in time: {lead.title}", decision.summary,
                lead_id=lead.pk))
    else:
        messages.extend(_handoff_messages(lead, handoff, decision, config, offers))
    notify_many(messages, now=now)
    webhooks.emit_many(webhooks.decision_events(lead, decision, config, offers, why=why,
                                                handoff=True), now=now, config=config)
    return decision


def _back_to_isa(handoff: Handoff, lead: Lead, *, now: datetime, why: str) -> None:
    """A hand-off to a named agent that nobody took up in time: the ISA has the lead again."""
    isa = handoff.isa
    missed = lead.owner_id
    summary = f"Back with ISA {isa.name}"
    receiver = handoff.agent.name if handoff.agent else "an agent"
    trace = [step("handoff", f"Hand-off by {isa.name} to {receiver} did not go through",
                   target=None),
             step("moved_on", why),
             step("result", f"{summary}: the ISA may hand it off again", outcome="assigned",
                   agent=isa.email)]
    Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).update(
        status=Offer.Status.WITHDRAWN, responded_at=now)
    close_offer_notices(lead_id=lead.pk, now=now)
    lead.owner = isa
    lead.status = Lead.Status.CONTACTED if lead.first_contact_at else Lead.Status.ASSIGNED
    lead.assigned_at = now
    lead.first_contact_due_at = None
    lead.isa_stage = Lead.IsaStage.QUALIFIED
    lead.handed_off_at = None
    lead.save()
    RoutingRecord.objects.create(lead=lead, created_at=now, outcome="assigned",
                                 reason="back_to_isa", rule_name=NAMED_RULE,
                                 agent=isa, summary=summary, trace=trace)
    Activity.objects.record(lead=lead, kind=Activity.Kind.BACK_TO_ISA, created_at=now,
                            body=f"{why}: {summary}")
    handoff.status = Handoff.Status.RETURNED
    handoff.closed_at = now
    handoff.save(update_fields=["status", "closed_at"])
    messages = [Message([isa.pk], Notification.Event.LEAD_ESCALATED,
                        f"Your hand-off of {lead.title} came back to you", f"{why}.",
                        lead_id=lead.pk)]
    if missed and missed != isa.pk:
        messages.append(Message([missed], Notification.Event.IDLE_REASSIGNED,
                                f"Back with the ISA: {lead.title}",
                                f"{why}.", lead_id=lead.pk))
    notify_many(messages, now=now)
    back = {"reason": "back_to_isa", "why": why, "summary": summary, "handoff": True}
    webhooks.emit_many([webhooks.Event(WebhookEvent.LEAD_ESCALATED, lead,
                                       {**back, "escalated_to": isa}),
                        webhooks.Event(WebhookEvent.LEAD_ASSIGNED, lead, {**back, "agent": isa})],
                       now=now)


# --- The first-contact clock -----------------------------------------------------------------


def run_handoff_clock(now: datetime | None = None) -> int:
    """Escalate every hand-off whose agent logged no first contact by its deadline; how many.

    Each hand-off in its own transaction, with the lead row locked and its state read again:
    two passes at once (or a pass and a first contact) never move a lead twice.
    """
    at = now or timezone.now()
    due = list(Handoff.objects.filter(status=Handoff.Status.ASSIGNED, contact_due_at__lte=at)
               .order_by("contact_due_at", "id").values_list("pk", "lead_id"))
    return sum(_contact_overdue(handoff_id, lead_id, at) for handoff_id, lead_id in due)


def _contact_overdue(handoff_id: int, lead_id: int, now: datetime) -> int:
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        handoff = (Handoff.objects.select_related("target", "isa", "agent")
                   .filter(pk=handoff_id).first())
        if lead is None or handoff is None or handoff.status != Handoff.Status.ASSIGNED or (
            handoff.contact_due_at is None or handoff.contact_due_at > now
        ):
            return 0
        first = (Activity.objects.filter(lead=lead, actor_id=handoff.agent_id,
                                         kind__in=Lead.CONTACT_KINDS,
                                         created_at__gte=handoff.created_at)
                 .order_by("created_at", "id").first())
        if first is not None:  # logged, but not followed (e.g. written by a script)
            _contacted(handoff, first.actor_id, now=first.created_at)
            return 0
        if lead.owner_id != handoff.agent_id:
            _taken_over(handoff, now=now)
            return 0
        agent = handoff.agent.name if handoff.agent else "The agent"
        minutes = contact_minutes_of(handoff.target)
        why = f"{agent} logged no first contact within {minutes} minutes of the hand-off"
        if handoff.target is None:
            _back_to_isa(handoff, lead, now=now, why=why)
        else:
            _move_on(handoff, lead, now=now, why=why, allow_next=False)
        return 1
