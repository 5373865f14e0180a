"""The decision's trace and its lines (``routing.engine.trace``)."""

from __future__ import annotations

import json
from decimal import Decimal

from routing.engine import Loads, decide, member_step, render_trace
from routing.engine.trace import pack_trace, packed_json, unpack_trace
from tests.engine_builders import (
    CATCH_ROSTER,
    ID,
    MAIN_ROSTER,
    agent,
    catch_all,
    config,
    email,
    lead,
    roster,
    rule,
    simple_config,
    steps,
    two_rules,
    who,
)

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


def test_a_members_step_keeps_data_and_reads_as_a_sentence():
    """A roster member's step is stored without its sentence (a trace has one per member);
    the lead's page reads the same line as before, and older steps keep their own text."""
    stored = [
        member_step("agent", agent="ann@brokerage.test", name="Ann", position=1, per_round=2,
                    why=None, roster="Team"),
        member_step("agent", agent="bob@brokerage.test", name="Bob", position=2, per_round=1,
                    why="paused (not accepting leads)", roster="Team"),
        {"stage": "agent", "text": "Cy <cy@brokerage.test> (position 3, 1 per round): eligible",
         "agent": "cy@brokerage.test", "eligible": True, "why": None, "roster": "Team"},
    ]
    assert "text" not in stored[0]
    assert render_trace(stored) == [
        "    Ann <ann@brokerage.test> (position 1, 2 per round): eligible",
        "    Bob <bob@brokerage.test> (position 2, 1 per round): skipped, paused (not accepting "
        "leads)",
        "    Cy <cy@brokerage.test> (position 3, 1 per round): eligible",
    ]


def test_a_stored_trace_packs_each_rosters_members_and_reads_back_as_made():
    """Stored, a roster's member steps are rows under one step (the keys once, not once per
    member); read back, the trace is the steps that were made, in their order, and a step the
    packing does not know (an older one with its own text) stays as it is."""
    cfg = config(
        [rule(2, name="Boston buyers", city=["Boston"]), catch_all()],
        [roster(MAIN_ROSTER, "A", "B", "C", name="Boston team"), roster(CATCH_ROSTER, "E")],
        [agent("A", accepting_leads=False)],
    )
    made = [*decide(cfg, lead(city="Boston")).trace,
            {"stage": "agent", "text": "Cy (position 3): eligible", "agent": None,
             "eligible": True, "why": None, "roster": "Team"}]
    stored = pack_trace(made)
    packed = [s for s in stored if s["stage"] == "members"]
    assert [(s["of"], s["roster"], [row[0] for row in s["rows"]]) for s in packed] == [
        ("agent", "Boston team", [email("A"), email("B"), email("C")])]
    assert stored[-1] == made[-1]
    assert unpack_trace(stored) == made
    assert unpack_trace(json.loads(packed_json(made, {}))) == made
    assert len(json.dumps(stored)) < len(json.dumps(made))
    assert unpack_trace(made) == made  # a trace stored step by step reads as it was


def test_a_burst_of_traces_shares_each_member_steps_text():
    """``COPY`` writes a burst's traces with each shared member step encoded once."""
    walk = [member_step("agent", agent=f"a{i}@brokerage.test", name=f"A{i}", position=i,
                        per_round=1, why=None, roster="Team") for i in range(3)]
    texts: dict[int, str] = {}
    first = packed_json([{"stage": "clock", "text": "Arrived"}, *walk], texts)
    again = packed_json([{"stage": "clock", "text": "Arrived"}, *walk], texts)
    assert first == again and sum(id(s) in texts for s in walk) == 3
    assert unpack_trace(json.loads(first))[1:] == walk


def test_packed_json_is_the_packed_trace_whatever_steps_the_traces_share():
    """The steps kept as they are go in together, or alone once shared with an earlier trace:
    either way each trace's text is the JSON of its packed form."""
    walk = [member_step("agent", agent=f"a{i}@brokerage.test", name=f"A{i}", position=i,
                        per_round=1, why="paused" if i == 1 else None, roster="Team")
            for i in range(3)]
    arrived = {"stage": "clock", "text": "Arrived"}
    traces = [
        [arrived, {"stage": "rule", "text": "Rule 'A': no match"}, *walk,
         {"stage": "result", "text": "Assigned"}],
        [{"stage": "special", "text": "no"}, arrived, arrived, *walk[:2],
         {"stage": "rule", "text": "Rule 'B'"}, walk[2], {"stage": "result", "text": "Offered"}],
        [*walk, arrived],
        [arrived],
    ]
    texts: dict = {}
    for trace in traces:
        assert packed_json(trace, texts) == json.dumps(pack_trace(trace))
        assert unpack_trace(json.loads(packed_json(trace, texts))) == trace
