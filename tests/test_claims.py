"""Claim with timeout, first to claim, the actionable window, the pond, idle reassignment."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Activity, Lead
from leads.services import log_activity
from notifications.models import Notification
from routing.claims import (
    ClaimRefused,
    assign_lead,
    claim_from_pond,
    claim_offer,
    decline_offer,
)
from routing.clock import run_clock
from routing.models import Brokerage, Offer, RotationState, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
NIGHT = datetime(2026, 11, 18, 23, 30, tzinfo=NY)
MORNING = datetime(2026, 11, 19, 8, 0, tzinfo=NY)  # when the window opens after NIGHT
MIN = timedelta(minutes=1)

TOO_LATE = "Too late: the claim window for this lead has closed."
LOST = "Another agent claimed this lead first."

_counter = iter(range(1, 1_000_000))


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", user=None, **kw)


def manager(name: str = "Meg") -> Agent:
    return agent(name, role=Agent.Role.MANAGER)


def rule(agents: list[Agent], **kw) -> Rule:
    kw.setdefault("delivery", Rule.Delivery.CLAIM)
    return RuleFactory(name=kw.pop("name", "Everything else"), is_catch_all=True,
                       roster=RosterFactory.with_members(agents), **kw)


def receive(at: datetime = NOW, **fields):
    n = next(_counter)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            **fields}
    return receive_lead(data, channel="api", received_at=at)


def offers(lead: Lead) -> list[tuple[str, str]]:
    """(agent name, status) of the lead's offers, in the order they were made."""
    return [(o.agent.name, o.status)
            for o in Offer.objects.filter(lead=lead).select_related("agent").order_by("id")]


def open_offer(lead: Lead, who: Agent | None = None) -> Offer:
    qs = Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED)
    return qs.get(agent=who) if who else qs.get()


def events(who: Agent, lead: Lead | None = None) -> list[str]:
    qs = Notification.objects.filter(recipient=who).order_by("id")
    if lead is not None:
        qs = qs.filter(lead=lead)
    return list(qs.values_list("event", flat=True))


def fresh(lead: Lead) -> Lead:
    return Lead.objects.get(pk=lead.pk)


# --- Claim with timeout -------------------------------------------------------------------------


def test_claim_rule_offers_the_lead_to_the_agent_the_rotation_picks():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])

    result = receive()

    assert result.status == "offered"
    assert result.as_dict()["offered_to"] == ["ann@example.com"]
    assert result.as_dict()["agent"] is None
    lead = fresh(result.lead)
    assert (lead.status, lead.owner_id) == (Lead.Status.OFFERED, None)
    offer = open_offer(lead)
    assert offer.agent == ann
    assert offer.offered_at == NOW == offer.clock_starts_at
    assert offer.deadline == NOW + 5 * MIN  # the default timeout
    assert offer.remind_at == NOW + 150 * timedelta(seconds=1)
    note = Notification.objects.get(recipient=ann, lead=lead)
    assert note.event == Notification.Event.LEAD_OFFERED
    assert "/offers/" in note.body and "Wed 10:05" in note.body
    assert events(bob) == []
    assert receive().as_dict()["offered_to"] == ["bob@example.com"]  # the rotation moved


def test_claim_timeout_comes_from_the_rule():
    rule([agent("Ann")], claim_timeout_minutes=15)
    lead = receive().lead
    assert open_offer(lead).deadline == NOW + 15 * MIN


def test_claim_within_the_timeout_gives_the_lead_to_the_agent():
    ann = agent("Ann")
    rule([ann, agent("Bob")])
    lead = receive().lead
    offer = open_offer(lead)

    claimed = claim_offer(offer.pk, ann, now=NOW + 4 * MIN)

    assert (claimed.owner_id, claimed.status) == (ann.pk, Lead.Status.ASSIGNED)
    assert claimed.assigned_at == NOW + 4 * MIN
    offer.refresh_from_db()
    assert (offer.status, offer.responded_at) == (Offer.Status.CLAIMED, NOW + 4 * MIN)
    assert lead.activities.filter(kind=Activity.Kind.CLAIMED, actor=ann).exists()
    with pytest.raises(ClaimRefused, match="You have already claimed this lead."):
        claim_offer(offer.pk, ann, now=NOW + 4 * MIN)
    with pytest.raises(ClaimRefused, match="You have already claimed this lead."):
        decline_offer(offer.pk, ann, now=NOW + 4 * MIN)
    assert run_clock(NOW + 10 * MIN).expired == 0  # a claimed offer never expires


