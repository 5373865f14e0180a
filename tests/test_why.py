""""Why did I get this lead?" in the agent's words: built from real engine decisions, no
database (the records are unsaved)."""

from __future__ import annotations

from datetime import timedelta

from leads.why import Event, People, record_lines, why_story
from routing.engine import Cursor, Loads, decide
from routing.models import RoutingRecord
from tests.engine_builders import (
    ID,
    MON_1000,
    NAMES,
    agent,
    email,
    lead,
    simple_config,
)


def people(viewer: str) -> People:
    return People.of(ID[viewer], ((ID[x], f"{n} Smith", email(x)) for x, n in NAMES.items()))


def record_of(decision, at=MON_1000) -> RoutingRecord:
    return RoutingRecord(created_at=at, outcome=decision.outcome, reason=decision.reason,
                         rule_name=decision.rule_name, agent_id=decision.agent_id,
                         summary=decision.summary, trace=decision.trace,
                         skipped_turns=[t.as_json() for t in decision.skipped_turns])


def names_to_full(cfg):
    """The builders' agents carry first names only: give them surnames as stored."""
    from dataclasses import replace
    return replace(cfg, agents={i: replace(a, name=f"{a.name} Smith")
                                for i, a in cfg.agents.items()})


def test_your_turn_with_a_paused_colleague_passed_over():
    cfg = simple_config("A", "B", "C", agents=[agent("B", accepting_leads=False)])
    decision = decide(cfg, lead(), cursors={(1, "agent"): Cursor(ID["A"], 1, 1)})
    assert decision.agent_id == ID["C"]
    lines = record_lines(record_of(decision), people("C"))
    assert lines == [
        "The “Main” rule took it.",
        "It was your turn in the “Main” rotation; Bob was paused, so it came to you.",
        "It was assigned to you at once.",
    ]
    text = " ".join(lines)
    assert "@" not in text and "Smith" not in text and "position" not in text


def test_a_capped_colleague_in_words_and_no_other_rule_listed():
    cfg = simple_config("A", "B", agents=[agent("A", max_open_leads=20)])
    decision = decide(cfg, lead(), loads=Loads({ID["A"]: 20}, {}))
    lines = record_lines(record_of(decision), people("B"))
    assert lines[1] == ("It was your turn in the “Main” rotation; Alice was at their cap of 20 "
                        "open leads, so it came to you.")
    assert not any("Everything else" in line for line in lines)


def test_an_offer_moved_on_after_a_colleague_declined():
    from routing.engine import continue_rule

    cfg = names_to_full(simple_config("A", "B", delivery="claim"))
    first = decide(cfg, lead())
    assert first.offered_to == (ID["A"],)
    moved = continue_rule(cfg, 1, lead(), at=MON_1000 + timedelta(minutes=1),
                          why="Alice Smith declined the offer", excluded={ID["A"]},
                          cursors=first.cursors)
    story = why_story([record_of(first), record_of(moved, MON_1000 + timedelta(minutes=1))],
                      [Event("claimed", ID["B"], MON_1000 + timedelta(minutes=2))], people("B"))
    assert [c.lines for c in story] == [
        ("The “Main” rule took it.", "It was Alice's turn in the “Main” rotation.",
         "It was offered to Alice to claim."),
        ("Alice declined the offer.", "The “Main” rule took it.",
         "It was your turn in the “Main” rotation.", "It was offered to you to claim."),
        ("You claimed it.",),
    ]


def test_special_routing_in_plain_words():
    cfg = simple_config("A", "B")
    for field, words in (
        ("tracking_agent", "It came through your tracking link."),
        ("listing_agent", "The person asked about your own listing, and listing inquiries go "
                          "to the listing agent."),
        ("assigned_to", "The lead vendor sent it already assigned to you."),
    ):
        decision = decide(cfg, lead(**{field: email("B")}))
        assert record_lines(record_of(decision), people("B")) == [words]


def test_first_to_claim_and_the_pond():
    cfg = simple_config("A", "B", "C", delivery="first_to_claim")
    decision = decide(cfg, lead())
    lines = record_lines(record_of(decision), people("B"))
    assert lines[-1] == ("It was offered to you and 2 other agents at once: the first to claim "
                         "it gets it.")
    nobody = simple_config("A", agents=[agent("A", is_active=False), agent("E", is_active=False)])
    pond = decide(nobody, lead())
    story = why_story([record_of(pond)], [Event("claimed", ID["B"], MON_1000 + timedelta(hours=1))],
                      people("B"))
    assert [c.lines for c in story] == [
        ("When it arrived nobody could take it, so it went to the pond.",),
        ("You claimed it from the pond.",),
    ]


def test_a_manager_assignment_is_told_without_naming_anyone():
    story = why_story([], [Event("reassigned", ID["M"], MON_1000)], people("B"))
    assert [c.lines for c in story] == [("A manager assigned it by hand.",)]


def test_a_record_from_before_skipped_turns_were_kept_is_read_from_its_trace():
    from routing.fairness import turns_from_trace

    cfg = simple_config("A", "B", "C", agents=[agent("B", accepting_leads=False)])
    decision = decide(cfg, lead(), cursors={(1, "agent"): Cursor(ID["A"], 1, 1)})
    old = record_of(decision)
    old.skipped_turns = []
    ids = {email(x): ID[x] for x in NAMES}
    assert turns_from_trace(old.trace, ids) == [{"agent": ID["B"], "why": "paused"}]
    assert "Bob was paused, so it came to you" in record_lines(old, people("C"))[1]
    capped = simple_config("A", "B", agents=[agent("A", max_open_leads=20)])
    trace = decide(capped, lead(), loads=Loads({ID["A"]: 20}, {})).trace
    assert turns_from_trace(trace, ids) == [{"agent": ID["A"], "why": "at_cap", "limit": 20}]
