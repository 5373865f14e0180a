"""The routing decision: which rule takes a lead, and which agent gets it.

Plain Python over plain data (no database), so every rule of the semantics can be tested in
isolation and "test a lead" / dry runs give exactly the answer that real routing gives. The
service layer (``routing.services``) loads a ``RoutingConfig``, the rotation cursors and the
agents' loads, calls ``decide`` and stores what it returns, trace included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from routing.windows import WeeklyWindow

TEXT_FIELDS = (
    "source",
    "tag",
    "lead_type",
    "city",
    "county",
    "neighborhood",
    "zip_code",
    "mls_region",
    "property_type",
    "site",
)
NUMBER_FIELDS = ("price_min", "price_max", "score_min")
FIELD_LABELS = {
    "source": "Source",
    "tag": "Tag",
    "lead_type": "Lead type",
    "city": "City",
    "county": "County",
    "neighborhood": "Neighborhood",
    "zip_code": "Zip code",
    "mls_region": "MLS region",
    "property_type": "Property type",
    "site": "Site",
    "price_min": "Price at least",
    "price_max": "Price at most",
    "score_min": "Score at least",
}
AGENT, LENDER = "agent", "lender"


# --- Plain data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentInfo:
    id: int
    email: str
    name: str
    role: str = "agent"
    is_active: bool = True
    accepting_leads: bool = True
    max_open_leads: int | None = None
    max_leads_per_day: int | None = None
    zip_codes: frozenset[str] = frozenset()
    specialties: frozenset[str] = frozenset()
    shifts: tuple[WeeklyWindow, ...] = ()

    @property
    def has_caps(self) -> bool:
        return self.max_open_leads is not None or self.max_leads_per_day is not None


@dataclass(frozen=True)
class Member:
    agent_id: int
    position: int
    leads_per_round: int = 1


@dataclass(frozen=True)
class RosterInfo:
    id: int
    name: str
    members: tuple[Member, ...]  # in position order


@dataclass(frozen=True)
class RuleInfo:
    id: int
    name: str
    roster_id: int
    is_active: bool = True
    is_catch_all: bool = False
    selection: str = "rotation"
    delivery: str = "assign"
    lender_roster_id: int | None = None
    add_tags: tuple[str, ...] = ()
    text_criteria: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # lower-cased
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    score_min: int | None = None
    windows: tuple[WeeklyWindow, ...] = ()
    claim_timeout_minutes: int = 5
    escalate_to_id: int | None = None
    after_hours: str = "offer"
    first_contact_minutes: int | None = None


@dataclass(frozen=True)
class RoutingConfig:
    timezone: str
    rules: tuple[RuleInfo, ...]  # priority order, the catch-all last
    rosters: Mapping[int, RosterInfo]
    agents: Mapping[int, AgentInfo]
    listing_routing: bool = True
    actionable: tuple[WeeklyWindow, ...] = ()  # when claim clocks run; empty = always
    _by_email: dict[str, AgentInfo] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    _rules_by_id: dict[int, RuleInfo] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        self._by_email.update({a.email.strip().lower(): a for a in self.agents.values()})
        self._rules_by_id.update({r.id: r for r in self.rules})

    def rule(self, rule_id: int | None) -> RuleInfo | None:
        return self._rules_by_id.get(rule_id) if rule_id else None

    @property
    def agent_emails(self) -> frozenset[str]:
        return frozenset(self._by_email)

    def agent_by_email(self, email: str) -> AgentInfo | None:
        return self._by_email.get((email or "").strip().lower())


@dataclass(frozen=True)
class LeadFacts:
    """What routing looks at in a lead."""

    received_at: datetime
    source: str = ""
    tags: tuple[str, ...] = ()
    lead_type: str = ""
    city: str = ""
    county: str = ""
    neighborhood: str = ""
    zip_code: str = ""
    mls_region: str = ""
    property_type: str = ""
    site: str = ""
    price: Decimal | None = None
    score: int | None = None
    assigned_to: str = ""
    tracking_agent: str = ""
    listing_agent: str = ""


@dataclass(frozen=True)
class ExistingLead:
    id: int
    owner_id: int | None


@dataclass(frozen=True)
class Cursor:
    """A rotation's state: whose turn it is, at which roster position, leads given in it."""

    agent_id: int | None = None
    position: int = -1
    given: int = 0


