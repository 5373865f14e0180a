"""Fairness in numbers: each rotation's share per member against what their weight entitles
them to, the turns they missed and why, and where an agent stands in their rotations now.

A rotation is a rule's (any selection but "first in roster", which is no rotation) or a
hand-off target's. The figures come from what routing stored at decision time, never from the
traces: a ``RoutingRecord`` names its rule (or ``handoff_target``) and the turns its rotation
passed over (``skipped_turns``, codes from ``engine.SkipCode``); the offers say who claimed,
declined or let an offer run out; pauses (``agents.Pause``) give a paused turn its span, and
time off (``agents.TimeOff``) an away turn its end ("away until Fri 12:00 (vacation)").
Records written before ``skipped_turns`` existed count their leads; their missed turns count
once ``manage.py backfill_fairness`` has read them from the traces.

- A member *received* a lead when a record of the rotation assigned it to them, or when they
  claimed the rotation's offer (a lead given twice, e.g. after a missed first contact, counts
  for each).
- *Entitled*: their leads per round over the sum of the roster's (active members, current
  roster). *Expected*: entitled times the leads the rotation gave out.
- Selectors (``rotation_fairness``, ``agent_standing``) read; ``member_shares``,
  ``turns_before`` and the wording functions are plain Python over plain data.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)

from agents.models import Agent, Pause, TimeOff
from routing import engine
from routing.engine import (
    Cursor,
    LeadFacts,
    Member,
    RoutingConfig,
    Selection,
    SkipCode,
    Stage,
)
from routing.models import (
    HandoffRotation,
    HandoffTarget,
    Offer,
    RotationState,
    RoutingRecord,
    Rule,
)
from routing.selectors import cursor_of, routing_config
from routing.services import agent_loads

RULE, HANDOFF = "rule", "handoff"
DECLINED, EXPIRED = "declined", "expired"  # missed turns from the offers, besides SkipCode

#: A missed turn's reason in words: (for managers, for the agent), ``{limit}`` the cap.
REASON_WORDS: dict[str, tuple[str, str]] = {
    SkipCode.PAUSED: ("paused", "paused"),
    SkipCode.AWAY: ("away (time off)", "away (time off)"),
    SkipCode.INACTIVE: ("inactive", "your account was inactive"),
    SkipCode.OFF_DUTY: ("off duty", "off duty"),
    SkipCode.OUTSIDE_TERRITORY: ("outside their territory", "outside your territory"),
    SkipCode.NO_SPECIALTY: ("no matching specialty", "not in your specialties"),
    SkipCode.AT_CAP: ("at their cap of {limit} open lead{s}",
                      "at your cap of {limit} open lead{s}"),
    SkipCode.AT_DAILY_CAP: ("at their daily cap of {limit} lead{s}",
                            "at your daily cap of {limit} lead{s}"),
    SkipCode.GRADUAL_RETURN: ("at their first day back's limit of {limit} lead{s}",
                              "at your first day back's limit of {limit} lead{s}"),
    SkipCode.MORE_OPEN_LEADS: ("had more open leads than others",
                               "you had more open leads than others"),
    DECLINED: ("declined", "you declined"),
    EXPIRED: ("did not claim in time", "you did not claim in time"),
}


def reason_words(code: str, limit: int | None = None, *, for_agent: bool = False) -> str:
    """A missed turn's reason in plain words, for a manager or (``for_agent``) the agent."""
    manager, agent = REASON_WORDS.get(code, ("could not take it", "you could not take it"))
    words = agent if for_agent else manager
    return words.format(limit=limit if limit is not None else "", s="" if limit == 1 else "s")


# --- The figures' types (the Fairness report and the agent's page) ---------------------------


@dataclass(frozen=True)
class MissedTurn:
    at: datetime  # when the lead whose turn they missed arrived (or was offered)
    reason: str  # plain words: "paused", "at their cap of 20 open leads", "declined", ...
    lead_id: int | None  # for managers only; agents' views never show other leads
    code: str = ""  # the reason's code: a ``SkipCode``, "declined" or "expired"
    # The words it is counted under when ``reason`` says more ("declined (too busy)").
    counted_as: str = ""