def test_only_the_offered_agent_can_claim_the_offer():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    offer = open_offer(receive().lead)
    with pytest.raises(Offer.DoesNotExist):
        claim_offer(offer.pk, bob, now=NOW)
    with pytest.raises(Offer.DoesNotExist):
        decline_offer(offer.pk, bob, now=NOW)


def test_a_claim_after_the_deadline_is_refused_even_before_the_clock_runs():
    ann = agent("Ann")
    rule([ann, agent("Bob")])
    lead = receive().lead
    offer = open_offer(lead)

    with pytest.raises(ClaimRefused, match=TOO_LATE):
        claim_offer(offer.pk, ann, now=NOW + 5 * MIN)  # the deadline itself is too late
    with pytest.raises(ClaimRefused, match=TOO_LATE):
        claim_offer(offer.pk, ann, now=NOW + 60 * MIN)

    offer.refresh_from_db()
    assert offer.status == Offer.Status.OFFERED  # the clock moves it on, not the claim
    assert (fresh(lead).status, fresh(lead).owner_id) == (Lead.Status.OFFERED, None)
    claim_offer(offer.pk, ann, now=NOW + 5 * MIN - timedelta(microseconds=1))  # still in time
    assert fresh(lead).owner_id == ann.pk


def test_a_claim_after_the_clock_moved_the_lead_on_is_refused():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    lead = receive().lead
    offer = open_offer(lead)
    run_clock(NOW + 5 * MIN)
    with pytest.raises(ClaimRefused, match=TOO_LATE):
        claim_offer(offer.pk, ann, now=NOW + 5 * MIN)
    assert open_offer(lead).agent == bob


def test_decline_offers_the_lead_to_the_next_agent_at_once_and_the_rotation_advances():
    ann, bob, cy = agent("Ann"), agent("Bob"), agent("Cy")
    the_rule = rule([ann, bob, cy])
    lead = receive().lead

    decline_offer(open_offer(lead).pk, ann, now=NOW + 2 * MIN)

    assert offers(lead) == [("Ann", "declined"), ("Bob", "offered")]
    bobs = open_offer(lead)
    assert bobs.offered_at == NOW + 2 * MIN
    assert bobs.deadline == NOW + 7 * MIN  # a full timeout of its own
    assert events(bob, lead) == [Notification.Event.LEAD_OFFERED]
    assert lead.activities.filter(kind=Activity.Kind.DECLINED, actor=ann).exists()
    assert RotationState.objects.get(rule=the_rule, kind="agent").agent == bob
    assert receive().as_dict()["offered_to"] == ["cy@example.com"]  # Bob's turn was used
    with pytest.raises(ClaimRefused, match="You declined this lead."):
        claim_offer(lead.offers.get(agent=ann).pk, ann, now=NOW + 3 * MIN)


def test_an_expired_offer_goes_to_the_next_agent():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    lead = receive().lead

    assert run_clock(NOW + 5 * MIN - timedelta(seconds=1)).expired == 0
    done = run_clock(NOW + 5 * MIN)

    assert done.expired == 1
    assert offers(lead) == [("Ann", "expired"), ("Bob", "offered")]
    assert open_offer(lead).deadline == NOW + 10 * MIN
    assert lead.activities.filter(kind=Activity.Kind.EXPIRED).count() == 1
    claim_offer(open_offer(lead).pk, bob, now=NOW + 6 * MIN)
    assert fresh(lead).owner_id == bob.pk


