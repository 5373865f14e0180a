"""The routing decision, rule by rule, over plain data: no database involved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from routing.engine import (
    AgentInfo,
    Cursor,
    ExistingLead,
    LeadFacts,
    Loads,
    Member,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    agents_needing_loads,
    candidate_rules,
    decide,
    evaluate_criteria,
    render_trace,
    rotate,
    special_routing,
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


TEXT = {
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
}


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


# --- Calendar -----------------------------------------------------------------------------------


def test_arrival_moments_are_the_local_times_the_tests_assume():
    from zoneinfo import ZoneInfo

    ny = ZoneInfo(TZ)
    expected = {
        FRI_2200: (4, "22:00"),
        SAT_1000: (5, "10:00"),
        SUN_2100: (6, "21:00"),
        MON_1000: (0, "10:00"),
        MON_1659: (0, "16:59"),
        MON_1700: (0, "17:00"),
        MON_2300: (0, "23:00"),
    }
    for moment, (weekday, clock) in expected.items():
        local = moment.astimezone(ny)
        assert (local.weekday(), f"{local:%H:%M}") == (weekday, clock)


def test_trace_shows_the_arrival_in_brokerage_time():
    decision = decide(simple_config("A"), lead(SAT_1000))
    (clock,) = steps(decision, "clock")
    assert clock["text"] == "Arrived Sat 2026-11-21 10:00 (America/New_York)"


# --- 1. Special routing -------------------------------------------------------------------------


def test_pre_assigned_lead_keeps_the_vendors_agent():
    cfg = simple_config("A", "B")
    decision = decide(cfg, lead(assigned_to=email("C")))
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", "pre_assigned", "C")
    assert decision.rule_id is None
    assert decision.cursors == {}
    assert steps(decision, "rule") == []  # no rule evaluated


def test_pre_assigned_email_is_matched_case_insensitively():
    cfg = simple_config("A")
    decision = decide(cfg, lead(assigned_to="  CAROL@Brokerage.TEST "))
    assert (decision.reason, who(decision)) == ("pre_assigned", "C")


def test_agent_email_stored_in_mixed_case_is_still_found():
    cfg = simple_config("A", agents=[replace(agent("C"), email="Carol@Brokerage.Test")])
    decision = decide(cfg, lead(assigned_to="carol@brokerage.test"))
    assert (decision.reason, who(decision)) == ("pre_assigned", "C")
    assert cfg.agent_by_email("CAROL@BROKERAGE.TEST").id == ID["C"]


def test_config_copies_do_not_share_their_email_lookup():
    cfg = simple_config("A")
    changed = replace(cfg, agents={**cfg.agents, ID["C"]: agent("C", is_active=False)})
    assert changed.agent_by_email(email("C")).is_active is False
    assert cfg.agent_by_email(email("C")).is_active is True
    without = replace(cfg, agents={ID["A"]: agent("A")})
    assert without.agent_by_email(email("C")) is None
    assert without.agent_emails == frozenset({email("A")})


def test_pre_assigned_to_a_paused_agent_or_one_at_cap_still_keeps_them():
    cfg = simple_config("A", agents=[agent("C", accepting_leads=False, max_open_leads=1)])
    decision = decide(cfg, lead(assigned_to=email("C")), loads=Loads(open_leads={ID["C"]: 5}))
    assert who(decision) == "C"
    applied = [s for s in steps(decision, "special") if s["applied"]]
    assert "paused" in applied[0]["text"]


def test_tracking_link_goes_to_the_links_agent():
    decision = decide(simple_config("A"), lead(tracking_agent=email("B")))
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", "tracking_link", "B")


def test_own_listing_goes_to_the_listing_agent_by_default():
    cfg = simple_config("A")
    assert cfg.listing_routing is True
    decision = decide(cfg, lead(listing_agent=email("D")))
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", "own_listing", "D")


def test_own_listing_is_routed_by_rules_when_listing_routing_is_off():
    cfg = replace(simple_config("A"), listing_routing=False)
    decision = decide(cfg, lead(listing_agent=email("D")))
    assert (decision.reason, who(decision), decision.rule_id) == ("rule", "A", 1)
    listing = next(s for s in steps(decision, "special") if s["check"] == "own_listing")
    assert listing["applied"] is False
    assert "switched off" in listing["text"]


def test_existing_lead_is_not_routed_again_and_keeps_its_owner():
    cfg = simple_config("A", "B")
    decision = decide(cfg, lead(), existing=ExistingLead(id=42, owner_id=ID["C"]))
    assert (decision.outcome, decision.reason, who(decision)) == ("existing", "existing_lead", "C")
    assert decision.existing_lead_id == 42
    assert decision.cursors == {}
    assert steps(decision, "rule") == []
    last = decision.trace[-1]
    assert last["check"] == "existing_lead" and last["applied"] is True and last["lead"] == 42
    assert "#42" in last["text"] and "Carol" in last["text"]


def test_existing_lead_in_the_pond_stays_without_owner():
    decision = decide(simple_config("A"), lead(), existing=ExistingLead(id=7, owner_id=None))
    assert (decision.outcome, decision.agent_id) == ("existing", None)
    assert "pond" in decision.trace[-1]["text"]


def test_existing_lead_does_not_move_the_rotation():
    cfg = simple_config("A", "B")
    cursors = {(1, "agent"): Cursor(ID["A"], 1, 1)}
    decision = decide(cfg, lead(), existing=ExistingLead(3, ID["D"]), cursors=cursors)
    assert decision.cursors == {}
    assert who(decide(cfg, lead(), cursors=cursors)) == "B"


@pytest.mark.parametrize(
    ("fields", "reason", "expected"),
    [
        (dict(assigned_to="C", tracking_agent="D", listing_agent="B"), "pre_assigned", "C"),
        (dict(tracking_agent="D", listing_agent="B"), "tracking_link", "D"),
        (dict(listing_agent="B"), "own_listing", "B"),
    ],
)
def test_special_routing_order_beats_later_checks_and_existing_lead(fields, reason, expected):
    cfg = simple_config("A")
    facts = lead(**{k: email(v) for k, v in fields.items()})
    decision = decide(cfg, facts, existing=ExistingLead(5, ID["E"]))
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", reason, expected)
    checks = [s["check"] for s in steps(decision, "special")]
    order = ["pre_assigned", "tracking_link", "own_listing", "existing_lead"]
    assert checks == order[: order.index(reason) + 1]


@pytest.mark.parametrize("field", ["assigned_to", "tracking_agent", "listing_agent"])
def test_unknown_agent_email_is_ignored_and_traced(field):
    decision = decide(simple_config("A"), lead(**{field: "stranger@elsewhere.test"}))
    assert (decision.reason, who(decision)) == ("rule", "A")
    ignored = [s for s in steps(decision, "special") if s.get("agent")]
    assert len(ignored) == 1 and ignored[0]["applied"] is False
    assert "stranger@elsewhere.test: unknown agent, ignored" in ignored[0]["text"]


@pytest.mark.parametrize("field", ["assigned_to", "tracking_agent", "listing_agent"])
def test_inactive_agent_email_is_ignored_and_traced(field):
    cfg = simple_config("A", agents=[agent("C", is_active=False)])
    decision = decide(cfg, lead(**{field: email("C")}))
    assert (decision.reason, who(decision)) == ("rule", "A")
    ignored = [s for s in steps(decision, "special") if s.get("agent")]
    assert "agent is inactive, ignored" in ignored[0]["text"]


def test_unknown_pre_assigned_agent_falls_through_to_the_tracking_link():
    facts = lead(assigned_to="nobody@x.test", tracking_agent=email("B"))
    decision = decide(simple_config("A"), facts)
    assert (decision.reason, who(decision)) == ("tracking_link", "B")


def test_unknown_special_agents_fall_through_to_the_existing_lead():
    facts = lead(assigned_to="x@x.test", tracking_agent="y@x.test", listing_agent="z@x.test")
    decision = decide(simple_config("A"), facts, existing=ExistingLead(9, ID["B"]))
    assert (decision.outcome, who(decision)) == ("existing", "B")


def test_special_routing_lists_every_check_in_order_when_none_applies():
    trace: list[dict] = []
    assert special_routing(simple_config("A"), lead(), None, trace) is None
    assert [s["check"] for s in trace] == [
        "pre_assigned",
        "tracking_link",
        "own_listing",
        "existing_lead",
    ]
    assert all(s["stage"] == "special" and s["applied"] is False for s in trace)
    assert [line.endswith(": no") for line in render_trace(trace)] == [True] * 4


# --- 2. Rules and criteria ----------------------------------------------------------------------


def two_rules(first: RuleInfo, second: RuleInfo | None = None) -> RoutingConfig:
    """``first`` staffed by Alice, ``second`` (when given) by Bob, the catch-all by Erin."""
    rules = [first] + ([second] if second else []) + [catch_all()]
    rosters = [roster(first.roster_id, "A"), roster(CATCH_ROSTER, "E")]
    if second:
        rosters.append(roster(second.roster_id, "B"))
    return config(rules, rosters)


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


# --- 3. Selection: rotation ---------------------------------------------------------------------


def test_weighted_round_robin():
    order, cursors = sequence(simple_config("A:2", "B", "C"), 8)
    assert order == "AABCAABC"
    assert set(cursors) == {(1, "agent")}
    assert cursors[(1, "agent")] == Cursor(ID["C"], 3, 1)


def test_rotation_cursor_records_turn_position_and_leads_given():
    cfg = simple_config("A:2", "B", "C")
    first = decide(cfg, lead())
    assert first.cursors == {(1, "agent"): Cursor(ID["A"], 1, 1)}
    second = decide(cfg, lead(), cursors=first.cursors)
    assert second.cursors == {(1, "agent"): Cursor(ID["A"], 1, 2)}
    third = decide(cfg, lead(), cursors=second.cursors)
    assert third.cursors == {(1, "agent"): Cursor(ID["B"], 2, 1)}


def test_rotation_threading_decision_cursors_directly():
    cfg = simple_config("A:2", "B", "C")
    cursors: dict = {}
    order = ""
    for _ in range(8):
        decision = decide(cfg, lead(), cursors=cursors)
        cursors = decision.cursors
        order += who(decision)
    assert order == "AABCAABC"


def test_ineligible_member_turn_is_skipped_without_catch_up():
    cfg = simple_config("A", "B", "C")
    paused = replace(cfg, agents={**cfg.agents, ID["B"]: agent("B", accepting_leads=False)})
    order, cursors = sequence(cfg, 4)  # A B C A
    assert order == "ABCA"
    during, cursors = sequence(paused, 3, cursors=cursors)  # B's turn skipped, then C A C
    assert during == "CAC"
    after, _ = sequence(cfg, 4, cursors=cursors)  # back to the plain order, no extra lead for B
    assert after == "ABCA"


def test_member_at_cap_mid_turn_loses_the_rest_of_the_turn():
    cfg = simple_config("A:3", "B", agents=[agent("A", max_leads_per_day=10)])
    order, cursors = sequence(cfg, 1)
    assert order == "A"
    capped = Loads(leads_today={ID["A"]: 10})
    order, cursors = sequence(cfg, 1, cursors=cursors, loads=capped)
    assert order == "B"
    order, _ = sequence(cfg, 4, cursors=cursors)
    assert order == "AAAB"


def test_skipped_turns_are_traced():
    cfg = simple_config("A", "B", "C", agents=[agent("B", accepting_leads=False)])
    cursors = {(1, "agent"): Cursor(ID["A"], 1, 1)}
    decision = decide(cfg, lead(), cursors=cursors)
    assert who(decision) == "C"
    (rotation,) = steps(decision, "rotation")
    assert rotation["skipped"] == ["Bob"]
    assert rotation["position"] == 3 and rotation["turn_lead"] == 1
    assert "turns skipped: Bob" in rotation["text"]


def test_each_rule_keeps_its_own_rotation():
    cfg = config(
        [rule(1, city=["Boston"]), rule(2, city=["Cambridge"]), catch_all()],
        [roster(MAIN_ROSTER, "A", "B", "C"), roster(CATCH_ROSTER, "E")],
    )
    cities = ["Boston", "Cambridge", "Boston", "Boston", "Cambridge", "Boston", "Cambridge"]
    decisions, cursors = route_many(cfg, [lead(city=c) for c in cities])
    assert [(d.rule_id, who(d)) for d in decisions] == [
        (1, "A"),
        (2, "A"),
        (1, "B"),
        (1, "C"),
        (2, "B"),
        (1, "A"),
        (2, "C"),
    ]
    assert set(decisions[1].cursors) == {(2, "agent")}
    assert cursors == {(1, "agent"): Cursor(ID["A"], 1, 1), (2, "agent"): Cursor(ID["C"], 3, 1)}


def test_removed_member_is_forgotten_and_rotation_goes_on_from_the_next_position():
    cfg = simple_config("A", "B", "C", "D")
    order, cursors = sequence(cfg, 2)
    assert order == "AB"
    without_b = config(
        cfg.rules,
        [roster(MAIN_ROSTER, member("A", 1), member("C", 3), member("D", 4)), roster(2, "E")],
    )
    order, _ = sequence(without_b, 4, cursors=cursors)
    assert order == "CDAC"


def test_removed_member_mid_turn_is_forgotten():
    cfg = simple_config("A", "B:3", "C")
    order, cursors = sequence(cfg, 2)
    assert order == "AB"
    without_b = config(cfg.rules, [roster(MAIN_ROSTER, member("A", 1), member("C", 3))])
    order, _ = sequence(without_b, 3, cursors=cursors)
    assert order == "CAC"


def test_removed_last_member_wraps_to_the_top():
    cfg = simple_config("A", "B", "C")
    _, cursors = sequence(cfg, 3)  # the turn is C's
    without_c = config(cfg.rules, [roster(MAIN_ROSTER, member("A", 1), member("B", 2))])
    order, _ = sequence(without_c, 3, cursors=cursors)
    assert order == "ABA"


def test_new_member_joins_at_the_end():
    cfg = simple_config("A", "B", "C")
    _, cursors = sequence(cfg, 1)  # A
    with_d = simple_config("A", "B", "C", "D")
    order, _ = sequence(with_d, 6, cursors=cursors)
    assert order == "BCDABC"

    _, cursors = sequence(cfg, 3)  # A B C: the last position had the turn
    order, _ = sequence(with_d, 3, cursors=cursors)
    assert order == "DAB"


def test_member_with_zero_leads_per_round_receives_none():
    cfg = simple_config("A", "B:0", "C")
    order, _ = sequence(cfg, 6)
    assert order == "ACACAC"
    decision = decide(cfg, lead())
    assert member_steps(decision)["B"]["why"] == "enrolled with 0 leads per round"


def test_only_zero_leads_per_round_members_means_nobody():
    decision = decide(simple_config("A:0", "B:0"), lead())
    assert (decision.rule_id, who(decision)) == (CATCH_ALL_ID, "E")


# --- 3. Eligibility -----------------------------------------------------------------------------


def test_eligibility_reasons_are_traced():
    cfg = simple_config(
        "A",
        "B",
        "C",
        "D",
        "E",
        agents=[
            agent("A", accepting_leads=False),
            agent("B", max_open_leads=3),
            agent("C", max_leads_per_day=2),
            agent("D", is_active=False),
            agent("E", max_open_leads=3, max_leads_per_day=2),
        ],
    )
    loads = Loads(
        open_leads={ID["B"]: 3, ID["E"]: 2},
        leads_today={ID["C"]: 2, ID["E"]: 1},
    )
    decision = decide(cfg, lead(), loads=loads)
    members = member_steps(decision)
    assert who(decision) == "E"
    assert {k: (s["eligible"], s["why"]) for k, s in members.items()} == {
        "A": (False, "paused (not accepting leads)"),
        "B": (False, "at cap: 3 of 3 open leads"),
        "C": (False, "at daily cap: 2 of 2 leads today"),
        "D": (False, "inactive"),
        "E": (True, None),
    }
    assert all(s["roster"] == "Main team" for s in members.values())
    assert "skipped, paused" in members["A"]["text"]
    assert "(position 5, 1 per round): eligible" in members["E"]["text"]


def test_under_cap_is_eligible():
    cfg = simple_config("A", agents=[agent("A", max_open_leads=3, max_leads_per_day=2)])
    loads = Loads(open_leads={ID["A"]: 2}, leads_today={ID["A"]: 1})
    assert who(decide(cfg, lead(), loads=loads)) == "A"
    assert who(decide(cfg, lead(), loads=Loads())) == "A"


def test_member_whose_agent_is_missing_is_skipped():
    cfg = config(
        [rule(1), catch_all()],
        [roster(MAIN_ROSTER, Member(404, 1), member("B", 2)), roster(CATCH_ROSTER, "E")],
    )
    decision = decide(cfg, lead())
    assert who(decision) == "B"
    missing = [s for s in steps(decision, "agent") if s["agent"] is None]
    assert missing[0]["why"] == "inactive" and "agent #404" in missing[0]["text"]


# --- 3. Selection: first in roster, on duty, territory, least loaded ---------------------------


def test_first_in_roster_always_takes_the_highest_eligible_position():
    cfg = simple_config("A", "B", "C", selection="first_in_roster")
    order, cursors = sequence(cfg, 3)
    assert order == "AAA"
    assert cursors == {}
    paused = simple_config(
        "A", "B", "C", selection="first_in_roster", agents=[agent("A", accepting_leads=False)]
    )
    order, _ = sequence(paused, 3)
    assert order == "BBB"


def test_first_in_roster_does_not_change_the_cursor():
    cfg = simple_config("A", "B", selection="first_in_roster")
    cursors = {(1, "agent"): Cursor(ID["A"], 1, 1)}
    decision = decide(cfg, lead(), cursors=cursors)
    assert who(decision) == "A"
    assert (1, "agent") not in decision.cursors
    (selection,) = steps(decision, "selection")
    assert selection["text"] == "First in roster: Alice (position 1)"


def test_first_in_roster_uses_position_numbers():
    cfg = config(
        [rule(1, selection="first_in_roster"), catch_all()],
        [roster(MAIN_ROSTER, member("C", 2), member("B", 5), member("A", 9))],
        [agent("C", is_active=False)],
    )
    assert who(decide(cfg, lead())) == "B"


def on_duty_config() -> RoutingConfig:
    office = NINE_TO_FIVE
    weekend = WeeklyWindow(WEEKEND, time(0), time(23, 59))
    nights = WeeklyWindow(EVERY_DAY, time(22), time(6))
    return simple_config(
        "A",
        "B",
        "C",
        "D",
        selection="on_duty",
        agents=[
            agent("A", shifts=(office,)),
            agent("B", shifts=(weekend,)),
            agent("C", shifts=(nights,)),
            agent("D", shifts=(office,)),
        ],
    )


def test_on_duty_takes_members_whose_shift_covers_the_arrival():
    cfg = on_duty_config()
    assert sequence(cfg, 3, at=SAT_1000)[0] == "BBB"
    assert sequence(cfg, 3, at=MON_2300)[0] == "CCC"


def test_on_duty_several_members_rotate():
    cfg = on_duty_config()
    order, cursors = sequence(cfg, 4, at=MON_1000)
    assert order == "ADAD"
    # Friday 22:00: Carol's night shift.
    assert sequence(cfg, 1, at=FRI_2200, cursors=cursors)[0] == "C"


def test_off_duty_members_are_traced():
    decision = decide(on_duty_config(), lead(SAT_1000))
    members = member_steps(decision)
    assert {k: s["why"] for k, s in members.items()} == {
        "A": "off duty",
        "B": None,
        "C": "off duty",
        "D": "off duty",
    }


def test_on_duty_with_nobody_on_shift_goes_to_the_next_rule():
    cfg = simple_config("A", selection="on_duty", agents=[agent("A", shifts=(NINE_TO_FIVE,))])
    decision = decide(cfg, lead(SAT_1000))
    assert (decision.rule_id, who(decision)) == (CATCH_ALL_ID, "E")


def territory_config() -> RoutingConfig:
    return simple_config(
        "A",
        "B",
        "C",
        selection="territory",
        agents=[
            agent("A", zip_codes=frozenset({"02134", "02135"})),
            agent("B", zip_codes=frozenset({"02139"})),
            agent("C", zip_codes=frozenset({"02139", "02140"})),
        ],
    )


def test_territory_takes_the_member_covering_the_zip():
    cfg = territory_config()
    assert sequence(cfg, 2, zip_code="02134")[0] == "AA"
    assert sequence(cfg, 2, zip_code=" 02135 ")[0] == "AA"
    assert sequence(cfg, 1, zip_code="02140")[0] == "C"


def test_territory_several_members_rotate():
    assert sequence(territory_config(), 4, zip_code="02139")[0] == "BCBC"


def test_territory_with_nobody_covering_goes_to_the_next_rule():
    decision = decide(territory_config(), lead(zip_code="90210"))
    assert (decision.rule_id, who(decision)) == (CATCH_ALL_ID, "E")
    members = member_steps(decision)
    assert members["A"]["why"] == "outside territory (lead zip 90210)"
    without_zip = member_steps(decide(territory_config(), lead()))
    assert without_zip["B"]["why"] == "outside territory (lead zip (none))"


def test_least_loaded_takes_the_member_with_fewest_open_leads():
    cfg = simple_config("A", "B", "C", selection="least_loaded")
    loads = Loads(open_leads={ID["A"]: 1, ID["B"]: 4, ID["C"]: 2})
    assert sequence(cfg, 3, loads=loads)[0] == "AAA"
    (selection,) = steps(decide(cfg, lead(), loads=loads), "selection")
    assert selection["text"] == "Fewest open leads (1): Alice"


def test_least_loaded_ties_go_by_rotation():
    cfg = simple_config("A", "B", "C", selection="least_loaded")
    loads = Loads(open_leads={ID["A"]: 5, ID["B"]: 2, ID["C"]: 2})
    order, cursors = sequence(cfg, 4, loads=loads)
    assert order == "BCBC"
    assert cursors[(1, "agent")].agent_id == ID["C"]
    everyone_equal = Loads(open_leads={})
    assert sequence(cfg, 3, loads=everyone_equal, cursors=cursors)[0] == "ABC"


def test_least_loaded_as_loads_change():
    cfg = simple_config("A", "B", "C", selection="least_loaded")
    open_leads = {ID["A"]: 0, ID["B"]: 0, ID["C"]: 1}
    cursors: dict = {}
    order = ""
    for _ in range(5):
        decision = decide(cfg, lead(), cursors=cursors, loads=Loads(open_leads=dict(open_leads)))
        cursors.update(decision.cursors)
        open_leads[decision.agent_id] += 1
        order += who(decision)
    assert order == "ABCAB"


def test_least_loaded_respects_caps():
    cfg = simple_config("A", "B", selection="least_loaded", agents=[agent("A", max_open_leads=1)])
    loads = Loads(open_leads={ID["A"]: 1, ID["B"]: 7})
    assert who(decide(cfg, lead(), loads=loads)) == "B"


# --- 4. A matched rule without anyone eligible --------------------------------------------------


def test_matched_rule_without_eligible_member_does_not_swallow_the_lead():
    cfg = config(
        [rule(1, city=["Boston"]), rule(2, 5, city=["Boston"]), catch_all()],
        [roster(MAIN_ROSTER, "A", "C"), roster(5, "B"), roster(CATCH_ROSTER, "E")],
        [agent("A", accepting_leads=False), agent("C", max_open_leads=0)],
    )
    decision = decide(cfg, lead(city="Boston"))
    assert (decision.rule_id, who(decision)) == (2, "B")
    assert set(decision.cursors) == {(2, "agent")}
    unstaffed = [s for s in steps(decision, "rule") if s.get("staffed") is False]
    assert len(unstaffed) == 1 and unstaffed[0]["rule"] == "Rule 1"
    why = "nobody on roster 'Roster 1' can take the lead: going on to the next rule"
    assert why in unstaffed[0]["text"]
    assert [s["rule"] for s in steps(decision, "rule") if s.get("matched")] == [
        "Rule 1",
        "Rule 2",
    ]


def test_unstaffed_rule_keeps_its_rotation():
    cfg = config(
        [rule(1), catch_all()],
        [roster(MAIN_ROSTER, "A", "B"), roster(CATCH_ROSTER, "E")],
        [agent("A", max_leads_per_day=1), agent("B", max_leads_per_day=1)],
    )
    cursors = {(1, "agent"): Cursor(ID["A"], 1, 1)}
    full = Loads(leads_today={ID["A"]: 1, ID["B"]: 1})
    decision = decide(cfg, lead(), cursors=cursors, loads=full)
    assert decision.rule_id == CATCH_ALL_ID
    assert (1, "agent") not in decision.cursors
    assert who(decide(cfg, lead(), cursors=cursors)) == "B"


def test_empty_roster_goes_to_the_next_rule():
    cfg = config(
        [rule(1), rule(2, 7), catch_all()],
        [roster(MAIN_ROSTER), roster(CATCH_ROSTER, "E")],
    )
    decision = decide(cfg, lead())
    assert decision.rule_id == CATCH_ALL_ID
    texts = [s["text"] for s in decision.trace]
    assert texts.count("Roster is empty") == 2


def test_catch_all_without_anyone_leaves_the_lead_unassigned():
    cfg = config(
        [rule(1), catch_all()],
        [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E")],
        [agent("A", accepting_leads=False), agent("E", is_active=False)],
    )
    decision = decide(cfg, lead())
    assert (decision.outcome, decision.reason) == ("unassigned", "pond")
    assert decision.agent_id is None and decision.rule_id is None
    assert decision.cursors == {}
    result = decision.trace[-1]
    assert result["stage"] == "result" and result["outcome"] == "unassigned"
    assert "pond" in result["text"]


# --- 5. Lender --------------------------------------------------------------------------------


def lender_config(**lender_fields) -> RoutingConfig:
    return config(
        [rule(1, lender_roster_id=LENDERS, **lender_fields), catch_all()],
        [
            roster(MAIN_ROSTER, "A", "B", "C"),
            roster(CATCH_ROSTER, "E"),
            roster(LENDERS, "L:2", "M", name="Lenders"),
        ],
    )


def test_lender_roster_rotates_a_lender_onto_the_lead():
    decisions, cursors = route_many(lender_config(), [lead()] * 6)
    assert [(who(d), LETTER[d.lender_id]) for d in decisions] == [
        ("A", "L"),
        ("B", "L"),
        ("C", "M"),
        ("A", "L"),
        ("B", "L"),
        ("C", "M"),
    ]
    assert set(cursors) == {(1, "agent"), (1, "lender")}
    assert cursors[(1, "lender")] == Cursor(ID["M"], 2, 1)
    assert decisions[0].summary == "Rule 'Rule 1' -> Alice, lender Lena"


def test_lender_rotation_skips_paused_lenders():
    cfg = lender_config()
    cfg = replace(cfg, agents={**cfg.agents, ID["L"]: agent("L", accepting_leads=False)})
    decisions, _ = route_many(cfg, [lead()] * 3)
    assert [LETTER[d.lender_id] for d in decisions] == ["M", "M", "M"]
    lenders = steps(decisions[0], "lender")
    assert lenders[0]["why"] == "paused (not accepting leads)"
    assert lenders[0]["roster"] == "Lenders"


def test_no_lender_available_still_assigns_the_agent():
    cfg = lender_config()
    nobody = {ID["L"]: agent("L", is_active=False), ID["M"]: agent("M", accepting_leads=False)}
    cfg = replace(cfg, agents={**cfg.agents, **nobody})
    decision = decide(cfg, lead())
    assert (decision.outcome, who(decision), decision.lender_id) == ("assigned", "A", None)
    assert (1, "lender") not in decision.cursors
    assert any("No lender available on roster 'Lenders'" in s["text"] for s in decision.trace)


def test_rule_without_lender_roster_sets_no_lender():
    decision = decide(simple_config("A"), lead())
    assert decision.lender_id is None
    assert steps(decision, "lender") == []


def test_lender_rotation_is_kept_per_rule():
    cfg = config(
        [
            rule(1, city=["Boston"], lender_roster_id=LENDERS),
            rule(2, city=["Cambridge"], lender_roster_id=LENDERS),
            catch_all(),
        ],
        [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E"), roster(LENDERS, "L", "M")],
    )
    cities = ["Boston", "Cambridge", "Boston", "Cambridge"]
    decisions, cursors = route_many(cfg, [lead(city=c) for c in cities])
    assert [LETTER[d.lender_id] for d in decisions] == ["L", "L", "M", "M"]
    assert cursors[(1, "lender")] == cursors[(2, "lender")] == Cursor(ID["M"], 2, 1)


# --- 6. Trace -----------------------------------------------------------------------------------


def test_trace_lists_everything_in_order():
    cfg = config(
        [
            rule(1, name="Luxury", price_min=Decimal("1000000")),
            rule(2, name="Boston buyers", city=["Boston"], lead_type=["buyer"]),
            catch_all(),
        ],
        [roster(MAIN_ROSTER, "A", "B", "C", name="Boston team"), roster(CATCH_ROSTER, "E")],
        [agent("A", accepting_leads=False), agent("B", max_open_leads=2)],
    )
    facts = lead(city="Boston", lead_type="Buyer", price=Decimal("450000"))
    decision = decide(cfg, facts, loads=Loads(open_leads={ID["B"]: 2}))
    assert (decision.rule_id, who(decision)) == (2, "C")
    assert [s["stage"] for s in decision.trace] == [
        "special",
        "special",
        "special",
        "special",
        "clock",
        "rule",
        "rule",
        "agent",
        "agent",
        "agent",
        "rotation",
        "result",
    ]
    luxury, boston = steps(decision, "rule")
    assert (luxury["rule"], luxury["matched"]) == ("Luxury", False)
    assert [(c["field"], c["actual"], c["matched"]) for c in luxury["criteria"]] == [
        ("price_min", "450,000", False)
    ]
    assert (boston["rule"], boston["matched"], boston["rule_id"]) == ("Boston buyers", True, 2)
    assert [(c["field"], c["actual"], c["matched"]) for c in boston["criteria"]] == [
        ("lead_type", "Buyer", True),
        ("city", "Boston", True),
    ]
    assert [(s["eligible"], s["why"]) for s in steps(decision, "agent")] == [
        (False, "paused (not accepting leads)"),
        (False, "at cap: 2 of 2 open leads"),
        (True, None),
    ]
    (rotation,) = steps(decision, "rotation")
    assert rotation["agent"] == email("C") and rotation["position"] == 3
    result = decision.trace[-1]
    assert (result["outcome"], result["agent"], result["rule"]) == (
        "assigned",
        email("C"),
        "Boston buyers",
    )


def test_render_trace_gives_readable_lines():
    cfg = config(
        [rule(1, name="Boston buyers", city=["Boston"]), catch_all()],
        [roster(MAIN_ROSTER, "A", "B", name="Boston team"), roster(CATCH_ROSTER, "E")],
        [agent("A", accepting_leads=False)],
    )
    decision = decide(cfg, lead(city="Boston"))
    lines = render_trace(decision.trace)
    assert len(lines) == len(decision.trace)
    assert all(isinstance(line, str) and line.strip() for line in lines)
    assert lines == [
        "Pre-assigned by the vendor to an agent: no",
        "Came through the tracking link of an agent: no",
        "Inquiry on the own listing of an agent: no",
        "Existing lead with the same email or phone: no",
        "Arrived Mon 2026-11-23 10:00 (America/New_York)",
        "Rule 'Boston buyers': matched (City is boston: lead has Boston -> matched;"
        " applies always: yes)",
        "    Alice <alice@brokerage.test> (position 1, 1 per round): skipped, paused"
        " (not accepting leads)",
        "    Bob <bob@brokerage.test> (position 2, 1 per round): eligible",
        "    Rotation (rotation): Bob's turn, position 2, lead 1 of 1 this turn;"
        " turns skipped: Alice",
        "Assigned to Bob <bob@brokerage.test> by rule 'Boston buyers'",
    ]


def test_render_trace_of_a_special_decision():
    decision = decide(simple_config("A"), lead(tracking_agent=email("D")))
    assert render_trace(decision.trace) == [
        "Pre-assigned by the vendor to an agent: no",
        "Came through the tracking link of Dave <dave@brokerage.test>: yes",
    ]


def test_render_trace_indents_member_and_selection_lines_only():
    trace = [
        {"stage": "rule", "text": "r"},
        {"stage": "agent", "text": "a"},
        {"stage": "lender", "text": "l"},
        {"stage": "selection", "text": "s"},
        {"stage": "rotation", "text": "o"},
        {"stage": "result", "text": "x"},
    ]
    assert render_trace(trace) == ["r", "    a", "    l", "    s", "    o", "x"]


def test_trace_of_a_rule_that_does_not_match_names_the_leads_values():
    cfg = two_rules(rule(1, name="Zillow", source=["Zillow"], score_min=80))
    decision = decide(cfg, lead(source="Realtor.com", score=None))
    text = steps(decision, "rule")[0]["text"]
    assert text.startswith("Rule 'Zillow': no match (")
    assert "Source is zillow: lead has Realtor.com -> not matched" in text
    assert "Score at least 80: lead has (none) -> not matched" in text


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


# --- rotate() on its own --------------------------------------------------------------------


def test_rotate_directly():
    members = lineup("A:2", "B", "C")
    everyone = {ID[x] for x in "ABC"}
    chosen, cursor, skipped = rotate(members, everyone, Cursor())
    assert (LETTER[chosen.agent_id], cursor, skipped) == ("A", Cursor(ID["A"], 1, 1), [])
    chosen, cursor, skipped = rotate(members, {ID["C"]}, cursor)
    assert (LETTER[chosen.agent_id], skipped) == ("C", [ID["B"]])
    chosen, same, skipped = rotate(members, set(), cursor)
    assert (chosen, same, skipped) == (None, cursor, [ID["A"], ID["B"], ID["C"]])
    assert rotate((), everyone, cursor) == (None, cursor, [])


def test_rotate_gives_the_turn_back_to_the_only_eligible_member():
    members = lineup("A", "B", "C")
    cursor = Cursor(ID["A"], 1, 1)
    chosen, cursor, skipped = rotate(members, {ID["A"]}, cursor)
    assert (LETTER[chosen.agent_id], cursor, skipped) == (
        "A",
        Cursor(ID["A"], 1, 1),
        [ID["B"], ID["C"]],
    )
