"""An ISA's leads: the status flow and the queue order (pure), then the services with a database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa import queue as isa
from leads.isa.figures import isa_figures, median
from leads.isa.handoffs import hand_off
from leads.isa.queue import (
    IsaRefused,
    log_contact,
    queue,
    queue_group,
    queue_key,
    save_qualification,
    stage_change_error,
    update_card,
)
from leads.models import Activity, Lead, Qualification
from leads.services import log_activity
from routing.models import Brokerage, Offer
from tests.factories import AgentFactory, RosterFactory, RuleFactory

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # Wednesday
TODAY = date(2026, 11, 18)
MIN = timedelta(minutes=1)
S = Lead.IsaStage

# --- The status flow (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(("current", "wanted"), [
    ("", "contacted"), ("new", "nurturing"), ("new", "qualified"), ("contacted", "nurturing"),
    ("contacted", "qualified"), ("nurturing", "qualified"), ("nurturing", "contacted"),
    ("qualified", "nurturing"), ("dead", "nurturing"), ("qualified", "qualified"),
])
def test_allowed_moves(current, wanted):
    assert stage_change_error(current, wanted) is None


@pytest.mark.parametrize(("current", "wanted", "error"), [
    ("contacted", "new", "A lead cannot become new again."),
    ("qualified", "contacted", "A qualified lead cannot be set to contacted."),
    ("dead", "qualified", "A dead lead cannot be set to qualified."),
    ("new", "handed_off", "Use Hand off to pass the lead to an agent."),
    ("handed_off", "nurturing", "This lead was handed off: the agent has it now."),
    ("new", "dead", "Say why the lead is dead."),
    ("new", "won", "Unknown stage 'won'."),
])
def test_refused_moves(current, wanted, error):
    assert stage_change_error(current, wanted) == error


def test_dead_needs_a_reason_from_any_open_stage():
    for stage in isa.OPEN_STAGES:
        assert stage_change_error(stage, "dead", reason="  ") == "Say why the lead is dead."
        assert stage_change_error(stage, "dead", reason="Bought elsewhere") is None


def test_queue_groups():
    assert queue_group("", None, TODAY) == 0
    assert queue_group("new", TODAY - timedelta(days=3), TODAY) == 0  # new first, always
    assert queue_group("nurturing", TODAY, TODAY) == 1
    assert queue_group("contacted", TODAY - timedelta(days=1), TODAY) == 1  # overdue
    assert queue_group("qualified", TODAY + timedelta(days=1), TODAY) == 2
    assert queue_group("nurturing", None, TODAY) == 2


def test_queue_order_new_oldest_first_then_follow_ups_due_then_the_rest():
    t0 = datetime(2026, 11, 1, tzinfo=NY)
    leads = {  # name: (stage, follow_up_on, temperature, received_at)
        "new_recent": ("", None, "", t0 + timedelta(days=9)),
        "new_old": ("new", None, "hot", t0 + timedelta(days=1)),
        "due_today": ("nurturing", TODAY, "cold", t0),
        "overdue": ("contacted", TODAY - timedelta(days=2), "", t0 + timedelta(days=5)),
        "later_cold": ("nurturing", TODAY + timedelta(days=1), "cold", t0),
        "later_hot": ("nurturing", TODAY + timedelta(days=20), "hot", t0),
        "no_date_hot": ("qualified", None, "hot", t0 + timedelta(days=2)),
        "no_date": ("contacted", None, "", t0),
    }
    order = sorted(leads, key=lambda n: queue_key(*leads[n][:3], leads[n][3], 0, TODAY))
    assert order == ["new_old", "new_recent", "overdue", "due_today", "later_hot",
                     "no_date_hot", "later_cold", "no_date"]


def test_median():
    assert median([]) is None
    assert median([MIN, 3 * MIN, 10 * MIN]) == 3 * MIN
    assert median([MIN, 3 * MIN]) == 2 * MIN


# --- With a database -----------------------------------------------------------------------------

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]


@pytest.fixture
def team(db):
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    ivy = AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    ian = AgentFactory(name="Ian Isa", email="ian@example.com", role=Agent.Role.ISA)
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    boss = AgentFactory(name="Max Boss", email="max@example.com", role=Agent.Role.MANAGER)
    isas = RosterFactory.with_members([ivy, ian], name="ISAs")
    RuleFactory(name="Zillow to ISAs", criteria={"source": ["Zillow"]}, roster=isas)
    RuleFactory(name="Everyone else", is_catch_all=True,
                roster=RosterFactory.with_members([ann], name="Agents"))
    return ivy, ian, ann, boss


def route(n: int, at: datetime = NOW, **fields) -> Lead:
    data = {"first_name": "Pat", "last_name": f"Lead{n}", "email": f"pat{n}@example.org",
            "source": "Zillow", **fields}
    result = receive_lead(data, channel="api", received_at=at)
    return Lead.objects.get(pk=result.lead.pk)


def test_a_rule_whose_roster_holds_isas_gives_them_leads_in_rotation_as_new(team):
    ivy, ian, ann, _ = team
    first, second, third = (route(n) for n in range(3))
    assert [first.owner, second.owner, third.owner] == [ivy, ian, ivy]
    assert isa.stage_of(first) == S.NEW and first.isa_stage == ""
    assert first.status == Lead.Status.ASSIGNED  # the agent flow is untouched
    other = route(9, source="Realtor.com")
    assert other.owner == ann and isa.in_care_of(None).filter(pk=other.pk).count() == 0


def test_isa_offers_with_claim_delivery_work_like_agents(team):
    ivy, ian, _, _ = team
    rule = RuleFactory(name="Claims to ISAs", criteria={"source": ["Web"]},
                       delivery="claim", roster=RosterFactory.with_members([ian, ivy]))
    lead = route(1, source="Web")
    offer = Offer.objects.get(lead=lead)
    assert offer.agent == ian and offer.rule == rule
    from routing.claims import claim_offer

    claim_offer(offer.pk, ian, now=NOW + MIN)
    assert list(queue(ian, today=TODAY)) == [Lead.objects.get(pk=lead.pk)]


def test_first_contact_moves_new_to_contacted_and_sets_speed_to_lead(team):
    ivy, *_ = team
    lead = route(1)
    log_contact(lead, ivy, "note", "Left a voicemail? no, a note", now=NOW + MIN)
    lead.refresh_from_db()
    assert lead.isa_stage == S.NEW and lead.isa == ivy and lead.first_contact_at is None
    log_contact(lead, ivy, "call", "Talked", now=NOW + 4 * MIN)
    lead.refresh_from_db()
    assert lead.isa_stage == S.CONTACTED and lead.status == Lead.Status.CONTACTED
    assert lead.first_contact_at == NOW + 4 * MIN


def test_only_the_holding_isa_or_a_manager_works_the_lead(team):
    ivy, ian, ann, boss = team
    lead = route(1)
    for who in (ian, ann):
        with pytest.raises(IsaRefused):
            log_contact(lead, who, "call", "", now=NOW)
        with pytest.raises(IsaRefused, match="Only the ISA who holds this lead"):
            update_card(lead, who, stage="nurturing", now=NOW)
    update_card(lead, boss, stage="nurturing", now=NOW)
    lead.refresh_from_db()
    assert lead.isa_stage == S.NURTURING and lead.isa == ivy  # the ISA, not the manager


def test_card_sets_stage_temperature_and_follow_up_with_a_timeline_entry(team):
    ivy, *_ = team
    lead = route(1)
    changes = update_card(lead, ivy, stage="nurturing", temperature="warm",
                          follow_up_on=date(2026, 12, 1), now=NOW)
    assert changes == ["Stage: New -> Nurturing", "Temperature: Warm",
                       "Follow up on Tue Dec 1, 2026"]
    lead.refresh_from_db()
    assert (lead.isa_stage, lead.temperature, lead.follow_up_on) == (
        S.NURTURING, "warm", date(2026, 12, 1))
    entry = lead.activities.get(kind=Activity.Kind.ISA_UPDATE)
    assert entry.actor == ivy and entry.body.startswith("Stage: New -> Nurturing")
    assert update_card(lead, ivy, stage="nurturing", temperature="warm",
                       follow_up_on=date(2026, 12, 1), now=NOW) == []
    with pytest.raises(IsaRefused, match="cannot become new"):
        update_card(lead, ivy, stage="new", now=NOW)


def test_dead_with_a_reason_and_back(team):
    ivy, *_ = team
    lead = route(1)
    log_activity(lead, ivy, "call", "", now=NOW + MIN)
    with pytest.raises(IsaRefused, match="Say why"):
        update_card(lead, ivy, stage="dead", now=NOW)
    update_card(lead, ivy, stage="dead", dead_reason="Not moving after all", now=NOW)
    lead.refresh_from_db()
    assert (lead.isa_stage, lead.status, lead.dead_reason) == (
        S.DEAD, Lead.Status.DEAD, "Not moving after all")
    assert list(queue(ivy, today=TODAY)) == []
    assert list(queue(ivy, today=TODAY, stage="dead")) == [lead]
    update_card(lead, ivy, stage="nurturing", now=NOW)
    lead.refresh_from_db()
    assert (lead.isa_stage, lead.status, lead.dead_reason) == (
        S.NURTURING, Lead.Status.CONTACTED, "")


def test_qualification_facts(team):
    ivy, *_ = team
    lead = route(1)
    save_qualification(lead, ivy, {"timeframe": "0-1", "pre_approved": False, "budget": None,
                                   "areas": " Loop, River North ", "side": "both"}, now=NOW)
    q = Qualification.objects.get(lead=lead)
    assert (q.timeframe, q.pre_approved, q.areas, q.side, q.updated_by) == (
        "0-1", False, "Loop, River North", "both", ivy)
    lead = Lead.objects.get(pk=lead.pk)
    update_card(lead, ivy, stage="qualified", temperature="hot", now=NOW)
    assert isa.qualification_facts(Lead.objects.get(pk=lead.pk)) == {
        "timeframe": "Within a month", "pre_approved": "no", "areas": "Loop, River North",
        "side": "Buyer and seller", "temperature": "Hot"}
    entry = lead.activities.get(kind=Activity.Kind.ISA_UPDATE, body__startswith="Qualification")
    assert "Pre-approved: no" in entry.body
    save_qualification(lead, ivy, {"timeframe": "0-1", "pre_approved": False, "budget": None,
                                   "areas": "Loop, River North", "side": "both"}, now=NOW)
    assert lead.activities.filter(body__startswith="Qualification").count() == 1  # no change


def test_queue_in_the_database_follows_the_pure_order_and_filters(team):
    ivy, ian, *_ = team
    t0 = NOW - timedelta(days=10)
    specs = [  # (stage, follow_up_on, temperature, received days after t0, source)
        ("", None, "", 5, "Zillow"),
        ("", None, "", 1, "Zillow"),
        ("nurturing", TODAY, "cold", 0, "Zillow"),
        ("contacted", TODAY - timedelta(days=3), "", 4, "Zillow"),
        ("nurturing", TODAY + timedelta(days=2), "hot", 2, "Zillow"),
        ("qualified", None, "warm", 3, "Zillow"),
        ("nurturing", None, "", 6, "Zillow"),
    ]
    leads = []
    for n, (stage, follow, temp, days, source) in enumerate(specs):
        lead = route(n, at=t0 + timedelta(days=days), source=source)
        Lead.objects.filter(pk=lead.pk).update(owner=ivy, isa_stage=stage, follow_up_on=follow,
                                               temperature=temp)
        leads.append(Lead.objects.get(pk=lead.pk))
    expected = sorted(leads, key=lambda x: queue_key(x.isa_stage, x.follow_up_on,
                                                     x.temperature, x.received_at, x.pk, TODAY))
    got = list(queue(ivy, today=TODAY))
    assert got == expected
    assert [x.pk for x in got[:2]] == [leads[1].pk, leads[0].pk]  # new, oldest first
    assert [x.pk for x in got[2:4]] == [leads[3].pk, leads[2].pk]  # due, most overdue first
    assert list(queue(ivy, today=TODAY, stage="new")) == got[:2]
    assert list(queue(ivy, today=TODAY, temperature="hot")) == [leads[4]]
    assert len(queue(ivy, today=TODAY, temperature="none")) == 4
    assert list(queue(ivy, today=TODAY, source="nope")) == []
    assert list(queue(ian, today=TODAY)) == []
    assert len(queue(None, today=TODAY)) == 7


def test_handed_off_leads_leave_the_queue(team):
    ivy, _, ann, _ = team
    lead = route(1)
    hand_off(lead.pk, isa=ivy, agent=ann, note="n", now=NOW)
    assert list(queue(ivy, today=TODAY)) == []
    # The ISA may still log as the lead's second contact.
    log_contact(Lead.objects.get(pk=lead.pk), ivy, "text", "Checking in", now=NOW + MIN)
    with pytest.raises(IsaRefused, match="handed off"):
        update_card(Lead.objects.get(pk=lead.pk), ivy, stage="nurturing", now=NOW)


def test_figures_per_isa(team):
    ivy, ian, ann, _ = team
    leads = [route(n) for n in range(4)]  # Ivy: 0 and 2, Ian: 1 and 3
    log_contact(leads[0], ivy, "call", "", now=NOW + 2 * MIN)
    log_contact(leads[2], ivy, "call", "", now=NOW + 10 * MIN)
    log_contact(leads[2], ivy, "call", "again", now=NOW + 20 * MIN)  # only the first counts
    log_contact(leads[1], ian, "email", "", now=NOW + 60 * MIN)
    first = hand_off(leads[0].pk, isa=ivy, agent=ann, note="n", now=NOW + 30 * MIN)
    hand_off(leads[2].pk, isa=ivy, agent=ann, note="n", now=NOW + 30 * MIN)
    log_activity(Lead.objects.get(pk=leads[0].pk), ann, "call", "", now=NOW + 35 * MIN)
    first.refresh_from_db()
    assert first.contacted_in_time

    figures = {f.isa.name: f for f in isa_figures()}
    assert set(figures) == {"Ivy Isa", "Ian Isa"}
    assert (figures["Ivy Isa"].received, figures["Ivy Isa"].contacted) == (2, 2)
    assert figures["Ivy Isa"].median_first_contact == 6 * MIN  # 2 and 10 minutes
    assert (figures["Ivy Isa"].handoffs, figures["Ivy Isa"].contacted_in_time) == (2, 1)
    assert figures["Ivy Isa"].in_time_share == 50 and figures["Ivy Isa"].waiting == 1
    assert (figures["Ian Isa"].received, figures["Ian Isa"].median_first_contact) == (2, 60 * MIN)
    assert figures["Ian Isa"].handoffs == 0 and figures["Ian Isa"].in_time_share is None
    assert [f.received for f in isa_figures(since=NOW + timedelta(days=1))] == [0, 0]
