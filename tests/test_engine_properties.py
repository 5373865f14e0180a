"""Properties of the engine over generated leads and rules (hypothesis): the yes / no that
routes a lead and the explanation people read must never disagree, and the roster admin's
"who gets the next lead" must be who routing then picks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import (
    AGENT,
    TEXT_FIELDS,
    AgentInfo,
    Cursor,
    LeadFacts,
    Loads,
    Member,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    decide,
    evaluate_criteria,
    in_windows,
    preview_rotation,
    rule_matches,
    to_local,
)
from routing.windows import WeeklyWindow

TZ = "America/New_York"
MON_1000 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 10:00 in New York
PROPERTIES = settings(max_examples=200, deadline=None)

# A small vocabulary, so that generated leads and criteria often meet: case and spaces vary in
# the lead (the criteria are stored lower-cased and trimmed, as ``selectors.rule_info`` does).
WORDS = ("zillow", "condo", "luxury", "60601", "")
lead_words = st.sampled_from(WORDS).flatmap(
    lambda w: st.sampled_from((w, w.upper(), f" {w} ", w.title()))
)
wanted_words = st.lists(st.sampled_from(WORDS[:-1]), max_size=3, unique=True).map(tuple)
prices = st.none() | st.decimals(min_value=0, max_value=2_000_000, places=0).map(Decimal)
bounds = st.none() | st.sampled_from(
    [Decimal(0), Decimal(250_000), Decimal(500_000), Decimal("999999.5"), Decimal(2_000_000)]
)
scores = st.none() | st.integers(min_value=0, max_value=100)
score_bounds = st.none() | st.sampled_from([0, 1, 50, 99, 100])
windows = st.lists(
    st.sampled_from([
        WeeklyWindow(frozenset(range(5)), time(9), time(17)),
        WeeklyWindow(frozenset({5, 6}), time(10), time(14)),
        WeeklyWindow(frozenset(range(7)), time(22), time(6)),
    ]),
    max_size=2,
).map(tuple)
moments = st.integers(min_value=0, max_value=7 * 24 * 4 - 1).map(
    lambda quarter: MON_1000 + timedelta(minutes=15 * quarter)
)


@st.composite
def leads(draw: st.DrawFn) -> LeadFacts:
    text = {name: draw(lead_words) for name in TEXT_FIELDS if name != "tag"}
    tags = tuple(draw(st.lists(lead_words, max_size=3)))
    return LeadFacts(received_at=draw(moments), tags=tags, price=draw(prices),
                     score=draw(scores), **text)


@st.composite
def rules(draw: st.DrawFn) -> RuleInfo:
    names = draw(st.lists(st.sampled_from(TEXT_FIELDS), max_size=4, unique=True))
    return RuleInfo(
        id=1, name="Generated", roster_id=1,
        text_criteria={name: draw(wanted_words) for name in names},  # any order, some empty
        price_min=draw(bounds), price_max=draw(bounds), score_min=draw(score_bounds),
        windows=draw(windows),
    )


@PROPERTIES
@given(rule=rules(), lead=leads())
def test_rule_matches_agrees_with_the_criteria_explained(rule: RuleInfo, lead: LeadFacts):
    local = to_local(lead.received_at, TZ)
    explained = evaluate_criteria(rule, lead)
    assert rule_matches(rule, lead, local) == (
        all(c["matched"] for c in explained) and in_windows(rule, local)
    )


@PROPERTIES
@given(rule=rules(), lead=leads())
def test_each_criterion_explained_is_the_matchers_answer_for_it_alone(
    rule: RuleInfo, lead: LeadFacts
):
    local = to_local(lead.received_at, TZ)
    explained = {c["field"]: c["matched"] for c in evaluate_criteria(rule, lead)}
    for name, wanted in rule.text_criteria.items():
        alone = RuleInfo(id=1, name="One", roster_id=1, text_criteria={name: wanted})
        if wanted:
            assert explained[name] == rule_matches(alone, lead, local)
        else:
            assert name not in explained  # an empty criterion type is no criterion
    for name in ("price_min", "price_max", "score_min"):
        bound = getattr(rule, name)
        if bound is None:
            assert name not in explained
            continue
        alone = RuleInfo(id=1, name="One", roster_id=1, **{name: bound})
        assert explained[name] == rule_matches(alone, lead, local)
        value = lead.score if name == "score_min" else lead.price
        if value is None:
            assert explained[name] is False  # a missing value never meets a bound


# --- The roster admin's preview is routing's pick ---------------------------------------------

AGENT_IDS = (1, 2, 3, 4)
SHIFT = WeeklyWindow(frozenset(range(5)), time(8), time(12))


@st.composite
def rosters(draw: st.DrawFn) -> tuple[RoutingConfig, RuleInfo, Cursor, Loads]:
    ids = draw(st.lists(st.sampled_from(AGENT_IDS), min_size=1, max_size=4, unique=True))
    members = tuple(Member(a, position, draw(st.integers(0, 3)))
                    for position, a in enumerate(ids, start=1))
    agents = {
        a: AgentInfo(a, f"agent{a}@example.com", f"Agent {a}",
                     accepting_leads=draw(st.booleans()),
                     max_open_leads=draw(st.none() | st.integers(0, 3)),
                     shifts=(SHIFT,) if draw(st.booleans()) else ())
        for a in AGENT_IDS
    }
    selection = draw(st.sampled_from(["rotation", "first_in_roster", "on_duty", "least_loaded"]))
    rule = RuleInfo(id=1, name="Generated", roster_id=1, is_catch_all=True, selection=selection)
    config = RoutingConfig(timezone=TZ, rules=(rule,), rosters={1: RosterInfo(1, "R", members)},
                           agents=agents)
    turn = draw(st.none() | st.sampled_from(AGENT_IDS))
    cursor = Cursor() if turn is None else Cursor(turn, AGENT_IDS.index(turn) + 1,
                                                   draw(st.integers(0, 3)))
    loads = Loads(open_leads={a: draw(st.integers(0, 4)) for a in AGENT_IDS})
    return config, rule, cursor, loads


@PROPERTIES
@given(setup=rosters(), at=moments)
def test_rotation_preview_names_who_routing_then_picks(setup, at: datetime):
    config, rule, cursor, loads = setup
    local = to_local(at, TZ)
    members = config.rosters[1].members
    preview = preview_rotation(config, rule, AGENT, members, cursor, loads, local)
    decision = decide(config, LeadFacts(received_at=at), cursors={(1, AGENT): cursor},
                      loads=loads)
    if preview.chosen is None:
        assert decision.outcome == "unassigned"
        return
    assert decision.agent_id == preview.chosen.agent_id
    assert decision.cursors.get((1, AGENT), cursor) == preview.cursor
    assert decision.agent_id in preview.eligible
