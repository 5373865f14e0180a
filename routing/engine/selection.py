"""Who on a roster may receive a lead, and which one of them gets it.

One home for the pick: routing (``pick_member``, traced), hand-offs and the roster admin's
"who gets the next lead" (``preview.preview_rotation``) all go through ``skip_reason`` and
``next_pick``, so the preview cannot disagree with what routing then does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.engine.trace import fmt, member_step, step
from routing.engine.types import (
    AGENT,
    AgentInfo,
    Cursor,
    LeadFacts,
    Loads,
    Member,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    Selection,
    SkipCode,
    SkippedTurn,
    Stage,
    TimeAway,
    TraceStep,
)

ALREADY_HAD_IT = "already had this lead"
PAUSED = "paused (not accepting leads)"
AWAY = "away until"
INACTIVE = "inactive"
NO_LEADS_PER_ROUND = "enrolled with 0 leads per round"
OFF_DUTY = "off duty"
OUTSIDE_TERRITORY = "outside territory"
NO_SPECIALTY = "no specialty matching the lead's tags"
AT_CAP = "at cap:"
AT_DAILY_CAP = "at daily cap:"
GRADUAL_RETURN = "gradual return:"

#: The skip reasons' words (their beginning) and their codes, checked in this order.
_SKIP_CODES = (
    (PAUSED, SkipCode.PAUSED),
    (AWAY, SkipCode.AWAY),
    (INACTIVE, SkipCode.INACTIVE),
    (NO_LEADS_PER_ROUND, SkipCode.NO_LEADS_PER_ROUND),
    (OFF_DUTY, SkipCode.OFF_DUTY),
    (OUTSIDE_TERRITORY, SkipCode.OUTSIDE_TERRITORY),
    (NO_SPECIALTY, SkipCode.NO_SPECIALTY),
    (ALREADY_HAD_IT, SkipCode.ALREADY_HAD_IT),
    (AT_DAILY_CAP, SkipCode.AT_DAILY_CAP),
    (AT_CAP, SkipCode.AT_CAP),
    (GRADUAL_RETURN, SkipCode.GRADUAL_RETURN),
)


# --- Who may receive --------------------------------------------------------------------------


def static_skip_reason(
    agent: AgentInfo | None, member: Member, selection: str, lead: LeadFacts, local: datetime
) -> str | None:
    """Why a member cannot take this lead, loads aside (None: they can)."""
    if agent is None or not agent.is_active:
        return INACTIVE
    if not agent.accepting_leads:
        return PAUSED
    away = agent.away_at(local)
    if away is not None:
        return away_words(away, local)
    if member.leads_per_round == 0:
        return NO_LEADS_PER_ROUND
    if selection == Selection.ON_DUTY and not any(s.contains(local) for s in agent.shifts):
        return OFF_DUTY
    if selection == Selection.TERRITORY and lead.zip_code.strip() not in agent.zip_codes:
        return f"{OUTSIDE_TERRITORY} (lead zip {fmt(lead.zip_code)})"
    if selection == Selection.SPECIALTY and not (
        {str(s).strip().lower() for s in agent.specialties}
        & {t.strip().lower() for t in lead.tags}
    ):
        return f"{NO_SPECIALTY} ({fmt(tuple(lead.tags))})"
    return None


def away_words(away: TimeAway, local: datetime) -> str:
    """"away until Fri 12:00 (vacation)": the end in the brokerage's time, with its date when
    it is six days or more ahead (where the weekday alone would be ambiguous)."""
    end = away.ends_at.astimezone(local.tzinfo)
    when = f"{end:%a %H:%M}" if end - local < timedelta(days=6) else f"{end:%a %d %b %H:%M}"
    return f"{AWAY} {when}" + (f" ({away.note})" if away.note else "")


def first_days_back(away: Sequence[TimeAway], tz_name: str) -> frozenset[date]:
    """The days (brokerage time) an agent comes back on after a day or more of time off; time
    off that overlaps or follows without a gap counts as one stretch."""
    stretches: list[list[datetime]] = []  # [start, end] in time order
    for period in sorted(away, key=lambda t: t.starts_at):
        if stretches and period.starts_at <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], period.ends_at)
        else:
            stretches.append([period.starts_at, period.ends_at])
    zone = ZoneInfo(tz_name)
    return frozenset(end.astimezone(zone).date() for start, end in stretches
                     if end - start >= timedelta(days=1))


def load_skip_reason(agent: AgentInfo, loads: Loads, local: datetime | None = None
                     ) -> str | None:
    """Why the agent's load keeps a lead from them: their caps, and on their first day back
    from time off (``local``: the day) the gradual return's limit."""
    if agent.max_open_leads is not None:
        held = loads.open_leads.get(agent.id, 0)
        if held >= agent.max_open_leads:
            return f"{AT_CAP} {held} of {agent.max_open_leads} open leads"
    if agent.max_leads_per_day is not None:
        today = loads.leads_today.get(agent.id, 0)
        if today >= agent.max_leads_per_day:
            return f"{AT_DAILY_CAP} {today} of {agent.max_leads_per_day} leads today"
    back_limit = agent.back_day_limit(local.date()) if local is not None else None
    if back_limit is not None:
        today = loads.leads_today.get(agent.id, 0)
        if today >= back_limit:
            return f"{GRADUAL_RETURN} {today} of {back_limit} leads on their first day back"
    return None