def test_when_everyone_has_passed_the_lead_is_escalated_and_managers_are_told():
    ann, bob, cy, esc, meg = agent("Ann"), agent("Bob"), agent("Cy"), agent("Esc"), manager()
    rule([ann, bob, cy], escalate_to=esc)
    lead = receive().lead

    run_clock(NOW + 5 * MIN)  # Ann lets it expire
    decline_offer(open_offer(lead).pk, bob, now=NOW + 6 * MIN)
    run_clock(NOW + 11 * MIN)  # Cy lets it expire

    lead = fresh(lead)
    assert offers(lead) == [("Ann", "expired"), ("Bob", "declined"), ("Cy", "expired")]
    assert (lead.owner_id, lead.status) == (esc.pk, Lead.Status.ASSIGNED)
    assert lead.assigned_at == NOW + 11 * MIN
    assert events(esc, lead) == [Notification.Event.LEAD_ESCALATED]
    assert events(meg, lead) == [Notification.Event.LEAD_ESCALATED]
    assert lead.activities.filter(kind=Activity.Kind.ESCALATED).count() == 1
    assert lead.routing_records.last().reason == "escalated"
    assert run_clock(NOW + 60 * MIN).expired == 0


def test_when_everyone_has_passed_and_nobody_is_set_to_escalate_to_the_lead_goes_to_the_pond():
    ann, bob, meg = agent("Ann"), agent("Bob"), manager()
    rule([ann, bob])
    lead = receive().lead

    decline_offer(open_offer(lead).pk, ann, now=NOW + MIN)
    decline_offer(open_offer(lead).pk, bob, now=NOW + 2 * MIN)

    lead = fresh(lead)
    assert (lead.owner_id, lead.status) == (None, Lead.Status.UNASSIGNED)
    assert events(meg, lead) == [Notification.Event.LEAD_UNASSIGNED]
    assert not Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).exists()


def test_an_agent_is_offered_a_lead_at_most_once_even_when_the_rotation_comes_back():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    first = receive().lead  # Ann
    second = receive().lead  # Bob
    # Ann passes on the first lead: Bob gets it; then Bob passes on both.
    decline_offer(open_offer(first).pk, ann, now=NOW + MIN)
    decline_offer(open_offer(first).pk, bob, now=NOW + 2 * MIN)
    decline_offer(open_offer(second).pk, bob, now=NOW + 3 * MIN)

    assert offers(first) == [("Ann", "declined"), ("Bob", "declined")]
    assert fresh(first).status == Lead.Status.UNASSIGNED  # Ann's turn again, but she had it
    assert offers(second) == [("Bob", "declined"), ("Ann", "offered")]


def test_the_next_agent_must_be_eligible():
    ann, bob, cy = agent("Ann"), agent("Bob", accepting_leads=False), agent("Cy")
    rule([ann, bob, cy])
    lead = receive().lead
    decline_offer(open_offer(lead).pk, ann, now=NOW + MIN)
    assert offers(lead) == [("Ann", "declined"), ("Cy", "offered")]


def test_escalation_to_an_inactive_agent_goes_to_the_pond():
    ann = agent("Ann")
    rule([ann], escalate_to=agent("Esc", is_active=False))
    lead = receive().lead
    run_clock(NOW + 5 * MIN)
    assert (fresh(lead).status, fresh(lead).owner_id) == (Lead.Status.UNASSIGNED, None)


# --- First to claim -----------------------------------------------------------------------------


def test_first_to_claim_offers_every_eligible_member_at_once():
    ann, bob, cy, dee = agent("Ann"), agent("Bob"), agent("Cy"), agent("Dee", is_active=False)
    rule([ann, bob, cy, dee], delivery=Rule.Delivery.FIRST_TO_CLAIM)

    result = receive()

    assert result.status == "offered"
    assert result.as_dict()["offered_to"] == ["ann@example.com", "bob@example.com",
                                              "cy@example.com"]
    assert offers(result.lead) == [("Ann", "offered"), ("Bob", "offered"), ("Cy", "offered")]
    assert {o.deadline for o in Offer.objects.filter(lead=result.lead)} == {NOW + 5 * MIN}
    for who in (ann, bob, cy):
        assert events(who) == [Notification.Event.LEAD_OFFERED]


