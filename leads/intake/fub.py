"""Follow Up Boss events read as leadrouter's intake fields (``POST /api/v1/events``).

Pure: the body of an event in, the lead's fields out (the names ``LeadForm`` validates), so
that every event type is testable without a request or a database. What has no field of its
own (the street, other e-mails and phones, the search, the campaign, the page, when it
happened) goes into the lead's message, so that nothing the vendor sent is lost.

When it happened (``occurredAt``) is written in the message in the brokerage's time; the
lead's arrival, from which speed to lead is counted, is when leadrouter received it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from agents.directory import AgentDirectory
from leads.display import duration
from leads.intake.mapping import keep_first_contacts

MESSAGE_MAX = 10000


@dataclass(frozen=True)
class EventType:
    """What an event of this type says about the person."""

    lead_type: str  # "buyer", "seller" or "" (not said)
    tags: tuple[str, ...]
    takes_lead: bool = True  # False: the event changes no lead (kept, answered 204)


#: Follow Up Boss's event types. Each one's name is also a tag, so that a rule can route
#: "Visited Open House" or "Seller Inquiry" events by their tags.
TYPE_MAP: dict[str, EventType] = {
    "Registration": EventType("", ("Registration",)),
    "Seller Inquiry": EventType("seller", ("Seller Inquiry",)),
    "Property Inquiry": EventType("buyer", ("Property Inquiry",)),
    "General Inquiry": EventType("", ("General Inquiry",)),
    "Viewed Property": EventType("buyer", ("Viewed Property",)),
    "Saved Property": EventType("buyer", ("Saved Property",)),
    "Property Search": EventType("buyer", ("Property Search",)),
    "Saved Property Search": EventType("buyer", ("Saved Property Search",)),
    "Visited Open House": EventType("buyer", ("Visited Open House", "Open House")),
    "Visited Website": EventType("", ("Visited Website",)),
    "Viewed Page": EventType("", ("Viewed Page",)),
    "Incoming Call": EventType("", ("Incoming Call",)),
    "Unsubscribed": EventType("", ("Unsubscribed",), takes_lead=False),
}
INQUIRY = "Inquiry"  # Property Inquiry with a property, else General Inquiry (as FUB does)
_BY_KEY = {name.lower(): name for name in TYPE_MAP}


@dataclass(frozen=True)
class MappedEvent:
    """An event as intake fields, with what could not be read and why."""

    type: str  # the event type, as Follow Up Boss names it
    fields: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # the event's own shape, by path

    @property
    def takes_lead(self) -> bool:
        known = TYPE_MAP.get(self.type)
        return known is None or known.takes_lead


def event_type(value: Any, has_property: bool) -> str:
    """Follow Up Boss's name of the type (any case), "Inquiry" resolved; unknown as sent."""
    text = " ".join(str(value or "").split())
    if text.lower() == INQUIRY.lower():
        return "Property Inquiry" if has_property else "General Inquiry"
    return _BY_KEY.get(text.lower(), text)


def fub_event_to_lead(body: Mapping[str, Any], *, agents: AgentDirectory | None = None,
                      received_at: datetime | None = None, tz: tzinfo | None = None
                      ) -> MappedEvent:
    """The lead's fields of a Follow Up Boss event. ``agents``: who ``assignedTo`` may name
    (unknown: dropped, said in the message, routed by the rules); ``received_at`` and ``tz``:
    to write when it happened in the brokerage's time and how long before it arrived."""
    errors: dict[str, str] = {}
    person = _object(body, "person", errors)
    prop = _object(body, "property", errors)
    search = _object(body, "propertySearch", errors)
    campaign = _object(body, "campaign", errors)
    kind = event_type(body.get("type"), bool(prop))
    known = TYPE_MAP.get(kind)
    notes: list[str] = []
    fields: dict[str, Any] = {}

    for ours, theirs in (("first_name", "firstName"), ("last_name", "lastName")):
        if (text := _text(person, theirs, errors, "person")):
            fields[ours] = text
    emails = _values(person, "emails", errors)
    phones = _values(person, "phones", errors)
    keep_first_contacts(fields, notes, emails=emails, phones=phones)

    tags = _tags(person, errors)
    if known is not None:
        tags += [t for t in known.tags if t not in tags]
        lead_type = known.lead_type or ("buyer" if prop or search else "")
    else:
        if kind:
            tags.append(kind)
            notes.append(f"Event type: {kind}")
        lead_type = "buyer" if prop or search else ""
    if tags:
        fields["tags"] = tags
    if lead_type:
        fields["lead_type"] = lead_type
    if (site := _text(body, "source", errors) or _text(body, "system", errors)):
        fields["site"] = site[:200]

    agent = _text(person, "assignedTo", errors, "person")
    if agent:
        found = (agents or AgentDirectory()).find(agent)
        if found.email:
            fields["assigned_to"] = found.email
        else:
            notes.append(f"Follow Up Boss assigned this person to {agent}. {found.problem} "
                         "Routed by the rules instead.")
    elif person.get("assignedUserId") not in (None, ""):
        notes.append(f"Follow Up Boss assigned this person to its user "
                     f"{person['assignedUserId']}, who is no agent here. Routed by the rules "
                     "instead.")

    _property_fields(prop, fields, notes, errors)
    _search_fields(search, fields, notes)
    if campaign:
        parts = [f"{_words(k)} {_plain(v)}" for k, v in campaign.items() if _plain(v)]
        if parts:
            notes.append(f"Campaign: {', '.join(parts)}")
    for label, name in (("Page", "pageTitle"), ("Page address", "pageUrl"),
                        ("Came from", "pageReferrer")):
        if (text := _text(body, name, errors)):
            notes.append(f"{label}: {text}")
    if (happened := _occurred(body.get("occurredAt"), received_at, tz)):
        notes.append(happened)

    said = [t for name in ("message", "description") if (t := _text(body, name, errors))]
    message = "\n\n".join(filter(None, ["\n".join(said), "\n".join(notes)]))
    if message:
        fields["message"] = (message if len(message) <= MESSAGE_MAX
                             else message[:MESSAGE_MAX - 1] + "…")
    return MappedEvent(kind, fields, errors)