def skip_code(why: str | None) -> SkipCode:
    """The code of a skip reason's words (None: eligible, but others had fewer open leads)."""
    if why is None:
        return SkipCode.MORE_OPEN_LEADS
    return next((code for words, code in _SKIP_CODES if why.startswith(words)),
                SkipCode.INACTIVE)


#: Skips that are no missed turn: their own earlier pass on the lead (counted from the offer),
#: and a member with no leads per round (entitled to none).
NOT_A_MISSED_TURN = frozenset({SkipCode.ALREADY_HAD_IT, SkipCode.NO_LEADS_PER_ROUND})


def skipped_turns(
    members: Sequence[Member],
    candidates: AbstractSet[int],
    cursor: Cursor,
    pick: Pick,
    whys: dict[int, str | None],
    agents: Mapping[int, AgentInfo],
) -> tuple[SkippedTurn, ...]:
    """The turns a rotation's pick passed over, each with its reason.

    Besides the members the rotation stepped past, a member whose turn was under way (fewer
    leads than their leads per round) and who cannot take this one loses the rest of it.
    """
    passed: list[int] = []
    current = next((m for m in members if m.agent_id == cursor.agent_id), None)
    if (current is not None and cursor.given < current.leads_per_round
            and current.agent_id not in candidates):
        passed.append(current.agent_id)
    passed.extend(a for a in pick.skipped if a not in passed)
    turns = []
    for agent_id in passed:
        code = skip_code(whys.get(agent_id))
        if code in NOT_A_MISSED_TURN:
            continue
        agent = agents.get(agent_id)
        limit = None
        if agent is not None and code == SkipCode.AT_CAP:
            limit = agent.max_open_leads
        elif agent is not None and code == SkipCode.AT_DAILY_CAP:
            limit = agent.max_leads_per_day
        elif agent is not None and code == SkipCode.GRADUAL_RETURN:
            limit = agent.first_day_back_leads
        turns.append(SkippedTurn(agent_id, code, limit))
    return tuple(turns)


def skip_reason(
    agent: AgentInfo | None,
    member: Member,
    selection: str,
    lead: LeadFacts,
    local: datetime,
    *,
    kind: str,
    loads: Loads,
    excluded: AbstractSet[int] = frozenset(),
) -> str | None:
    """Why a member cannot take this lead (None: they can); caps count for agents only."""
    return skip_reason_after(static_skip_reason(agent, member, selection, lead, local),
                             agent, member, kind=kind, loads=loads, excluded=excluded,
                             local=local)


