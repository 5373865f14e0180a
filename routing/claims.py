"""Claims, declines and leads that move on: exactly one winner, whatever the timing.

A claim is a conditional ``UPDATE ... WHERE status = 'offered' AND deadline > now``: the
database lets exactly one of two simultaneous claims change the row, on SQLite and PostgreSQL
alike. A lead that must move on (offer expired or declined, no first contact in time) is
locked first, so two clocks, or a clock and a claim, never move it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
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
from routing.engine import Cursor, Decision, Loads, RoutingConfig
from routing.models import Offer, RoutingRecord
from routing.recording import (
    Taken,
    manager_ids,
    record_decision,
    record_decisions,
    rule_contact_due,
)
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


class PassRefused(ApplicationError):
    """The reason given for a pass is not one we know, or "other" came without words."""

    status_code = 400


#: The longest reason in the agent's own words (``Offer.pass_note``).
PASS_NOTE_MAX = 200


def pass_reason(reason: str | None, note: str | None) -> tuple[str, str]:
    """The reason and note to keep for a pass, or PassRefused in words for the agent.

    No reason is allowed (an instant call's "press 2", an older app); "other" needs the
    agent's words, and only "other" keeps them."""
    reason, note = (reason or "").strip(), " ".join((note or "").split())
    if reason not in Offer.PassReason.values:
        raise PassRefused("Choose why you pass: " + ", ".join(
            f"{value} ({label.lower()})" for value, label in Offer.PassReason.choices
            if value) + ".", extra={"field": "reason"})
    if reason != Offer.PassReason.OTHER:
        return reason, ""
    if not note:
        raise PassRefused("Say in a few words why you pass.", extra={"field": "note"})
    if len(note) > PASS_NOTE_MAX:
        raise PassRefused(f"Keep the reason under {PASS_NOTE_MAX} characters.",
                          extra={"field": "note"})
    return reason, note


def pass_words(reason: str, note: str) -> str:
    """A kept pass reason as people read it ("" when none was given)."""
    if reason == Offer.PassReason.OTHER:
        return note
    return Offer.PassReason(reason).label if reason else ""


def decline_offer(offer_id: int, agent: Agent, *, now: datetime, reason: str = "",
                  note: str = "") -> None:
    """The agent passes (with a reason, kept on the offer and the timeline): the lead moves on
    at once to the next agent (or escalates)."""
    reason, note = pass_reason(reason, note)
    with transaction.atomic():
        offer = Offer.objects.filter(pk=offer_id, agent=agent).first()
        if offer is None:
            raise Offer.DoesNotExist
        lock_lead(offer.lead_id)
        declined = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OFFERED).update(
            status=Offer.Status.DECLINED, responded_at=now, pass_reason=reason, pass_note=note)
        if not declined:
            offer.refresh_from_db(fields=["status"])
            raise ClaimRefused(REFUSALS.get(offer.status, REFUSALS[Offer.Status.EXPIRED]))
        words = pass_words(reason, note)
        Activity.objects.record(lead_id=offer.lead_id, kind=Activity.Kind.DECLINED, actor=agent,
                                created_at=now,
                                body=f"Declined by {agent.name}" + (f": {words}" if words
                                                                    else ""),
                                data={"reason": reason, "note": note} if reason else {})
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
    return bool(move_on_many([MoveOn(lead_id, why, idle_owner)], now=now))


@dataclass(frozen=True)
class MoveOn:
    """A lead to move on: why, and (no first contact in time) the owner who stayed silent."""

    lead_id: int
    why: str
    idle_owner: Agent | None = None


