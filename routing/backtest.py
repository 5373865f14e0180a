"""Back-testing a routing change: who would have received a period's leads, changing nothing.

The period's stored leads are replayed in arrival order, each at its own arrival time, through
``engine.decide`` twice, side by side: once with today's configuration (the baseline, "actual")
and once with the proposal ("proposed"). Both replays start with empty rotations whose cursors
move as the replay goes, so an unchanged configuration shows no difference at all, and every
difference comes from the proposal, not from where today's rotations happen to stand.

What each replay knows of the past:

- the agents are today's; who was paused or inactive when a lead arrived is read from that
  lead's own routing record (the trace says who was eligible or skipped, and why); agents the
  trace does not mention are taken as they are today;
- shifts, rule hours and the actionable window are evaluated by the engine at the lead's time;
- caps: the open leads an agent held before the period (still open today) plus the leads the
  replay has given them that are still open today; leads per day count the replay's own;
- a stored lead is always a person's first lead (registering again stores no new lead).

Nothing is written: no lead, rotation, record, offer, notification, webhook or cache. Leads
are read in chunks (two queries per ``CHUNK`` leads), so a long period costs few queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, JSONField, Q, QuerySet
from django.db.models.expressions import RawSQL

from leads.models import Lead
from routing import engine
from routing.engine import Loads, Outcome, Reason, RoutingConfig, RuleInfo
from routing.engine.trace import MEMBER_KEYS
from routing.engine.types import AGENT, LENDER, Cursor, CursorKey, LeadFacts
from routing.models import RoutingRecord
from routing.selectors import FACT_FIELDS, facts_of, routing_config

CHUNK = 2000
SAMPLE_SIZE = 20
#: The periods offered in the admin's preview, in days; the first page shows the default.
PERIOD_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30
SPECIAL_REASONS = (Reason.PRE_ASSIGNED, Reason.TRACKING_LINK, Reason.OWN_LISTING)
#: A lead the replay gives to someone still counts against their cap if the real lead is still
#: being worked today.
WORKED = (Lead.Status.UNASSIGNED, Lead.Status.OFFERED, *Lead.OPEN_STATUSES)

Receivers = tuple[int, ...]  # who gets the lead: () the pond, one agent, or all offered at once


class Availability(StrEnum):
    """An agent's state when a lead arrived, as its routing record has it."""

    AVAILABLE = "available"
    PAUSED = "paused"
    INACTIVE = "inactive"


#: The trace's reasons for skipping someone that are about the agent, not about the rule.
_RECORDED = {"inactive": Availability.INACTIVE,
             "paused (not accepting leads)": Availability.PAUSED}


@dataclass(frozen=True)
class StoredLead:
    """What the replay reads of one stored lead."""

    id: int
    facts: LeadFacts
    owner_id: int | None  # today: who claimed it, when it was offered to several at once
    worked: bool  # still being worked today (counts against a cap)
    availability: tuple[tuple[str, Availability], ...] = ()  # (e-mail, state) at arrival


def availability_in(trace: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, Availability], ...]:
    """Who the trace found available, paused (or away on time off) or inactive (agents and
    lenders considered)."""
    found: dict[str, Availability] = {}
    for entry in trace or ():
        email = entry.get("agent")
        if entry.get("stage") not in (AGENT, LENDER) or not email:
            continue
        why = entry.get("why") or ""
        away = bool(why) and engine.skip_code(why) == engine.SkipCode.AWAY  # time off: paused
        found[str(email).lower()] = (Availability.PAUSED if away else
                                     _RECORDED.get(why, Availability.AVAILABLE))
    return tuple(sorted(found.items()))


# --- One replay -------------------------------------------------------------------------------


