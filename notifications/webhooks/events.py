"""Emitting webhook events: what happened to a lead, written as deliveries to send later.

``emit`` / ``emit_many`` are called by the services where things happen: one
``WebhookDelivery`` row per active endpoint subscribed to the event, written in the caller's
transaction, all endpoints sharing the event's id; their task is committed with them
(``queue_with_commit``), so a rolled-back change sends nothing. Nothing is sent in the request.

Payloads name agents and rules. Callers that hold the routing snapshot pass it (``config``) and
pay no query for those names; without it, the names are read from the models, once per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django_q.tasks import async_task

from agents.models import Agent
from leads.models import Lead
from notifications.links import absolute_url
from notifications.models import WebhookDelivery, WebhookEvent
from notifications.queueing import queue_with_commit
from notifications.sms import e164
from notifications.webhooks.subscribers import subscribers
from routing.engine import AgentInfo, Decision, RoutingConfig
from routing.models import Rule

SEND_TASK = "notifications.webhooks.send_webhook_deliveries"


@dataclass
class Event:
    """One thing that happened to one lead; ``data`` holds the event's own facts."""

    name: str
    lead: Lead | int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Names:
    """Who the agents and rules a payload mentions are (by id)."""

    agents: Mapping[int, Agent | AgentInfo]
    rule_name: Callable[[int | None], str | None]

    @classmethod
    def of_config(cls, config: RoutingConfig) -> Names:
        """From the routing snapshot: no query."""
        def rule_name(rule_id: int | None) -> str | None:
            rule = config.rule(rule_id)
            return rule.name if rule else None
        return cls(config.agents, rule_name)

    @classmethod
    def of_leads(cls, leads: Iterable[Lead]) -> Names:
        """The owners, lenders and rules of these leads, read from the models (two queries at
        most, whatever the number of leads)."""
        leads = list(leads)
        agent_ids = {pk for lead in leads for pk in (lead.owner_id, lead.lender_id) if pk}
        rule_ids = {lead.rule_id for lead in leads if lead.rule_id}
        agents = Agent.objects.in_bulk(agent_ids) if agent_ids else {}
        rules = dict(Rule.objects.filter(pk__in=rule_ids).values_list("pk", "name")
                     ) if rule_ids else {}
        return cls(agents, lambda rule_id: rules.get(rule_id) if rule_id else None)

    def agent(self, value: Agent | AgentInfo | int | None) -> dict | None:
        """An agent as receivers see it; one unknown here keeps its id, with blank details."""
        if value is None:
            return None
        if isinstance(value, int):
            known = self.agents.get(value)
            if known is None:
                return {"id": value, "name": "", "email": "", "role": ""}
            value = known
        return person(value)


def emit(event: str, leads: Lead | int | Iterable[Lead | int], *, now: datetime,
         data: Mapping[str, Any] | None = None,
         config: RoutingConfig | None = None) -> list[WebhookDelivery]:
    """Tell the endpoints subscribed to ``event`` about each of these leads (see module doc)."""
    many = leads if isinstance(leads, Iterable) else [leads]
    return emit_many([Event(event, lead, dict(data or {})) for lead in many], now=now,
                     config=config)


def emit_many(events: Iterable[Event], *, now: datetime,
              config: RoutingConfig | None = None) -> list[WebhookDelivery]:
    """Write the deliveries of these events in the caller's transaction and queue their sending
    for when it commits. Nobody subscribed: nothing happens (and, given the routing snapshot,
    no query)."""
    subscribed = subscribers(config)
    if not subscribed:
        return []
    wanted = [e for e in events if subscribed.get(e.name)]
    if not wanted:
        return []
    ids = [e.lead for e in wanted if isinstance(e.lead, int)]
    fetched = Lead.objects.in_bulk(ids) if ids else {}
    found: list[tuple[Event, Lead]] = []
    for event in wanted:
        lead = fetched.get(event.lead) if isinstance(event.lead, int) else event.lead
        if lead is not None:
            found.append((event, lead))
    names = Names.of_config(config) if config is not None else Names.of_leads(
        lead for _, lead in found)
    rows: list[WebhookDelivery] = []
    for event, lead in found:
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "event": event.name, "created_at": iso(now),
                   "data": {"lead": lead_data(lead, names=names), **_jsonable(event.data)}}
        rows.extend(WebhookDelivery(endpoint_id=endpoint_id, event=event.name,
                                    event_id=event_id, lead_id=lead.pk, payload=payload,
                                    created_at=now)
                    for endpoint_id in subscribed[event.name])
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows)
    delivery_ids = [row.pk for row in rows]
    queue_with_commit(lambda: queue_sending(delivery_ids))
    return rows


