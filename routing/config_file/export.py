"""Writing the routing file: the database -> YAML text that ``load_routing_file`` reads back.

Export -> import -> export gives the same text: lists are de-duplicated and ordered, times are
quoted and defaults that do not apply are left out. ``agent_entry`` and ``criteria_rows`` are
also how an import tells what already matches the file.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from agents.models import Agent, Roster, Shift
from routing.config_file.schema import (
    CRITERIA_KEYS,
    DEFAULT_CALL_SECONDS,
    DEFAULT_CLAIM_MINUTES,
    NUMBER_CRITERIA,
    TEXT_CRITERIA,
    AgentEntry,
)
from routing.models import Brokerage, HandoffTarget, Rule
from routing.windows import DAY_NAMES

HEADER = (
    "# Routing configuration. Rules are in priority order (the first match wins), the\n"
    "# catch-all last. Apply with: python manage.py import_routing FILE\n"
)



def agent_entry(agent: Agent) -> AgentEntry:
    """An agent as the file would say it (also how export writes it)."""
    return AgentEntry(
        email=agent.email.strip().lower(),
        name=agent.name.strip(),
        role=agent.role,
        phone=_phone_text(agent.phone),
        active=agent.is_active,
        accepting_leads=agent.accepting_leads,
        max_open_leads=agent.max_open_leads,
        max_leads_per_day=agent.max_leads_per_day,
        zip_codes=clean_list(agent.zip_codes),
        specialties=clean_list(agent.specialties),
    )


def _phone_text(phone: Any) -> str | None:
    if not phone:
        return None
    try:
        return phone.as_e164 if phone.is_valid() else str(phone)
    except AttributeError:  # a plain string
        return str(phone)


def clean_list(values: Any) -> tuple[str, ...]:
    found: list[str] = []
    for value in values or ():
        text = str(value).strip()
        if text and text not in found:
            found.append(text)
    return tuple(found)


def criteria_rows(rule: Rule) -> list[tuple[str, str]]:
    rows = [(c.field, c.value) for c in rule.criteria.all()] if rule.pk else []
    return sorted(rows, key=lambda row: CRITERIA_KEYS.index(row[0])
                  if row[0] in CRITERIA_KEYS else len(CRITERIA_KEYS))




class _Quoted(str):
    """Always written in double quotes (times), so that YAML never reads one as a number."""


class _Dumper(yaml.SafeDumper):
    """Block style, indented lists, and double quotes whenever a string needs quoting."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


_Dumper.add_representer(
    _Quoted, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", str(value), style='"')
)


def _clock(value: time) -> _Quoted:
    return _Quoted(f"{value:%H:%M}")


def _days(days: Any) -> list[str]:
    found: set[int] = set()
    for day in days or ():
        name = str(day).strip().lower()[:3]
        if name in DAY_NAMES:
            found.add(DAY_NAMES.index(name))
    return [DAY_NAMES[d] for d in sorted(found)]


def _export_number(value: str) -> int | float | str:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return value  # not a number: written as it is, so that import points at it
    if not number.is_finite():
        return value
    return int(number) if number == number.to_integral_value() else float(number)


