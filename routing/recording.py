"""The one writer of a routing decision: the lead, its routing record, offers, rotation
cursors, the people told and the webhook events.

Every decision is written here, whoever took it: routing at arrival (a batch, in bulk),
claims and the clock after arrival (a decline, an expiry, no first contact, a manager's
"return to routing"), and ISA hand-offs. This is also the one place that computes
first-contact and claim deadlines, in the brokerage's actionable window.

Callers hold the locks: the lead row (``claims.lock_lead`` or ``select_for_update``) and the
rotation rows they pass in (``services.rotation_states(..., lock=True)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db.models import Max

from agents.models import Agent
from config.rows import COPY_FROM, insert_instances, new_row
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.links import absolute_url
from notifications.models import Notification, WebhookEvent
from notifications.services import Message, notify_many
from routing import engine, statements
from routing.calls import start_due_calls
from routing.engine import Cursor, Decision, RoutingConfig
from routing.models import Offer, RoutingRecord, Rule
from routing.selectors import calendar, notice_reach

#: Seconds after the ringing stops that an instant-call offer stays open: the agent who
#: answered at the last ring hears the lead's essentials and presses 1.
CALL_LISTEN_SECONDS = 30


def instant_call_seconds(call_timeout_seconds: int) -> int:
    """How long an instant-call offer runs (of the actionable window): ringing plus listening."""
    return call_timeout_seconds + CALL_LISTEN_SECONDS

#: Minutes an agent has to claim when nothing else says (the models' field default too).
DEFAULT_CLAIM_TIMEOUT_MINUTES = 5


class RotationRow(Protocol):
    """A stored rotation: a rule's ``RotationState`` or a hand-off target's rotation."""

    agent_id: int | None
    position: int
    given: int


# --- Deadlines -------------------------------------------------------------------------------


def first_contact_due(config: RoutingConfig, minutes: int | None, now: datetime
                      ) -> datetime | None:
    """When the owner's first contact is due: ``minutes`` of the actionable window from now."""
    if not minutes:
        return None
    return calendar(config).add(now, minutes)


def rule_contact_due(config: RoutingConfig, rule_id: int | None, now: datetime
                     ) -> datetime | None:
    """The first-contact deadline a rule sets for the agent who gets (or claims) its lead."""
    rule = config.rule(rule_id)
    return first_contact_due(config, rule.first_contact_minutes if rule else None, now)


# --- The lead, its record and its offers -----------------------------------------------------


def apply_decision(lead: Lead, decision: Decision, config: RoutingConfig, now: datetime) -> None:
    """Set the lead's owner, status and deadlines from a decision (the caller saves)."""
    lead.rule_id = decision.rule_id or lead.rule_id
    if decision.lender_id:
        lead.lender_id = decision.lender_id
    if decision.add_tags:
        lead.tags = list(dict.fromkeys([*lead.tags, *decision.add_tags]))
    lead.first_contact_due_at = None
    if decision.outcome == "assigned":
        lead.owner_id = decision.agent_id
        lead.status = Lead.Status.ASSIGNED
        lead.assigned_at = now
        if decision.reason == "rule":
            lead.first_contact_due_at = rule_contact_due(config, decision.rule_id, now)
    else:
        lead.owner_id = None
        lead.assigned_at = None
        lead.status = (Lead.Status.OFFERED if decision.outcome == "offered"
                       else Lead.Status.UNASSIGNED)


def offers_for(lead: Lead, decision: Decision, config: RoutingConfig, now: datetime, *,
               claim_minutes: int | None = None) -> list[Offer]:
    """The offers of an "offered" decision, with deadlines in the actionable window.

    ``claim_minutes``: the window when the decision's rule is not a stored one (a hand-off
    target's); else the rule's.
    """
    if decision.outcome != "offered":
        return []
    rule = config.rule(decision.rule_id)
    if claim_minutes is None:
        claim_minutes = rule.claim_timeout_minutes if rule else DEFAULT_CLAIM_TIMEOUT_MINUTES
    cal = calendar(config)
    clock_starts_at = cal.next_open(now)
    remind_at: datetime | None
    if decision.delivery == engine.Delivery.INSTANT_CALL and rule is not None:
        # The phone rings for the rule's seconds; the agent then hears the lead and presses 1.
        deadline = cal.add(now, instant_call_seconds(rule.call_timeout_seconds) / 60)
        remind_at = None  # the ringing phone is the reminder
    else:
        deadline = cal.add(now, claim_minutes)
        remind_at = cal.add(now, claim_minutes / 2)
    return [
        new_row(Offer, lead=lead, agent_id=agent_id, rule_id=decision.rule_id,
                round=lead.routing_round, offered_at=now,
                clock_starts_at=clock_starts_at, deadline=deadline, remind_at=remind_at)
        for agent_id in decision.offered_to
    ]