def test_first_to_claim_the_first_claim_wins_and_the_others_are_withdrawn_on_the_spot():
    ann, bob, cy = agent("Ann"), agent("Bob"), agent("Cy")
    rule([ann, bob, cy], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive().lead

    claim_offer(open_offer(lead, bob).pk, bob, now=NOW + MIN)

    lead = fresh(lead)
    assert (lead.owner_id, lead.status) == (bob.pk, Lead.Status.ASSIGNED)
    assert offers(lead) == [("Ann", "withdrawn"), ("Bob", "claimed"), ("Cy", "withdrawn")]
    assert {o.responded_at for o in Offer.objects.filter(lead=lead)} == {NOW + MIN}
    for loser in (ann, cy):
        assert events(loser, lead) == [Notification.Event.LEAD_OFFERED,
                                       Notification.Event.OFFER_WITHDRAWN]
    assert events(bob, lead) == [Notification.Event.LEAD_OFFERED]
    with pytest.raises(ClaimRefused, match=LOST):
        claim_offer(lead.offers.get(agent=cy).pk, cy, now=NOW + 2 * MIN)
    assert fresh(lead).owner_id == bob.pk
    assert run_clock(NOW + 10 * MIN).expired == 0


def test_first_to_claim_nobody_claims_in_time_escalates():
    ann, bob, esc, meg = agent("Ann"), agent("Bob"), agent("Esc"), manager()
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM, escalate_to=esc)
    lead = receive().lead

    done = run_clock(NOW + 5 * MIN)

    assert done.expired == 2
    lead = fresh(lead)
    assert offers(lead) == [("Ann", "expired"), ("Bob", "expired")]  # nobody is offered again
    assert (lead.owner_id, lead.status) == (esc.pk, Lead.Status.ASSIGNED)
    assert events(esc, lead) == [Notification.Event.LEAD_ESCALATED]
    assert events(meg, lead) == [Notification.Event.LEAD_ESCALATED]
    assert lead.activities.filter(kind=Activity.Kind.ESCALATED).count() == 1


def test_first_to_claim_nobody_claims_and_no_escalation_means_the_pond():
    ann, bob, meg = agent("Ann"), agent("Bob"), manager()
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive().lead
    run_clock(NOW + 5 * MIN)
    assert (fresh(lead).status, fresh(lead).owner_id) == (Lead.Status.UNASSIGNED, None)
    assert events(meg, lead) == [Notification.Event.LEAD_UNASSIGNED]


def test_first_to_claim_a_decline_waits_for_the_others():
    ann, bob, esc = agent("Ann"), agent("Bob"), agent("Esc")
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM, escalate_to=esc)
    lead = receive().lead

    decline_offer(open_offer(lead, ann).pk, ann, now=NOW + MIN)
    assert offers(lead) == [("Ann", "declined"), ("Bob", "offered")]
    assert fresh(lead).status == Lead.Status.OFFERED

    decline_offer(open_offer(lead, bob).pk, bob, now=NOW + 2 * MIN)
    assert fresh(lead).owner_id == esc.pk


def test_first_to_claim_a_claim_after_a_decline_still_wins():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive().lead
    decline_offer(open_offer(lead, ann).pk, ann, now=NOW + MIN)
    claim_offer(open_offer(lead, bob).pk, bob, now=NOW + 2 * MIN)
    assert offers(lead) == [("Ann", "declined"), ("Bob", "claimed")]
    assert fresh(lead).owner_id == bob.pk


# --- The actionable window ----------------------------------------------------------------------


def test_a_lead_arriving_at_night_is_offered_at_once_and_its_clock_starts_in_the_morning():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])

    result = receive(at=NIGHT)

    assert result.status == "offered"
    offer = open_offer(result.lead)
    assert offer.agent == ann and offer.offered_at == NIGHT
    assert offer.clock_starts_at == MORNING
    assert offer.deadline == MORNING + 5 * MIN
    assert offer.remind_at == MORNING + 150 * timedelta(seconds=1)
    assert events(ann) == [Notification.Event.LEAD_OFFERED]  # told now, not in the morning
    assert "Thu 08:05" in Notification.objects.get(recipient=ann).body
    assert run_clock(MORNING + 4 * MIN).expired == 0
    assert run_clock(MORNING + 5 * MIN).expired == 1
    assert open_offer(result.lead).agent == bob


def test_an_offer_made_at_night_can_be_claimed_before_the_morning():
    ann = agent("Ann")
    rule([ann])
    lead = receive(at=NIGHT).lead
    claim_offer(open_offer(lead).pk, ann, now=NIGHT + 3 * 60 * MIN)
    assert fresh(lead).owner_id == ann.pk