@dataclass(frozen=True)
class MemberShare:
    agent_id: int
    name: str
    weight: int  # leads per round
    entitled: float  # share (0..1) their weight entitles them to over the period
    expected: float  # entitled * the rotation's leads in the period
    received: int  # leads the rotation actually gave them in the period
    missed: tuple[MissedTurn, ...]  # in time order (all, or the latest asked for)
    # Every turn they missed in the period, by reason in words ("paused", "declined", ...).
    missed_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def turns_missed(self) -> int:
        return sum(self.missed_counts.values())


@dataclass(frozen=True)
class RotationFairness:
    kind: str  # "rule" or "handoff"
    id: int  # the rule's or hand-off target's id
    name: str
    leads: int  # leads the rotation gave out in the period
    members: tuple[MemberShare, ...]


@dataclass(frozen=True)
class Rotation:
    """A rotation as plain data: whose it is and which roster it turns over."""

    kind: str
    id: int
    name: str
    roster_id: int
    selection: str
    delivery: str

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.id


Key = tuple[str, int]  # (kind, id) of a rotation


# --- Pure computation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """A member as the figures count them: their weight (0: not entitled, e.g. left)."""

    agent_id: int
    name: str
    weight: int


def member_shares(
    enrolled: Sequence[Enrolled],
    received: Mapping[int, int],
    missed: Mapping[int, Sequence[MissedTurn]],
    missed_counts: Mapping[int, Mapping[str, int]] | None = None,
) -> tuple[int, tuple[MemberShare, ...]]:
    """The rotation's leads and each member's share against their entitlement.

    ``enrolled`` in roster order; anyone who received or missed a turn but is not enrolled any
    more is added after them with no entitlement. ``missed_counts``: every turn missed by
    reason, when ``missed`` holds only some of them (default: counted from ``missed``).
    """
    if missed_counts is None:
        missed_counts = {a: Counter(t.reason for t in turns) for a, turns in missed.items()}
    members = list(enrolled)
    known = {m.agent_id for m in members}
    for agent_id in sorted({*received, *missed, *missed_counts} - known):
        members.append(Enrolled(agent_id, "", 0))
    total_weight = sum(m.weight for m in members)
    leads = sum(received.values())
    shares = []
    for m in members:
        entitled = m.weight / total_weight if total_weight else 0.0
        shares.append(MemberShare(
            agent_id=m.agent_id, name=m.name, weight=m.weight, entitled=entitled,
            expected=entitled * leads, received=received.get(m.agent_id, 0),
            missed=tuple(sorted(missed.get(m.agent_id, ()), key=lambda t: t.at)),
            missed_counts=dict(missed_counts.get(m.agent_id, {})),
        ))
    return leads, tuple(shares)


def turns_before(members: Sequence[Member], eligible: set[int], cursor: Cursor,
                 agent_id: int) -> int | None:
    """How many leads the rotation gives out before the agent's next one, if everyone eligible
    now stays so (None: the agent cannot get one now)."""
    if agent_id not in eligible:
        return None
    for count in range(sum(max(m.leads_per_round, 1) for m in members) + 1):
        chosen, cursor, _ = engine.rotate(members, eligible, cursor)
        if chosen is None:
            return None
        if chosen.agent_id == agent_id:
            return count
    return None


_LIMIT = re.compile(r"of (\d+)")


def turns_from_trace(trace: Sequence[Mapping[str, Any]], ids_by_email: Mapping[str, int]
                     ) -> list[dict[str, Any]]:
    """The skipped turns of a record written before they were kept, read from its trace: the
    agent rotation's "turns skipped" with each member's reason (a turn cut short is not in
    the trace, so it is not found)."""
    members: dict[str, dict[str, Any]] = {}  # the agent roster's members, by name
    found: list[dict[str, Any]] = []
    previous, block = None, None  # the step before; whose members were listed last
    for step in trace:
        stage = step.get("stage")
        if stage == engine.AGENT:
            if previous != engine.AGENT:
                members = {}  # another rule's roster, or the same rule moving on
            # The member's name: in its data, or (older records) its sentence's beginning.
            members[str(step.get("name") or str(step.get("text", "")).split(" <")[0])] = step
        elif stage == Stage.ROTATION and block == engine.AGENT:
            found = []
            for name in step.get("skipped") or ():
                member = members.get(name, {})
                agent_id = ids_by_email.get(str(member.get("agent") or "").strip().lower())
                code = engine.skip_code(member.get("why"))
                if agent_id is None or code in engine.selection.NOT_A_MISSED_TURN:
                    continue
                turn: dict[str, Any] = {"agent": agent_id, "why": str(code)}
                limit = _LIMIT.search(str(member.get("why") or ""))
                if code in (SkipCode.AT_CAP, SkipCode.AT_DAILY_CAP) and limit:
                    turn["limit"] = int(limit.group(1))
                found.append(turn)
        if stage in (engine.AGENT, engine.LENDER):
            block = stage
        previous = stage
    return found