def routing_record(lead: Lead, decision: Decision, *, created_at: datetime,
                   version: int | None) -> RoutingRecord:
    """The decision's trace as stored (unsaved)."""
    return new_row(
        RoutingRecord, lead=lead, created_at=created_at, outcome=decision.outcome,
        reason=decision.reason, rule_id=decision.rule_id, rule_name=decision.rule_name,
        agent_id=decision.agent_id, lender_id=decision.lender_id, summary=decision.summary,
        trace=decision.trace, rule_version=version, round=lead.routing_round,
        handoff_target_id=decision.handoff_target_id,
        skipped_turns=[turn.as_json() for turn in decision.skipped_turns],
    )


def rule_versions(rule_ids: Iterable[int | None]) -> dict[int, int]:
    """The current version (latest history id) of each of these rules, in one query."""
    ids = sorted({rule_id for rule_id in rule_ids if rule_id is not None})
    if not ids:
        return {}
    return dict(Rule.history.filter(id__in=ids).order_by().values_list("id")
                .annotate(Max("history_id")))


def moved_rotations(cursors: Mapping[Any, Cursor], rows: Mapping[Any, RotationRow]
                    ) -> dict[type, list[RotationRow]]:
    """The rows whose rotation moved, set to where it now stands (to be saved), by model."""
    changed: dict[type, list[RotationRow]] = {}
    for key, cursor in cursors.items():
        row = rows.get(key)
        if row is not None and (row.agent_id, row.position, row.given) != (
            cursor.agent_id, cursor.position, cursor.given
        ):
            row.agent_id, row.position, row.given = (
                cursor.agent_id, cursor.position, cursor.given)
            changed.setdefault(type(row), []).append(row)
    return changed


def save_cursors(cursors: Mapping[Any, Cursor], rows: Mapping[Any, RotationRow]) -> None:
    """Store where each rotation now stands: the rows that moved, one statement per kind of
    rotation (the rows are locked by the caller)."""
    _save_moved(moved_rotations(cursors, rows))


def _save_moved(changed: Mapping[type, list[RotationRow]]) -> None:
    for model, moved in changed.items():
        if len(moved) == 1:  # a plain UPDATE: ``bulk_update`` would build a CASE per field
            model.objects.filter(pk=moved[0].pk).update(
                agent_id=moved[0].agent_id, position=moved[0].position, given=moved[0].given)
        else:
            model.objects.bulk_update(moved, ["agent", "position", "given"])


def save_decision(lead: Lead, decision: Decision, config: RoutingConfig, *, now: datetime,
                  version: int | None, claim_minutes: int | None = None) -> list[Offer]:
    """Save a decision taken after arrival on its (locked) lead: the lead, its routing record
    and its offers. Rotations are the caller's (``save_cursors``)."""
    apply_decision(lead, decision, config, now)
    lead.save()
    routing_record(lead, decision, created_at=now, version=version).save()
    offers = offers_for(lead, decision, config, now, claim_minutes=claim_minutes)
    if offers:
        Offer.objects.bulk_create(offers)
    return offers


def record_decision(lead: Lead, decision: Decision, config: RoutingConfig,
                    rows: Mapping[Any, RotationRow], now: datetime, *, kind: str, body: str,
                    actor: Agent | None = None, extra: Iterable[Message] = (),
                    event_data: dict | None = None) -> list[Offer]:
    """Write a rule's decision taken after arrival: rotations, the lead, its record, offers,
    the timeline entry, the people told and webhook events (``event_data`` added to each)."""
    return record_decisions([Taken(lead, decision, kind, body, actor, tuple(extra),
                                   event_data)], config, rows, now)[0]


@dataclass(frozen=True)
class Taken:
    """A decision taken after arrival on a locked lead, and how its timeline tells it."""

    lead: Lead
    decision: Decision
    kind: str
    body: str
    actor: Agent | None = None
    extra: Sequence[Message] = ()
    event_data: dict | None = None


#: The lead's fields that ``apply_decision`` sets (what a batch of decisions updates).
DECIDED_FIELDS = ("rule_id", "lender_id", "tags", "first_contact_due_at", "owner_id",
                  "assigned_at", "status")


def decided_values(lead: Lead) -> dict[str, Any]:
    """The lead's fields that a decision sets, as they are now."""
    return {name: getattr(lead, name) for name in DECIDED_FIELDS}