def skip_reason_after(static_why: str | None, agent: AgentInfo | None, member: Member, *,
                      kind: str, loads: Loads, excluded: AbstractSet[int],
                      local: datetime) -> str | None:
    """``skip_reason`` from the member's static reason: this lead's earlier agents, then the
    loads (and, on the day ``local`` falls on, the gradual return's limit)."""
    if static_why is not None:
        return static_why
    if member.agent_id in excluded:
        return ALREADY_HAD_IT
    if agent is not None and kind == AGENT:
        return load_skip_reason(agent, loads, local)
    return None


#: Selections whose condition reads the lead or its moment: their static reasons are the
#: lead's own, never worked out ahead.
LEAD_DEPENDENT = frozenset({Selection.ON_DUTY, Selection.TERRITORY, Selection.SPECIALTY})


class MemberWalk:
    """One member as every lead's walk of the roster finds them before the lead's own facts:
    the agent, the static reason (``static_skip_reason``), the place a person reads, and the
    trace steps made so far, one per reason (shared by the traces: a step is never changed)."""

    __slots__ = ("agent", "member", "place", "static_why", "_steps", "_kind", "_roster")

    def __init__(self, member: Member, agent: AgentInfo | None, static_why: str | None,
                 place: int, kind: str, roster: str) -> None:
        self.member, self.agent, self.static_why, self.place = member, agent, static_why, place
        self._kind, self._roster = kind, roster
        self._steps: dict[str | None, TraceStep] = {}

    def step(self, why: str | None) -> TraceStep:
        """The member's trace step for this reason (None: eligible)."""
        made = self._steps.get(why)
        if made is None:
            made = self._steps[why] = self._make_step(why)
        return made

    def _make_step(self, why: str | None) -> TraceStep:
        member, agent = self.member, self.agent
        if agent is None:  # an agent the configuration does not know: said in words
            return step(self._kind, f"agent #{member.agent_id} (position {self.place}, "
                        f"{member.leads_per_round} per round): skipped, {why}",
                        agent=None, eligible=False, why=why, roster=self._roster)
        return member_step(self._kind, agent=agent.email, name=agent.name,
                           position=member.position, place=self.place,
                           per_round=member.leads_per_round, why=why, roster=self._roster)


class RosterWalk:
    """A roster as every lead's walk finds it before the lead's own history and the loads:
    its members (``MemberWalk``), and what the walk gives when no member had the lead and no
    cap counts (each member's reason, the eligible, the trace steps). A lead's walk copies
    that and looks again only at the members who had the lead or have caps (``for_lead``)."""

    def __init__(self, entries: tuple[MemberWalk, ...], kind: str) -> None:
        self.entries = entries
        self.places = {e.member.agent_id: e.place for e in entries}
        self.whys = {e.member.agent_id: e.static_why for e in entries}
        self.eligible = frozenset(e.member.agent_id for e in entries if e.static_why is None)
        self.steps = tuple(e.step(e.static_why) for e in entries)
        self.capped = tuple(i for i, e in enumerate(entries) if e.static_why is None
                            and kind == AGENT and e.agent is not None and e.agent.has_caps)
        self.index_of: dict[int, list[int]] = {}
        for index, entry in enumerate(entries):
            self.index_of.setdefault(entry.member.agent_id, []).append(index)
        self.kind = kind

    def for_lead(self, loads: Loads, excluded: AbstractSet[int], local: datetime
                 ) -> tuple[dict[int, str | None], set[int], list[TraceStep]]:
        """Each member's reason (None: eligible), the eligible and the trace steps for a
        lead that these agents had already (``excluded``), under these loads; the same as
        ``skip_reason`` for each member in turn."""
        whys, eligible, steps = dict(self.whys), set(self.eligible), list(self.steps)
        again = set(self.capped)
        for agent_id in excluded:
            again.update(self.index_of.get(agent_id, ()))
        for index in sorted(again):
            entry = self.entries[index]
            agent_id = entry.member.agent_id
            why = skip_reason_after(entry.static_why, entry.agent, entry.member,
                                    kind=self.kind, loads=loads, excluded=excluded,
                                    local=local)
            whys[agent_id] = why
            if why is None:
                eligible.add(agent_id)
            else:
                eligible.discard(agent_id)
            steps[index] = entry.step(why)
        return whys, eligible, steps