# --- Selectors -------------------------------------------------------------------------------


def rotations(rule_ids: Iterable[int] | None = None,
              target_ids: Iterable[int] | None = None) -> list[Rotation]:
    """The rotations asked for: rules (all rotating ones when neither filter is given) and
    hand-off targets (all when neither filter is given)."""
    rules = Rule.objects.exclude(selection=Rule.Selection.FIRST_IN_ROSTER)
    targets = HandoffTarget.objects.all()
    if rule_ids is not None or target_ids is not None:
        rules = rules.filter(id__in=list(rule_ids or ()))
        targets = targets.filter(id__in=list(target_ids or ()))
    found = [Rotation(RULE, r.id, r.name, r.roster_id, r.selection, r.delivery)
             for r in rules.order_by("is_catch_all", "priority", "id")]
    found += [Rotation(HANDOFF, t.id, t.name, t.roster_id, t.selection, t.delivery)
              for t in targets.order_by("name")]
    return found


def _handoff_target_of_offer() -> Subquery:
    """A hand-off offer's target: the one its lead's record of the same round names."""
    return Subquery(RoutingRecord.objects.filter(
        lead_id=OuterRef("lead_id"), round=OuterRef("round"), handoff_target__isnull=False,
    ).values("handoff_target_id")[:1])


def _offers(since: datetime, until: datetime, statuses: Sequence[str],
            rule_ids: list[int], target_ids: list[int]) -> list[QuerySet[Offer]]:
    """The rotations' offers made in the period with these statuses: the rules' offers, and
    the hand-off targets' (annotated ``target``: a hand-off offer has no rule, its record
    names the target)."""
    # The deadline is never before the offer: it bounds the scan on (status, deadline).
    base = Offer.objects.filter(status__in=statuses, deadline__gte=since,
                                offered_at__gte=since, offered_at__lt=until)
    found = [base.filter(rule_id__in=rule_ids).annotate(target=Value(None, IntegerField()))]
    if target_ids:
        found.append(base.filter(rule__isnull=True).annotate(target=_handoff_target_of_offer())
                     .filter(target__in=target_ids))
    return found


def _key(rule_id: int | None, target_id: int | None) -> Key:
    return (HANDOFF, target_id) if target_id else (RULE, rule_id or 0)


def _received(since: datetime, until: datetime, rule_ids: list[int], target_ids: list[int]
              ) -> dict[Key, Counter[int]]:
    given: dict[Key, Counter[int]] = defaultdict(Counter)
    records = RoutingRecord.objects.filter(
        created_at__gte=since, created_at__lt=until, outcome=engine.Outcome.ASSIGNED,
        agent__isnull=False,
    ).filter(Q(reason=engine.Reason.RULE, rule_id__in=rule_ids)
             | Q(reason=engine.Reason.HANDOFF, handoff_target_id__in=target_ids))
    counted = [records.values_list("rule_id", "handoff_target_id", "agent_id")
               .annotate(n=Count("id")).order_by()]
    counted += [offers.values_list("rule_id", "target", "agent_id").annotate(n=Count("id"))
                .order_by() for offers in _offers(since, until, [Offer.Status.CLAIMED],
                                                  rule_ids, target_ids)]
    for rows in counted:
        for rule_id, target_id, agent_id, n in rows:
            given[_key(rule_id, target_id)][agent_id] += n
    return given