def queue_sending(delivery_ids: list[int]) -> None:
    """After the commit: one task sends them (if the broker is down, the retry will)."""
    async_task(SEND_TASK, delivery_ids, task_name="send webhooks")


def decision_events(lead: Lead, decision: Decision, config: RoutingConfig,
                    offers: Sequence[Any] = (), **extra: Any) -> list[Event]:
    """The events of a routing decision: assigned, offered, escalated (to an agent: also
    assigned; to the pond: escalated alone). A lead merely left in the pond on arrival: none."""
    names = Names.of_config(config)
    base = {"reason": decision.reason, "rule": decision.rule_name or None,
            "summary": decision.summary, **extra}
    if decision.outcome == "assigned":
        agent = names.agent(decision.agent_id)
        events = [Event(WebhookEvent.LEAD_ASSIGNED, lead, {**base, "agent": agent})]
        if decision.reason == "escalated":
            events.insert(0, Event(WebhookEvent.LEAD_ESCALATED, lead,
                                   {**base, "escalated_to": agent}))
        return events
    if decision.outcome == "offered":
        mine = [o for o in offers if o.lead_id == lead.pk]
        return [Event(WebhookEvent.LEAD_OFFERED, lead, {
            **base, "delivery": decision.delivery,
            "offered_to": [names.agent(a) for a in decision.offered_to],
            "offers": [{"agent": names.agent(o.agent_id),
                        "deadline": o.deadline, "clock_starts_at": o.clock_starts_at}
                       for o in mine],
        })]
    if decision.outcome == "unassigned" and decision.reason == "escalated":
        return [Event(WebhookEvent.LEAD_ESCALATED, lead, {**base, "escalated_to": None})]
    return []


def lead_data(lead: Lead, config: RoutingConfig | None = None, *,
              names: Names | None = None) -> dict[str, Any]:
    """What a receiver needs of the lead. Its owner, lender and rule are named from ``names``,
    else from the routing snapshot ``config`` (no query), else read from the models."""
    if names is None:
        names = Names.of_config(config) if config is not None else Names.of_leads([lead])
    return {
        "id": lead.pk,
        "name": lead.full_name,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": e164(lead.phone),
        "source": lead.source,
        "tags": list(lead.tags or ()),
        "lead_type": lead.lead_type,
        "price": None if lead.price is None else f"{Decimal(lead.price):.2f}",
        "city": lead.city,
        "zip_code": lead.zip_code,
        "property_type": lead.property_type,
        "listing_ref": lead.listing_ref,
        "message": lead.message,
        "external_id": lead.external_id,
        "status": lead.status,
        "received_at": iso(lead.received_at),
        "assigned_at": iso(lead.assigned_at),
        "first_contact_at": iso(lead.first_contact_at),
        "owner": names.agent(lead.owner_id),
        "lender": names.agent(lead.lender_id),
        "rule": names.rule_name(lead.rule_id),
        "url": lead_url(lead.pk),
    }


def lead_url(lead_id: int | None) -> str | None:
    """The lead's page, absolute; None for a lead not saved (or a site without the page)."""
    return None if lead_id is None else absolute_url("lead-detail", lead_id)


def person(agent: Agent | AgentInfo) -> dict:
    """An agent as receivers see it."""
    return {"id": agent.pk if isinstance(agent, Agent) else agent.id, "name": agent.name,
            "email": agent.email, "role": agent.role}


def iso(moment: datetime | None) -> str | None:
    """A moment as receivers read it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat() if moment else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Agent | AgentInfo):
        return person(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date | Decimal | uuid.UUID):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
