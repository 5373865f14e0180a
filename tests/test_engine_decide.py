"""The routing decision over plain data: special routing, the arrival time, a matched rule
without anyone eligible, and the lender on the lead (``routing.engine.decide``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from routing.engine import (
    Cursor,
    ExistingLead,
    Loads,
    RoutingConfig,
    decide,
    render_trace,
    special_routing,
    step_text,
)
from tests.engine_builders import (
    CATCH_ALL_ID,
    CATCH_ROSTER,
    FRI_2200,
    ID,
    LENDERS,
    LETTER,
    MAIN_ROSTER,
    MON_1000,
    MON_1659,
    MON_1700,
    MON_2300,
    SAT_1000,
    SUN_2100,
    TZ,
    agent,
    catch_all,
    config,
    email,
    lead,
    roster,
    route_many,
    rule,
    simple_config,
    steps,
    who,
)

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


def test_existing_lead_offered_and_waiting_for_a_claim_is_left_to_its_offers():
    decision = decide(simple_config("A"), lead(), existing=ExistingLead(id=7, owner_id=None))
    assert (decision.outcome, decision.agent_id) == ("existing", None)
    assert "waiting for a claim" in decision.trace[-1]["text"]


def test_existing_lead_in_the_pond_is_routed_again_through_the_rules():
    cfg = simple_config("A", "B")
    cursors = {(1, "agent"): Cursor(ID["A"], 1, 1)}
    decision = decide(cfg, lead(), existing=ExistingLead(7, None, in_pond=True),
                      cursors=cursors)
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", "rule", "B")
    assert decision.existing_lead_id == 7
    assert decision.cursors == {(1, "agent"): Cursor(ID["B"], 2, 1)}
    again = next(s for s in steps(decision, "special") if s["check"] == "existing_lead")
    assert again["applied"] is False and again["lead"] == 7
    assert again["text"] == ("Existing lead #7 (same email or phone) waits in the pond: routed "
                             "again through the rules as the same lead")


def test_existing_lead_of_an_agent_who_left_is_routed_again_through_the_rules():
    cfg = simple_config("A", agents=[agent("C", is_active=False)])
    decision = decide(cfg, lead(), existing=ExistingLead(42, ID["C"]))
    assert (decision.outcome, who(decision), decision.existing_lead_id) == ("assigned", "A", 42)
    again = next(s for s in steps(decision, "special") if s["check"] == "existing_lead")
    assert again["text"] == (f"Existing lead #42 (same email or phone), owned by Carol "
                             f"<{email('C')}>, who is inactive: routed again through the rules "
                             "as the same lead")
    assert "returning person" in decision.summary


def test_existing_lead_routed_again_that_nobody_can_take_stays_in_the_pond():
    cfg = simple_config("A", agents=[agent("A", accepting_leads=False),
                                     agent("E", accepting_leads=False)])
    decision = decide(cfg, lead(), existing=ExistingLead(7, None, in_pond=True))
    assert (decision.outcome, decision.existing_lead_id) == ("unassigned", 7)


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


@pytest.mark.parametrize("last", ["catch-all", "last rule"])
def test_an_unstaffed_last_rule_says_the_lead_waits_in_the_pond(last):
    rules = [rule(1, city=["Boston"]), catch_all()] if last == "catch-all" else [rule(1)]
    cfg = config(rules, [roster(MAIN_ROSTER, "A"), roster(CATCH_ROSTER, "E")],
                 [agent("A", accepting_leads=False), agent("E", accepting_leads=False)])
    decision = decide(cfg, lead(city="Boston"))
    assert decision.outcome == "unassigned"
    unstaffed = [s["text"] for s in steps(decision, "rule") if s.get("staffed") is False]
    lines = render_trace(decision.trace)
    assert unstaffed[-1].endswith("can take the lead: no rule left, the lead waits in the pond")
    assert not any("going on to the next rule" in line for line in lines[-2:])
    if last == "catch-all":
        assert unstaffed[0].endswith("going on to the next rule")


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
    texts = [step_text(s) for s in decision.trace]
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
    assert any("No lender available on roster 'Lenders'" in step_text(s) for s in decision.trace)


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


# --- Special routing names only agents ----------------------------------------------------------


@pytest.mark.parametrize("field", ["assigned_to", "tracking_agent", "listing_agent"])
@pytest.mark.parametrize(("role", "words"), [
    ("lender", "a lender, not an agent"),
    ("manager", "a manager, not an agent"),
    ("isa", "an ISA, not an agent"),
])
def test_special_routing_to_someone_who_is_not_an_agent_is_ignored(field, role, words):
    cfg = simple_config("A", agents=[replace(agent("C"), role=role)])
    decision = decide(cfg, lead(**{field: email("C")}))
    assert (decision.outcome, decision.reason, who(decision)) == ("assigned", "rule", "A")
    ignored = [s for s in steps(decision, "special") if s.get("agent")]
    assert len(ignored) == 1 and ignored[0]["applied"] is False
    assert ignored[0]["text"].endswith(f"{email('C')}: {words}, ignored: the rules decide")