class Epoch(Func):
    """A moment as seconds since 1970 (a float): rows read thousands of times faster than as
    timestamps, which the driver parses in Python."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Whole seconds, plus the milliseconds SQLite keeps ("%f" is "SS.SSS"); "%" doubled
        # twice: once for the template, once for the query's parameters.
        template = ("(CAST(strftime('%%%%s', %(expressions)s) AS REAL)"
                    " + CAST(strftime('%%%%f', %(expressions)s) AS REAL)"
                    " - CAST(strftime('%%%%S', %(expressions)s) AS REAL))")
        return self.as_sql(compiler, connection, template=template, **extra)


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class _Words(dict[tuple[str, int | None], str]):
    """Reason words by (code, cap), worded once each."""

    def __init__(self, for_agent: bool) -> None:
        super().__init__()
        self.for_agent = for_agent

    def __missing__(self, key: tuple[str, int | None]) -> str:
        self[key] = reason_words(key[0], key[1], for_agent=self.for_agent)
        return self[key]


Missed = dict[Key, dict[int, list[MissedTurn]]]  # turns missed, by rotation and member
MissedCounts = dict[Key, dict[int, Counter[str]]]  # how many, by rotation, member and reason


def _missed_records(since: datetime, until: datetime, rule_ids: list[int],
                    target_ids: list[int]) -> QuerySet[RoutingRecord]:
    """The rotations' records of the period that passed over someone."""
    return RoutingRecord.objects.filter(
        created_at__gte=since, created_at__lt=until,
    ).filter(Q(reason=engine.Reason.RULE, rule_id__in=rule_ids)
             | Q(reason=engine.Reason.HANDOFF, handoff_target_id__in=target_ids)
             ).exclude(skipped_turns=[])


def _missed(since: datetime, until: datetime, rule_ids: list[int], target_ids: list[int],
            *, for_agent: bool, latest: int | None = None, agent_id: int | None = None
            ) -> Missed:
    """The turns missed in the period (``latest``: only the latest N of them all, newest
    records and offers first; ``agent_id``: only that agent's)."""
    missed: Missed = defaultdict(lambda: defaultdict(list))
    records = _missed_records(since, until, rule_ids, target_ids).annotate(
        epoch=Epoch("created_at"))
    offers = [o.annotate(epoch=Epoch("offered_at")) for o in _offers(
        since, until, [Offer.Status.DECLINED, Offer.Status.EXPIRED], rule_ids, target_ids)]
    # The agent's records are found in SQL where JSON containment can be asked (PostgreSQL);
    # elsewhere every record is read and the agent's turns kept below.
    records_bounded = agent_id is None or connection.vendor == "postgresql"
    if agent_id is not None:
        offers = [o.filter(agent_id=agent_id) for o in offers]
        if records_bounded:
            records = records.filter(skipped_turns__contains=[{"agent": agent_id}])
    if latest is not None:
        # Every record read passes over someone: the latest N records hold the latest N turns.
        if records_bounded:
            records = records.order_by("-created_at", "-id")[:latest]
        offers = [o.order_by("-offered_at", "-id")[:latest] for o in offers]
    words = _Words(for_agent)
    found: list[tuple[Key, int, MissedTurn]] = []
    for rule_id, target_id, lead_id, epoch, turns in records.values_list(
            "rule_id", "handoff_target_id", "lead_id", "epoch", "skipped_turns"):
        key, at = _key(rule_id, target_id), _moment(epoch)
        for turn in turns or ():
            code = turn.get("why", "")
            found.append((key, turn["agent"],
                          MissedTurn(at, words[(code, turn.get("limit"))], lead_id, code)))
    for offered in offers:
        for rule_id, target_id, offered_to, lead_id, epoch, status, why in offered.values_list(
                "rule_id", "target", "agent_id", "lead_id", "epoch", "status", "pass_reason"):
            code = DECLINED if status == Offer.Status.DECLINED else EXPIRED
            base = words[(code, None)]  # a pass says why: "declined (too busy)"
            text = base + (f" ({Offer.PassReason(why).label.lower()})"
                           if code == DECLINED and why else "")
            found.append((_key(rule_id, target_id), offered_to,
                          MissedTurn(_moment(epoch), text, lead_id, code, counted_as=base)))
    if agent_id is not None:
        found = [f for f in found if f[1] == agent_id]
    if latest is not None:
        found.sort(key=lambda f: f[2].at, reverse=True)
        found = found[:latest]
    for key, member, turn in found:
        missed[key][member].append(turn)
    return missed


