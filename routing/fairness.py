"""Fairness in numbers: each rotation's share per member against what their weight entitles
them to, the turns they missed and why, and where an agent stands in their rotations now.

A rotation is a rule's (any selection but "first in roster", which is no rotation) or a
hand-off target's. The figures come from what routing stored at decision time, never from the
traces: a ``RoutingRecord`` names its rule (or ``handoff_target``) and the turns its rotation
passed over (``skipped_turns``, codes from ``engine.SkipCode``); the offers say who claimed,
declined or let an offer run out. Records written before ``skipped_turns`` existed count their
leads, not their missed turns.

- A member *received* a lead when a record of the rotation assigned it to them, or when they
  claimed the rotation's offer (a lead given twice, e.g. after a missed first contact, counts
  for each).
- *Entitled*: their leads per round over the sum of the roster's (active members, current
  roster). *Expected*: entitled times the leads the rotation gave out.
- Selectors (``rotation_fairness``, ``agent_standing``) read; ``member_shares``,
  ``turns_before`` and the wording functions are plain Python over plain data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, Subquery

from agents.models import Agent
from routing import engine
from routing.engine import Cursor, LeadFacts, Member, RoutingConfig, Selection, SkipCode
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
    SkipCode.INACTIVE: ("inactive", "your account was inactive"),
    SkipCode.OFF_DUTY: ("off duty", "off duty"),
    SkipCode.OUTSIDE_TERRITORY: ("outside their territory", "outside your territory"),
    SkipCode.NO_SPECIALTY: ("no matching specialty", "not in your specialties"),
    SkipCode.AT_CAP: ("at their cap of {limit} open lead{s}",
                      "at your cap of {limit} open lead{s}"),
    SkipCode.AT_DAILY_CAP: ("at their daily cap of {limit} lead{s}",
                            "at your daily cap of {limit} lead{s}"),
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


@dataclass(frozen=True)
class MemberShare:
    agent_id: int
    name: str
    weight: int  # leads per round
    entitled: float  # share (0..1) their weight entitles them to over the period
    expected: float  # entitled * the rotation's leads in the period
    received: int  # leads the rotation actually gave them in the period
    missed: tuple[MissedTurn, ...]


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
) -> tuple[int, tuple[MemberShare, ...]]:
    """The rotation's leads and each member's share against their entitlement.

    ``enrolled`` in roster order; anyone who received or missed a turn but is not enrolled any
    more is added after them with no entitlement.
    """
    members = list(enrolled)
    known = {m.agent_id for m in members}
    for agent_id in sorted({*received, *missed} - known):
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
            rule_ids: list[int], target_ids: list[int]) -> list[dict[str, Any]]:
    """The rotations' offers made in the period with these statuses (a hand-off offer has no
    rule: its target comes from its record)."""
    # The deadline is never before the offer: it bounds the scan on (status, deadline).
    base = Offer.objects.filter(status__in=statuses, deadline__gte=since,
                                offered_at__gte=since, offered_at__lt=until)
    fields = ("rule_id", "agent_id", "lead_id", "offered_at", "status")
    rows = list(base.filter(rule_id__in=rule_ids).values(*fields)) if rule_ids else []
    if target_ids:
        rows += list(base.filter(rule__isnull=True).annotate(target=_handoff_target_of_offer())
                     .filter(target__in=target_ids).values(*fields, "target"))
    return rows


def _offer_key(row: Mapping[str, Any]) -> Key:
    return (HANDOFF, row["target"]) if row.get("target") else (RULE, row["rule_id"])


def _received(since: datetime, until: datetime, rule_ids: list[int], target_ids: list[int]
              ) -> dict[Key, Counter[int]]:
    given: dict[Key, Counter[int]] = defaultdict(Counter)
    records = RoutingRecord.objects.filter(
        created_at__gte=since, created_at__lt=until, outcome=engine.Outcome.ASSIGNED,
        agent__isnull=False,
    ).filter(Q(reason=engine.Reason.RULE, rule_id__in=rule_ids)
             | Q(reason=engine.Reason.HANDOFF, handoff_target_id__in=target_ids))
    for row in records.values("rule_id", "handoff_target_id", "agent_id").annotate(n=Count("id")):
        key = ((HANDOFF, row["handoff_target_id"]) if row["handoff_target_id"]
               else (RULE, row["rule_id"]))
        given[key][row["agent_id"]] += row["n"]
    for row in _offers(since, until, [Offer.Status.CLAIMED], rule_ids, target_ids):
        given[_offer_key(row)][row["agent_id"]] += 1
    return given


def _missed(since: datetime, until: datetime, rule_ids: list[int], target_ids: list[int],
            *, for_agent: bool) -> dict[Key, dict[int, list[MissedTurn]]]:
    missed: dict[Key, dict[int, list[MissedTurn]]] = defaultdict(lambda: defaultdict(list))
    records = RoutingRecord.objects.filter(
        created_at__gte=since, created_at__lt=until,
    ).filter(Q(reason=engine.Reason.RULE, rule_id__in=rule_ids)
             | Q(reason=engine.Reason.HANDOFF, handoff_target_id__in=target_ids)
             ).exclude(skipped_turns=[])
    for rule_id, target_id, lead_id, at, turns in records.values_list(
        "rule_id", "handoff_target_id", "lead_id", "created_at", "skipped_turns"
    ):
        key = (HANDOFF, target_id) if target_id else (RULE, rule_id)
        for turn in turns or ():
            code = turn.get("why", "")
            missed[key][turn["agent"]].append(MissedTurn(
                at, reason_words(code, turn.get("limit"), for_agent=for_agent),
                lead_id, code))
    for row in _offers(since, until, [Offer.Status.DECLINED, Offer.Status.EXPIRED],
                       rule_ids, target_ids):
        code = DECLINED if row["status"] == Offer.Status.DECLINED else EXPIRED
        missed[_offer_key(row)][row["agent_id"]].append(MissedTurn(
            row["offered_at"], reason_words(code, for_agent=for_agent), row["lead_id"], code))
    return missed


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
                      for_agent: bool = False) -> list[RotationFairness]:
    """Each rotation's leads in ``[since, until)`` and every member's share against their
    entitlement, with the turns they missed.

    ``rule_ids`` / ``target_ids``: only these rules / hand-off targets (giving one filter
    leaves out the other kind unless it is given too). ``agent_id``: only the rotations that
    agent is in (or received or missed a turn in), each with that agent's share only.
    ``for_agent``: reasons worded for the agent ("at your cap"), and no lead ids.
    """
    config = routing_config()
    found = rotations(rule_ids, target_ids)
    rules = [r.id for r in found if r.kind == RULE]
    targets = [r.id for r in found if r.kind == HANDOFF]
    received = _received(since, until, rules, targets)
    missed = _missed(since, until, rules, targets, for_agent=for_agent)
    answer = []
    for rotation in found:
        enrolled = _enrolled(config, rotation)
        given, passed = received.get(rotation.key, Counter()), missed.get(rotation.key, {})
        if agent_id is not None and not (
            agent_id in given or agent_id in passed
            or any(m.agent_id == agent_id for m in enrolled)
        ):
            continue
        leads, shares = member_shares(enrolled, given, passed)
        shares = tuple(_named(s, config, for_agent) for s in shares)
        if agent_id is not None:
            shares = tuple(s for s in shares if s.agent_id == agent_id)
        answer.append(RotationFairness(rotation.kind, rotation.id, rotation.name, leads, shares))
    return answer


def _named(share: MemberShare, config: RoutingConfig, for_agent: bool) -> MemberShare:
    """A share with its member's name (a former member's too) and, for agents, no lead ids."""
    name = share.name
    if not name:
        agent = config.agents.get(share.agent_id)
        name = agent.name if agent else f"Agent #{share.agent_id}"
    missed = share.missed
    if for_agent:
        missed = tuple(MissedTurn(t.at, t.reason, None, t.code) for t in missed)
    return MemberShare(share.agent_id, name, share.weight, share.entitled, share.expected,
                       share.received, missed)


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
        nxt = None if first_to_claim else _next_agent(members, eligible, cursor)
        before = None if first_to_claim else turns_before(members, eligible, cursor, agent.pk)
        mine_why = whys.get(agent.pk, "you are not on this roster any more")
        standings.append(Standing(
            kind=rotation.kind, id=rotation.id, name=rotation.name,
            next_name=("you" if nxt == agent.pk else
                       first_name(config.agents[nxt].name) if nxt in config.agents else ""),
            turns_before=before,
            why_not_now=_why_not_now(mine_why, config, agent.pk),
            note=FIRST_TO_CLAIM_NOTE if first_to_claim else NOTES.get(rotation.selection, ""),
            received=mine.received if mine else 0,
            expected=mine.expected if mine else 0.0,
            leads=fig.leads,
            missed=with_pause_spans(mine.missed if mine else (), config.timezone),
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
        limit = agent.max_open_leads if code == SkipCode.AT_CAP else (
            agent.max_leads_per_day if code == SkipCode.AT_DAILY_CAP else None)
    if code == SkipCode.PAUSED:
        return "You are paused: turn on Available to get leads again."
    if code == SkipCode.NO_LEADS_PER_ROUND:
        return "You are on this roster with no leads per round."
    words = reason_words(code, limit, for_agent=True)
    return f"No lead can come to you now: {words}."


def with_pause_spans(missed: Sequence[MissedTurn], tz_name: str) -> tuple[MissedTurn, ...]:
    """The agent's missed turns, a run of turns missed while paused worded with its span
    ("paused 14:05-15:50": the first and last turn missed in it, brokerage time).

    A run is broken by any turn missed for another reason and by the day changing.
    """
    turns = sorted(missed, key=lambda t: t.at)
    runs: list[list[MissedTurn]] = []
    for turn in turns:
        last = runs[-1][-1] if runs else None
        if (turn.code == SkipCode.PAUSED and last is not None and last.code == SkipCode.PAUSED
                and engine.to_local(last.at, tz_name).date()
                == engine.to_local(turn.at, tz_name).date()):
            runs[-1].append(turn)
        else:
            runs.append([turn])
    answer = []
    for run in runs:
        if run[0].code == SkipCode.PAUSED and len(run) > 1:
            start, end = (engine.to_local(run[0].at, tz_name),
                          engine.to_local(run[-1].at, tz_name))
            words = f"paused {start:%H:%M}-{end:%H:%M}"
            answer.extend(MissedTurn(t.at, words, None, t.code) for t in run)
        else:
            answer.extend(MissedTurn(t.at, t.reason, None, t.code) for t in run)
    return tuple(answer)


@dataclass(frozen=True)
class MissedLine:
    """Turns missed in a row for one reason, as one line of the agent's page."""

    day: str  # "Today", "Tue"
    times: str  # "14:05" or "14:05-15:50" ("" when the reason says it, e.g. a pause's span)
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
        if run[0].code == SkipCode.PAUSED and len(run) > 1:
            times = ""  # "paused 14:05-15:50" says when
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
