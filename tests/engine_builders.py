"""Builders for the engine's tests: agents by letter, rosters, rules, configurations and leads.

Every agent of ``NAMES`` exists (active, accepting, no caps) unless a test says otherwise; arrival
moments are UTC with the New York time they stand for.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from routing.engine import (
    TEXT_FIELDS,
    AgentInfo,
    LeadFacts,
    Member,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    decide,
)
from routing.windows import WeeklyWindow

TZ = "America/New_York"

# Arrival moments, in UTC, with the brokerage (New York, EST in November) time they stand for.
FRI_2200 = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # Fri 2026-11-20 22:00
SAT_1000 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # Sat 2026-11-21 10:00
SUN_2100 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Sun 2026-11-22 21:00 (Monday in UTC)
MON_1000 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 2026-11-23 10:00
MON_1659 = datetime(2026, 11, 23, 21, 59, tzinfo=UTC)  # Mon 2026-11-23 16:59
MON_1700 = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # Mon 2026-11-23 17:00
MON_2300 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # Mon 2026-11-23 23:00 (Tuesday in UTC)

WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
EVERY_DAY = frozenset(range(7))
NINE_TO_FIVE = WeeklyWindow(WEEKDAYS, time(9), time(17))

NAMES = {
    "A": "Alice",
    "B": "Bob",
    "C": "Carol",
    "D": "Dave",
    "E": "Erin",
    "L": "Lena",
    "M": "Max",
}
ID = {letter: number for number, letter in enumerate(NAMES, start=1)}
LETTER = {number: letter for letter, number in ID.items()}

CATCH_ALL_ID = 99
MAIN_ROSTER, CATCH_ROSTER, LENDERS = 1, 2, 3


# --- Builders -----------------------------------------------------------------------------------


def email(letter: str) -> str:
    return f"{NAMES[letter].lower()}@brokerage.test"


def agent(letter: str, **fields) -> AgentInfo:
    role = "lender" if letter in "LM" else "agent"
    return AgentInfo(ID[letter], email(letter), NAMES[letter], role=role, **fields)


def member(letter: str, position: int, per_round: int = 1) -> Member:
    return Member(ID[letter], position, per_round)


def lineup(*entries: str) -> tuple[Member, ...]:
    """``lineup("A:2", "B", "C")``: members at positions 1, 2, 3 with leads per round."""
    found = []
    for position, entry in enumerate(entries, start=1):
        letter, _, per_round = entry.partition(":")
        found.append(member(letter, position, int(per_round or 1)))
    return tuple(found)


def roster(roster_id: int, *members: Member | str, name: str = "") -> RosterInfo:
    if members and isinstance(members[0], str):
        members = lineup(*members)
    return RosterInfo(roster_id, name or f"Roster {roster_id}", tuple(members))


def rule(rule_id: int, roster_id: int = MAIN_ROSTER, **fields) -> RuleInfo:
    text = {k: tuple(v.lower() for v in fields.pop(k)) for k in list(fields) if k in TEXT}
    fields.setdefault("name", f"Rule {rule_id}")
    return RuleInfo(id=rule_id, roster_id=roster_id, text_criteria=text, **fields)


TEXT = frozenset(TEXT_FIELDS)


def catch_all(roster_id: int = CATCH_ROSTER, **fields) -> RuleInfo:
    fields.setdefault("name", "Everything else")
    return RuleInfo(id=CATCH_ALL_ID, roster_id=roster_id, is_catch_all=True, **fields)


def config(
    rules: tuple[RuleInfo, ...] | list[RuleInfo],
    rosters: tuple[RosterInfo, ...] | list[RosterInfo],
    agents: tuple[AgentInfo, ...] | list[AgentInfo] = (),
    **fields,
) -> RoutingConfig:
    """Every agent of NAMES exists (active, accepting, no caps) unless given otherwise."""
    everyone = {a.id: a for a in (agent(letter) for letter in NAMES)}
    everyone.update({a.id: a for a in agents})
    return RoutingConfig(
        timezone=TZ,
        rules=tuple(rules),
        rosters={r.id: r for r in rosters},
        agents=everyone,
        **fields,
    )


def simple_config(*entries: str, selection: str = "rotation", **fields) -> RoutingConfig:
    """One rotation rule over ``entries`` and a catch-all with Erin alone."""
    agents = fields.pop("agents", ())
    return config(
        [rule(1, selection=selection, name="Main", **fields), catch_all()],
        [roster(MAIN_ROSTER, *entries, name="Main team"), roster(CATCH_ROSTER, "E")],
        agents,
    )


def lead(at: datetime = MON_1000, **fields) -> LeadFacts:
    return LeadFacts(received_at=at, **fields)


def who(decision) -> str | None:
    return LETTER.get(decision.agent_id) if decision.agent_id else None


def route_many(cfg, leads, cursors=None, loads=None):
    """Route leads one after another, threading the returned cursors into the next call."""
    cursors = dict(cursors or {})
    decisions = []
    for one in leads:
        decision = decide(cfg, one, cursors=cursors, loads=loads)
        cursors.update(decision.cursors)
        decisions.append(decision)
    return decisions, cursors


def sequence(cfg, count, at=MON_1000, cursors=None, loads=None, **lead_fields):
    decisions, cursors = route_many(cfg, [lead(at, **lead_fields)] * count, cursors, loads)
    return "".join(who(d) or "-" for d in decisions), cursors


def steps(decision, stage: str) -> list[dict]:
    return [s for s in decision.trace if s["stage"] == stage]


def member_steps(decision) -> dict[str, dict]:
    """The agent-roster entries of the trace, by agent letter (the last one per agent)."""
    by_email = {email(letter): letter for letter in NAMES}
    return {by_email[s["agent"]]: s for s in steps(decision, "agent")}


def two_rules(first: RuleInfo, second: RuleInfo | None = None) -> RoutingConfig:
    """``first`` staffed by Alice, ``second`` (when given) by Bob, the catch-all by Erin."""
    rules = [first] + ([second] if second else []) + [catch_all()]
    rosters = [roster(first.roster_id, "A"), roster(CATCH_ROSTER, "E")]
    if second:
        rosters.append(roster(second.roster_id, "B"))
    return config(rules, rosters)