class Replay:
    """One configuration's replay: its rotations, loads and counts (plain data, no database)."""

    def __init__(self, config: RoutingConfig, open_leads: Mapping[int, int], *,
                 today: RoutingConfig | None = None) -> None:
        self.config = config
        self.today = today or config
        self.cursors: dict[CursorKey, Cursor] = {}
        self.open_leads = dict(open_leads)
        self.leads_today: dict[int, int] = {}
        self.day: date | None = None
        self.by_rule: Counter[int] = Counter()
        self.by_agent: Counter[int] = Counter()
        self.pond = self.special = self.shared = 0
        self._as_recorded: dict[tuple[tuple[int, bool, bool], ...], RoutingConfig] = {}

    def route(self, lead: StoredLead) -> Receivers:
        """Decide the lead as this configuration would, and count it."""
        config = self.config_at(lead.availability)
        day = engine.to_local(lead.facts.received_at, config.timezone).date()
        if day != self.day:
            self.day, self.leads_today = day, {}
        decision = engine.decide(config, lead.facts, cursors=self.cursors,
                                 loads=Loads(self.open_leads, self.leads_today))
        self.cursors.update(decision.cursors)
        if decision.reason in SPECIAL_REASONS:
            self.special += 1
        elif decision.reason == Reason.RULE and decision.rule_id is not None:
            self.by_rule[decision.rule_id] += 1
        if decision.outcome == Outcome.ASSIGNED and decision.agent_id is not None:
            agent_id = decision.agent_id
            self.leads_today[agent_id] = self.leads_today.get(agent_id, 0) + 1
            if lead.worked:
                self.open_leads[agent_id] = self.open_leads.get(agent_id, 0) + 1
            receivers: Receivers = (agent_id,)
        elif decision.outcome == Outcome.OFFERED:
            receivers = decision.offered_to
        else:
            self.pond += 1
            return ()
        if len(receivers) == 1:
            self.by_agent[receivers[0]] += 1
        elif lead.owner_id in receivers:  # first to claim: the one who really claimed it
            self.by_agent[lead.owner_id] += 1
        else:
            self.shared += 1
        return receivers

    def config_at(self, availability: Sequence[tuple[str, Availability]]) -> RoutingConfig:
        """The configuration with the agents as they were when the lead arrived.

        Only agents active in this configuration change (one who has left stays out), and
        only where it says of them what today's does (a proposal that pauses someone wins);
        the few combinations a period has are built once each.
        """
        changes = []
        for email, state in availability:
            agent = self.config.agent_by_email(email)
            if agent is None or not agent.is_active:
                continue
            now = self.today.agent_by_email(email)
            if now is None or (now.is_active, now.accepting_leads) != (agent.is_active,
                                                                      agent.accepting_leads):
                continue
            active = state != Availability.INACTIVE
            accepting = agent.accepting_leads if not active else state == Availability.AVAILABLE
            if (active, accepting) != (agent.is_active, agent.accepting_leads):
                changes.append((agent.id, active, accepting))
        key = tuple(changes)
        if not key:
            return self.config
        config = self._as_recorded.get(key)
        if config is None:
            agents = dict(self.config.agents)
            for agent_id, active, accepting in key:
                agents[agent_id] = replace(agents[agent_id], is_active=active,
                                           accepting_leads=accepting)
            config = replace(self.config, agents=agents)
            self._as_recorded[key] = config
        return config


# --- What the back-test says ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One rule or agent: leads today's rules give them, leads the proposal would."""

    name: str
    actual: int
    proposed: int
    email: str = ""  # agents only

    @property
    def difference(self) -> int:
        return self.proposed - self.actual

    def as_json(self) -> dict[str, Any]:
        key = {"email": self.email, "name": self.name} if self.email else {"name": self.name}
        return {**key, "actual": self.actual, "proposed": self.proposed,
                "difference": self.difference}


@dataclass(frozen=True)
class ChangedHands:
    """A lead the proposal gives to someone else."""

    lead_id: int
    title: str
    received_at: datetime
    actual: str  # in words: an agent's name, "the pond", or everyone offered at once
    proposed: str


@dataclass
class Backtest:
    since: datetime
    until: datetime
    timezone: str
    leads: int
    rules: list[Row]
    agents: list[Row]
    pond: Row
    special: Row  # pre-assigned, tracking link, own listing: before the rules
    shared: Row  # offered to several at once and claimed by none of them (or not yet)
    changed_hands: int
    sample: list[ChangedHands] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return self.changed_hands > 0 or any(
            r.difference for r in (*self.rules, *self.agents, self.pond))

    def as_json(self) -> dict[str, Any]:
        def pair(row: Row) -> dict[str, int]:
            return {"actual": row.actual, "proposed": row.proposed,
                    "difference": row.difference}

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "timezone": self.timezone,
            "leads": self.leads,
            "rules": [r.as_json() for r in self.rules],
            "agents": [a.as_json() for a in self.agents],
            "pond": pair(self.pond),
            "before_the_rules": pair(self.special),
            "offered_to_several_unclaimed": pair(self.shared),
            "changed_hands": {
                "count": self.changed_hands,
                "sample": [{"lead": c.lead_id, "title": c.title,
                            "received_at": c.received_at.isoformat(),
                            "actual": c.actual, "proposed": c.proposed} for c in self.sample],
            },
        }

    def chart(self) -> dict[str, Any]:
        """What the page's bar chart draws: leads per agent, today's rules and the proposal."""
        return {"labels": [a.name for a in self.agents],
                "actual": [a.actual for a in self.agents],
                "proposed": [a.proposed for a in self.agents]}