@dataclass(frozen=True)
class Loads:
    open_leads: Mapping[int, int] = field(default_factory=dict)
    leads_today: Mapping[int, int] = field(default_factory=dict)


@dataclass
class Decision:
    outcome: str  # assigned | offered | existing | unassigned
    # pre_assigned | tracking_link | own_listing | existing_lead | rule | pond | escalated
    reason: str
    summary: str
    trace: list[dict[str, Any]]
    agent_id: int | None = None
    lender_id: int | None = None
    rule_id: int | None = None
    rule_name: str = ""
    existing_lead_id: int | None = None
    add_tags: tuple[str, ...] = ()
    cursors: dict[tuple[int, str], Cursor] = field(default_factory=dict)
    offered_to: tuple[int, ...] = ()  # outcome "offered": who may claim
    delivery: str = "assign"


# --- Rule matching ----------------------------------------------------------------------------


def lead_value(lead: LeadFacts, name: str) -> Any:
    return lead.tags if name == "tag" else getattr(lead, name)


def _fmt(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, Decimal):
        return f"{value:,.0f}" if value == value.to_integral() else f"{value:,}"
    return str(value)


def evaluate_criteria(rule: RuleInfo, lead: LeadFacts) -> list[dict[str, Any]]:
    """Each criterion type of the rule with the lead's value and whether it matched."""
    results = []
    for name in TEXT_FIELDS:
        wanted = rule.text_criteria.get(name)
        if not wanted:
            continue
        value = lead_value(lead, name)
        have = {v.strip().lower() for v in value} if name == "tag" else {value.strip().lower()}
        matched = bool(have & set(wanted))
        results.append(
            {
                "field": name,
                "expected": list(wanted),
                "actual": _fmt(value),
                "matched": matched,
                "text": f"{FIELD_LABELS[name]} is {' or '.join(wanted)}: lead has {_fmt(value)}"
                f" -> {'matched' if matched else 'not matched'}",
            }
        )
    for name, bound in (
        ("price_min", rule.price_min),
        ("price_max", rule.price_max),
        ("score_min", rule.score_min),
    ):
        if bound is None:
            continue
        value = lead.score if name == "score_min" else lead.price
        if value is None:
            matched = False
        elif name == "price_max":
            matched = value <= bound
        else:
            matched = value >= bound
        results.append(
            {
                "field": name,
                "expected": _fmt(bound),
                "actual": _fmt(value),
                "matched": matched,
                "text": f"{FIELD_LABELS[name]} {_fmt(bound)}: lead has {_fmt(value)}"
                f" -> {'matched' if matched else 'not matched'}",
            }
        )
    return results


def in_windows(rule: RuleInfo, local: datetime) -> bool:
    return not rule.windows or any(w.contains(local) for w in rule.windows)


def rule_matches(rule: RuleInfo, lead: LeadFacts, local: datetime) -> bool:
    """The same answer as ``evaluate_criteria`` and the windows, without the explanations."""
    for name, wanted in rule.text_criteria.items():
        if not wanted:
            continue
        value = lead_value(lead, name)
        if name == "tag":
            if not any(v.strip().lower() in wanted for v in value):
                return False
        elif value.strip().lower() not in wanted:
            return False
    if rule.price_min is not None and (lead.price is None or lead.price < rule.price_min):
        return False
    if rule.price_max is not None and (lead.price is None or lead.price > rule.price_max):
        return False
    if rule.score_min is not None and (lead.score is None or lead.score < rule.score_min):
        return False
    return in_windows(rule, local)


# --- Who may receive --------------------------------------------------------------------------


def static_skip_reason(
    agent: AgentInfo | None, member: Member, selection: str, lead: LeadFacts, local: datetime
) -> str | None:
    """Why a member cannot take this lead, loads aside (None: they can)."""
    if agent is None or not agent.is_active:
        return "inactive"
    if not agent.accepting_leads:
        return "paused (not accepting leads)"
    if member.leads_per_round == 0:
        return "enrolled with 0 leads per round"
    if selection == "on_duty" and not any(s.contains(local) for s in agent.shifts):
        return "off duty"
    if selection == "territory" and lead.zip_code.strip() not in agent.zip_codes:
        return f"outside territory (lead zip {_fmt(lead.zip_code)})"
    if selection == "specialty" and not (
        {str(s).strip().lower() for s in agent.specialties}
        & {t.strip().lower() for t in lead.tags}
    ):
        return f"no specialty matching the lead's tags ({_fmt(tuple(lead.tags))})"
    return None