def test_a_window_ending_in_the_middle_of_a_claim_pauses_the_clock():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob])
    lead = receive(at=datetime(2026, 11, 18, 20, 58, tzinfo=NY)).lead
    offer = open_offer(lead)
    assert offer.clock_starts_at == datetime(2026, 11, 18, 20, 58, tzinfo=NY)
    assert offer.deadline == MORNING + 3 * MIN
    assert run_clock(NIGHT).expired == 0
    decline_offer(offer.pk, ann, now=NIGHT)  # declined at night: Bob's clock waits too
    assert open_offer(lead).deadline == MORNING + 5 * MIN


def test_a_mon_fri_window_sends_friday_evening_offers_to_monday():
    Brokerage.objects.update_or_create(pk=1, defaults={"actionable_window": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "21:00"}]})
    rule([agent("Ann"), agent("Bob")])
    lead = receive(at=datetime(2026, 11, 20, 20, 58, tzinfo=NY)).lead
    assert open_offer(lead).deadline == datetime(2026, 11, 23, 8, 3, tzinfo=NY)


def test_after_hours_assign_gives_the_lead_outright_to_the_first_agent_picked():
    ann, bob = agent("Ann"), agent("Bob")
    the_rule = rule([ann, bob], after_hours=Rule.AfterHours.ASSIGN)

    night = receive(at=NIGHT)
    day = receive(at=MORNING)

    assert night.status == "assigned" and night.routing.agent.pk == ann.pk
    assert (fresh(night.lead).owner_id, fresh(night.lead).status) == (ann.pk, "assigned")
    assert not Offer.objects.filter(lead=night.lead).exists()
    assert events(ann, night.lead) == [Notification.Event.LEAD_ASSIGNED]
    assert day.status == "offered" and day.as_dict()["offered_to"] == ["bob@example.com"]
    assert RotationState.objects.get(rule=the_rule).agent == bob


def test_after_hours_assign_on_a_first_to_claim_rule():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM, after_hours=Rule.AfterHours.ASSIGN)
    night = receive(at=NIGHT)
    assert night.status == "assigned" and night.routing.agent.pk == ann.pk
    assert not Offer.objects.filter(lead=night.lead).exists()
    assert receive(at=NIGHT).routing.agent.pk == bob.pk  # the rotation picks the first agent


def test_after_hours_offer_is_the_default():
    rule([agent("Ann")])
    assert Rule.objects.get().after_hours == Rule.AfterHours.OFFER
    assert receive(at=NIGHT).status == "offered"


# --- The pond -----------------------------------------------------------------------------------


def pond_lead() -> Lead:
    ann = Agent.objects.filter(email="ann@example.com").first() or agent("Ann")
    rule([ann], name="Pond maker")
    lead = receive().lead
    decline_offer(open_offer(lead).pk, ann, now=NOW + MIN)
    assert fresh(lead).status == Lead.Status.UNASSIGNED
    return lead


def test_any_agent_may_claim_a_pond_lead_and_the_first_claim_wins():
    lead = pond_lead()
    ann, zed, yan = Agent.objects.get(name="Ann"), agent("Zed"), agent("Yan")  # not on roster

    claimed = claim_from_pond(lead.pk, zed, now=NOW + 2 * MIN)

    assert (claimed.owner_id, claimed.status) == (zed.pk, Lead.Status.ASSIGNED)
    assert claimed.assigned_at == NOW + 2 * MIN
    assert lead.activities.filter(kind=Activity.Kind.CLAIMED, actor=zed).exists()
    for other in (yan, ann):
        with pytest.raises(ClaimRefused, match=LOST):
            claim_from_pond(lead.pk, other, now=NOW + 3 * MIN)
    assert fresh(lead).owner_id == zed.pk


def test_a_lead_that_is_not_in_the_pond_cannot_be_claimed_from_it():
    ann = agent("Ann")
    rule([ann])
    offered = receive().lead
    with pytest.raises(ClaimRefused, match=LOST):
        claim_from_pond(offered.pk, agent("Zed"), now=NOW)
    with pytest.raises(Lead.DoesNotExist):
        claim_from_pond(999_999, ann, now=NOW)