def _object(body: Mapping[str, Any], name: str, errors: dict[str, str]) -> dict[str, Any]:
    value = body.get(name)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors[name] = "Expected an object."
        return {}
    return value


def _plain(value: Any) -> str:
    """A JSON scalar as text ("" for nothing, objects and lists)."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def _words(name: str) -> str:
    """Follow Up Boss's camelCase names in words: ``maxPrice`` -> ``max price``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).lower()


def _text(data: Mapping[str, Any], name: str, errors: dict[str, str], path: str = "") -> str:
    value = data.get(name)
    if isinstance(value, dict | list):
        errors[f"{path}.{name}" if path else name] = "Expected text."
        return ""
    return str(value).strip() if value is not None else ""


def _values(person: Mapping[str, Any], name: str, errors: dict[str, str]) -> list[str]:
    """``emails``/``phones``: ``[{"value": ...}]`` (plain strings taken too), in order."""
    items = person.get(name)
    if items in (None, ""):
        return []
    if not isinstance(items, list):
        items = [items]
    found = []
    for item in items:
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, dict | list):
            errors[f"person.{name}"] = 'Expected a list of {"value": "..."}.'
            return []
        if value is not None and str(value).strip():
            found.append(str(value).strip())
    return list(dict.fromkeys(found))


def _tags(person: Mapping[str, Any], errors: dict[str, str]) -> list[str]:
    tags = person.get("tags")
    if tags in (None, ""):
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list) or not all(isinstance(t, str | int | float) for t in tags):
        errors["person.tags"] = "Expected a list of tags."
        return []
    return list(dict.fromkeys(str(t).strip() for t in tags if str(t).strip()))


def _property_fields(prop: Mapping[str, Any], fields: dict[str, Any], notes: list[str],
                     errors: dict[str, str]) -> None:
    """The property asked about: its city, zip, MLS number, price and type are the lead's;
    its street, state, address and details go into the message."""
    if not prop:
        return
    for ours, theirs in (("city", "city"), ("zip_code", "code"), ("listing_ref", "mlsNumber"),
                         ("property_type", "type")):
        if (text := _text(prop, theirs, errors, "property")):
            fields[ours] = text
    price = prop.get("price")
    if price not in (None, ""):
        fields["price"] = price
    address = ", ".join(p for p in (_plain(prop.get("street")), _plain(prop.get("city")),
                                    " ".join(filter(None, (_plain(prop.get("state")),
                                                           _plain(prop.get("code")))))) if p)
    details = [f"{label} {_plain(prop.get(name))}" for label, name in (
        ("bedrooms", "bedrooms"), ("bathrooms", "bathrooms"), ("area", "area"), ("lot", "lot"))
        if _plain(prop.get(name))]
    line = "Property: " + "; ".join(filter(None, [address, ", ".join(details)]))
    if prop.get("forRent") is True:
        line += " (for rent)"
    if address or details or prop.get("forRent") is True:
        notes.append(line)
    if (url := _text(prop, "url", errors, "property")):
        notes.append(f"Listing: {url}")


def _search_fields(search: Mapping[str, Any], fields: dict[str, Any], notes: list[str]) -> None:
    """A saved search: where and up to what price, when no property said so already."""
    if not search:
        return
    for ours, theirs in (("city", "city"), ("zip_code", "code"), ("neighborhood", "neighborhood"),
                         ("property_type", "type")):
        text = _plain(search.get(theirs))
        if text and ours not in fields:
            fields[ours] = text
    top = search.get("maxPrice")
    if "price" not in fields and top not in (None, "") and not isinstance(top, dict | list):
        fields["price"] = top
    parts = [f"{_words(k)} {_plain(v)}" for k, v in search.items() if _plain(v)]
    if parts:
        notes.append(f"Search: {', '.join(parts)}")


def _occurred(value: Any, received_at: datetime | None, tz: tzinfo | None) -> str:
    """When it happened, in the brokerage's time, and how long before it arrived."""
    text = _plain(value)
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return f"Happened at: {text} (as sent)"
    if moment.tzinfo is None:  # no offset: read in the brokerage's time
        moment = moment.replace(tzinfo=tz)
    if tz is not None and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    line = f"Happened at {moment:%a %-d %b %Y} {moment.hour}:{moment.minute:02d}"
    if received_at is not None and moment.tzinfo is not None:
        late = received_at - moment
        if late.total_seconds() >= 60:
            line += f", {duration(late)} before it arrived here"
    return line
