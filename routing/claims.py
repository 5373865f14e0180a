"""Claims, declines and leads that move on: exactly one winner, whatever the timing.

A claim is a conditional ``UPDATE ... WHERE status = 'offered' AND deadline > now``: the
database lets exactly one of two simultaneous claims change the row, on SQLite and PostgreSQL
alike. A lead that must move on (offer expired or declined, no first contact in time) is
locked first, so two clocks, or a clock and a claim, never move it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from agents.models import Agent
from agents.services import INACTIVE_MESSAGE, lock_if_active
from config.errors import ApplicationError
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.models import Notification, WebhookEvent
from notifications.services import Message, close_offer_notices, notify_many
from routing import engine
from routing.engine import Cursor, Decision, RoutingConfig
from routing.models import Offer
from routing.recording import manager_ids, record_decision, rule_contact_due
from routing.selectors import cursor_of, facts_of, routing_config
from routing.services import agent_loads, cursor_keys, rotation_states


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
        if not lock_if_active(agent.pk):  # after the lead: the lock order
            raise ClaimRefused(INACTIVE_MESSAGE)
        won = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OFFERED,
                                   deadline__gt=now).update(status=Offer.Status.CLAIMED,
                                                            responded_at=now)
        if not won:
            offer.refresh_from_db(fields=["status"])
            raise ClaimRefused(REFUSALS.get(offer.status, REFUSALS[Offer.Status.EXPIRED]))
        config = routing_config()
        due = rule_contact_due(config, offer.rule_id, now)
        taken = Lead.objects.filter(pk=offer.lead_id, status=Lead.Status.OFFERED).update(
            owner=agent, status=Lead.Status.ASSIGNED, assigned_at=now, first_contact_due_at=due)
        if not taken:
            raise ClaimRefused(REFUSALS[Offer.Status.WITHDRAWN])  # rolls the offer back too
        Activity.objects.record(lead_id=offer.lead_id, kind=Activity.Kind.CLAIMED, actor=agent,
                                created_at=now, body=f"Claimed by {agent.name}")
        _withdraw_others(offer.lead_id, offer.pk, now)
        close_offer_notices(lead_id=offer.lead_id, now=now)  # every offer of the lead ended
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
                         f"Claimed by another agent: {lead.title}",
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
        Activity.objects.record(lead_id=offer.lead_id, kind=Activity.Kind.DECLINED, actor=agent,
                                created_at=now, body=f"Declined by {agent.name}")
        close_offer_notices(lead_id=offer.lead_id, agent_ids=[agent.pk], now=now)
        move_on(offer.lead_id, now=now, why=f"{agent.name} declined the offer")


class PondRefused(ClaimRefused):
    """The person may not take pond leads at all (not a race lost): the API answers 403."""

    status_code = 403


#: Why someone who is not an agent may not take a pond lead, by role. Leads go to agents; a
#: manager gives a pond lead out (to an agent or to themselves) from the admin, on the record.
POND_REFUSALS = {
    Agent.Role.LENDER: "Lenders cannot take leads from the pond: the pond is for agents.",
    Agent.Role.ISA: "ISAs cannot take leads from the pond: the pond is for agents.",
    Agent.Role.MANAGER: "Managers do not take pond leads: assign the lead from the admin "
                        "(yourself or an agent).",
}


def claim_from_pond(lead_id: int, agent: Agent, *, now: datetime) -> Lead:
    """Any agent (role agent) may take a pond lead; the first claim wins."""
    if agent.role != Agent.Role.AGENT:
        raise PondRefused(POND_REFUSALS.get(agent.role, "Only agents take leads from the pond."))
    with transaction.atomic():
        taken = Lead.objects.filter(pk=lead_id, status=Lead.Status.UNASSIGNED,
                                    owner__isnull=True).update(
            owner=agent, status=Lead.Status.ASSIGNED, assigned_at=now, first_contact_due_at=None)
        if not taken:
            if not Lead.objects.filter(pk=lead_id).exists():
                raise Lead.DoesNotExist
            raise ClaimRefused("Another agent claimed this lead first.")
        if not lock_if_active(agent.pk):  # the lead row is locked by the update above
            raise ClaimRefused(INACTIVE_MESSAGE)
        Activity.objects.record(lead_id=lead_id, kind=Activity.Kind.CLAIMED, actor=agent,
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
    had_it = set(lead.routing_records.filter(round=lead.routing_round, agent__isnull=False)
                 .values_list("agent_id", flat=True))
    if idle_owner is not None:
        had_it.add(idle_owner.pk)
    states = rotation_states([(rule.id, engine.AGENT)], lock=True) if rule and (
        rule.selection != "first_in_roster") else {}
    decision = continue_round(
        lead, config, lead.rule_id, {k: cursor_of(s) for k, s in states.items()}, now=now,
        why=why, excluded=had_it,
        allow_next=offers_next_agent(rule.delivery if rule else None,
                                     owner_silent=idle_owner is not None))
    kind = Activity.Kind.ESCALATED if decision.reason == "escalated" else Activity.Kind.OFFERED
    extra = []
    if idle_owner is not None:
        kind = Activity.Kind.REASSIGNED
        extra.append(Message(
            [idle_owner.pk, *manager_ids(config)], Notification.Event.IDLE_REASSIGNED,
            f"Reassigned, no first contact in time: {lead.title}",
            f"{idle_owner.name} logged no first contact; {decision.summary}", lead_id=lead.pk))
    record_decision(lead, decision, config, states, now, kind=kind,
                    body=f"{why}: {decision.summary}", extra=extra,
                    event_data={"why": why, "previous_owner": idle_owner})
    return True


def offers_next_agent(delivery: str | None, *, owner_silent: bool) -> bool:
    """The policy after an offer ends or an owner stays silent: a silent owner's lead, and a
    "claim with timeout" or "instant call" lead, go to the next agent; a "first to claim" lead
    (everyone had it) goes to the escalation."""
    return owner_silent or delivery in ("claim", "instant_call")


def continue_round(lead: Lead, config: RoutingConfig, rule_id: int | None,
                   cursors: Mapping[Any, Cursor], *, now: datetime, why: str,
                   excluded: Iterable[int], allow_next: bool) -> Decision:
    """The next step of a lead's routing round under its rule (a stored rule, or a hand-off
    target's): the next agent (``allow_next``) or the escalation. Agents offered the lead in
    this round, and ``excluded``, are never picked again. The caller holds the lead's lock."""
    had_it = set(lead.offers.filter(round=lead.routing_round).values_list("agent_id", flat=True))
    had_it.update(excluded)
    rule = config.rule(rule_id)
    loads = agent_loads(engine.agents_needing_loads(config, [rule]) if rule else set(), now,
                        config.timezone)
    return engine.continue_rule(
        config, rule_id, facts_of(lead), at=now, why=why, excluded=frozenset(had_it),
        cursors=dict(cursors), loads=loads, allow_next=allow_next)


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
        record_decision(lead, decision, config, states, now, kind=Activity.Kind.REASSIGNED,
                        actor=by, body=f"Returned to routing{who}: {decision.summary}",
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
        Activity.objects.record(lead=lead, kind=Activity.Kind.POND, actor=by, created_at=now,
                                body="Moved to the pond" + (f" by {by.name}" if by else ""))
        return lead


def assign_lead(lead_id: int, agent: Agent, *, by: Agent | None, now: datetime) -> Lead:
    """A manager gives a lead (from the pond, or anyone's) to an agent."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        lead.owner, lead.status, lead.assigned_at = agent, Lead.Status.ASSIGNED, now
        lead.first_contact_due_at = None
        lead.save()
        _withdraw_open_offers(lead.pk, now)
        Activity.objects.record(lead=lead, kind=Activity.Kind.REASSIGNED, actor=by,
                                created_at=now, body=f"Assigned to {agent.name}"
                                + (f" by {by.name}" if by else ""))
        notify_many([Message([agent.pk], Notification.Event.LEAD_ASSIGNED,
                             f"New lead: {lead.title}", "Assigned by a manager.",
                             lead_id=lead.pk)],
                    now=now)
        webhooks.emit(WebhookEvent.LEAD_ASSIGNED, lead, now=now,
                      data={"agent": agent, "reason": "manager", "by": by})
        return lead


def _withdraw_open_offers(lead_id: int, now: datetime) -> None:
    Offer.objects.filter(lead_id=lead_id, status=Offer.Status.OFFERED).update(
        status=Offer.Status.WITHDRAWN, responded_at=now)
    close_offer_notices(lead_id=lead_id, now=now)


def open_offers_for(agent: Agent) -> Iterable[Offer]:
    return (Offer.objects.filter(agent=agent, status=Offer.Status.OFFERED)
            .select_related("lead").order_by("deadline"))


def pond_leads() -> Iterable[Lead]:
    return Lead.objects.filter(Q(status=Lead.Status.UNASSIGNED), owner__isnull=True).order_by(
        "received_at", "id")