def load_skip_reason(agent: AgentInfo, loads: Loads) -> str | None:
    if agent.max_open_leads is not None:
        held = loads.open_leads.get(agent.id, 0)
        if held >= agent.max_open_leads:
            return f"at cap: {held} of {agent.max_open_leads} open leads"
    if agent.max_leads_per_day is not None:
        today = loads.leads_today.get(agent.id, 0)
        if today >= agent.max_leads_per_day:
            return f"at daily cap: {today} of {agent.max_leads_per_day} leads today"
    return None


def candidate_rules(config: RoutingConfig, lead: LeadFacts) -> list[RuleInfo]:
    """The rules that could take the lead, in order, up to the first that surely can.

    The service locks these rules' rotations and loads their members' counts before deciding,
    so that the number of queries stays the same whatever the number of rules.
    """
    local = to_local(lead.received_at, config.timezone)
    found = []
    for rule in config.rules:
        if not (rule.is_active or rule.is_catch_all) or not rule_matches(rule, lead, local):
            continue
        found.append(rule)
        if _surely_staffed(config, rule, lead, local):
            break
    return found


def _surely_staffed(
    config: RoutingConfig, rule: RuleInfo, lead: LeadFacts, local: datetime
) -> bool:
    roster = config.rosters.get(rule.roster_id)
    for member in roster.members if roster else ():
        agent = config.agents.get(member.agent_id)
        free = static_skip_reason(agent, member, rule.selection, lead, local) is None
        if free and agent is not None and not agent.has_caps:
            return True
    return False


def agents_needing_loads(config: RoutingConfig, rules: Sequence[RuleInfo]) -> set[int]:
    """Agents whose open / today counts matter for these rules (caps, least-loaded)."""
    ids: set[int] = set()
    for rule in rules:
        roster = config.rosters.get(rule.roster_id)
        for member in roster.members if roster else ():
            agent = config.agents.get(member.agent_id)
            if agent and (agent.has_caps or rule.selection == "least_loaded"):
                ids.add(agent.id)
    return ids


# --- Rotation ---------------------------------------------------------------------------------


def rotate(
    members: Sequence[Member], eligible: set[int] | frozenset[int], cursor: Cursor
) -> tuple[Member | None, Cursor, list[int]]:
    """Weighted round robin: the next member, the new cursor, and whose turns were skipped.

    A member gets ``leads_per_round`` consecutive leads, then the turn passes in position
    order. An ineligible member's turn is skipped with no catch-up. A cursor whose member left
    the roster goes on from the next position; a new member joins where their position is.
    """
    if not members:
        return None, cursor, []
    index = {m.agent_id: i for i, m in enumerate(members)}
    if cursor.agent_id in index:
        current = members[index[cursor.agent_id]]
        if cursor.given < current.leads_per_round and current.agent_id in eligible:
            return current, Cursor(current.agent_id, current.position, cursor.given + 1), []
        start = index[cursor.agent_id] + 1
    else:
        start = next((i for i, m in enumerate(members) if m.position > cursor.position), 0)
    skipped = []
    for step in range(len(members)):
        member = members[(start + step) % len(members)]
        if member.leads_per_round > 0 and member.agent_id in eligible:
            return member, Cursor(member.agent_id, member.position, 1), skipped
        skipped.append(member.agent_id)
    return None, cursor, skipped


# --- The decision -----------------------------------------------------------------------------


def to_local(moment: datetime, tz_name: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz_name))


def _step(stage: str, text: str, **data: Any) -> dict[str, Any]:
    return {"stage": stage, "text": text, **data}


