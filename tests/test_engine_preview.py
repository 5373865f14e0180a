"""Where a rotation stands (``engine.preview_rotation``): the data the roster admin words."""

from __future__ import annotations

from datetime import UTC, datetime, time

from routing.engine import (
    AGENT,
    LENDER,
    AgentInfo,
    Cursor,
    Loads,
    Member,
    PreviewNote,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    Selection,
    next_pick,
    preview_rotation,
    to_local,
)
from routing.windows import WeeklyWindow

TZ = "America/New_York"
MON_1000 = to_local(datetime(2026, 11, 23, 15, 0, tzinfo=UTC), TZ)
SAT_1000 = to_local(datetime(2026, 11, 21, 15, 0, tzinfo=UTC), TZ)
ANN, BOB, CAROL = 1, 2, 3
MEMBERS = (Member(ANN, 1, 2), Member(BOB, 2), Member(CAROL, 3))


def config(**agent_fields: dict) -> RoutingConfig:
    agents = {
        a: AgentInfo(a, f"{name.lower()}@example.com", name, **agent_fields.get(name, {}))
        for a, name in ((ANN, "Ann"), (BOB, "Bob"), (CAROL, "Carol"))
    }
    return RoutingConfig(timezone=TZ, rules=(), rosters={1: RosterInfo(1, "R", MEMBERS)},
                         agents=agents)


def rule(**fields) -> RuleInfo:
    return RuleInfo(id=1, name="Rule", roster_id=1, **fields)


def preview(cfg=None, the_rule=None, kind=AGENT, cursor=None, loads=None, at=MON_1000):
    return preview_rotation(cfg or config(), the_rule or rule(), kind, MEMBERS,
                            cursor or Cursor(), loads or Loads(), at)


def test_rotation_goes_on_from_the_cursor():
    result = preview(cursor=Cursor(ANN, 1, 2))
    assert result.current == MEMBERS[0]
    assert result.chosen == MEMBERS[1]
    assert result.cursor == Cursor(BOB, 2, 1)
    assert result.eligible == (ANN, BOB, CAROL)
    assert result.notes == ()
    assert not result.first_to_claim


def test_members_carry_why_they_cannot_receive():
    result = preview(config(Bob={"accepting_leads": False}, Carol={"max_open_leads": 1}),
                     loads=Loads(open_leads={CAROL: 1}), cursor=Cursor(ANN, 1, 2))
    assert [(c.member.agent_id, c.why) for c in result.members] == [
        (ANN, None), (BOB, "paused (not accepting leads)"), (CAROL, "at cap: 1 of 1 open leads")]
    assert result.eligible == (ANN,)
    assert result.chosen == MEMBERS[0] and result.cursor == Cursor(ANN, 1, 1)


def test_caps_do_not_count_for_lenders():
    result = preview(config(Bob={"max_open_leads": 0}), kind=LENDER,
                     the_rule=rule(selection="first_in_roster"), cursor=Cursor(ANN, 1, 2))
    assert result.selection == Selection.ROTATION  # a lender rotation is always a rotation
    assert result.eligible == (ANN, BOB, CAROL)
    assert result.chosen == MEMBERS[1]


def test_paused_rule_and_hours_are_notes():
    assert preview(the_rule=rule(is_active=False)).notes == (PreviewNote.PAUSED,)
    weekdays = WeeklyWindow(frozenset(range(5)), time(9), time(17))
    assert preview(the_rule=rule(windows=(weekdays,)), at=SAT_1000).notes == (
        PreviewNote.OUTSIDE_HOURS,)
    assert preview(the_rule=rule(windows=(weekdays,))).notes == ()


def test_first_to_claim_offers_everyone_eligible_and_picks_nobody():
    result = preview(config(Ann={"is_active": False}), the_rule=rule(delivery="first_to_claim",
                                                                      selection="least_loaded"))
    assert result.first_to_claim
    assert result.eligible == (BOB, CAROL)
    assert result.chosen is None and result.notes == ()


def test_least_loaded_notes_the_fewest_and_rotates_among_them():
    result = preview(the_rule=rule(selection="least_loaded"),
                     loads=Loads(open_leads={ANN: 3, BOB: 1, CAROL: 1}), cursor=Cursor(BOB, 2, 1))
    assert result.notes == (PreviewNote.FEWEST_OPEN,)
    assert result.fewest == 1
    assert result.chosen == MEMBERS[2]


def test_territory_checks_the_order_only():
    result = preview(config(Ann={"zip_codes": frozenset({"60601"})}),
                     the_rule=rule(selection="territory"))
    assert result.eligible == (ANN, BOB, CAROL)  # no lead zip code: nobody is outside
    assert result.notes == (PreviewNote.TERRITORY,)
    assert result.chosen == MEMBERS[0]


def test_first_in_roster_keeps_the_cursor():
    result = preview(config(Ann={"accepting_leads": False}),
                     the_rule=rule(selection="first_in_roster"), cursor=Cursor(CAROL, 3, 1))
    assert result.chosen == MEMBERS[1]
    assert result.cursor == Cursor(CAROL, 3, 1)


def test_nobody_eligible_picks_nobody():
    result = preview(config(**{n: {"is_active": False} for n in ("Ann", "Bob", "Carol")}),
                     the_rule=rule(selection="least_loaded"))
    assert result.chosen is None and result.fewest is None and result.notes == ()


def test_a_cursor_whose_member_left_has_no_current_member():
    result = preview(cursor=Cursor(99, 2, 1))
    assert result.current is None
    assert result.chosen == MEMBERS[2]  # goes on from the next position


def test_next_pick_directly():
    pick = next_pick(MEMBERS, {ANN, CAROL}, "least_loaded", Cursor(),
                     Loads(open_leads={ANN: 2}))
    assert (pick.member, pick.fewest, pick.tied) == (MEMBERS[2], 0, frozenset({CAROL}))
    assert pick.skipped == (ANN, BOB)
    assert next_pick(MEMBERS, set(), "rotation", Cursor(ANN, 1, 1), Loads()).member is None