def _counted(missed: Missed) -> MissedCounts:
    """How many turns each member missed for each reason, from the turns themselves."""
    return {key: {agent_id: Counter(t.counted_as or t.reason for t in turns)
                  for agent_id, turns in members.items()} for key, members in missed.items()}


_TURNS_BY_REASON = """
    SELECT found.rule_id, found.handoff_target_id, (turn ->> 'agent')::int, turn ->> 'why',
           (turn ->> 'limit')::int, count(*)
      FROM ({records}) AS found CROSS JOIN LATERAL jsonb_array_elements(found.skipped_turns)
           AS turn
     GROUP BY 1, 2, 3, 4, 5"""


def _missed_counts(since: datetime, until: datetime, rule_ids: list[int],
                   target_ids: list[int], *, for_agent: bool) -> MissedCounts:
    """How many turns each member missed for each reason, counted by the database: on
    PostgreSQL the records' skipped turns are grouped in SQL (``jsonb_array_elements``);
    elsewhere (SQLite: tests and small installs) they are read and counted in Python."""
    counts: MissedCounts = defaultdict(lambda: defaultdict(Counter))
    words = _Words(for_agent)
    records = _missed_records(since, until, rule_ids, target_ids)
    if connection.vendor == "postgresql":
        sql, params = records.values("rule_id", "handoff_target_id", "skipped_turns"
                                     ).order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(_TURNS_BY_REASON.format(records=sql), params)
            for rule_id, target_id, agent_id, code, limit, n in cursor.fetchall():
                counts[_key(rule_id, target_id)][agent_id][words[(code or "", limit)]] += n
    else:
        for rule_id, target_id, turns in records.values_list(
                "rule_id", "handoff_target_id", "skipped_turns").order_by():
            for turn in turns or ():
                words_of = words[(turn.get("why", ""), turn.get("limit"))]
                counts[_key(rule_id, target_id)][turn["agent"]][words_of] += 1
    for offers in _offers(since, until, [Offer.Status.DECLINED, Offer.Status.EXPIRED],
                          rule_ids, target_ids):
        for rule_id, target_id, agent_id, status, n in offers.values_list(
                "rule_id", "target", "agent_id", "status").annotate(n=Count("id")).order_by():
            code = DECLINED if status == Offer.Status.DECLINED else EXPIRED
            counts[_key(rule_id, target_id)][agent_id][words[(code, None)]] += n
    return counts


def _enrolled(config: RoutingConfig, rotation: Rotation) -> list[Enrolled]:
    roster = config.rosters.get(rotation.roster_id)
    enrolled = []
    for member in roster.members if roster else ():
        agent = config.agents.get(member.agent_id)
        if agent is not None and agent.is_active:
            enrolled.append(Enrolled(agent.id, agent.name, member.leads_per_round))
    return enrolled


def rotation_fairness(since: datetime, until: datetime, *, rule_ids: Iterable[int] | None = None,
                      agent_id: int | None = None, target_ids: Iterable[int] | None = None,
                      for_agent: bool = False, missed_shown: int | None = None
                      ) -> list[RotationFairness]:
    """Each rotation's leads in ``[since, until)`` and every member's share against their
    entitlement, with the turns they missed.

    ``rule_ids`` / ``target_ids``: only these rules / hand-off targets (giving one filter
    leaves out the other kind unless it is given too). ``agent_id``: only the rotations that
    agent is in (or received or missed a turn in), each with that agent's share only.
    ``for_agent``: reasons worded for the agent ("at your cap"), and no lead ids.
    ``missed_shown``: the details of only the latest N missed turns of all the rotations asked
    for (the Fairness page shows these; a million leads miss tens of thousands of turns a
    month), while ``missed_counts`` counts every one.
    """
    config = routing_config()
    found = rotations(rule_ids, target_ids)
    rules = [r.id for r in found if r.kind == RULE]
    targets = [r.id for r in found if r.kind == HANDOFF]
    received = _received(since, until, rules, targets)
    missed = _missed(since, until, rules, targets, for_agent=for_agent, latest=missed_shown,
                     agent_id=agent_id)
    counts = (_counted(missed) if missed_shown is None else
              _missed_counts(since, until, rules, targets, for_agent=for_agent))
    pauses = _pauses(since, until, {a for turns in missed.values() for a, t in turns.items()
                                    if any(x.code == SkipCode.PAUSED for x in t)})
    away = _time_off(since, until, {a for turns in missed.values() for a, t in turns.items()
                                    if any(x.code == SkipCode.AWAY for x in t)})
    answer = []
    for rotation in found:
        enrolled = _enrolled(config, rotation)
        given, passed = received.get(rotation.key, Counter()), missed.get(rotation.key, {})
        counted = counts.get(rotation.key, {})
        if agent_id is not None and not (
            agent_id in given or agent_id in counted
            or any(m.agent_id == agent_id for m in enrolled)
        ):
            continue
        leads, shares = member_shares(enrolled, given, passed, counted)
        shares = tuple(_named(s, config, for_agent, pauses.get(s.agent_id, ()),
                              away.get(s.agent_id, ())) for s in shares)
        if agent_id is not None:
            shares = tuple(s for s in shares if s.agent_id == agent_id)
        answer.append(RotationFairness(rotation.kind, rotation.id, rotation.name, leads, shares))
    return answer