# --- Proposals -------------------------------------------------------------------------------

#: The id an unsaved new rule has in a proposal (stored rules are numbered from 1).
NEW_RULE_ID = -1


def with_rule(config: RoutingConfig, rule: RuleInfo) -> RoutingConfig:
    """The configuration with ``rule`` in place of its stored version, or, for a new rule,
    added where the rule editor puts one: last before the catch-all."""
    rules = list(config.rules)
    index = next((i for i, r in enumerate(rules) if r.id == rule.id), None)
    if index is not None:
        rules[index] = rule
    elif rule.is_catch_all:
        rules = [r for r in rules if not r.is_catch_all] + [rule]
    else:
        rules.insert(next((i for i, r in enumerate(rules) if r.is_catch_all), len(rules)), rule)
    return replace(config, rules=tuple(rules))


# --- Reading the period -----------------------------------------------------------------------


def last_days(days: int, *, now: datetime) -> tuple[datetime, datetime]:
    """The last ``days`` days up to now."""
    return now - timedelta(days=days), now


def between(first: date, last: date, tz_name: str) -> tuple[datetime, datetime]:
    """From the start of ``first`` to the end of ``last``, in the brokerage's time zone."""
    tz = ZoneInfo(tz_name)
    return (datetime.combine(first, time(), tz),
            datetime.combine(last + timedelta(days=1), time(), tz))


def _period(since: datetime, until: datetime) -> QuerySet[Lead]:
    return Lead.objects.filter(received_at__gte=since, received_at__lt=until)


def stored_leads(since: datetime, until: datetime, *,
                 chunk: int | None = None) -> Iterator[StoredLead]:
    """The period's leads in arrival order, with who was available when each arrived.

    Two queries per chunk (the leads, then their first routing records), read page after
    page by arrival time, so no cursor stays open while the caller works.
    """
    chunk = chunk or CHUNK
    after: tuple[datetime, int] | None = None
    while True:
        page = _period(since, until).only(*FACT_FIELDS, "owner", "status").order_by(
            "received_at", "id")
        if after is not None:
            page = page.filter(Q(received_at__gt=after[0]) | Q(received_at=after[0],
                                                               id__gt=after[1]))
        leads = list(page[:chunk])
        if not leads:
            return
        recorded = availability_at_arrival([lead.id for lead in leads])
        for lead in leads:
            yield StoredLead(lead.id, facts_of(lead), lead.owner_id, lead.status in WORKED,
                             recorded.get(lead.id, ()))
        after = (leads[-1].received_at, leads[-1].id)


#: The trace's steps about roster members (agents and lenders), as JSON paths: stored one
#: by one (older traces, and members the configuration did not know), and packed as rows
#: (``engine.trace.pack_trace``, in the order of ``MEMBER_KEYS``).
_MEMBER_STEPS = '$[*] ? (@.stage == "agent" || @.stage == "lender")'
_MEMBER_ROWS = '$[*] ? (@.stage == "members" && (@.of == "agent" || @.of == "lender")).rows[*]'


def availability_at_arrival(
    lead_ids: list[int],
) -> dict[int, tuple[tuple[str, Availability], ...]]:
    """Who was available when each lead arrived, from its first routing record.

    PostgreSQL reads just the members' e-mails and reasons out of the stored trace (a trace
    is kilobytes of text); elsewhere the whole trace is read.
    """
    records = RoutingRecord.objects.filter(lead_id__in=lead_ids, round=1).order_by(
        "lead_id", "created_at", "id")
    found: dict[int, tuple[tuple[str, Availability], ...]] = {}
    if connection.vendor == "postgresql":
        table = RoutingRecord._meta.db_table
        column = f'"{table}"."trace"::jsonb'
        rows = records.annotate(
            steps=RawSQL(f"jsonb_path_query_array({column}, %s)", [_MEMBER_STEPS],
                         output_field=JSONField()),
            packed=RawSQL(f"jsonb_path_query_array({column}, %s)", [_MEMBER_ROWS],
                          output_field=JSONField()),
        ).values_list("lead_id", "steps", "packed")
        agent, why = MEMBER_KEYS.index("agent"), MEMBER_KEYS.index("why")
        for lead_id, steps, packed in rows:
            if lead_id not in found:  # the decision at arrival
                found[lead_id] = availability_in(
                    [*(steps or ()), *({"stage": AGENT, "agent": row[agent], "why": row[why]}
                                       for row in packed or ())])
        return found
    for lead_id, trace in records.values_list("lead_id", "trace"):
        if lead_id not in found:
            found[lead_id] = availability_in(trace)
    return found


