"""Claims, declines and leads that move on: exactly one winner, whatever the timing.

A claim is a conditional ``UPDATE ... WHERE status = 'offered' AND deadline > now``: the
database lets exactly one of two simultaneous claims change the row, on SQLite and PostgreSQL
alike. A lead that must move on (offer expired or declined, no first contact in time) is
locked first, so two clocks, or a clock and a claim, never move it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from django.db import transaction
from django.db.models import Max, Q

from agents.models import Agent
from config.errors import ApplicationError
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.models import Notification, WebhookEvent
from notifications.services import Message, notify_many
from routing import engine
from routing.engine import Decision
from routing.models import Offer, RotationState, RoutingRecord, Rule
from routing.selectors import calendar, routing_config
from routing.services import (
    agent_loads,
    apply_decision,
    cursor_keys,
    cursor_of,
    facts_of,
    manager_ids,
    offers_for,
    rotation_states,
    routed_messages,
)


class ClaimRefused(ApplicationError):
    """The claim lost; the message says why, in words for the agent."""

    status_code = 409  # someone else was faster, or the time is up


REFUSALS = {
    Offer.Status.CLAIMED: "You have already claimed this lead.",
    Offer.Status.DECLINED: "You declined this lead.",
    Offer.Status.EXPIRED: "Too late: the claim window for this lead has closed.",
    Offer.Status.WITHDRAWN: "Another agent claimed this lead first.",
}


def claim_offer(offer_id: int, agent: Agent, *, now: datetime) -> Lead:
    """The agent claims their offer; raises ClaimRefused when someone else won or time is up."""
    with transaction.atomic():
        offer = Offer.objects.filter(pk=offer_id, agent=agent).first()
        if offer is None:
            raise Offer.DoesNotExist
        lock_lead(offer.lead_id)
        won = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OFFERED,
                                   deadline__gt=now).update(status=Offer.Status.CLAIMED,
                                                            responded_at=now)
        if not won:
            offer.refresh_from_db(fields=["status"])
            raise ClaimRefused(REFUSALS.get(offer.status, REFUSALS[Offer.Status.EXPIRED]))
        config = routing_config()
        rule = config.rule(offer.rule_id)
        due = None
        if rule is not None and rule.first_contact_minutes:
            due = calendar(config).add(now, rule.first_contact_minutes)
        taken = Lead.objects.filter(pk=offer.lead_id, status=Lead.Status.OFFERED).update(
            owner=agent, status=Lead.Status.ASSIGNED, assigned_at=now, first_contact_due_at=due)
        if not taken:
            raise ClaimRefused(REFUSALS[Offer.Status.WITHDRAWN])  # rolls the offer back too
        Activity.objects.create(lead_id=offer.lead_id, kind=Activity.Kind.CLAIMED, actor=agent,
                                created_at=now, body=f"Claimed by {agent.name}")
        _withdraw_others(offer.lead_id, offer.pk, now)
        lead = Lead.objects.get(pk=offer.lead_id)
        webhooks.emit(WebhookEvent.LEAD_CLAIMED, lead, now=now, config=config,
                      data={"agent": agent, "via": "offer", "offer_id": offer.pk})
        return lead


def lock_lead(lead_id: int) -> None:
    """Whatever changes a lead's offers locks the lead row first, then the offers: one order
    for claims, declines and the clock, so two of them never wait for each other (deadlock)."""
    list(Lead.objects.select_for_update().filter(pk=lead_id).values_list("pk", flat=True))


def _withdraw_others(lead_id: int, kept_offer_id: int | None, now: datetime) -> None:
    others = list(Offer.objects.filter(lead_id=lead_id, status=Offer.Status.OFFERED)
                  .exclude(pk=kept_offer_id).values_list("pk", "agent_id"))
    if not others:
        return
    Offer.objects.filter(pk__in=[pk for pk, _ in others]).update(
        status=Offer.Status.WITHDRAWN, responded_at=now)
    lead = Lead.objects.get(pk=lead_id)
    notify_many([Message([agent_id for _, agent_id in others],
                         Notification.Event.OFFER_WITHDRAWN,
                         f"Lead {lead} was claimed by another agent",
                         "The offer is withdrawn.", lead_id=lead_id)], now=now)


def decline_offer(offer_id: int, agent: Agent, *, now: datetime) -> None:
    """The agent passes: the lead moves on at once to the next agent (or escalates)."""
    with transaction.atomic():
        offer = Offer.objects.filter(pk=offer_id, agent=agent).first()
        if offer is None:
            raise Offer.DoesNotExist
        lock_lead(offer.lead_id)
        declined = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OFFERED).update(
            status=Offer.Status.DECLINED, responded_at=now)
        if not declined:
            offer.refresh_from_db(fields=["status"])
            raise ClaimRefused(REFUSALS.get(offer.status, REFUSALS[Offer.Status.EXPIRED]))
        Activity.objects.create(lead_id=offer.lead_id, kind=Activity.Kind.DECLINED, actor=agent,
                                created_at=now, body=f"Declined by {agent.name}")
        move_on(offer.lead_id, now=now, why=f"{agent.name} declined the offer")


def claim_from_pond(lead_id: int, agent: Agent, *, now: datetime) -> Lead:
    """Any agent may take a pond lead; the first claim wins."""
    with transaction.atomic():
        taken = Lead.objects.filter(pk=lead_id, status=Lead.Status.UNASSIGNED,
                                    owner__isnull=True).update(
            owner=agent, status=Lead.Status.ASSIGNED, assigned_at=now, first_contact_due_at=None)
        if not taken:
            if not Lead.objects.filter(pk=lead_id).exists():
                raise Lead.DoesNotExist
            raise ClaimRefused("Another agent claimed this lead first.")
        Activity.objects.create(lead_id=lead_id, kind=Activity.Kind.CLAIMED, actor=agent,
                                created_at=now, body=f"Claimed from the pond by {agent.name}")
        lead = Lead.objects.get(pk=lead_id)
        webhooks.emit(WebhookEvent.LEAD_CLAIMED, lead, now=now,
                      data={"agent": agent, "via": "pond"})
        return lead


def move_on(lead_id: int, *, now: datetime, why: str, idle_owner: Agent | None = None) -> bool:
    """Offer the lead to the next agent of its rule, or escalate; False if nothing to do.

    Runs in the caller's transaction. The lead row is locked and its state checked again, so
    the work is done once even when two clocks (or a clock and a claim) race for it.
    """
    lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
    if lead is None:
        return False
    if idle_owner is None:
        if lead.status != Lead.Status.OFFERED or lead.offers.filter(
            status=Offer.Status.OFFERED
        ).exists():
            return False  # claimed meanwhile, or other offers still open (first to claim)
    elif lead.status != Lead.Status.ASSIGNED or lead.owner_id != idle_owner.pk:
        return False
    config = routing_config()
    rule = config.rule(lead.rule_id)
    # Nobody gets the same lead twice in a round: not those offered it, not earlier owners.
    had_it = set(lead.offers.filter(round=lead.routing_round).values_list("agent_id", flat=True))
    had_it |= set(lead.routing_records.filter(round=lead.routing_round, agent__isnull=False)
                  .values_list("agent_id", flat=True))
    if idle_owner is not None:
        had_it.add(idle_owner.pk)
    states = rotation_states([(rule.id, engine.AGENT)], lock=True) if rule and (
        rule.selection != "first_in_roster") else {}
    loads = agent_loads(engine.agents_needing_loads(config, [rule]) if rule else set(), now,
                        config.timezone)
    decision = engine.continue_rule(
        config, lead.rule_id, facts_of(lead), at=now, why=why, excluded=frozenset(had_it),
        cursors={k: cursor_of(s) for k, s in states.items()}, loads=loads,
        allow_next=idle_owner is not None or (rule is not None and rule.delivery == "claim"),
    )
    kind = Activity.Kind.ESCALATED if decision.reason == "escalated" else Activity.Kind.OFFERED
    extra = []
    if idle_owner is not None:
        kind = Activity.Kind.REASSIGNED
        extra.append(Message(
            [idle_owner.pk, *manager_ids(config)], Notification.Event.IDLE_REASSIGNED,
            f"Lead {lead} reassigned: no first contact in time",
            f"{idle_owner.name} logged no first contact; {decision.summary}", lead_id=lead.pk))
    _record(lead, decision, config, states, now, kind=kind, body=f"{why}: {decision.summary}",
            extra=extra, event_data={"why": why, "previous_owner": idle_owner})
    return True


def _record(lead: Lead, decision: Decision, config: engine.RoutingConfig,
            states: dict[tuple[int, str], RotationState], now: datetime, *, kind: str,
            body: str, actor: Agent | None = None, extra: Iterable[Message] = (),
            event_data: dict | None = None) -> None:
    """Save a decision taken after arrival: the lead, its record, offers, timeline, messages
    and webhook events (``event_data`` added to each)."""
    _save_rotations(decision, states)
    apply_decision(lead, decision, config, now)
    lead.save()
    RoutingRecord.objects.create(
        lead=lead, created_at=now, outcome=decision.outcome, reason=decision.reason,
        rule_id=decision.rule_id, rule_name=decision.rule_name, agent_id=decision.agent_id,
        lender_id=decision.lender_id, summary=decision.summary, trace=decision.trace,
        round=lead.routing_round,
        rule_version=Rule.history.filter(id=decision.rule_id).aggregate(v=Max("history_id"))["v"])
    offers = offers_for(lead, decision, config, now)
    if offers:
        Offer.objects.bulk_create(offers)
    Activity.objects.create(lead=lead, kind=kind, actor=actor, created_at=now, body=body)
    notify_many([*routed_messages(lead, decision, config, offers), *extra], now=now)
    webhooks.emit_many(webhooks.decision_events(lead, decision, config, offers,
                                                **(event_data or {})), now=now, config=config)


def return_to_routing(lead_id: int, *, by: Agent | None, now: datetime) -> Decision:
    """A manager sends a lead through the rules again, as if it arrived now.

    Open offers are withdrawn and the owner released; vendor pre-assignment, tracking link and
    listing are not applied again (the manager asked for the rules).
    """
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        _withdraw_open_offers(lead.pk, now)
        lead.routing_round += 1
        config = routing_config()
        facts = replace(facts_of(lead), received_at=now, assigned_to="", tracking_agent="",
                        listing_agent="")
        candidates = engine.candidate_rules(config, facts)
        states = rotation_states(cursor_keys(candidates), lock=True)
        loads = agent_loads(engine.agents_needing_loads(config, candidates), now,
                            config.timezone)
        decision = engine.decide(config, facts, cursors={k: cursor_of(s) for k, s in
                                                         states.items()}, loads=loads)
        who = f" by {by.name}" if by else ""
        _record(lead, decision, config, states, now, kind=Activity.Kind.REASSIGNED, actor=by,
                body=f"Returned to routing{who}: {decision.summary}",
                event_data={"why": f"Returned to routing{who}", "by": by})
        return decision


def move_to_pond(lead_id: int, *, by: Agent | None, now: datetime) -> Lead:
    """A manager releases a lead: nobody owns it, any agent may claim it."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        _withdraw_open_offers(lead.pk, now)
        lead.owner, lead.assigned_at, lead.first_contact_due_at = None, None, None
        lead.status = Lead.Status.UNASSIGNED
        lead.save()
        Activity.objects.create(lead=lead, kind=Activity.Kind.POND, actor=by, created_at=now,
                                body="Moved to the pond" + (f" by {by.name}" if by else ""))
        return lead