def _pauses(since: datetime, until: datetime, agent_ids: set[int]) -> dict[int, list[Span]]:
    """The agents' pauses that overlap the period, by agent."""
    spans: dict[int, list[Span]] = defaultdict(list)
    if agent_ids:
        for agent_id, begin, end in Pause.objects.filter(
            agent_id__in=agent_ids, started_at__lt=until,
        ).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since)).values_list(
            "agent_id", "started_at", "ended_at"
        ):
            spans[agent_id].append((begin, end))
    return spans


def _time_off(since: datetime, until: datetime, agent_ids: set[int]
              ) -> dict[int, list[engine.TimeAway]]:
    """The agents' time off that overlaps the period, by agent."""
    away: dict[int, list[engine.TimeAway]] = defaultdict(list)
    if agent_ids:
        for agent_id, begin, end, note in TimeOff.objects.filter(
            agent_id__in=agent_ids, starts_at__lt=until, ends_at__gt=since,
        ).values_list("agent_id", "starts_at", "ends_at", "note"):
            away[agent_id].append(engine.TimeAway(begin, end, note))
    return away


def _named(share: MemberShare, config: RoutingConfig, for_agent: bool,
           pauses: Sequence[Span], away: Sequence[engine.TimeAway] = ()) -> MemberShare:
    """A share with its member's name (a former member's too), turns missed while paused with
    the pause's span, while away with the time off's end, and for agents no lead ids."""
    name = share.name
    if not name:
        agent = config.agents.get(share.agent_id)
        name = agent.name if agent else f"Agent #{share.agent_id}"
    missed = (with_pause_spans(share.missed, pauses, config.timezone, away)
              if pauses or away else share.missed)
    if for_agent:
        missed = tuple(MissedTurn(t.at, t.reason, None, t.code) for t in missed)
    return MemberShare(share.agent_id, name, share.weight, share.entitled, share.expected,
                       share.received, missed, share.missed_counts)


# --- Where an agent stands now ---------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where the agent stands in one rotation now, and how this week went for them."""

    kind: str
    id: int
    name: str  # the rule's or hand-off target's name
    next_name: str  # whose turn is next: "you", a colleague's first name, or ""
    turns_before: int | None  # leads before theirs; None: none can come to them now
    why_not_now: str  # why no lead can come to them now, in words ("" when one can)
    note: str  # how this rotation picks, when it is not a plain turn order
    received: int  # this week
    expected: float  # this week, by their weight
    leads: int  # the rotation's leads this week
    missed: tuple[MissedTurn, ...]  # this week, worded for the agent, without lead ids


def first_name(name: str) -> str:
    """What colleagues are called on an agent's pages: their first name only."""
    return (name or "").split()[0] if (name or "").strip() else "another agent"


def week_start(now: datetime, tz_name: str) -> datetime:
    """Monday 00:00 of this week, brokerage time."""
    local = engine.to_local(now, tz_name)
    return (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)


NOTES = {
    Selection.TERRITORY: "Leads go in turn among the agents whose territory has the lead's "
                         "zip code.",
    Selection.SPECIALTY: "Leads go in turn among the agents with a specialty matching the "
                         "lead.",
    Selection.ON_DUTY: "Leads go in turn among the agents on duty when the lead arrives.",
    Selection.LEAST_LOADED: "The agent with the fewest open leads goes first.",
}
FIRST_TO_CLAIM_NOTE = "Each lead is offered to everyone at once: the first to claim it wins."