def save_decided(leads: Sequence[Lead]) -> None:
    """Save what decisions set on these leads: one ``UPDATE`` per distinct outcome (a burst
    moved on to the next agents is one or two of them, where ``bulk_update`` would build a
    ``CASE`` per field and lead). The caller leaves out the leads a decision did not change:
    an offer that expired and went to the next agent leaves its lead as it was (offered, by
    the same rule), and rewriting 500 unchanged rows costs the server a new version of each."""
    same: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for lead in leads:
        values = decided_values(lead)
        same.setdefault(repr(values), (values, []))[1].append(lead.pk)
    for values, ids in same.values():
        Lead.objects.filter(pk__in_ids=ids).update(**values)


def insert_records(records: Sequence[RoutingRecord]) -> None:
    """Store new routing records (their ids are not read back). Each keeps its whole trace,
    kilobytes of JSON: on PostgreSQL a batch goes through ``COPY`` (``config.rows``), which
    takes them about twice as fast as an ``INSERT`` of literal rows."""
    insert_instances(records, read_ids=False)


def record_decisions(taken: Sequence[Taken], config: RoutingConfig,
                     rows: Mapping[Any, RotationRow], now: datetime) -> list[list[Offer]]:
    """Write decisions taken after arrival, in order, in bulk (the clock moves a burst of
    leads on this way): the rotations where the last decision left them, the leads, records,
    offers and timeline entries in one statement each, then one message batch and one batch
    of webhook events. The offers made, per decision.

    The decisions were taken one after the other, each on the cursors the previous one left,
    so the rotations are written once, as the last one left them."""
    if not taken:
        return []
    cursors: dict[Any, Cursor] = {}
    for item in taken:
        cursors.update(item.decision.cursors)
    save_cursors(cursors, rows)
    versions = rule_versions({item.decision.rule_id for item in taken})
    before = [decided_values(item.lead) for item in taken]
    for item in taken:
        apply_decision(item.lead, item.decision, config, now)
    if len(taken) == 1:
        taken[0].lead.save()
    else:
        save_decided([item.lead for item, was in zip(taken, before, strict=True)
                      if decided_values(item.lead) != was])
    insert_records([
        routing_record(item.lead, item.decision, created_at=now,
                       version=versions.get(item.decision.rule_id)) for item in taken])
    made = [offers_for(item.lead, item.decision, config, now) for item in taken]
    every_offer = [offer for own in made for offer in own]
    insert_instances(every_offer)  # a burst's offers through ``COPY``
    Activity.objects.record_many([
        new_row(Activity, lead=item.lead, kind=item.kind, actor=item.actor, created_at=now,
                body=item.body) for item in taken])
    calling = [item.lead.pk for item, own in zip(taken, made, strict=True)
               if own and item.decision.delivery == engine.Delivery.INSTANT_CALL]
    if calling:
        start_due_calls(now=now, lead_ids=calling)
    link = absolute_url("offers", fallback="/") if every_offer else None
    notify_many([message for item, own in zip(taken, made, strict=True)
                 for message in (*routed_messages(item.lead, item.decision, config, own,
                                                  offers_link=link),
                                 *item.extra)], now=now, tz_name=config.timezone,
                reach=notice_reach(config))
    if webhooks.subscribers(config):  # nobody: no events to build
        webhooks.emit_many([event for item, own in zip(taken, made, strict=True)
                            for event in webhooks.decision_events(
                                item.lead, item.decision, config, own,
                                **(item.event_data or {}))], now=now, config=config)
    return made


def record_arrivals(pending: Sequence[tuple[Lead, Decision]], config: RoutingConfig,
                    versions: Mapping[int, int], *, with_events: bool,
                    rotations: tuple[Mapping[Any, Cursor], Mapping[Any, RotationRow]] | None
                    = None) -> tuple[list[Message], list[webhooks.Event]]:
    """Save new leads and their decisions in bulk (routing at arrival): the leads, then their
    records and offers, and the rotations (``rotations``: the cursors and their locked rows,
    when this is the batch's last write). On PostgreSQL a batch's leads, then its records
    (kilobytes of trace each), go through ``COPY`` and the rest in one statement; a lead alone
    is one statement in all (``_write_together``); elsewhere one each. Returns
    who must be told, and the webhook events (``with_events``: someone subscribes), for the
    caller to send once for the whole batch."""
    leads = [lead for lead, _ in pending]
    for lead, decision in pending:
        apply_decision(lead, decision, config, lead.received_at)
    alone = statements.together() and len(leads) == 1
    if not alone:
        insert_instances(leads)  # a batch's leads through ``COPY`` (PostgreSQL)
    records = [
        routing_record(lead, d, created_at=lead.received_at, version=versions.get(d.rule_id))
        for lead, d in pending]
    made = [(lead, d, offers_for(lead, d, config, lead.received_at)) for lead, d in pending]
    offers = [offer for _, _, own in made for offer in own]  # each lead with its own offers
    moved = moved_rotations(*rotations) if rotations else {}
    if statements.together():
        if not alone and len(records) >= COPY_FROM:  # a batch's traces: through ``COPY``
            insert_records(records)
            records = []
        _write_together(leads if alone else [], records, offers, moved)
    else:
        RoutingRecord.objects.bulk_create(records)
        if offers:
            Offer.objects.bulk_create(offers)
        _save_moved(moved)
    calling = [lead.pk for lead, d, own in made
               if own and d.delivery == engine.Delivery.INSTANT_CALL]
    if calling:
        start_due_calls(now=max(lead.received_at for lead, _ in pending), lead_ids=calling)
    messages: list[Message] = []
    events: list[webhooks.Event] = []
    for lead, decision, own in made:
        messages.extend(routed_messages(lead, decision, config, own))
        if with_events:
            events.append(webhooks.Event(WebhookEvent.LEAD_CREATED, lead))
            events.extend(webhooks.decision_events(lead, decision, config, own))
    return messages, events


