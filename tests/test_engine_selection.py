"""Who on the roster gets the lead: the weighted rotation, eligibility, and the other
selections (``routing.engine.selection``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import time

from routing.engine import Cursor, Loads, Member, RoutingConfig, decide, rotate, step_text
from routing.windows import WeeklyWindow
from tests.engine_builders import (
    CATCH_ALL_ID,
    CATCH_ROSTER,
    EVERY_DAY,
    FRI_2200,
    ID,
    LETTER,
    MAIN_ROSTER,
    MON_1000,
    MON_2300,
    NINE_TO_FIVE,
    SAT_1000,
    WEEKEND,
    agent,
    catch_all,
    config,
    lead,
    lineup,
    member,
    member_steps,
    roster,
    route_many,
    rule,
    sequence,
    simple_config,
    steps,
    who,
)

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
    assert "skipped, paused" in step_text(members["A"])
    assert "(position 5, 1 per round): eligible" in step_text(members["E"])
    assert "text" not in members["E"]  # data only: the sentence is written when read
    assert (members["E"]["position"], members["E"]["per_round"]) == (5, 1)


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


# --- The roster's walk, worked out once per configuration ---------------------------------------


def test_a_reused_roster_walk_gives_each_lead_what_a_member_by_member_walk_gives():
    """The walk the clock reuses for thousands of leads says, for every lead, who had it and
    who is at cap, exactly what asking ``skip_reason`` member by member says."""
    from routing.engine.selection import roster_walk, skip_reason

    cfg = simple_config("A:2", "B", "C", "D", agents=[
        agent("B", max_open_leads=2), agent("C", accepting_leads=False),
        agent("D", max_leads_per_day=1)])
    team = cfg.rosters[MAIN_ROSTER]
    local = MON_1000
    cases = [
        (Loads({}, {}), frozenset()),
        (Loads({ID["B"]: 2}, {}), frozenset({ID["A"]})),
        (Loads({ID["B"]: 1}, {ID["D"]: 1}), frozenset({ID["C"], ID["D"]})),
        (Loads({}, {}), frozenset({ID["A"], ID["B"]})),
    ]
    for loads, excluded in cases:
        walk = roster_walk(cfg, team, "rotation", "agent", lead(), local)
        assert roster_walk(cfg, team, "rotation", "agent", lead(), local) is walk  # reused
        whys, eligible, _ = walk.for_lead(loads, excluded, local)
        expected = {m.agent_id: skip_reason(cfg.agents.get(m.agent_id), m, "rotation", lead(),
                                            local, kind="agent", loads=loads,
                                            excluded=excluded)
                    for m in team.members}
        assert whys == expected
        assert eligible == {a for a, why in expected.items() if why is None}


def test_a_walk_by_territory_is_the_leads_own():
    """A selection that reads the lead is never reused from one lead to the next."""
    cfg = simple_config("A", "B", selection="territory", agents=[
        agent("A", zip_codes=frozenset({"07030"})), agent("B", zip_codes=frozenset({"10001"}))])
    assert who(decide(cfg, lead(zip_code="07030"))) == "A"
    assert who(decide(cfg, lead(zip_code="10001"))) == "B"


def test_a_roster_with_time_off_is_walked_anew_for_each_moment():
    """Being away depends on the moment: the same configuration (the clock's, held for a
    burst) skips an agent during their time off and offers to them again after it."""
    from datetime import timedelta

    from routing.engine.types import TimeAway

    back = MON_1000 + timedelta(hours=1)
    cfg = simple_config("A", "B", selection="first_in_roster", agents=[
        agent("A", away=(TimeAway(MON_1000 - timedelta(days=1), back, "vacation"),)),
        agent("B")])
    assert who(decide(cfg, lead(at=MON_1000))) == "B"
    assert who(decide(cfg, lead(at=back))) == "A"