def test_a_manager_assigns_a_pond_lead():
    lead = pond_lead()
    meg, zed = manager(), agent("Zed")

    assign_lead(lead.pk, zed, by=meg, now=NOW + 5 * MIN)

    lead = fresh(lead)
    assert (lead.owner_id, lead.status) == (zed.pk, Lead.Status.ASSIGNED)
    assert events(zed, lead) == [Notification.Event.LEAD_ASSIGNED]
    assert lead.activities.filter(kind=Activity.Kind.REASSIGNED, actor=meg).exists()


def test_a_manager_assigning_an_offered_lead_withdraws_the_offers():
    ann, bob, meg = agent("Ann"), agent("Bob"), manager()
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive().lead
    assign_lead(lead.pk, bob, by=meg, now=NOW + MIN)
    assert offers(lead) == [("Ann", "withdrawn"), ("Bob", "withdrawn")]
    with pytest.raises(ClaimRefused, match=LOST):
        claim_offer(lead.offers.get(agent=ann).pk, ann, now=NOW + 2 * MIN)
    assert run_clock(NOW + 10 * MIN).expired == 0
    assert fresh(lead).owner_id == bob.pk


# --- Idle reassignment --------------------------------------------------------------------------


def idle_rule(agents: list[Agent], **kw) -> Rule:
    kw.setdefault("delivery", Rule.Delivery.ASSIGN)
    kw.setdefault("first_contact_minutes", 30)
    return rule(agents, **kw)


def test_an_owner_with_no_first_contact_in_time_loses_the_lead_to_the_next_agent():
    ann, bob, meg = agent("Ann"), agent("Bob"), manager()
    idle_rule([ann, bob])
    lead = receive().lead
    assert fresh(lead).first_contact_due_at == NOW + 30 * MIN

    assert run_clock(NOW + 29 * MIN).reassigned == 0
    done = run_clock(NOW + 30 * MIN)

    assert done.reassigned == 1
    lead = fresh(lead)
    assert (lead.owner_id, lead.status) == (bob.pk, Lead.Status.ASSIGNED)
    assert lead.assigned_at == NOW + 30 * MIN
    assert lead.first_contact_due_at == NOW + 60 * MIN  # Bob's own clock
    assert events(ann, lead) == [Notification.Event.LEAD_ASSIGNED,
                                 Notification.Event.IDLE_REASSIGNED]
    assert events(meg, lead) == [Notification.Event.IDLE_REASSIGNED]
    assert events(bob, lead) == [Notification.Event.LEAD_ASSIGNED]
    assert lead.activities.filter(kind=Activity.Kind.REASSIGNED).count() == 1
    assert run_clock(NOW + 30 * MIN).reassigned == 0  # once


def test_a_note_does_not_count_as_first_contact():
    ann, bob = agent("Ann"), agent("Bob")
    idle_rule([ann, bob])
    lead = fresh(receive().lead)
    log_activity(lead, ann, "note", "Looked at the listing", now=NOW + 10 * MIN)
    run_clock(NOW + 30 * MIN)
    assert fresh(lead).owner_id == bob.pk


def test_another_agents_call_does_not_count_as_first_contact():
    ann, bob = agent("Ann"), agent("Bob")
    idle_rule([ann, bob])
    lead = fresh(receive().lead)
    log_activity(lead, bob, "call", "Called them", now=NOW + 10 * MIN)
    assert fresh(lead).first_contact_at is None
    run_clock(NOW + 30 * MIN)
    assert fresh(lead).owner_id == bob.pk


@pytest.mark.parametrize("kind", ["call", "text", "email", "meeting"])
def test_the_owners_first_contact_in_time_keeps_the_lead(kind):
    ann, bob = agent("Ann"), agent("Bob")
    idle_rule([ann, bob])
    lead = fresh(receive().lead)
    log_activity(lead, ann, kind, "Spoke to them", now=NOW + 29 * MIN)
    lead = fresh(lead)
    assert lead.first_contact_at == NOW + 29 * MIN and lead.first_contact_due_at is None
    assert run_clock(NOW + 2 * 60 * MIN).reassigned == 0
    assert fresh(lead).owner_id == ann.pk


def test_first_contact_minutes_count_in_the_actionable_window():
    ann, bob = agent("Ann"), agent("Bob")
    idle_rule([ann, bob])
    lead = receive(at=datetime(2026, 11, 18, 20, 50, tzinfo=NY)).lead
    assert fresh(lead).first_contact_due_at == MORNING + 20 * MIN
    assert run_clock(NIGHT).reassigned == 0
    assert run_clock(MORNING + 20 * MIN).reassigned == 1
    assert fresh(lead).owner_id == bob.pk