def special_routing(
    config: RoutingConfig,
    lead: LeadFacts,
    existing: ExistingLead | None,
    trace: list[dict[str, Any]],
) -> Decision | None:
    """Pre-assigned, tracking link, own listing, existing lead: in that order, over all rules."""
    checks = (
        ("pre_assigned", lead.assigned_to, "Pre-assigned by the vendor to", True),
        ("tracking_link", lead.tracking_agent, "Came through the tracking link of", True),
        (
            "own_listing",
            lead.listing_agent,
            "Inquiry on the own listing of",
            config.listing_routing,
        ),
    )
    for reason, email, label, enabled in checks:
        if not email:
            trace.append(_step("special", f"{label} an agent: no", check=reason, applied=False))
            continue
        if not enabled:
            trace.append(
                _step(
                    "special",
                    f"{label} {email}: own-listing routing is switched off for the brokerage",
                    check=reason,
                    applied=False,
                )
            )
            continue
        agent = config.agent_by_email(email)
        if agent is None or not agent.is_active:
            why = "unknown agent" if agent is None else "agent is inactive"
            trace.append(
                _step(
                    "special",
                    f"{label} {email}: {why}, ignored",
                    check=reason,
                    applied=False,
                    agent=email,
                )
            )
            continue
        note = (
            " (paused, but special routing keeps the lead with them)"
            if (not agent.accepting_leads)
            else ""
        )
        trace.append(
            _step(
                "special",
                f"{label} {agent.name} <{agent.email}>: yes{note}",
                check=reason,
                applied=True,
                agent=agent.email,
            )
        )
        return Decision("assigned", reason, f"{label} {agent.name}", trace, agent_id=agent.id)
    if existing is not None:
        owner = config.agents.get(existing.owner_id) if existing.owner_id else None
        who = f"{owner.name} <{owner.email}>" if owner else "nobody (pond)"
        trace.append(
            _step(
                "special",
                f"Existing lead #{existing.id} (same email or phone), "
                f"owned by {who}: kept, not routed again",
                check="existing_lead",
                applied=True,
                lead=existing.id,
                agent=owner.email if owner else None,
            )
        )
        return Decision(
            "existing",
            "existing_lead",
            f"Registered again: existing lead #{existing.id}, owner {who}",
            trace,
            agent_id=existing.owner_id,
            existing_lead_id=existing.id,
        )
    trace.append(
        _step(
            "special",
            "Existing lead with the same email or phone: no",
            check="existing_lead",
            applied=False,
        )
    )
    return None


def _pick(
    config: RoutingConfig,
    rule: RuleInfo,
    roster_id: int | None,
    selection: str,
    kind: str,
    lead: LeadFacts,
    local: datetime,
    loads: Loads,
    cursor: Cursor,
    trace: list[dict[str, Any]],
    excluded: frozenset[int] = frozenset(),
) -> tuple[AgentInfo | None, Cursor, list[int]]:
    """Choose one member of the roster by the selection, tracing every member considered.

    Also returns every eligible member in position order (first to claim offers them all).
    """
    roster = config.rosters.get(roster_id) if roster_id else None
    if roster is None or not roster.members:
        trace.append(_step(kind, "Roster is empty", rule=rule.name))
        return None, cursor, []
    eligible: set[int] = set()
    for member in roster.members:
        agent = config.agents.get(member.agent_id)
        why = static_skip_reason(agent, member, selection, lead, local)
        if why is None and member.agent_id in excluded:
            why = "already had this lead"
        if why is None and agent is not None and kind == AGENT:
            why = load_skip_reason(agent, loads)
        label = f"{agent.name} <{agent.email}>" if agent else f"agent #{member.agent_id}"
        if why is None:
            eligible.add(member.agent_id)
        trace.append(
            _step(
                kind,
                f"{label} (position {member.position}, "
                f"{member.leads_per_round} per round): "
                f"{'eligible' if why is None else 'skipped, ' + why}",
                agent=agent.email if agent else None,
                eligible=why is None,
                why=why,
                roster=roster.name,
            )
        )
    in_order = [m.agent_id for m in roster.members if m.agent_id in eligible]
    if not eligible:
        return None, cursor, []
    if selection == "first_in_roster":
        chosen = next(m for m in roster.members if m.agent_id in eligible)
        trace.append(
            _step(
                "selection",
                f"First in roster: {config.agents[chosen.agent_id].name}"
                f" (position {chosen.position})",
                selection=selection,
            )
        )
        return config.agents[chosen.agent_id], cursor, in_order
    if selection == "least_loaded":
        fewest = min(loads.open_leads.get(a, 0) for a in eligible)
        eligible = {a for a in eligible if loads.open_leads.get(a, 0) == fewest}
        names = ", ".join(sorted(config.agents[a].name for a in eligible))
        trace.append(
            _step("selection", f"Fewest open leads ({fewest}): {names}", selection=selection)
        )
    chosen, new_cursor, skipped = rotate(roster.members, eligible, cursor)
    assert chosen is not None  # eligible is not empty
    agent = config.agents[chosen.agent_id]
    skipped_names = [config.agents[a].name for a in skipped if a in config.agents]
    text = (
        f"Rotation ({selection.replace('_', ' ')}): {agent.name}'s turn, position "
        f"{chosen.position}, lead {new_cursor.given} of {chosen.leads_per_round} this turn"
    )
    if skipped_names:
        text += f"; turns skipped: {', '.join(skipped_names)}"
    trace.append(
        _step(
            "rotation",
            text,
            selection=selection,
            agent=agent.email,
            position=chosen.position,
            turn_lead=new_cursor.given,
            skipped=skipped_names,
        )
    )
    return agent, new_cursor, in_order