def _save_rotations(decision: Decision, states: dict[tuple[int, str], RotationState]) -> None:
    for key, cursor in decision.cursors.items():
        state = states.get(key)
        if state is not None:
            state.agent_id, state.position, state.given = (
                cursor.agent_id, cursor.position, cursor.given)
            state.save(update_fields=["agent", "position", "given"])


def assign_lead(lead_id: int, agent: Agent, *, by: Agent | None, now: datetime) -> Lead:
    """A manager gives a lead (from the pond, or anyone's) to an agent."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        lead.owner, lead.status, lead.assigned_at = agent, Lead.Status.ASSIGNED, now
        lead.first_contact_due_at = None
        lead.save()
        _withdraw_open_offers(lead.pk, now)
        Activity.objects.create(lead=lead, kind=Activity.Kind.REASSIGNED, actor=by,
                                created_at=now, body=f"Assigned to {agent.name}"
                                + (f" by {by.name}" if by else ""))
        notify_many([Message([agent.pk], Notification.Event.LEAD_ASSIGNED,
                             f"New lead: {lead}", "Assigned by a manager.", lead_id=lead.pk)],
                    now=now)
        webhooks.emit(WebhookEvent.LEAD_ASSIGNED, lead, now=now,
                      data={"agent": agent, "reason": "manager", "by": by})
        return lead


def _withdraw_open_offers(lead_id: int, now: datetime) -> None:
    Offer.objects.filter(lead_id=lead_id, status=Offer.Status.OFFERED).update(
        status=Offer.Status.WITHDRAWN, responded_at=now)


def open_offers_for(agent: Agent) -> Iterable[Offer]:
    return (Offer.objects.filter(agent=agent, status=Offer.Status.OFFERED)
            .select_related("lead").order_by("deadline"))


def pond_leads() -> Iterable[Lead]:
    return Lead.objects.filter(Q(status=Lead.Status.UNASSIGNED), owner__isnull=True).order_by(
        "received_at", "id")