def export_routing() -> str:
    """The current configuration in the routing-file format (``load_routing_file`` reads it)."""
    brokerage = Brokerage.load()
    agents = []
    for agent in Agent.objects.order_by("email"):
        entry = agent_entry(agent)
        item: dict[str, Any] = {"email": entry.email, "name": entry.name}
        if not entry.active:
            item["active"] = False
        item.update({
            "role": entry.role,
            "phone": entry.phone,
            "accepting_leads": entry.accepting_leads,
            "max_open_leads": entry.max_open_leads,
            "max_leads_per_day": entry.max_leads_per_day,
            "zip_codes": list(entry.zip_codes),
            "specialties": list(entry.specialties),
        })
        agents.append(item)

    rosters = []
    for roster in Roster.objects.order_by("name").prefetch_related("members__agent"):
        members = []
        for member in sorted(roster.members.all(), key=lambda m: (m.position, m.id)):
            item = {"agent": member.agent.email.lower()}
            if member.leads_per_round != 1:
                item["leads_per_round"] = member.leads_per_round
            members.append(item)
        rosters.append({"name": roster.name, "members": members})

    shifts = sorted(
        (
            {"agent": s.agent.email.lower(), "days": _days(s.days), "start": _clock(s.start),
             "end": _clock(s.end)}
            for s in Shift.objects.select_related("agent")
        ),
        key=lambda s: (s["agent"], s["start"], s["end"], [DAY_NAMES.index(d) for d in s["days"]]),
    )

    rules = [
        _export_rule(rule)
        for rule in Rule.objects.select_related("roster", "lender_roster", "escalate_to")
        .prefetch_related("criteria", "windows")
        .order_by("is_catch_all", "priority", "id")
    ]
    doc = {
        "timezone": brokerage.tz_name,
        "brokerage": {"name": brokerage.name, "listing_routing": brokerage.listing_routing,
                      "hide_contact_until_claimed": brokerage.hide_contact_until_claimed},
        "actionable_window": [
            {"days": _days(w["days"]), "start": _Quoted(w["start"]), "end": _Quoted(w["end"])}
            for w in brokerage.actionable_window or ()
        ],
        "agents": agents,
        "rosters": rosters,
        "shifts": shifts,
        "rules": rules,
    }
    targets = [_export_handoff_target(t) for t in HandoffTarget.objects.select_related(
        "roster", "escalate_to").order_by("name")]
    if targets:
        doc["handoff_targets"] = targets
    return HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=False)


def _export_rule(rule: Rule) -> dict[str, Any]:
    item: dict[str, Any] = {"name": rule.name}
    if rule.is_catch_all:
        item["catch_all"] = True
    else:
        item["active"] = rule.is_active
    criteria: dict[str, Any] = {}
    for name, value in criteria_rows(rule):
        if name in TEXT_CRITERIA:
            values = criteria.setdefault(name, [])
            if value.strip() and value.strip() not in values:
                values.append(value.strip())
        elif name in NUMBER_CRITERIA:
            criteria[name] = _export_number(value)  # the last one wins, as in routing
    criteria = {k: v for k, v in criteria.items() if v != []}
    if criteria:
        item["criteria"] = criteria
    windows = [
        {"days": _days(w.days), "start": _clock(w.start), "end": _clock(w.end)}
        for w in rule.windows.all()
    ]
    if windows:
        item["days_times"] = windows
    item.update({
        "roster": rule.roster.name,
        "selection": rule.selection,
        "delivery": rule.delivery,
    })
    if rule.delivery != Rule.Delivery.ASSIGN or rule.claim_timeout_minutes != DEFAULT_CLAIM_MINUTES:
        item["claim_timeout_minutes"] = rule.claim_timeout_minutes
    if rule.escalate_to_id:
        item["escalate_to"] = rule.escalate_to.email.lower()
    if rule.delivery != Rule.Delivery.ASSIGN or rule.after_hours != Rule.AfterHours.OFFER:
        item["after_hours"] = rule.after_hours
    if rule.first_contact_minutes is not None:
        item["first_contact_minutes"] = rule.first_contact_minutes
    if (rule.delivery == Rule.Delivery.INSTANT_CALL
            or rule.call_timeout_seconds != DEFAULT_CALL_SECONDS):
        item["call_timeout_seconds"] = rule.call_timeout_seconds
    item.update({
        "lender_roster": rule.lender_roster.name if rule.lender_roster else None,
        "add_tags": list(clean_list(rule.add_tags)),
    })
    return item


def _export_handoff_target(target: HandoffTarget) -> dict[str, Any]:
    item: dict[str, Any] = {"name": target.name, "active": target.is_active,
                            "roster": target.roster.name, "selection": target.selection,
                            "delivery": target.delivery}
    if (target.delivery != Rule.Delivery.ASSIGN
            or target.claim_timeout_minutes != DEFAULT_CLAIM_MINUTES):
        item["claim_timeout_minutes"] = target.claim_timeout_minutes
    item["first_contact_minutes"] = target.first_contact_minutes
    item["escalate_to"] = target.escalate_to.email.lower() if target.escalate_to else None
    return item