def open_before(since: datetime) -> dict[int, int]:
    """Open leads each agent held before the period that they still hold today."""
    rows = (Lead.objects.filter(received_at__lt=since, status__in=Lead.OPEN_STATUSES,
                                owner__isnull=False)
            .order_by().values("owner_id").annotate(n=Count("id")))
    return {row["owner_id"]: row["n"] for row in rows}


# --- The back-test ----------------------------------------------------------------------------


def backtest(
    proposed: RoutingConfig,
    *,
    since: datetime,
    until: datetime,
    today: RoutingConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = CHUNK,
) -> Backtest:
    """Replay the period through today's configuration and through ``proposed``.

    ``progress(done, total)`` is called every ``progress_every`` leads and at the end.
    """
    today = today or routing_config()
    total = _period(since, until).count()
    start = open_before(since)
    actual, proposal = Replay(today, start), Replay(proposed, start, today=today)
    changed = 0
    sample: list[tuple[int, datetime, Receivers, Receivers]] = []
    done = 0
    for lead in stored_leads(since, until):
        before, after = actual.route(lead), proposal.route(lead)
        done += 1
        if before != after:
            changed += 1
            if len(sample) < SAMPLE_SIZE:
                sample.append((lead.id, lead.facts.received_at, before, after))
        if progress is not None and done % progress_every == 0:
            progress(done, total)
    if progress is not None and done % progress_every:
        progress(done, total)
    return _report(actual, proposal, since=since, until=until, leads=done, changed=changed,
                   sample=sample)


def _report(actual: Replay, proposal: Replay, *, since: datetime, until: datetime, leads: int,
            changed: int, sample: list[tuple[int, datetime, Receivers, Receivers]]) -> Backtest:
    today, proposed = actual.config, proposal.config
    rule_ids = [r.id for r in today.rules] + [r.id for r in proposed.rules
                                                if today.rule(r.id) is None]
    rules = []
    for rule_id in rule_ids:
        rule = proposed.rule(rule_id) or today.rule(rule_id)
        assert rule is not None
        rules.append(Row(rule.name, actual.by_rule[rule_id], proposal.by_rule[rule_id]))
    agents = []
    for agent_id in set(actual.by_agent) | set(proposal.by_agent):
        agent = proposed.agents.get(agent_id) or today.agents.get(agent_id)
        name, email = (agent.name, agent.email) if agent else (f"Agent #{agent_id}", "")
        agents.append(Row(name, actual.by_agent[agent_id], proposal.by_agent[agent_id],
                          email=email or f"#{agent_id}"))
    agents.sort(key=lambda row: (row.name.lower(), row.email))
    titles = {lead.id: lead.title for lead in Lead.objects.filter(
        id__in=[s[0] for s in sample]).only("id", "first_name", "last_name", "lead_type",
                                             "neighborhood", "city", "zip_code")}

    def words(receivers: Receivers, config: RoutingConfig) -> str:
        names = [config.agents[a].name if a in config.agents else f"Agent #{a}"
                 for a in receivers]
        if not names:
            return "the pond"
        return names[0] if len(names) == 1 else "first to claim: " + ", ".join(names)

    return Backtest(
        since=since, until=until, timezone=proposed.timezone, leads=leads, rules=rules,
        agents=agents, pond=Row("pond", actual.pond, proposal.pond),
        special=Row("before the rules", actual.special, proposal.special),
        shared=Row("offered to several", actual.shared, proposal.shared),
        changed_hands=changed,
        sample=[ChangedHands(lead_id, titles.get(lead_id, f"Lead #{lead_id}"), at,
                             words(before, today), words(after, proposed))
                for lead_id, at, before, after in sample],
    )
