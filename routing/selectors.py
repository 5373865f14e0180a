"""Read the routing configuration into the engine's plain data, cached per config token."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from agents.models import Agent, RosterMember, Shift, TimeOff
from leads.models import AutoResponse, Lead
from notifications.channels import Reach, reach_of
from notifications.models import PushSubscription, TextOptOut
from notifications.sms import e164
from routing.engine import (
    AgentInfo,
    Cursor,
    LeadFacts,
    Member,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    TimeAway,
    first_days_back,
)
from routing.models import (
    Brokerage,
    HandoffRotation,
    RotationState,
    Rule,
    RuleCriterion,
    RuleWindow,
)
from routing.windows import Calendar, WeeklyWindow, parse_days

_cache_lock = threading.Lock()
_cache: dict[str, RoutingConfig] = {}
class _Held:
    """The snapshot one web request read (``held_for_request``), and the count of this
    process's configuration changes when it was read."""

    config: RoutingConfig | None = None
    changes = -1


_held: ContextVar[_Held | None] = ContextVar("routing_snapshot", default=None)


def routing_config() -> RoutingConfig:
    """The current configuration: one query when it has not changed since last read, and
    none when the request already read it (``held_for_request``)."""
    held = _held.get()
    if held is not None and held.config is not None and held.changes == Brokerage.changes_here:
        return held.config
    changes = Brokerage.changes_here
    brokerage = Brokerage.load()
    config = _config_of(str(brokerage.config_token), brokerage)
    if held is not None:
        held.config, held.changes = config, changes
    return config


def _config_of(token: str, brokerage: Brokerage | None = None) -> RoutingConfig:
    """The snapshot of this token: cached, else built (from ``brokerage`` or its row read now,
    the snapshot then kept under the token read with it)."""
    config = _cache.get(token)
    if config is None:
        if brokerage is None:
            brokerage = Brokerage.load()
            token = str(brokerage.config_token)
        config = build_config(brokerage)
        with _cache_lock:
            _cache.clear()
            _cache[token] = config
    return config


def hold_config_token(token: uuid.UUID | None) -> RoutingConfig | None:
    """Hold, for this request, the snapshot of a token the caller read in a statement of its
    own (the API key's ``UPDATE``, ``leads.intake.keys.take_key``), so that ``routing_config``
    reads no token. The snapshot, or None outside a request (``held_for_request``) or without
    a token (the token is then read when needed, as usual)."""
    held = _held.get()
    if held is None or token is None:
        return None
    changes = Brokerage.changes_here
    held.config, held.changes = _config_of(str(token)), changes
    return held.config


@contextmanager
def held_for_request() -> Iterator[None]:
    """Within the block (one web request) the configuration is read once: the request's
    middleware, its validation and its routing share one snapshot, as current as the request's
    start. A change this process makes meanwhile (an admin's save) is read at once; another
    process's change, by the next request."""
    token = _held.set(_Held())
    try:
        yield
    finally:
        _held.reset(token)


_versions: tuple[RoutingConfig, dict[int, int]] | None = None


def rule_versions(config: RoutingConfig, rule_ids: Iterable[int]) -> dict[int, int]:
    """The version (latest history id) of each of these rules, read once per snapshot for all
    its rules: a rule's change renews the snapshot's token, so a version read under it stays
    true."""
    global _versions
    if _versions is None or _versions[0] is not config:
        ids = [rule.id for rule in config.rules]
        _versions = (config, dict(Rule.history.filter(id__in=ids).order_by().values_list("id")
                                  .annotate(Max("history_id"))) if ids else {})
    known = _versions[1]
    return {rule_id: known[rule_id] for rule_id in rule_ids if rule_id in known}


_reach: tuple[RoutingConfig, dict[int, Reach]] | None = None