def agent_standing(agent: Agent, now: datetime) -> list[Standing]:
    """For each rotation the agent is in: whose turn is next, how many leads before theirs,
    this week's leads against their share and the turns they missed, in the agent's words.

    Never another lead's details; colleagues by first name only.
    """
    config = routing_config()
    since = week_start(now, config.timezone)
    figures = {(f.kind, f.id): f for f in rotation_fairness(since, now, agent_id=agent.pk,
                                                            for_agent=True)}
    found = [r for r in rotations() if r.key in figures]
    cursors = _cursors(found)
    ids = {m.agent_id for r in found for m in _members(config, r)}
    loads = agent_loads({a for a in ids if a in config.agents and config.agents[a].has_caps},
                        now, config.timezone)
    local = engine.to_local(now, config.timezone)
    standings = []
    for rotation in found:
        fig = figures[rotation.key]
        mine = fig.members[0] if fig.members else None
        members = _members(config, rotation)
        whys = _whys(config, rotation, members, loads, local)
        eligible = {a for a, why in whys.items() if why is None}
        cursor = cursors.get(rotation.key, Cursor())
        first_to_claim = rotation.delivery == engine.Delivery.FIRST_TO_CLAIM
        # No turn order to tell: everyone at once, or whoever has the fewest open leads.
        in_turn = not first_to_claim and rotation.selection != Selection.LEAST_LOADED
        nxt = _next_agent(members, eligible, cursor) if in_turn else None
        before = turns_before(members, eligible, cursor, agent.pk) if in_turn else None
        if agent.pk in whys:
            why_not_now = _why_not_now(whys[agent.pk], config, agent.pk)
        else:
            why_not_now = "You are not on this roster any more."
        standings.append(Standing(
            kind=rotation.kind, id=rotation.id, name=rotation.name,
            next_name=("you" if nxt == agent.pk else
                       first_name(config.agents[nxt].name) if nxt in config.agents else ""),
            turns_before=before,
            why_not_now=why_not_now,
            note=FIRST_TO_CLAIM_NOTE if first_to_claim else NOTES.get(rotation.selection, ""),
            received=mine.received if mine else 0,
            expected=mine.expected if mine else 0.0,
            leads=fig.leads,
            missed=mine.missed if mine else (),
        ))
    return standings


def _members(config: RoutingConfig, rotation: Rotation) -> tuple[Member, ...]:
    roster = config.rosters.get(rotation.roster_id)
    return roster.members if roster else ()


def _cursors(found: Sequence[Rotation]) -> dict[Key, Cursor]:
    cursors: dict[Key, Cursor] = {}
    rule_ids = [r.id for r in found if r.kind == RULE]
    for state in RotationState.objects.filter(rule_id__in=rule_ids,
                                              kind=RotationState.Kind.AGENT):
        cursors[(RULE, state.rule_id)] = cursor_of(state)
    target_ids = [r.id for r in found if r.kind == HANDOFF]
    for rotation in HandoffRotation.objects.filter(target_id__in=target_ids):
        cursors[(HANDOFF, rotation.target_id)] = cursor_of(rotation)
    return cursors


def _whys(config: RoutingConfig, rotation: Rotation, members: Sequence[Member],
          loads: engine.Loads, local: datetime) -> dict[int, str | None]:
    """Why each member cannot take a lead arriving now (None: they can). Territory and
    specialty depend on the lead: they are checked as for a plain rotation."""
    selection = (rotation.selection if rotation.selection in (Selection.ON_DUTY,)
                 else Selection.ROTATION)
    probe = LeadFacts(received_at=local)
    return {
        m.agent_id: engine.skip_reason(config.agents.get(m.agent_id), m, selection, probe,
                                       local, kind=engine.AGENT, loads=loads)
        for m in members
    }


def _next_agent(members: Sequence[Member], eligible: set[int], cursor: Cursor) -> int | None:
    chosen, _, _ = engine.rotate(members, eligible, cursor)
    return chosen.agent_id if chosen else None


