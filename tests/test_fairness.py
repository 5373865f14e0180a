"""The fairness figures a manager checks by hand: shares against weights, missed turns and
their reasons, for rules and hand-off targets; and where an agent stands in their rotations."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Agent, Pause
from agents.services import set_accepting_leads
from leads.intake import receive_lead
from routing.fairness import rotation_fairness
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=NY)  # a Friday morning
_counter = iter(range(1, 1_000_000))


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.split()[0].lower()}@example.com", **kw)


def arrive(at: datetime, **fields):
    n = next(_counter)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            **fields}
    return receive_lead(data, channel="api", received_at=at)


def shares_by_name(rotation) -> dict[str, tuple[int, float, int]]:
    return {m.name: (m.received, round(m.expected, 2), len(m.missed)) for m in rotation.members}


def test_weights_two_to_one_give_two_thirds_and_one_third():
    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    rule = RuleFactory(name="Buyers", is_catch_all=True,
                       roster=RosterFactory.with_members([ann, bob], [2, 1]))
    for i in range(6):
        arrive(NOW + timedelta(minutes=i))
    [buyers] = rotation_fairness(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (buyers.kind, buyers.id, buyers.name, buyers.leads) == ("rule", rule.pk, "Buyers", 6)
    assert shares_by_name(buyers) == {"Ann Lee": (4, 4.0, 0), "Bob Ray": (2, 2.0, 0)}
    assert [round(m.entitled, 3) for m in buyers.members] == [0.667, 0.333]


def missed_of(rotation, name: str) -> list[tuple[str, str]]:
    member = next(m for m in rotation.members if m.name == name)
    return [(t.code, t.reason) for t in member.missed]


def test_a_paused_member_misses_turns_and_the_figures_say_why():
    ann, bob, cat = agent("Ann Lee"), agent("Bob Ray"), agent("Cat Cho")
    RuleFactory(name="Buyers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    arrive(NOW)  # Ann
    set_accepting_leads(bob, False, now=NOW + timedelta(seconds=30))
    for i in range(1, 4):
        arrive(NOW + timedelta(minutes=i))  # Cat (Bob's turn skipped), Ann, Cat (skipped)
    set_accepting_leads(bob, True, now=NOW + timedelta(minutes=4))
    arrive(NOW + timedelta(minutes=5))  # Ann
    arrive(NOW + timedelta(minutes=6))  # Bob
    [buyers] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert buyers.leads == 6
    assert shares_by_name(buyers) == {"Ann Lee": (3, 2.0, 0), "Bob Ray": (1, 2.0, 2),
                                      "Cat Cho": (2, 2.0, 0)}
    assert missed_of(buyers, "Bob Ray") == [("paused", "paused 10:00-10:04")] * 2
    bob_turns = next(m for m in buyers.members if m.name == "Bob Ray").missed
    assert [t.at for t in bob_turns] == [NOW + timedelta(minutes=1), NOW + timedelta(minutes=3)]
    assert all(t.lead_id for t in bob_turns)  # managers may open the lead


def test_cap_and_daily_cap_are_missed_turns_with_the_cap_in_words():
    ann = agent("Ann Lee", max_open_leads=1)
    bob = agent("Bob Ray", max_leads_per_day=2)
    cat = agent("Cat Cho")
    RuleFactory(name="Sellers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    for i in range(6):  # Ann Bob Cat | Ann capped -> Bob | Cat | Ann capped, Bob daily -> Cat
        arrive(NOW + timedelta(minutes=i))
    [sellers] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert shares_by_name(sellers) == {"Ann Lee": (1, 2.0, 2), "Bob Ray": (2, 2.0, 1),
                                       "Cat Cho": (3, 2.0, 0)}
    assert missed_of(sellers, "Ann Lee") == [("at_cap", "at their cap of 1 open lead")] * 2
    assert missed_of(sellers, "Bob Ray") == [("at_daily_cap", "at their daily cap of 2 leads")]
    [mine] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                               agent_id=ann.pk, for_agent=True)
    assert [m.name for m in mine.members] == ["Ann Lee"] and mine.leads == 6
    assert {t.reason for t in mine.members[0].missed} == {"at your cap of 1 open lead"}
    assert all(t.lead_id is None for t in mine.members[0].missed)


def test_off_duty_members_miss_their_turns_on_an_on_duty_rule():
    from tests.factories import ShiftFactory

    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    ShiftFactory(agent=ann, days=["fri"], start="08:00", end="17:00")
    ShiftFactory(agent=bob, days=["sat"], start="08:00", end="17:00")
    RuleFactory(name="On duty", is_catch_all=True, selection="on_duty",
                roster=RosterFactory.with_members([ann, bob]))
    for i in range(3):
        arrive(NOW + timedelta(minutes=i))
    [duty] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert shares_by_name(duty) == {"Ann Lee": (3, 1.5, 0), "Bob Ray": (0, 1.5, 2)}
    assert missed_of(duty, "Bob Ray") == [("off_duty", "off duty")] * 2


def test_a_declined_offer_is_a_missed_turn_and_the_claim_counts_for_the_claimer():
    from routing.claims import claim_offer, decline_offer
    from routing.models import Offer

    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    RuleFactory(name="Claimers", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members([ann, bob]))
    lead = arrive(NOW).lead
    decline_offer(Offer.objects.get(lead=lead, agent=ann).pk, ann, now=NOW + timedelta(minutes=1))
    claim_offer(Offer.objects.get(lead=lead, agent=bob).pk, bob, now=NOW + timedelta(minutes=2))
    [claimers] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert claimers.leads == 1
    assert shares_by_name(claimers) == {"Ann Lee": (0, 0.5, 1), "Bob Ray": (1, 0.5, 0)}
    assert missed_of(claimers, "Ann Lee") == [("declined", "declined")]



def test_the_latest_missed_turns_in_full_and_every_one_counted_by_reason():
    """What the Fairness page asks for: the details of only the latest turns, the counts of
    all of them, by reason (grouped in SQL on PostgreSQL), as when every turn is read."""
    from routing.claims import decline_offer
    from routing.models import Offer

    ann = agent("Ann Lee", max_open_leads=1)
    bob = agent("Bob Ray", max_leads_per_day=2)
    cat = agent("Cat Cho")
    RuleFactory(name="Sellers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    for i in range(6):  # as above: Ann misses two turns at her cap, Bob one at his daily cap
        arrive(NOW + timedelta(minutes=i))
    dee, eve = agent("Dee Fox"), agent("Eve Kim")
    RuleFactory(name="Claimers", delivery="claim", criteria={"lead_type": ["seller"]},
                roster=RosterFactory.with_members([dee, eve]))
    lead = arrive(NOW + timedelta(minutes=10), lead_type="seller").lead
    decline_offer(Offer.objects.get(lead=lead, agent=dee).pk, dee,
                  now=NOW + timedelta(minutes=11))
    since, until = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    every = rotation_fairness(since, until)
    latest = rotation_fairness(since, until, missed_shown=2)
    counts = {m.name: m.missed_counts for r in latest for m in r.members if m.missed_counts}
    assert counts == {"Ann Lee": {"at their cap of 1 open lead": 2},
                      "Bob Ray": {"at their daily cap of 2 leads": 1},
                      "Dee Fox": {"declined": 1}}
    assert counts == {m.name: m.missed_counts for r in every for m in r.members
                      if m.missed_counts}
    shown = sorted(((t.at, m.name) for r in latest for m in r.members for t in m.missed),
                   reverse=True)
    assert shown == [(NOW + timedelta(minutes=10), "Dee Fox"),
                     (NOW + timedelta(minutes=5), "Ann Lee")]
    assert [(m.name, m.turns_missed, len(m.missed)) for r in latest for m in r.members
            if m.name in ("Ann Lee", "Bob Ray")] == [("Ann Lee", 2, 1), ("Bob Ray", 1, 0)]
    # Narrowed to one agent: the latest of their own turns, not of everyone's.
    [bobs] = rotation_fairness(since, until, agent_id=bob.pk, missed_shown=2)
    [(turn, count)] = [(m.missed, m.missed_counts) for m in bobs.members]
    assert [t.at for t in turn] == [NOW + timedelta(minutes=5)]
    assert count == {"at their daily cap of 2 leads": 1}

def test_the_period_and_the_rule_filter_bound_the_figures():
    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    rule = RuleFactory(name="Buyers", is_catch_all=True,
                       roster=RosterFactory.with_members([ann, bob]))
    other = RuleFactory(name="Sellers", roster=RosterFactory.with_members([bob]),
                        criteria={"lead_type": ["seller"]})
    arrive(NOW - timedelta(days=2))  # outside the period
    arrive(NOW)
    arrive(NOW, lead_type="seller")
    every = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert [(r.name, r.leads) for r in every] == [("Sellers", 1), ("Buyers", 1)]
    [only] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                               rule_ids=[rule.pk])
    assert (only.id, only.leads) == (rule.pk, 1)
    assert other.pk not in {r.id for r in rotation_fairness(
        NOW - timedelta(hours=1), NOW + timedelta(hours=1), agent_id=ann.pk)}


@pytest.fixture
def isa_team():
    """An ISA taking every lead, and a hand-off target rotating over three agents."""
    from routing.models import Brokerage, HandoffTarget

    brokerage = Brokerage.load()
    brokerage.actionable_window = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    "start": "00:00", "end": "23:59"}]
    brokerage.save()
    ivy = agent("Ivy Isa", role=Agent.Role.ISA)
    RuleFactory(name="ISA team", is_catch_all=True, roster=RosterFactory.with_members([ivy]))
    ann, bob, cat = agent("Ann Lee"), agent("Bob Ray"), agent("Cat Cho")
    closers = HandoffTarget.objects.create(
        name="Closers", roster=RosterFactory.with_members([ann, bob, cat]))
    return type("Team", (), {"ivy": ivy, "ann": ann, "bob": bob, "cat": cat,
                             "closers": closers})


def test_hand_off_targets_have_their_own_rotation_figures(isa_team):
    from leads.isa.handoffs import hand_off

    t = isa_team
    t.bob.accepting_leads = False
    t.bob.save()
    for i in range(3):  # Ann, Cat (Bob paused: his turn passed over once), Ann
        lead = arrive(NOW + timedelta(minutes=i)).lead
        hand_off(lead.pk, isa=t.ivy, target=t.closers, note="", now=NOW + timedelta(minutes=9 + i))
    [closers] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                                  target_ids=[t.closers.pk])
    assert (closers.kind, closers.id, closers.name, closers.leads) == (
        "handoff", t.closers.pk, "Closers", 3)
    assert shares_by_name(closers) == {"Ann Lee": (2, 1.0, 0), "Bob Ray": (0, 1.0, 1),
                                       "Cat Cho": (1, 1.0, 0)}
    assert missed_of(closers, "Bob Ray") == [("paused", "paused")]


def test_a_hand_off_offer_let_run_out_is_a_missed_turn(isa_team):
    from leads.isa.handoffs import hand_off
    from routing.claims import claim_offer
    from routing.clock import run_clock
    from routing.models import Offer

    t = isa_team
    t.closers.delivery = "claim"
    t.closers.save()
    lead = arrive(NOW).lead
    hand_off(lead.pk, isa=t.ivy, target=t.closers, note="", now=NOW)
    run_clock(NOW + timedelta(minutes=5))  # Ann's offer runs out: Bob is offered
    claim_offer(Offer.objects.get(lead=lead, agent=t.bob).pk, t.bob,
                now=NOW + timedelta(minutes=6))
    [closers] = rotation_fairness(NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                                  target_ids=[t.closers.pk])
    assert shares_by_name(closers)["Bob Ray"][0] == 1 and closers.leads == 1
    assert missed_of(closers, "Ann Lee") == [("expired", "did not claim in time")]


# --- Where an agent stands ------------------------------------------------------------------


def test_agent_standing_says_whose_turn_is_next_and_how_many_before_theirs():
    from routing.fairness import agent_standing

    ann, bob, cat = agent("Ann Lee"), agent("Bob Ray"), agent("Cat Cho", max_open_leads=5)
    RuleFactory(name="Buyers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat], [1, 2, 1]))
    arrive(NOW)  # Ann: Bob is next, twice, then Cat
    [cats] = agent_standing(cat, NOW + timedelta(minutes=1))
    assert (cats.name, cats.next_name, cats.turns_before, cats.why_not_now) == (
        "Buyers", "Bob", 2, "")
    assert (cats.received, cats.leads, round(cats.expected, 2)) == (0, 1, 0.25)
    [bobs] = agent_standing(bob, NOW + timedelta(minutes=1))
    assert (bobs.next_name, bobs.turns_before) == ("you", 0)
    bob.accepting_leads = False
    bob.save()
    [cats] = agent_standing(cat, NOW + timedelta(minutes=1))
    assert (cats.next_name, cats.turns_before) == ("you", 0)
    [bobs] = agent_standing(bob, NOW + timedelta(minutes=1))
    assert bobs.turns_before is None
    assert bobs.why_not_now == "You are paused: turn on Available to get leads again."


def test_agent_standing_counts_the_week_and_words_missed_turns_for_the_agent():
    from routing.fairness import agent_standing, missed_lines

    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    RuleFactory(name="Buyers", is_catch_all=True, roster=RosterFactory.with_members([ann, bob]))
    monday = NOW - timedelta(days=4)  # the week starts Monday 00:00
    arrive(monday - timedelta(hours=12))  # last week: Ann
    set_accepting_leads(bob, False, now=monday.replace(hour=14))
    arrive(monday.replace(hour=14, minute=5))  # Ann again, Bob passed over
    arrive(monday.replace(hour=15, minute=50))  # Ann, Bob passed over
    set_accepting_leads(bob, True, now=monday.replace(hour=16))
    set_accepting_leads(bob, False, now=NOW - timedelta(minutes=30))  # a pause not known...
    Pause.objects.filter(ended_at__isnull=True).delete()  # ...e.g. set by a routing file
    arrive(NOW - timedelta(minutes=20))  # Ann, Bob passed over
    set_accepting_leads(bob, True, now=NOW - timedelta(minutes=10))
    arrive(NOW)  # Bob
    [bobs] = agent_standing(bob, NOW + timedelta(minutes=1))
    assert (bobs.received, bobs.leads, bobs.expected) == (1, 4, 2.0)
    assert [t.reason for t in bobs.missed] == ["paused 14:00-16:00"] * 2 + ["paused"]
    assert all(t.lead_id is None for t in bobs.missed)
    lines = missed_lines(bobs.missed, "America/New_York", NOW)
    assert [(x.day, x.times, x.reason, x.turns) for x in lines] == [
        ("Mon", "", "paused 14:00-16:00", 2), ("Today", "09:40", "paused", 1)]


# --- The pure parts -------------------------------------------------------------------------


def test_member_shares_entitle_by_weight_and_keep_former_members():
    from routing.fairness import Enrolled, MissedTurn, member_shares

    turn = MissedTurn(NOW, "paused", 7, "paused")
    leads, shares = member_shares(
        [Enrolled(1, "Ann", 2), Enrolled(2, "Bob", 1)], {1: 5, 2: 3, 3: 1}, {2: [turn]})
    assert leads == 9
    assert [(s.agent_id, round(s.entitled, 3), round(s.expected, 1), s.received, len(s.missed))
            for s in shares] == [(1, 0.667, 6.0, 5, 0), (2, 0.333, 3.0, 3, 1), (3, 0.0, 0.0, 1, 0)]


def test_turns_before_follows_weights_and_skips_who_cannot_take_leads():
    from routing.engine import Cursor, Member
    from routing.fairness import turns_before

    members = [Member(1, 0, 2), Member(2, 1, 1), Member(3, 2, 1)]
    assert turns_before(members, {1, 2, 3}, Cursor(1, 0, 1), 3) == 2  # Ann once more, Bob
    assert turns_before(members, {1, 3}, Cursor(1, 0, 2), 3) == 0
    assert turns_before(members, {1, 2}, Cursor(), 3) is None


def test_a_turn_cut_short_by_a_pause_is_a_missed_turn():
    from routing.engine import Cursor, Member, Pick, SkipCode, SkippedTurn, skipped_turns

    members = [Member(1, 0, 2), Member(2, 1, 1)]
    pick = Pick(members[1], Cursor(2, 1, 1))
    turns = skipped_turns(members, {2}, Cursor(1, 0, 1), pick,
                          {1: "paused (not accepting leads)", 2: None}, {})
    assert turns == (SkippedTurn(1, SkipCode.PAUSED),)


def test_backfill_reads_older_records_skipped_turns_from_their_traces():
    from django.core.management import call_command

    from routing.models import RoutingRecord

    ann, bob, cat = agent("Ann Lee"), agent("Bob Ray"), agent("Cat Cho")
    RuleFactory(name="Buyers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    now = timezone.now()
    arrive(now - timedelta(hours=2))  # Ann
    bob.accepting_leads = False
    bob.save()
    arrive(now - timedelta(hours=1))  # Cat, Bob passed over
    RoutingRecord.objects.update(skipped_turns=[])  # as written before the upgrade
    out = io.StringIO()
    call_command("backfill_fairness", stdout=out)
    assert "Done: 1 of 2 records of the last 35 days filled in." in out.getvalue()
    [buyers] = rotation_fairness(now - timedelta(days=1), now)
    assert missed_of(buyers, "Bob Ray") == [("paused", "paused")]


def test_pause_words_say_the_span_with_the_weekday_when_it_is_another_day():
    from routing.fairness import pause_words

    tz = "America/New_York"
    at = NOW  # Friday 10:00
    assert pause_words((NOW - timedelta(hours=1), NOW + timedelta(hours=2)), at, tz) == (
        "paused 09:00-12:00")
    assert pause_words((NOW - timedelta(days=1), None), at, tz) == "paused since Thu 10:00"


def test_an_agent_taken_off_the_roster_still_sees_the_week_and_why_no_lead_comes():
    from agents.models import RosterMember
    from routing.fairness import agent_standing
    from routing.models import Brokerage

    ann, bob = agent("Ann Lee"), agent("Bob Ray")
    rule = RuleFactory(name="Buyers", is_catch_all=True,
                       roster=RosterFactory.with_members([ann, bob]))
    arrive(NOW)  # Ann
    RosterMember.objects.filter(roster=rule.roster, agent=ann).delete()
    Brokerage.bump_config_token()  # as the roster admin does
    [anns] = agent_standing(ann, NOW + timedelta(minutes=1))
    assert (anns.received, anns.turns_before) == (1, None)
    assert anns.why_not_now == "You are not on this roster any more."
