"""Which rule takes a lead: criteria, hours, top-down order, and the rules the service must
consider (``routing.engine.matching``)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from routing.engine import (
    LeadFacts,
    Loads,
    RuleInfo,
    agents_needing_loads,
    candidate_rules,
    decide,
    evaluate_criteria,
)
from routing.windows import WeeklyWindow
from tests.engine_builders import (
    CATCH_ALL_ID,
    CATCH_ROSTER,
    EVERY_DAY,
    FRI_2200,
    ID,
    MAIN_ROSTER,
    MON_1000,
    MON_1659,
    MON_1700,
    MON_2300,
    NINE_TO_FIVE,
    SAT_1000,
    SUN_2100,
    WEEKEND,
    agent,
    catch_all,
    config,
    lead,
    roster,
    rule,
    steps,
    two_rules,
    who,
)

# --- 2. Rules and criteria ----------------------------------------------------------------------


def matched_rule(first: RuleInfo, facts: LeadFacts) -> int | None:
    return decide(two_rules(first), facts).rule_id


def test_rules_are_evaluated_top_down_and_the_first_match_wins():
    cfg = two_rules(rule(1, city=["Boston"]), rule(2, 5, city=["Boston"]))
    decision = decide(cfg, lead(city="Boston"))
    assert (decision.rule_id, who(decision)) == (1, "A")
    assert [s["rule"] for s in steps(decision, "rule")] == ["Rule 1"]

    swapped = config(
        [rule(2, 5, city=["Boston"]), rule(1, city=["Boston"]), catch_all()],
        [roster(MAIN_ROSTER, "A"), roster(5, "B"), roster(CATCH_ROSTER, "E")],
    )
    assert decide(swapped, lead(city="Boston")).rule_id == 2


def test_lead_matching_no_rule_goes_to_the_catch_all():
    decision = decide(two_rules(rule(1, city=["Boston"])), lead(city="Worcester"))
    assert (decision.rule_id, who(decision), decision.rule_name) == (
        CATCH_ALL_ID,
        "E",
        "Everything else",
    )
    assert [s["matched"] for s in steps(decision, "rule")] == [False, True]


@pytest.mark.parametrize(
    ("name", "wanted", "value"),
    [
        ("source", "Zillow", " zillow "),
        ("lead_type", "Buyer", "BUYER"),
        ("city", "Boston", "boston"),
        ("county", "Suffolk", "SUFFOLK"),
        ("neighborhood", "Back Bay", "back bay"),
        ("zip_code", "02134", "02134"),
        ("mls_region", "MLS-PIN", "mls-pin"),
        ("property_type", "Condo", "CONDO"),
        ("site", "Brokerage.com", "brokerage.COM"),
    ],
)
def test_each_text_criterion_matches_case_insensitively(name, wanted, value):
    criterion = rule(1, **{name: [wanted]})
    assert matched_rule(criterion, lead(**{name: value})) == 1
    assert matched_rule(criterion, lead(**{name: "something else"})) == CATCH_ALL_ID
    assert matched_rule(criterion, lead()) == CATCH_ALL_ID  # lead has no value


def test_tag_criterion_matches_any_of_the_lead_tags():
    criterion = rule(1, tag=["Luxury"])
    assert matched_rule(criterion, lead(tags=("first-time", "LUXURY"))) == 1
    assert matched_rule(criterion, lead(tags=("first-time",))) == CATCH_ALL_ID
    assert matched_rule(criterion, lead(tags=())) == CATCH_ALL_ID


def test_values_of_one_criterion_type_are_or():
    criterion = rule(1, city=["Boston", "Cambridge"], tag=["vip", "luxury"])
    assert matched_rule(criterion, lead(city="Cambridge", tags=("luxury",))) == 1
    assert matched_rule(criterion, lead(city="Boston", tags=("vip", "x"))) == 1
    assert matched_rule(criterion, lead(city="Somerville", tags=("vip",))) == CATCH_ALL_ID


def test_criterion_types_are_and():
    criterion = rule(1, source=["Zillow"], city=["Boston"], price_min=Decimal("500000"))
    full = dict(source="zillow", city="Boston", price=Decimal("600000"))
    assert matched_rule(criterion, lead(**full)) == 1
    for spoil in (dict(source="Realtor"), dict(city="Quincy"), dict(price=Decimal("499999"))):
        assert matched_rule(criterion, lead(**{**full, **spoil})) == CATCH_ALL_ID, spoil


def test_price_bounds_are_inclusive():
    band = rule(1, price_min=Decimal("300000"), price_max=Decimal("500000"))
    for price, expected in [
        ("299999.99", CATCH_ALL_ID),
        ("300000", 1),
        ("400000", 1),
        ("500000", 1),
        ("500000.01", CATCH_ALL_ID),
    ]:
        assert matched_rule(band, lead(price=Decimal(price))) == expected, price


@pytest.mark.parametrize(
    "bounds",
    [
        dict(price_min=Decimal("1")),
        dict(price_max=Decimal("1000000")),
        dict(price_min=Decimal("1"), price_max=Decimal("1000000")),
    ],
)
def test_lead_without_price_does_not_match_a_price_bound(bounds):
    criterion = rule(1, **bounds)
    assert matched_rule(criterion, lead(price=None)) == CATCH_ALL_ID
    results = evaluate_criteria(criterion, lead(price=None))
    assert results and all(r["matched"] is False and r["actual"] == "(none)" for r in results)


def test_score_min_is_inclusive_and_needs_a_score():
    criterion = rule(1, score_min=70)
    assert matched_rule(criterion, lead(score=70)) == 1
    assert matched_rule(criterion, lead(score=95)) == 1
    assert matched_rule(criterion, lead(score=69)) == CATCH_ALL_ID
    assert matched_rule(criterion, lead(score=None)) == CATCH_ALL_ID


def test_evaluate_criteria_reports_each_type_with_the_leads_value():
    criterion = rule(
        1,
        city=["Boston", "Cambridge"],
        tag=["vip"],
        price_min=Decimal("250000"),
        price_max=Decimal("750000"),
        score_min=50,
    )
    facts = lead(city="Boston", tags=("new", "hot"), price=Decimal("800000"), score=60)
    results = evaluate_criteria(criterion, facts)
    assert [(r["field"], r["matched"], r["actual"]) for r in results] == [
        ("tag", False, "new, hot"),
        ("city", True, "Boston"),
        ("price_min", True, "800,000"),
        ("price_max", False, "800,000"),
        ("score_min", True, "60"),
    ]
    assert results[1]["expected"] == ["boston", "cambridge"]
    assert results[1]["text"] == "City is boston or cambridge: lead has Boston -> matched"
    assert results[3]["text"] == "Price at most 750,000: lead has 800,000 -> not matched"


def test_rule_without_criteria_matches_everything():
    assert evaluate_criteria(rule(1), lead()) == []
    assert matched_rule(rule(1), lead()) == 1


def test_rule_with_windows_matches_only_inside_them():
    office = rule(1, windows=(NINE_TO_FIVE,))
    assert matched_rule(office, lead(MON_1000)) == 1
    assert matched_rule(office, lead(MON_1659)) == 1
    assert matched_rule(office, lead(MON_1700)) == CATCH_ALL_ID
    assert matched_rule(office, lead(SAT_1000)) == CATCH_ALL_ID
    assert matched_rule(office, lead(MON_2300)) == CATCH_ALL_ID


def test_rule_windows_use_the_brokerage_time_zone():
    # 02:00 UTC Monday is Sunday 21:00 in New York.
    sunday_evening = rule(1, windows=(WeeklyWindow(frozenset({6}), time(20), time(23, 59)),))
    assert matched_rule(sunday_evening, lead(SUN_2100)) == 1
    monday = rule(1, windows=(WeeklyWindow(frozenset({0}), time(0), time(23, 59)),))
    assert matched_rule(monday, lead(SUN_2100)) == CATCH_ALL_ID


def test_rule_with_several_windows_matches_inside_any():
    nights = WeeklyWindow(EVERY_DAY, time(22), time(6))
    weekend = WeeklyWindow(WEEKEND, time(0), time(23, 59))
    after_hours = rule(1, windows=(nights, weekend))
    assert matched_rule(after_hours, lead(FRI_2200)) == 1
    assert matched_rule(after_hours, lead(SAT_1000)) == 1
    assert matched_rule(after_hours, lead(MON_2300)) == 1
    assert matched_rule(after_hours, lead(MON_1000)) == CATCH_ALL_ID


def test_window_and_criteria_must_both_match():
    office = rule(1, city=["Boston"], windows=(NINE_TO_FIVE,))
    assert matched_rule(office, lead(MON_1000, city="Boston")) == 1
    assert matched_rule(office, lead(SAT_1000, city="Boston")) == CATCH_ALL_ID
    assert matched_rule(office, lead(MON_1000, city="Salem")) == CATCH_ALL_ID


def test_window_result_is_in_the_trace():
    decision = decide(two_rules(rule(1, windows=(NINE_TO_FIVE,))), lead(SAT_1000))
    first = steps(decision, "rule")[0]
    assert first["matched"] is False and first["window_matched"] is False
    assert "applies Mon-Fri 09:00-17:00: not now" in first["text"]
    assert "applies always: yes" in steps(decision, "rule")[1]["text"]


def test_inactive_rule_is_skipped_and_traced():
    decision = decide(two_rules(rule(1, is_active=False)), lead())
    assert decision.rule_id == CATCH_ALL_ID
    paused = steps(decision, "rule")[0]
    assert paused["matched"] is False and paused["active"] is False
    assert "paused, not evaluated" in paused["text"]


def test_catch_all_is_always_active():
    cfg = config(
        [rule(1, city=["Boston"]), catch_all(is_active=False)],
        [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E")],
    )
    decision = decide(cfg, lead(city="Salem"))
    assert (decision.rule_id, who(decision)) == (CATCH_ALL_ID, "E")


def test_assigned_decision_carries_the_rules_tags():
    cfg = two_rules(rule(1, add_tags=("zillow-flex", "priority")))
    decision = decide(cfg, lead())
    assert decision.add_tags == ("zillow-flex", "priority")
    assert decision.rule_name == "Rule 1"
    assert decision.summary == "Rule 'Rule 1' -> Alice"


# --- 7. candidate_rules -------------------------------------------------------------------------


def test_candidate_rules_stop_at_the_first_rule_surely_staffed():
    cfg = config(
        [
            rule(1, 11, city=["Boston"]),  # matches, only a capped agent: maybe not
            rule(2, 12, city=["Salem"]),  # does not match
            rule(3, 13, city=["Boston"], is_active=False),  # paused
            rule(4, 14, city=["Boston"]),  # matches, paused agent only: surely not
            rule(5, 15),  # matches, free agent: surely staffed
            rule(6, 16),  # never reached
            catch_all(),
        ],
        [
            roster(11, "A"),
            roster(12, "B"),
            roster(13, "B"),
            roster(14, "C"),
            roster(15, "D"),
            roster(16, "B"),
            roster(CATCH_ROSTER, "E"),
        ],
        [agent("A", max_open_leads=5), agent("C", accepting_leads=False)],
    )
    facts = lead(city="Boston")
    assert [r.id for r in candidate_rules(cfg, facts)] == [1, 4, 5]
    assert decide(cfg, facts).rule_id == 1
    capped = decide(cfg, facts, loads=Loads(open_leads={ID["A"]: 5}))
    assert capped.rule_id == 5


def test_candidate_rules_reach_the_catch_all_when_nothing_is_surely_staffed():
    cfg = config(
        [rule(1, city=["Boston"]), catch_all()],
        [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E")],
        [agent("A", max_leads_per_day=3), agent("E", max_leads_per_day=3)],
    )
    assert [r.id for r in candidate_rules(cfg, lead(city="Boston"))] == [1, CATCH_ALL_ID]
    assert [r.id for r in candidate_rules(cfg, lead(city="Salem"))] == [CATCH_ALL_ID]


def test_candidate_rules_respect_windows_shifts_and_territory():
    cfg = config(
        [
            rule(1, windows=(NINE_TO_FIVE,)),
            rule(2, 12, selection="on_duty"),
            rule(3, 13, selection="territory"),
            catch_all(),
        ],
        [roster(MAIN_ROSTER, "A"), roster(12, "B"), roster(13, "C"), roster(CATCH_ROSTER, "E")],
        [
            agent("B", shifts=(NINE_TO_FIVE,)),
            agent("C", zip_codes=frozenset({"02134"})),
        ],
    )
    assert [r.id for r in candidate_rules(cfg, lead(MON_1000))] == [1]
    assert [r.id for r in candidate_rules(cfg, lead(SAT_1000, zip_code="02134"))] == [2, 3]
    assert [r.id for r in candidate_rules(cfg, lead(SAT_1000))] == [2, 3, CATCH_ALL_ID]


def test_candidate_rules_agree_with_decide_on_matching():
    rules = [
        rule(1, city=["Boston", "Cambridge"], tag=["vip"]),
        rule(2, 12, price_min=Decimal("500000"), price_max=Decimal("900000")),
        rule(3, 13, score_min=50, source=["zillow"]),
        rule(4, 14, windows=(WeeklyWindow(WEEKEND, time(8), time(20)),)),
        catch_all(),
    ]
    rosters = [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E")]
    rosters += [roster(r, "B") for r in (12, 13, 14)]
    capped = [agent(x, max_open_leads=9) for x in "ABE"]
    cfg = config(rules, rosters, capped)
    facts_list = [
        lead(city="boston", tags=("VIP",)),
        lead(city="Cambridge", tags=("x",), price=Decimal("500000")),
        lead(price=Decimal("900000.50"), score=50, source="Zillow"),
        lead(price=Decimal("900000"), score=None, source="zillow"),
        lead(price=Decimal("499999.99"), score=51, source="Realtor"),
        lead(SAT_1000, score=49, source="zillow"),
        lead(SAT_1000, price=Decimal("700000")),
        lead(),
    ]
    everyone_full = Loads(open_leads={ID[x]: 9 for x in "ABE"})  # decide evaluates every rule
    for facts in facts_list:
        decision = decide(cfg, facts, loads=everyone_full)
        assert decision.outcome == "unassigned"
        matched = [s["rule_id"] for s in steps(decision, "rule") if s.get("matched")]
        assert [r.id for r in candidate_rules(cfg, facts)] == matched, facts


def test_agents_needing_loads_are_the_capped_and_least_loaded_members():
    cfg = config(
        [rule(1), rule(2, 12, selection="least_loaded"), catch_all()],
        [roster(MAIN_ROSTER, "A", "B"), roster(12, "C", "D"), roster(CATCH_ROSTER, "E")],
        [agent("A", max_open_leads=3), agent("E", max_leads_per_day=1)],
    )
    assert agents_needing_loads(cfg, cfg.rules) == {ID["A"], ID["C"], ID["D"], ID["E"]}
    assert agents_needing_loads(cfg, cfg.rules[:1]) == {ID["A"]}