def _write_together(new_lead: Sequence[Lead], records: Sequence[RoutingRecord],
                    offers: Sequence[Offer], moved: Mapping[type, list[RotationRow]]) -> None:
    """One statement (PostgreSQL): the lead when it comes alone (``new_lead``, unsaved: the
    records and offers take its id from it), the records (none when a batch's went through
    ``COPY``), the rotations that moved, the offers; none when nothing is left to write."""
    parts, returning = [], ["made_offers"]
    if new_lead:
        parts.append(statements.insert("made_lead", new_lead, returning=True))
        returning.insert(0, "made_lead")
        for row in (*records, *offers):
            row.lead_id = statements.returned_id("made_lead")
    if records:
        parts.append(statements.insert("made_records", records, prepared=bool(new_lead)))
    parts += [statements.update(f"moved_{n}", type(row), row.pk, agent_id=row.agent_id,
                                position=row.position, given=row.given)
              for n, row in enumerate(row for rows in moved.values() for row in rows)]
    if offers:
        parts.append(statements.insert("made_offers", offers, returning=True,
                                       prepared=bool(new_lead)))
    if not parts:
        return
    ids = statements.run(parts, returning=[name for name in returning
                                           if any(p.name == name for p in parts)])
    if new_lead:
        statements.saved(new_lead, ids["made_lead"])
        for row in (*records, *offers):
            row.lead_id = new_lead[0].pk
    statements.saved(records)
    statements.saved(offers, ids.get("made_offers", []) if offers else None)


# --- Who is told -----------------------------------------------------------------------------


def manager_ids(config: RoutingConfig) -> list[int]:
    """The active managers, who hear of the pond, escalations and idle reassignments."""
    return [a.id for a in config.agents.values() if a.role == "manager" and a.is_active]


def routed_messages(
    lead: Lead, decision: Decision, config: RoutingConfig, offers: Sequence[Offer] = (), *,
    offers_link: str | None = None,
) -> list[Message]:
    """Who must be told about a routing decision, and what. ``offers_link``: the offers page's
    address, when the caller has it (resolving it costs more than the rest of a message: a
    batch resolves it once)."""
    name = lead.title  # never the contact details: they stay hidden until claimed
    if decision.outcome == "assigned":
        event = (Notification.Event.LEAD_ESCALATED if decision.reason == "escalated"
                 else Notification.Event.LEAD_ASSIGNED)
        messages = [Message([decision.agent_id], event, f"New lead: {name}", decision.summary,
                            lead_id=lead.pk)]
        if decision.reason == "escalated":
            messages.append(Message(manager_ids(config), Notification.Event.LEAD_ESCALATED,
                                    f"Escalated, nobody claimed it: {name}",
                                    decision.summary, lead_id=lead.pk))
        return messages
    if decision.outcome == "offered":
        link = offers_link or absolute_url("offers", fallback="/")
        local = {o.agent_id: engine.to_local(o.deadline, config.timezone)
                 for o in offers if o.lead_id == lead.pk}
        return [
            Message([agent_id], Notification.Event.LEAD_OFFERED, f"Lead offered: {name}",
                    f"Claim it by {local[agent_id]:%a %H:%M}: {link}", lead_id=lead.pk)
            for agent_id in decision.offered_to if agent_id in local
        ]
    what = "nobody claimed it" if decision.reason == "escalated" else "nobody could take it"
    return [Message(manager_ids(config), Notification.Event.LEAD_UNASSIGNED,
                    f"In the pond, {what}: {name}", decision.summary, lead_id=lead.pk)]