def test_a_claimed_lead_with_no_first_contact_is_offered_to_the_next_agent():
    ann, bob, meg = agent("Ann"), agent("Bob"), manager()
    idle_rule([ann, bob], delivery=Rule.Delivery.CLAIM)
    lead = receive().lead
    claim_offer(open_offer(lead).pk, ann, now=NOW + 2 * MIN)
    assert fresh(lead).first_contact_due_at == NOW + 32 * MIN

    run_clock(NOW + 32 * MIN)

    lead = fresh(lead)
    assert (lead.owner_id, lead.status) == (None, Lead.Status.OFFERED)
    assert offers(lead) == [("Ann", "claimed"), ("Bob", "offered")]
    assert events(ann, lead)[-1] == Notification.Event.IDLE_REASSIGNED
    assert events(meg, lead) == [Notification.Event.IDLE_REASSIGNED]
    claim_offer(open_offer(lead).pk, bob, now=NOW + 33 * MIN)
    assert fresh(lead).first_contact_due_at == NOW + 63 * MIN


def test_idle_reassignment_with_nobody_left_escalates():
    ann, esc, meg = agent("Ann"), agent("Esc"), manager()
    idle_rule([ann], escalate_to=esc)
    lead = receive().lead
    run_clock(NOW + 30 * MIN)
    lead = fresh(lead)
    assert lead.owner_id == esc.pk and lead.first_contact_due_at is None
    assert Notification.Event.IDLE_REASSIGNED in events(meg, lead)
    assert Notification.Event.LEAD_ESCALATED in events(meg, lead)


def test_idle_reassignment_only_for_rules_that_ask_for_it():
    ann, bob = agent("Ann"), agent("Bob")
    rule([ann, bob], delivery=Rule.Delivery.ASSIGN)
    lead = receive().lead
    assert fresh(lead).first_contact_due_at is None
    assert run_clock(NOW + 24 * 60 * MIN).reassigned == 0
    assert fresh(lead).owner_id == ann.pk


# --- Who may take a pond lead -------------------------------------------------------------------

NOT_FOR_LENDERS = "Lenders cannot take leads from the pond: the pond is for agents."


@pytest.mark.parametrize(("role", "refusal"), [
    (Agent.Role.LENDER, NOT_FOR_LENDERS),
    (Agent.Role.MANAGER, "Managers do not take pond leads: assign the lead from the admin "
                         "(yourself or an agent)."),
    (Agent.Role.ISA, "ISAs cannot take leads from the pond: the pond is for agents."),
])
def test_only_agents_take_pond_leads(role, refusal):
    lead = pond_lead()
    someone = agent("Lou", role=role)

    with pytest.raises(ClaimRefused, match=re.escape(refusal)) as refused:
        claim_from_pond(lead.pk, someone, now=NOW + 2 * MIN)

    assert refused.value.status_code == 403
    assert (fresh(lead).status, fresh(lead).owner_id) == (Lead.Status.UNASSIGNED, None)
    assert not lead.activities.filter(kind=Activity.Kind.CLAIMED).exists()
    zed = agent("Zed")
    assert claim_from_pond(lead.pk, zed, now=NOW + 3 * MIN).owner_id == zed.pk


def test_a_lender_claiming_from_the_pond_page_and_api_is_told_no():
    from django.test import Client
    from rest_framework.authtoken.models import Token

    lead = pond_lead()
    lena = AgentFactory(name="Lena", email="lena@example.com", role=Agent.Role.LENDER)
    page = Client()
    page.force_login(lena.user)

    answer = page.post(f"/pond/{lead.pk}/claim/", follow=True)

    assert answer.status_code == 200
    assert NOT_FOR_LENDERS in answer.content.decode()
    token, _ = Token.objects.get_or_create(user=lena.user)
    api = Client(headers={"Authorization": f"Token {token.key}"})
    answer = api.post(f"/api/v1/agent/pond/{lead.pk}/claim/")
    assert answer.status_code == 403
    assert answer.json() == {"errors": {"permission": NOT_FOR_LENDERS}}
    assert fresh(lead).owner_id is None