def decide(
    config: RoutingConfig,
    lead: LeadFacts,
    *,
    existing: ExistingLead | None = None,
    cursors: Mapping[tuple[int, str], Cursor] | None = None,
    loads: Loads | None = None,
) -> Decision:
    """Route one lead: special routing, then rules top-down, then the rule's selection."""
    cursors = cursors or {}
    loads = loads or Loads()
    trace: list[dict[str, Any]] = []
    special = special_routing(config, lead, existing, trace)
    if special is not None:
        return special

    local = to_local(lead.received_at, config.timezone)
    trace.append(
        _step(
            "clock",
            f"Arrived {local:%a %Y-%m-%d %H:%M} ({config.timezone})",
            local_time=local.isoformat(),
        )
    )
    for rule in config.rules:
        if not (rule.is_active or rule.is_catch_all):
            trace.append(
                _step(
                    "rule",
                    f"Rule '{rule.name}': paused, not evaluated",
                    rule=rule.name,
                    matched=False,
                    active=False,
                )
            )
            continue
        criteria = evaluate_criteria(rule, lead)
        window_ok = in_windows(rule, local)
        matched = window_ok and all(c["matched"] for c in criteria)
        when = "always" if not rule.windows else " or ".join(w.describe() for w in rule.windows)
        window_text = f"applies {when}: " + ("yes" if window_ok else "not now")
        crit_text = "; ".join(c["text"] for c in criteria) or (
            "catch-all, takes everything" if rule.is_catch_all else "no criteria"
        )
        trace.append(
            _step(
                "rule",
                f"Rule '{rule.name}': {'matched' if matched else 'no match'}"
                f" ({crit_text}; {window_text})",
                rule=rule.name,
                rule_id=rule.id,
                matched=matched,
                criteria=criteria,
                window_matched=window_ok,
            )
        )
        if not matched:
            continue
        decision = _deliver(config, rule, lead, local, cursors, loads, trace)
        if decision is not None:
            return decision
    trace.append(
        _step(
            "result",
            "Nobody can take the lead, not even the catch-all rule: left "
            "unassigned in the pond; managers are told",
            outcome="unassigned",
        )
    )
    return Decision("unassigned", "pond", "Nobody available: left in the pond", trace)


def is_actionable(config: RoutingConfig, local: datetime) -> bool:
    """Whether claim clocks run at this local moment (no window set: always)."""
    return not config.actionable or any(w.contains(local) for w in config.actionable)


