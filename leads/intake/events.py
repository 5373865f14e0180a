"""Taking a Follow Up Boss event: the source's choice to ignore events, the event read as a
lead (``fub.fub_event_to_lead``) with its ``assignedTo`` looked up among the agents, then
exactly once like every other lead (``idempotency.take_lead``).

Answers as Follow Up Boss does: 201 a new person, 200 a person already known (registered
again, or a retry's first answer), 204 an event that makes no lead (the source ignores
events, or an Unsubscribed event), 422 a lead that fails validation. Every event is kept as a
``Submission`` of the ``events`` channel: ignored ones with the reason, rejected ones with
every field's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from agents.directory import AgentDirectory
from leads.intake.cleaning import storable
from leads.intake.fub import fub_event_to_lead
from leads.intake.idempotency import Answer, Inbound, take_lead
from leads.intake.services import validate_lead
from leads.models import LeadSource, Submission
from routing.selectors import routing_config


@dataclass
class EventInbound(Inbound):
    """An event as received: refusals answered with Follow Up Boss's ``errorMessage``."""

    returning_status: int = 200
    invalid_status: int = 422

    def error_body(self, errors: dict[str, str]) -> dict[str, Any]:
        return {"errorMessage": error_message(errors), "errors": errors}


SENTENCES = ("contact", "body", "key", "rate", "server")  # errors that read without a name


def error_message(errors: dict[str, str]) -> str:
    """Every error in one sentence per field, for clients that read only ``errorMessage``."""
    return " ".join(text if name in SENTENCES else f"{name}: {text}"
                    for name, text in errors.items())


def take_event(body: dict[str, Any], source: LeadSource, inbound: EventInbound, *,
               system: str = "") -> Answer:
    """Route the lead of this Follow Up Boss event, keep it, or say why not. ``system``: the
    ``X-System`` header, the lead's site when the body names neither source nor system."""
    inbound.source_name = source.name
    if system.strip() and not body.get("source") and not body.get("system"):
        body = {**body, "system": system.strip()}
    config = routing_config()
    mapped = fub_event_to_lead(body, agents=AgentDirectory.of(config.agents.values()),
                               received_at=inbound.received_at, tz=ZoneInfo(config.timezone))
    ignores = LeadSource.objects.filter(pk=source.pk, ignore_events=True).exists()
    if ignores or not mapped.takes_lead:
        reason = (f"The source {source.name} is set to ignore events." if ignores
                  else f"{mapped.type} events make no lead.")
        return ignore(mapped.fields, reason, inbound)
    if mapped.errors:
        found = validate_lead({**mapped.fields, "source": source.name})[1] or {}
        return inbound.refuse(422, {**found, **mapped.errors}, mapped.fields)
    return take_lead(mapped.fields, source, inbound)


def ignore(fields: dict[str, Any], reason: str, inbound: Inbound) -> Answer:
    """Keep an event that makes no lead, with the reason: answered 204, never rejected."""
    submission = Submission.objects.create(
        channel=inbound.channel, source=inbound.source_name, received_at=inbound.received_at,
        payload=storable(fields), outcome=Submission.Outcome.IGNORED, errors={"ignored": reason},
        **inbound.log_fields(204, {}))
    return Answer(204, {}, submission)
