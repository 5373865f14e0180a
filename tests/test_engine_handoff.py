"""Hand-off decisions in the engine (``routing.engine.handoff``): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from routing.engine import (
    AGENT,
    AgentInfo,
    LeadFacts,
    Member,
    Outcome,
    Reason,
    RosterInfo,
    RoutingConfig,
)
from routing.engine.handoff import (
    HandoffPreview,
    TargetSpec,
    decide_handoff,
    handoff_summary,
    nobody_reasons,
    preview_of,
    target_rule,
    with_target,
)
from routing.windows import WeeklyWindow

TZ = "America/New_York"
WED_1000 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wed 10:00 in New York
ANN, BOB, CAROL, ISA = 1, 2, 3, 9
ROSTER = 7


def config(members=(ANN, BOB, CAROL), **agents: AgentInfo) -> RoutingConfig:
    people = {
        ANN: AgentInfo(ANN, "ann@example.com", "Ann", zip_codes=frozenset({"60601"}),
                       specialties=frozenset({"luxury"}), max_open_leads=2),
        BOB: AgentInfo(BOB, "bob@example.com", "Bob", zip_codes=frozenset({"60602"}),
                       specialties=frozenset({"condo"}),
                       shifts=(WeeklyWindow(frozenset(range(7)), time(8), time(12)),)),
        CAROL: AgentInfo(CAROL, "carol@example.com", "Carol", accepting_leads=False),
        ISA: AgentInfo(ISA, "isa@example.com", "Ivy", role="isa"),
    }
    people.update({int(k[1:]): v for k, v in agents.items()})
    roster = RosterInfo(ROSTER, "Closers", tuple(Member(a, i) for i, a in enumerate(members)))
    return RoutingConfig(timezone=TZ, rules=(), rosters={ROSTER: roster}, agents=people)


def facts(**fields) -> LeadFacts:
    return LeadFacts(received_at=WED_1000 - timedelta(days=3), **fields)


def spec(**fields) -> TargetSpec:
    return TargetSpec(**{"id": 4, "name": "Buyers", "roster_id": ROSTER, **fields})


def test_outcomes_are_the_engines_names():
    assigned = decide_handoff(config(), spec(), facts(), at=WED_1000)
    assert (assigned.outcome, assigned.reason) == (Outcome.ASSIGNED, Reason.HANDOFF)
    assert assigned.summary == "Handed off to Ann (target 'Buyers')"
    assert set(assigned.cursors) == {(-4, AGENT)}
    nobody = decide_handoff(config(members=()), spec(), facts(), at=WED_1000)
    assert nobody.outcome is Outcome.NOBODY
    assert nobody.summary == "Nobody is on the roster of 'Buyers'."


def test_target_rule_and_config():
    cfg, rule = with_target(config(), spec(delivery="claim", escalate_to_id=BOB))
    assert rule == target_rule(spec(delivery="claim", escalate_to_id=BOB))
    assert (rule.id, rule.name, rule.is_catch_all, rule.escalate_to_id) == (
        -4, "Hand-off: Buyers", True, BOB)
    assert cfg.rules == (rule,) and cfg.agents == config().agents


def test_nobody_reasons_name_each_member():
    decision = decide_handoff(config(members=(BOB, CAROL)), spec(selection="territory"),
                              facts(zip_code="60601"), at=WED_1000)
    headline, reasons = nobody_reasons(config(), spec(selection="territory"),
                                       facts(zip_code="60601"), decision.trace)
    assert headline == "Nobody on 'Buyers' covers the lead's zip code (60601)"
    assert reasons == ["Bob: outside territory (lead zip 60601)",
                       "Carol: paused (not accepting leads)"]


def test_summary_and_preview_of_an_offer():
    offered = decide_handoff(config(), spec(delivery="first_to_claim"), facts(), at=WED_1000)
    assert handoff_summary(config(), spec(delivery="first_to_claim"), offered) == (
        "Hand-off offered to Ann, Bob (target 'Buyers', first to claim)")
    shown = preview_of(config(), offered)
    assert isinstance(shown, HandoffPreview)
    assert shown.possible and [a.id for a in shown.agents] == [ANN, BOB]
    assert shown.delivery == "first_to_claim"
    assert shown.trace[0].startswith("Hand-off to target 'Buyers' (roster 'Closers'")