def _deliver(
    config: RoutingConfig,
    rule: RuleInfo,
    lead: LeadFacts,
    local: datetime,
    cursors: Mapping[tuple[int, str], Cursor],
    loads: Loads,
    trace: list[dict[str, Any]],
    excluded: frozenset[int] = frozenset(),
) -> Decision | None:
    """Pick from the rule's roster and deliver as the rule says; None when nobody can take it."""
    key = (rule.id, AGENT)
    agent, cursor, eligible = _pick(config, rule, rule.roster_id, rule.selection, AGENT, lead,
                                    local, loads, cursors.get(key, Cursor()), trace, excluded)
    if agent is None:
        then = ("nobody else can take it" if excluded else
                "going on to the next rule")
        trace.append(_step("rule", f"Rule '{rule.name}' matched but nobody on roster "
                           f"'{_roster_name(config, rule.roster_id)}' can take the lead: {then}",
                           rule=rule.name, staffed=False))
        return None
    delivery = rule.delivery
    if delivery != "assign" and not is_actionable(config, local) and rule.after_hours == "assign":
        trace.append(_step("delivery", "Outside the actionable window, and the rule says to "
                           "assign after hours: no claim needed", delivery=delivery))
        delivery = "assign"
    decision = Decision("assigned", "rule", "", trace, agent_id=agent.id, rule_id=rule.id,
                        rule_name=rule.name, add_tags=rule.add_tags, delivery=delivery)
    if delivery == "first_to_claim":
        decision.outcome, decision.agent_id, decision.offered_to = "offered", None, tuple(eligible)
        names = ", ".join(config.agents[a].name for a in eligible)
        decision.summary = f"Rule '{rule.name}' -> offered to {names} (first to claim)"
    else:
        if rule.selection != "first_in_roster":
            decision.cursors[key] = cursor
        if delivery == "claim":
            decision.outcome, decision.agent_id, decision.offered_to = "offered", None, (agent.id,)
            decision.summary = (f"Rule '{rule.name}' -> offered to {agent.name} "
                                f"({rule.claim_timeout_minutes} min to claim)")
        else:
            decision.summary = f"Rule '{rule.name}' -> {agent.name}"
    if rule.lender_roster_id:
        lkey = (rule.id, LENDER)
        lender, lcursor, _ = _pick(config, rule, rule.lender_roster_id, "rotation", LENDER, lead,
                                   local, loads, cursors.get(lkey, Cursor()), trace)
        if lender is not None:
            decision.lender_id = lender.id
            decision.cursors[lkey] = lcursor
            decision.summary += f", lender {lender.name}"
        else:
            trace.append(_step("lender", "No lender available on roster "
                               f"'{_roster_name(config, rule.lender_roster_id)}'"))
    if decision.outcome == "offered":
        who = ", ".join(f"{config.agents[a].name} <{config.agents[a].email}>"
                        for a in decision.offered_to)
        text = f"Offered to {who} by rule '{rule.name}'" + (
            " (first to claim wins)" if delivery == "first_to_claim"
            else f", {rule.claim_timeout_minutes} minutes of the actionable window to claim")
        trace.append(_step("result", text, outcome="offered", rule=rule.name,
                           offered_to=[config.agents[a].email for a in decision.offered_to]))
    else:
        trace.append(_step("result", f"Assigned to {agent.name} <{agent.email}> by rule "
                           f"'{rule.name}'", outcome="assigned", agent=agent.email,
                           rule=rule.name))
    return decision


def continue_rule(
    config: RoutingConfig,
    rule_id: int | None,
    lead: LeadFacts,
    *,
    at: datetime,
    why: str,
    excluded: frozenset[int],
    cursors: Mapping[tuple[int, str], Cursor] | None = None,
    loads: Loads | None = None,
    allow_next: bool = True,
) -> Decision:
    """The lead moves on within the rule that took it: next agent, or the rule's escalation.

    Used when an offer expires or is declined (``allow_next``: claim with timeout) and when an
    owner logs no first contact in time. Agents in ``excluded`` already had the lead.
    """
    trace: list[dict[str, Any]] = [_step("moved_on", why)]
    rule = next((r for r in config.rules if r.id == rule_id), None)
    local = to_local(at, config.timezone)
    if rule is not None and allow_next:
        decision = _deliver(config, rule, replace(lead, received_at=at), local, cursors or {},
                            loads or Loads(), trace, excluded)
        if decision is not None:
            return decision
    name = rule.name if rule else "(deleted rule)"
    target = config.agents.get(rule.escalate_to_id) if rule and rule.escalate_to_id else None
    if target is not None and target.is_active:
        trace.append(_step("result", f"Everyone on rule '{name}' has passed: escalated to "
                           f"{target.name} <{target.email}>", outcome="assigned",
                           agent=target.email, rule=name))
        return Decision("assigned", "escalated", f"Escalated to {target.name}", trace,
                        agent_id=target.id, rule_id=rule_id, rule_name=name)
    trace.append(_step("result", f"Everyone on rule '{name}' has passed: the lead goes to the "
                       "pond, where any agent may claim it; managers are told",
                       outcome="unassigned", rule=name))
    return Decision("unassigned", "escalated", "Nobody claimed it: moved to the pond", trace,
                    rule_id=rule_id, rule_name=name)


def _roster_name(config: RoutingConfig, roster_id: int | None) -> str:
    roster = config.rosters.get(roster_id) if roster_id else None
    return roster.name if roster else "(none)"


def render_trace(trace: Sequence[Mapping[str, Any]]) -> list[str]:
    """The trace as lines a person reads, indented under the rule they belong to."""
    lines = []
    for step in trace:
        indent = "    " if step["stage"] in (AGENT, LENDER, "selection", "rotation") else ""
        lines.append(indent + step["text"])
    return lines