def notice_reach(config: RoutingConfig) -> Mapping[int, Reach]:
    """How each person can be told (their notification preference, push devices and whether
    their number texted STOP), read once per snapshot in two queries: a change to any of
    these renews the snapshot's token (``routing.signals.CONFIG_MODELS``), so telling
    people what routing decided costs no query of its own."""
    global _reach
    if _reach is None or _reach[0] is not config:
        devices = PushSubscription.objects.filter(agent=OuterRef("pk"))
        agents = list(Agent.objects.select_related("notification_preference")
                      .annotate(has_devices=Exists(devices)))
        texting = {e164(a.phone) for a in agents if a.phone}
        opted_out = frozenset(TextOptOut.objects.filter(phone__in=sorted(texting))
                              .values_list("phone", flat=True)) if texting else frozenset()
        _reach = (config, {a.id: reach_of(a, devices=a.has_devices, opted_out=opted_out)
                           for a in agents})
    return _reach[1]


def _window(days: list[str], start, end) -> WeeklyWindow:
    return WeeklyWindow(parse_days(days), start, end)


#: Time off that ended this long before a snapshot is read into it: its first day back may still
#: be under way (gradual return).
TIME_OFF_KEPT = timedelta(days=2)


def time_away(now: datetime) -> dict[int, tuple[TimeAway, ...]]:
    """Each agent's time off not over by ``now - TIME_OFF_KEPT``, in time order. A change of
    any ``TimeOff`` renews the config token, and the engine compares times itself, so a
    snapshot read today still pauses and resumes agents exactly next week."""
    away: dict[int, list[TimeAway]] = defaultdict(list)
    for agent_id, starts_at, ends_at, note in TimeOff.objects.filter(
        ends_at__gt=now - TIME_OFF_KEPT,
    ).order_by("agent_id", "starts_at", "id").values_list("agent_id", "starts_at", "ends_at",
                                                           "note"):
        away[agent_id].append(TimeAway(starts_at, ends_at, note))
    return {agent_id: tuple(periods) for agent_id, periods in away.items()}


def build_config(brokerage: Brokerage) -> RoutingConfig:
    shifts: dict[int, list[WeeklyWindow]] = defaultdict(list)
    for shift in Shift.objects.all():
        shifts[shift.agent_id].append(_window(shift.days, shift.start, shift.end))
    away = time_away(timezone.now())
    back_leads = brokerage.gradual_return_leads
    back_days = ({agent_id: first_days_back(periods, brokerage.tz_name)
                  for agent_id, periods in away.items()} if back_leads is not None else {})
    agents = {
        a.id: AgentInfo(
            id=a.id,
            email=a.email,
            name=a.name,
            role=a.role,
            is_active=a.is_active,
            accepting_leads=a.accepting_leads,
            max_open_leads=a.max_open_leads,
            max_leads_per_day=a.max_leads_per_day,
            zip_codes=frozenset(str(z).strip() for z in a.zip_codes),
            specialties=frozenset(str(s).strip().lower() for s in a.specialties),
            shifts=tuple(shifts.get(a.id, ())),
            away=away.get(a.id, ()),
            first_days_back=back_days.get(a.id, frozenset()),
            first_day_back_leads=back_leads if back_days.get(a.id) else None,
        )
        for a in Agent.objects.all()
    }
    members: dict[int, list[Member]] = defaultdict(list)
    roster_names: dict[int, str] = {}
    for m in RosterMember.objects.select_related("roster").order_by("roster_id", "position", "id"):
        roster_names[m.roster_id] = m.roster.name
        members[m.roster_id].append(Member(m.agent_id, m.position, m.leads_per_round))
    criteria: dict[int, list[RuleCriterion]] = defaultdict(list)
    for c in RuleCriterion.objects.all():
        criteria[c.rule_id].append(c)
    windows: dict[int, list[WeeklyWindow]] = defaultdict(list)
    for w in RuleWindow.objects.all():
        windows[w.rule_id].append(_window(w.days, w.start, w.end))
    rules = []
    for rule in Rule.objects.select_related("roster", "lender_roster").order_by(
        "is_catch_all", "priority", "id"
    ):
        for roster in (rule.roster, rule.lender_roster):
            if roster is not None:
                roster_names.setdefault(roster.id, roster.name)
        rules.append(rule_info(rule, criteria.get(rule.id, []), windows.get(rule.id, [])))
    rosters = {
        rid: RosterInfo(rid, name, tuple(members.get(rid, ())))
        for rid, name in roster_names.items()
    }
    return RoutingConfig(
        timezone=brokerage.tz_name,
        rules=tuple(rules),
        rosters=rosters,
        agents=agents,
        listing_routing=brokerage.listing_routing,
        actionable=actionable_windows(brokerage),
        auto_response_rules=frozenset(
            AutoResponse.objects.filter(active=True).values_list("rule_id", flat=True)),
    )