def _why_not_now(why: str | None, config: RoutingConfig, agent_id: int) -> str:
    if why is None:
        return ""
    code = engine.skip_code(why)
    agent = config.agents.get(agent_id)
    limit = None
    if agent is not None:
        limit = {SkipCode.AT_CAP: agent.max_open_leads,
                 SkipCode.AT_DAILY_CAP: agent.max_leads_per_day,
                 SkipCode.GRADUAL_RETURN: agent.first_day_back_leads}.get(code)
    if code == SkipCode.PAUSED:
        return "You are paused: turn on Available to get leads again."
    if code == SkipCode.AWAY:
        return f"You are {why}: leads come to you again after that, in your usual place."
    if code == SkipCode.NO_LEADS_PER_ROUND:
        return "You are on this roster with no leads per round."
    words = reason_words(code, limit, for_agent=True)
    return f"No lead can come to you now: {words}."


Span = tuple[datetime, datetime | None]  # a pause: from, until (None: still paused)


def pause_words(span: Span, at: datetime, tz_name: str) -> str:
    """"paused 14:00-16:00"; with the weekday when the pause began or ended on another day
    than the turn; "paused since 14:00" while it lasts."""
    turn_day = engine.to_local(at, tz_name).date()

    def when(moment: datetime) -> str:
        local = engine.to_local(moment, tz_name)
        return f"{local:%H:%M}" if local.date() == turn_day else f"{local:%a %H:%M}"

    begin, end = span
    if end is None:
        return f"paused since {when(begin)}"
    return f"paused {when(begin)}-{when(end)}"


def with_pause_spans(missed: Sequence[MissedTurn], pauses: Sequence[Span], tz_name: str,
                     away: Sequence[engine.TimeAway] = ()) -> tuple[MissedTurn, ...]:
    """Missed turns in time order, those missed while paused worded with the pause's span
    where it is known (a pause set through the pages, the API or the admin), and those missed
    during time off with its end: "away until Fri 12:00 (vacation)"."""
    answer = []
    for turn in sorted(missed, key=lambda t: t.at):
        span = next((p for p in pauses if p[0] <= turn.at and (p[1] is None or turn.at < p[1])),
                    None) if turn.code == SkipCode.PAUSED else None
        reason = pause_words(span, turn.at, tz_name) if span else turn.reason
        if turn.code == SkipCode.AWAY:
            agent_away = engine.away_at(away, turn.at)
            if agent_away is not None:
                reason = engine.away_words(agent_away, engine.to_local(turn.at, tz_name))
        answer.append(MissedTurn(turn.at, reason, turn.lead_id, turn.code))
    return tuple(answer)


@dataclass(frozen=True)
class MissedLine:
    """Turns missed in a row for one reason, as one line of the agent's page."""

    day: str  # "Today", "Tue"
    times: str  # "14:05" or "14:05-15:50" ("" when the reason says it: a pause's span)
    reason: str
    turns: int


def missed_lines(missed: Sequence[MissedTurn], tz_name: str, now: datetime) -> list[MissedLine]:
    """The agent's missed turns, those in a row for the same reason on the same day as one."""
    lines: list[MissedLine] = []
    run: list[MissedTurn] = []

    def close() -> None:
        if not run:
            return
        start, end = engine.to_local(run[0].at, tz_name), engine.to_local(run[-1].at, tz_name)
        today = engine.to_local(now, tz_name).date()
        day = "Today" if start.date() == today else f"{start:%a}"
        times = f"{start:%H:%M}" if len(run) == 1 else f"{start:%H:%M}-{end:%H:%M}"
        if run[0].reason.startswith("paused "):
            times = ""  # "paused 14:00-16:00" says when
        lines.append(MissedLine(day, times, run[0].reason, len(run)))
        run.clear()

    for turn in sorted(missed, key=lambda t: t.at):
        if run and (turn.reason != run[-1].reason or engine.to_local(turn.at, tz_name).date()
                    != engine.to_local(run[-1].at, tz_name).date()):
            close()
        run.append(turn)
    close()
    return lines


__all__ = [
    "HANDOFF",
    "RULE",
    "MemberShare",
    "MissedLine",
    "MissedTurn",
    "RotationFairness",
    "Standing",
    "agent_standing",
    "member_shares",
    "missed_lines",
    "reason_words",
    "rotation_fairness",
    "turns_before",
]