def move_on_many(moves: Sequence[MoveOn], *, now: datetime) -> list[int]:
    """``move_on`` for several leads, in order, in bulk: the leads moved on.

    Runs in the caller's transaction. The leads are locked in id order (a caller that holds
    them already, the clock, waits for nothing) and read again, then the rotation rows of
    their rules in one statement (the lock order). Each decision is taken on the cursors and
    loads the previous one left, exactly as one lead after the other would, and all of them are
    written at once (``recording.record_decisions``).
    """
    ids = sorted({move.lead_id for move in moves})
    leads = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in_ids=ids)
             .order_by("pk")}
    still_open = set(Offer.objects.filter(lead_id__in_ids=leads, status=Offer.Status.OFFERED)
                     .values_list("lead_id", flat=True)) if leads else set()
    due: list[tuple[MoveOn, Lead]] = []
    for move in moves:
        lead = leads.pop(move.lead_id, None)  # once each
        if lead is None:
            continue
        if move.idle_owner is None:
            if lead.status != Lead.Status.OFFERED or lead.pk in still_open:
                continue  # claimed meanwhile, or other offers still open (first to claim)
        elif lead.status != Lead.Status.ASSIGNED or lead.owner_id != move.idle_owner.pk:
            continue
        due.append((move, lead))
    if not due:
        return []
    config = routing_config()
    # Nobody gets the same lead twice in a round: not those offered it, not earlier owners.
    had_it = _had_it_this_round([lead for _, lead in due])
    rules = {lead.rule_id: config.rule(lead.rule_id) for _, lead in due}
    states = rotation_states(sorted({(rule.id, engine.AGENT) for rule in rules.values()
                                     if rule and rule.selection != "first_in_roster"}),
                             lock=True)
    cursors = {key: cursor_of(state) for key, state in states.items()}
    loads = agent_loads(engine.agents_needing_loads(
        config, [rule for rule in rules.values() if rule]), now, config.timezone)
    open_leads, leads_today = dict(loads.open_leads), dict(loads.leads_today)
    taken: list[Taken] = []
    for move, lead in due:
        idle_owner = move.idle_owner
        excluded = had_it.get(lead.pk, set()) | ({idle_owner.pk} if idle_owner else set())
        rule = rules[lead.rule_id]
        decision = continue_round(
            lead, config, lead.rule_id, cursors, now=now, why=move.why, excluded=excluded,
            allow_next=offers_next_agent(rule.delivery if rule else None,
                                         owner_silent=idle_owner is not None),
            offered=(), loads=Loads(open_leads, leads_today))
        cursors.update(decision.cursors)
        if decision.outcome == "assigned" and decision.agent_id is not None:
            open_leads[decision.agent_id] = open_leads.get(decision.agent_id, 0) + 1
            leads_today[decision.agent_id] = leads_today.get(decision.agent_id, 0) + 1
        if idle_owner is not None and idle_owner.pk in open_leads:
            open_leads[idle_owner.pk] -= 1  # the silent owner's lead is no longer theirs
        kind = Activity.Kind.ESCALATED if decision.reason == "escalated" else Activity.Kind.OFFERED
        extra = []
        if idle_owner is not None:
            kind = Activity.Kind.REASSIGNED
            extra.append(Message(
                [idle_owner.pk, *manager_ids(config)], Notification.Event.IDLE_REASSIGNED,
                f"Reassigned, no first contact in time: {lead.title}",
                f"{idle_owner.name} logged no first contact; {decision.summary}",
                lead_id=lead.pk))
        taken.append(Taken(lead, decision, kind, f"{move.why}: {decision.summary}",
                           extra=extra, event_data={"why": move.why,
                                                    "previous_owner": idle_owner}))
    record_decisions(taken, config, states, now)
    return [item.lead.pk for item in taken]


def _had_it_this_round(leads: Sequence[Lead]) -> dict[int, set[int]]:
    """The agents each lead went to in its current round: offered it, or owned it."""
    rounds = {lead.pk: lead.routing_round for lead in leads}
    had: dict[int, set[int]] = {}
    for model in (RoutingRecord, Offer):
        for lead_id, round_, agent_id in (model.objects.filter(lead_id__in_ids=rounds,
                                                               agent__isnull=False)
                                          .values_list("lead_id", "round", "agent_id")):
            if round_ == rounds[lead_id]:
                had.setdefault(lead_id, set()).add(agent_id)
    return had


def offers_next_agent(delivery: str | None, *, owner_silent: bool) -> bool:
    """The policy after an offer ends or an owner stays silent: a silent owner's lead, and a
    "claim with timeout" or "instant call" lead, go to the next agent; a "first to claim" lead
    (everyone had it) goes to the escalation."""
    return owner_silent or delivery in ("claim", "instant_call")


def continue_round(lead: Lead, config: RoutingConfig, rule_id: int | None,
                   cursors: Mapping[Any, Cursor], *, now: datetime, why: str,
                   excluded: Iterable[int], allow_next: bool,
                   offered: Iterable[int] | None = None, loads: Loads | None = None
                   ) -> Decision:
    """The next step of a lead's routing round under its rule (a stored rule, or a hand-off
    target's): the next agent (``allow_next``) or the escalation. Agents offered the lead in
    this round (``offered``, read here unless given), and ``excluded``, are never picked
    again. The caller holds the lead's lock. ``loads``: the capped agents' loads, when the
    caller has them (read here otherwise)."""
    had_it = set(lead.offers.filter(round=lead.routing_round).values_list("agent_id", flat=True)
                 if offered is None else offered)
    had_it.update(excluded)
    rule = config.rule(rule_id)
    if loads is None:
        loads = agent_loads(engine.agents_needing_loads(config, [rule]) if rule else set(),
                            now, config.timezone)
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
        drop_follow_up(lead)
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
        drop_follow_up(lead)
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
        if lead.owner_id != agent.pk:
            drop_follow_up(lead)
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


def drop_follow_up(lead: Lead) -> None:
    """A lead leaving its owner leaves their follow-up behind (the caller saves): it was theirs
    to make, and its reminder must not reach them, nor surprise the next owner."""
    lead.follow_up_at, lead.follow_up_note, lead.follow_up_reminded_at = None, "", None


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