def roster_walk(config: RoutingConfig, roster: RosterInfo, selection: str, kind: str,
                lead: LeadFacts, local: datetime) -> RosterWalk:
    """The roster's walk before this lead's history and the loads (``RosterWalk``).

    For a selection that reads nothing of the lead (rotation, least loaded, first in roster)
    this is the same for every lead, so it is worked out once per configuration
    (``RoutingConfig.walks``): the clock walks the same roster for thousands of leads in a row.
    A roster with someone's time off in the configuration is walked anew for each lead: being
    away depends on the moment.
    """
    key = (roster.id, selection, kind)
    known = config.walks.get(key)
    if known is not None and known[0] is roster:
        reused: RosterWalk = known[1]
        return reused
    reusable = selection not in LEAD_DEPENDENT and not any(
        (agent := config.agents.get(member.agent_id)) is not None and agent.away
        for member in roster.members)
    walk = RosterWalk(tuple(
        MemberWalk(member, config.agents.get(member.agent_id),
                   static_skip_reason(config.agents.get(member.agent_id), member, selection,
                                      lead, local),
                   place, kind, roster.name)
        for place, member in enumerate(roster.members, start=1)), kind)
    if reusable:
        config.walks[key] = (roster, walk)
    return walk


def agents_needing_loads(config: RoutingConfig, rules: Sequence[RuleInfo]) -> set[int]:
    """Agents whose open / today counts matter for these rules (caps, least-loaded)."""
    ids: set[int] = set()
    for rule in rules:
        roster = config.rosters.get(rule.roster_id)
        for member in roster.members if roster else ():
            agent = config.agents.get(member.agent_id)
            if agent and (agent.has_caps or rule.selection == Selection.LEAST_LOADED):
                ids.add(agent.id)
    return ids


# --- The next pick ----------------------------------------------------------------------------


def rotate(
    members: Sequence[Member], eligible: AbstractSet[int], cursor: Cursor
) -> tuple[Member | None, Cursor, list[int]]:
    """Weighted round robin: the next member, the new cursor, and whose turns were skipped.

    A member gets ``leads_per_round`` consecutive leads, then the turn passes in position
    order. An ineligible member's turn is skipped with no catch-up. A cursor whose member left
    the roster goes on from the next position; a new member joins where their position is.
    """
    if not members:
        return None, cursor, []
    # The cursor's member, found by a scan that stops there (no index of the whole roster
    # built for each lead: the clock picks for thousands of leads in a row).
    at = next((i for i, m in enumerate(members) if m.agent_id == cursor.agent_id), None)
    if at is not None:
        current = members[at]
        if cursor.given < current.leads_per_round and current.agent_id in eligible:
            return current, Cursor(current.agent_id, current.position, cursor.given + 1), []
        start = at + 1
    else:
        start = next((i for i, m in enumerate(members) if m.position > cursor.position), 0)
    skipped: list[int] = []
    for offset in range(len(members)):
        member = members[(start + offset) % len(members)]
        if member.leads_per_round > 0 and member.agent_id in eligible:
            return member, Cursor(member.agent_id, member.position, 1), skipped
        skipped.append(member.agent_id)
    return None, cursor, skipped


@dataclass(frozen=True)
class Pick:
    """The member a selection picks among the eligible, and the cursor after the pick."""

    member: Member | None  # None: nobody eligible
    cursor: Cursor  # unchanged for first in roster, and when nobody is picked
    skipped: tuple[int, ...] = ()  # whose turns the rotation skipped
    fewest: int | None = None  # least loaded: the fewest open leads among the eligible
    tied: frozenset[int] = frozenset()  # least loaded: who has that few (rotation among them)


