"""Push to Follow Up Boss: each lead that gets its agent goes to the brokerage's FUB account.

A built-in webhook. The integration (``FollowUpBossIntegration``) owns one endpoint,
subscribed to the events where a lead gets its agent (``lead.assigned``: routed, escalated,
reassigned or handed off to an agent; ``lead.claimed``: an offer or the pond claimed). Routing
already emits those, so its deliveries are written, sent after commit, retried and logged by
the webhook machinery, and routing knows nothing of FUB. Only the request differs
(``request_parts``): FUB's Events API (``POST <base URL>/v1/events``), HTTP Basic auth with the
API key as the user name, the ``X-System`` / ``X-System-Key`` headers, and FUB's event body
built from the delivery's payload (``fub_event``, pure), with the agent as ``assignedTo``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from notifications.models import FollowUpBossIntegration, WebhookEndpoint, WebhookEvent

#: The events where a lead gets its agent: each is pushed to FUB.
FUB_EVENTS = (WebhookEvent.LEAD_ASSIGNED.value, WebhookEvent.LEAD_CLAIMED.value)
ENDPOINT_NAME = "Follow Up Boss"
DEFAULT_SOURCE = "leadrouter"


def save_integration(integration: FollowUpBossIntegration) -> FollowUpBossIntegration:
    """Save the integration and keep its endpoint in step: FUB's events URL, the agent
    events, active while the integration is on (an endpoint change renews the routing
    snapshot's subscriber lists, so routing starts or stops writing its pushes at once)."""
    with transaction.atomic():
        endpoint = integration.endpoint or WebhookEndpoint(name=ENDPOINT_NAME)
        endpoint.url = integration.events_url
        endpoint.events = list(FUB_EVENTS)
        endpoint.active = integration.enabled
        endpoint.save()
        integration.endpoint = endpoint
        integration.save()
    return integration


def integration_of(endpoint: WebhookEndpoint) -> FollowUpBossIntegration | None:
    """The FUB integration this endpoint pushes for; None for a plain webhook."""
    try:
        return endpoint.follow_up_boss
    except ObjectDoesNotExist:
        return None


def request_parts(integration: FollowUpBossIntegration, payload: Mapping[str, Any]
                  ) -> tuple[str, dict[str, Any], dict[str, str]]:
    """What one push sends: (URL, FUB's event body, its headers)."""
    token = base64.b64encode(f"{integration.api_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "X-System": integration.system_name}
    if integration.system_key:
        headers["X-System-Key"] = integration.system_key
    return integration.events_url, fub_event(payload, system=integration.system_name), headers


def fub_event(payload: Mapping[str, Any], *, system: str) -> dict[str, Any]:
    """FUB's event body of a webhook payload: the person with their agent as ``assignedTo``,
    the property they asked about, the type FUB sorts leads by."""
    data = payload.get("data") or {}
    lead = data.get("lead") or {}
    agent = data.get("agent") or lead.get("owner") or {}
    person: dict[str, Any] = {"firstName": lead.get("first_name") or "",
                              "lastName": lead.get("last_name") or ""}
    if lead.get("email"):
        person["emails"] = [{"value": lead["email"]}]
    if lead.get("phone"):
        person["phones"] = [{"value": lead["phone"]}]
    if lead.get("tags"):
        person["tags"] = list(lead["tags"])
    if agent.get("name") or agent.get("email"):
        person["assignedTo"] = agent.get("name") or agent.get("email")
    place = _property(lead)
    event: dict[str, Any] = {
        "source": lead.get("source") or DEFAULT_SOURCE,
        "system": system,
        "type": fub_type(lead.get("lead_type") or "", has_property=bool(place)),
        "message": lead.get("message") or "",
        "person": person,
    }
    if place:
        event["property"] = place
    description = ". ".join(part for part in (
        data.get("summary"), lead.get("url") and f"In leadrouter: {lead['url']}") if part)
    if description:
        event["description"] = description
    if lead.get("received_at"):
        event["occurredAt"] = lead["received_at"]
    return event


def fub_type(lead_type: str, *, has_property: bool) -> str:
    """FUB's type: a seller's is a Seller Inquiry; a buyer's a Property Inquiry when they asked
    about a property, else a General Inquiry."""
    if lead_type == "seller":
        return "Seller Inquiry"
    return "Property Inquiry" if has_property else "General Inquiry"


def _property(lead: Mapping[str, Any]) -> dict[str, Any]:
    """FUB's ``property`` of the lead (only the fields known)."""
    place: dict[str, Any] = {}
    for ours, theirs in (("city", "city"), ("zip_code", "code"), ("listing_ref", "mlsNumber"),
                         ("property_type", "type")):
        if lead.get(ours):
            place[theirs] = lead[ours]
    if lead.get("price"):
        price = Decimal(lead["price"])
        place["price"] = int(price) if price == price.to_integral_value() else float(price)
    return place
