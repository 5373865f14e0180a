"""A checked routing file as the engine's configuration, without applying it.

The back-test replays leads through a proposed file: the file's rules, rosters, agents and
shifts become the engine's frozen types, with the ids they have today (rules and rosters
matched by name, agents by e-mail, as ``apply`` matches them), so today's configuration and
its own export give the same ``RoutingConfig``. What the file adds gets ids below zero, which
no stored row has. Plain Python: nothing is read from the database or written to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings

from routing.config_file.schema import RoutingFile, RuleEntry
from routing.engine import AgentInfo, Member, RosterInfo, RoutingConfig, RuleInfo
from routing.engine.types import NUMBER_FIELDS, AfterHours, Delivery, Selection
from routing.windows import WeeklyWindow, parse_days


def _new_ids() -> Iterator[int]:
    """Ids for what only the proposal has: -1, -2, ... (stored rows are numbered from 1)."""
    n = 0
    while True:
        n -= 1
        yield n


def file_as_config(data: RoutingFile, today: RoutingConfig) -> RoutingConfig:
    """The configuration the file describes, numbered like ``today``'s."""
    new_id = _new_ids()
    agent_ids = {a.email.strip().lower(): a.id for a in today.agents.values()}
    for entry in data.agents:
        agent_ids.setdefault(entry.email, next(new_id))
    shifts: dict[str, list[WeeklyWindow]] = defaultdict(list)
    for shift in data.shifts:
        shifts[shift.agent].append(WeeklyWindow(parse_days(shift.days), shift.start, shift.end))
    agents = {
        agent_ids[e.email]: AgentInfo(
            id=agent_ids[e.email], email=e.email, name=e.name, role=e.role, is_active=e.active,
            accepting_leads=e.accepting_leads, max_open_leads=e.max_open_leads,
            max_leads_per_day=e.max_leads_per_day,
            zip_codes=frozenset(z.strip() for z in e.zip_codes),
            specialties=frozenset(s.strip().lower() for s in e.specialties),
            shifts=tuple(shifts.get(e.email, ())),
        )
        for e in data.agents
    }
    roster_ids = {r.name: r.id for r in today.rosters.values()}
    rosters: dict[int, RosterInfo] = {}
    for roster in data.rosters:
        rid = roster_ids.setdefault(roster.name, next(new_id))
        members = tuple(Member(agent_ids[m.agent], i, m.leads_per_round)
                        for i, m in enumerate(roster.members))
        rosters[rid] = RosterInfo(rid, roster.name, members)
    rule_ids = {r.name: r.id for r in today.rules}
    rules = tuple(
        _rule(entry, rule_ids.get(entry.name) or next(new_id), roster_ids, agent_ids)
        for entry in data.rules
    )
    listing = data.brokerage.listing_routing if data.brokerage is not None else None
    return RoutingConfig(
        timezone=data.timezone or settings.TIME_ZONE,
        rules=rules,
        rosters=rosters,
        agents=agents,
        listing_routing=today.listing_routing if listing is None else listing,
        actionable=(today.actionable if data.actionable_window is None else tuple(
            WeeklyWindow(parse_days(w.days), w.start, w.end) for w in data.actionable_window)),
        auto_response_rules=today.auto_response_rules,
    )


def _rule(entry: RuleEntry, rule_id: int, roster_ids: dict[str, int],
          agent_ids: dict[str, int]) -> RuleInfo:
    """One rule of the file as ``selectors.rule_info`` reads a stored one."""
    text: dict[str, list[str]] = defaultdict(list)
    numbers: dict[str, Decimal] = {}
    for name, value in entry.criteria:
        if name in NUMBER_FIELDS:
            numbers[name] = Decimal(value)
        else:
            text[name].append(value.strip().lower())
    return RuleInfo(
        id=rule_id,
        name=entry.name,
        roster_id=roster_ids[entry.roster],
        is_active=entry.active or entry.catch_all,
        is_catch_all=entry.catch_all,
        selection=Selection(entry.selection),
        delivery=Delivery(entry.delivery),
        lender_roster_id=roster_ids[entry.lender_roster] if entry.lender_roster else None,
        add_tags=entry.add_tags,
        text_criteria={k: tuple(v) for k, v in text.items()},
        price_min=numbers.get("price_min"),
        price_max=numbers.get("price_max"),
        score_min=int(numbers["score_min"]) if "score_min" in numbers else None,
        windows=tuple(WeeklyWindow(parse_days(w.days), w.start, w.end) for w in entry.windows),
        claim_timeout_minutes=entry.claim_timeout_minutes,
        escalate_to_id=agent_ids.get(entry.escalate_to) if entry.escalate_to else None,
        after_hours=AfterHours(entry.after_hours),
        first_contact_minutes=entry.first_contact_minutes,
        call_timeout_seconds=entry.call_timeout_seconds,
    )