def next_pick(
    members: Sequence[Member],
    eligible: AbstractSet[int],
    selection: str,
    cursor: Cursor,
    loads: Loads,
) -> Pick:
    """Who of the eligible members gets the next lead by the selection (members in order).

    First in roster: the first eligible position, the cursor untouched. Least loaded: the
    rotation among those with the fewest open leads. Any other selection: the rotation (the
    selection's own condition, e.g. on duty, is already in who is eligible).
    """
    if selection == Selection.FIRST_IN_ROSTER:
        return Pick(next((m for m in members if m.agent_id in eligible), None), cursor)
    fewest: int | None = None
    tied: frozenset[int] = frozenset()
    candidates = eligible
    if selection == Selection.LEAST_LOADED and eligible:
        fewest = min(loads.open_leads.get(a, 0) for a in eligible)
        tied = frozenset(a for a in eligible if loads.open_leads.get(a, 0) == fewest)
        candidates = tied
    chosen, after, skipped = rotate(members, candidates, cursor)
    return Pick(chosen, after, tuple(skipped), fewest, tied)


def pick_member(
    config: RoutingConfig,
    rule: RuleInfo,
    roster_id: int | None,
    selection: str,
    kind: str,
    lead: LeadFacts,
    local: datetime,
    loads: Loads,
    cursor: Cursor,
    trace: list[TraceStep],
    excluded: AbstractSet[int] = frozenset(),
) -> tuple[AgentInfo | None, Cursor, list[int], tuple[SkippedTurn, ...]]:
    """Choose one member of the roster by the selection, tracing every member considered.

    Also returns every eligible member in position order (first to claim offers them all),
    and the turns the rotation passed over (none for first in roster).
    """
    roster = config.rosters.get(roster_id) if roster_id else None
    if roster is None or not roster.members:
        trace.append(step(kind, "Roster is empty", rule=rule.name))
        return None, cursor, [], ()
    walk = roster_walk(config, roster, selection, kind, lead, local)
    whys, eligible, steps = walk.for_lead(loads, excluded, local)
    places = walk.places
    trace.extend(steps)
    in_order = [m.agent_id for m in roster.members if m.agent_id in eligible]
    if not eligible:
        return None, cursor, [], ()
    pick = next_pick(roster.members, eligible, selection, cursor, loads)
    chosen = pick.member
    assert chosen is not None  # eligible is not empty
    agent = config.agents[chosen.agent_id]
    if selection == Selection.FIRST_IN_ROSTER:
        trace.append(
            step(
                Stage.SELECTION,
                f"First in roster: {agent.name} (position {places[chosen.agent_id]})",
                selection=selection,
            )
        )
        return agent, pick.cursor, in_order, ()
    if selection == Selection.LEAST_LOADED:
        names = ", ".join(sorted(config.agents[a].name for a in pick.tied))
        trace.append(
            step(Stage.SELECTION, f"Fewest open leads ({pick.fewest}): {names}",
                 selection=selection)
        )
    skipped_names = [config.agents[a].name for a in pick.skipped if a in config.agents]
    text = (
        f"Rotation ({selection.replace('_', ' ')}): {agent.name}'s turn, position "
        f"{places[chosen.agent_id]}, lead {pick.cursor.given} of {chosen.leads_per_round} this turn"
    )
    if skipped_names:
        text += f"; turns skipped: {', '.join(skipped_names)}"
    trace.append(
        step(
            Stage.ROTATION,
            text,
            selection=selection,
            agent=agent.email,
            position=chosen.position,
            turn_lead=pick.cursor.given,
            skipped=skipped_names,
        )
    )
    candidates = pick.tied if selection == Selection.LEAST_LOADED else eligible
    missed = skipped_turns(roster.members, candidates, cursor, pick, whys, config.agents)
    return agent, pick.cursor, in_order, missed


def room_for(agent: AgentInfo, loads: Loads, day: date, more: int) -> bool:
    """Whether ``more`` leads yet would keep the agent within every cap (open leads, leads
    today, the first day back's limit on ``day``): far enough from them that routers need not
    wait for each other to count exactly (``routing.cap_locks``)."""
    limits = [(agent.max_open_leads, loads.open_leads.get(agent.id, 0)),
              (agent.max_leads_per_day, loads.leads_today.get(agent.id, 0)),
              (agent.back_day_limit(day), loads.leads_today.get(agent.id, 0))]
    return all(held + more <= limit for limit, held in limits if limit is not None)