def actionable_windows(brokerage: Brokerage) -> tuple[WeeklyWindow, ...]:
    """The brokerage's actionable window as weekly windows (stored as JSON)."""
    return tuple(
        _window(w["days"], time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
        for w in brokerage.actionable_window or ()
    )


def calendar(config: RoutingConfig) -> Calendar:
    """Clock arithmetic in the actionable window (claim deadlines, first-contact deadlines)."""
    return Calendar(config.actionable, config.timezone)


def rule_info(rule: Rule, criteria: list[RuleCriterion], windows: list[WeeklyWindow]) -> RuleInfo:
    text: dict[str, list[str]] = defaultdict(list)
    numbers: dict[str, Decimal] = {}
    for c in criteria:
        if c.field in ("price_min", "price_max", "score_min"):
            numbers[c.field] = Decimal(c.value)
        else:
            text[c.field].append(c.value.strip().lower())
    return RuleInfo(
        id=rule.id,
        name=rule.name,
        roster_id=rule.roster_id,
        is_active=rule.is_active,
        is_catch_all=rule.is_catch_all,
        selection=rule.selection,
        delivery=rule.delivery,
        lender_roster_id=rule.lender_roster_id,
        add_tags=tuple(rule.add_tags or ()),
        text_criteria={k: tuple(v) for k, v in text.items()},
        price_min=numbers.get("price_min"),
        price_max=numbers.get("price_max"),
        score_min=int(numbers["score_min"]) if "score_min" in numbers else None,
        windows=tuple(windows),
        claim_timeout_minutes=rule.claim_timeout_minutes,
        escalate_to_id=rule.escalate_to_id,
        after_hours=rule.after_hours,
        first_contact_minutes=rule.first_contact_minutes,
        call_timeout_seconds=rule.call_timeout_seconds,
    )


def countdown(deadline: datetime, now: datetime, config: RoutingConfig) -> dict:
    """What a live countdown needs: running seconds left, and the stretches when it runs.

    The page counts down only inside ``segments`` (epoch milliseconds), so it stops at night
    exactly when the claim clock does.
    """
    cal = calendar(config)
    segments = []
    for begin, end in cal.intervals(now):
        if begin >= deadline:
            break
        segments.append([int(max(begin, now).timestamp() * 1000),
                         int(min(end, deadline).timestamp() * 1000)])
    return {
        "seconds_left": cal.running_seconds(now, deadline) if deadline > now else 0.0,
        "running": cal.is_open(now),
        "deadline": deadline,
        "segments": segments,
    }


#: The lead's columns ``facts_of`` reads (``only(*FACT_FIELDS)`` when reading many leads).
FACT_FIELDS = ("id", "received_at", "source", "tags", "lead_type", "city", "county",
               "neighborhood", "zip_code", "mls_region", "property_type", "site", "price",
               "score", "assigned_to", "tracking_agent", "listing_agent")


def facts_of(lead: Lead) -> LeadFacts:
    """What the engine reads of a lead."""
    return LeadFacts(
        received_at=lead.received_at, source=lead.source, tags=tuple(lead.tags or ()),
        lead_type=lead.lead_type, city=lead.city, county=lead.county,
        neighborhood=lead.neighborhood, zip_code=lead.zip_code, mls_region=lead.mls_region,
        property_type=lead.property_type, site=lead.site, price=lead.price, score=lead.score,
        assigned_to=lead.assigned_to, tracking_agent=lead.tracking_agent,
        listing_agent=lead.listing_agent,
    )


def cursor_of(state: RotationState | HandoffRotation) -> Cursor:
    """A stored rotation as the engine's cursor."""
    return Cursor(state.agent_id, state.position, state.given)
