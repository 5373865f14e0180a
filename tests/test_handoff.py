"""Hand-offs from ISAs to agents: the pure target selection, then the service with a database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa.handoffs import HandoffRefused, hand_off, preview_handoff, run_handoff_clock
from leads.isa.queue import log_contact, save_qualification, update_card
from leads.models import Activity, Lead
from leads.services import log_activity
from notifications.models import Notification
from routing import engine
from routing.claims import ClaimRefused, assign_lead, claim_offer, decline_offer
from routing.clock import run_clock
from routing.engine import (
    AgentInfo,
    Cursor,
    LeadFacts,
    Loads,
    Member,
    RosterInfo,
    RoutingConfig,
    render_trace,
)
from routing.engine.handoff import TargetSpec, decide_handoff, decide_named, target_rule
from routing.models import Brokerage, Handoff, HandoffRotation, HandoffTarget, Offer, RoutingRecord
from routing.windows import WeeklyWindow
from tests.factories import AgentFactory, RosterFactory, RuleFactory

TZ = "America/New_York"
NY = ZoneInfo(TZ)
WED_1000 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wed 10:00 in New York
MIN = timedelta(minutes=1)

# --- The pure decision --------------------------------------------------------------------------

ANN, BOB, CAROL, ISA = 1, 2, 3, 9
ROSTER = 7


def config(**changes) -> RoutingConfig:
    agents = {
        ANN: AgentInfo(ANN, "ann@example.com", "Ann", zip_codes=frozenset({"60601"}),
                       specialties=frozenset({"luxury"})),
        BOB: AgentInfo(BOB, "bob@example.com", "Bob", zip_codes=frozenset({"60602"}),
                       specialties=frozenset({"condo"}),
                       shifts=(WeeklyWindow(frozenset(range(7)), time(8), time(12)),)),
        CAROL: AgentInfo(CAROL, "carol@example.com", "Carol", zip_codes=frozenset({"60601"}),
                         specialties=frozenset({"luxury", "condo"})),
        ISA: AgentInfo(ISA, "isa@example.com", "Ivy", role="isa"),
    }
    agents.update(changes.pop("agents", {}))
    roster = RosterInfo(ROSTER, "Closers", tuple(Member(a, i) for i, a in
                                                 enumerate(changes.pop("members",
                                                                       (ANN, BOB, CAROL)))))
    return RoutingConfig(timezone=TZ, rules=(), rosters={ROSTER: roster}, agents=agents,
                         **changes)


def spec(**fields) -> TargetSpec:
    return TargetSpec(**{"id": 4, "name": "Buyers", "roster_id": ROSTER, **fields})


def facts(**fields) -> LeadFacts:
    return LeadFacts(received_at=WED_1000 - timedelta(days=3), **fields)


def test_target_becomes_a_rule_the_engine_understands():
    rule = target_rule(spec(selection="territory", delivery="claim", claim_timeout_minutes=9,
                            escalate_to_id=ANN))
    assert (rule.id, rule.name, rule.roster_id) == (-4, "Hand-off: Buyers", ROSTER)
    assert (rule.selection, rule.delivery, rule.claim_timeout_minutes, rule.escalate_to_id) == (
        "territory", "claim", 9, ANN)


def test_rotation_picks_in_turn_and_moves_the_target_cursor():
    first = decide_handoff(config(), spec(), facts(), at=WED_1000)
    assert (first.outcome, first.agent_id, first.reason) == ("assigned", ANN, "handoff")
    cursor = first.cursors[(-4, engine.AGENT)]
    second = decide_handoff(config(), spec(), facts(), at=WED_1000, cursor=cursor)
    assert second.agent_id == BOB
    assert second.summary == "Handed off to Bob (target 'Buyers')"


def test_territory_picks_the_agent_covering_the_zip():
    decision = decide_handoff(config(), spec(selection="territory"), facts(zip_code="60602"),
                              at=WED_1000)
    assert decision.agent_id == BOB
    lines = render_trace(decision.trace)
    assert lines[0].startswith("Hand-off to target 'Buyers' (roster 'Closers', territory")
    assert any("Ann <ann@example.com> (position 1, 1 per round): skipped, outside territory "
               "(lead zip 60602)" in line for line in lines)
    assert lines[-1] == "Assigned to Bob <bob@example.com> by rule 'Hand-off: Buyers'"


def test_territory_with_nobody_covering_the_zip_says_so():
    decision = decide_handoff(config(), spec(selection="territory"), facts(zip_code="99999"),
                              at=WED_1000, by="Ivy")
    assert decision.outcome == "nobody" and decision.agent_id is None
    assert decision.summary.startswith(
        "Nobody on 'Buyers' covers the lead's zip code (99999). Ann: outside territory")
    assert decision.cursors == {}
    lines = render_trace(decision.trace)
    assert lines[0].startswith("Hand-off by Ivy to target 'Buyers'")
    assert "going on to the next rule" not in " ".join(lines)
    assert lines[-1] == ("Nobody on 'Buyers' covers the lead's zip code (99999): nothing handed "
                         "off")


def test_specialty_matches_agent_specialties_to_lead_tags():
    decision = decide_handoff(config(), spec(selection="specialty"), facts(tags=("Condo",)),
                              at=WED_1000)
    assert decision.agent_id == BOB  # Ann lacks condo; Bob is first with it
    nobody = decide_handoff(config(), spec(selection="specialty"), facts(tags=("farm",)),
                            at=WED_1000)
    assert nobody.outcome == "nobody"
    assert nobody.summary.startswith("Nobody on 'Buyers' has a specialty matching the lead's "
                                     "tags (farm)")
    untagged = decide_handoff(config(), spec(selection="specialty"), facts(), at=WED_1000)
    assert "no specialty matching the lead's tags ((none))" in untagged.summary


def test_on_duty_and_paused_agents():
    cfg = config(agents={ANN: AgentInfo(ANN, "ann@example.com", "Ann", accepting_leads=False)})
    decision = decide_handoff(cfg, spec(selection="on_duty"), facts(), at=WED_1000)
    assert decision.agent_id == BOB  # on duty 8-12; Ann paused, Carol has no shift
    evening = decide_handoff(cfg, spec(selection="on_duty"), facts(), at=WED_1000 + 8 * 60 * MIN)
    assert evening.outcome == "nobody"
    assert evening.summary.startswith("Nobody on 'Buyers' is on duty now")


def test_claim_and_first_to_claim_deliveries():
    claim = decide_handoff(config(), spec(delivery="claim", claim_timeout_minutes=7), facts(),
                           at=WED_1000)
    assert (claim.outcome, claim.offered_to, claim.agent_id) == ("offered", (ANN,), None)
    assert claim.summary == "Hand-off offered to Ann (target 'Buyers', 7 min to claim)"
    everyone = decide_handoff(config(), spec(delivery="first_to_claim"), facts(), at=WED_1000)
    assert everyone.offered_to == (ANN, BOB, CAROL)
    assert everyone.summary.endswith("(target 'Buyers', first to claim)")


def test_caps_count_for_hand_offs():
    cfg = config(agents={ANN: AgentInfo(ANN, "ann@example.com", "Ann", max_open_leads=2)})
    decision = decide_handoff(cfg, spec(), facts(), at=WED_1000, loads=Loads({ANN: 2}))
    assert decision.agent_id == BOB
    assert "at cap: 2 of 2 open leads" in " ".join(render_trace(decision.trace))


def test_empty_roster():
    decision = decide_handoff(config(members=()), spec(), facts(), at=WED_1000)
    assert decision.outcome == "nobody"
    assert decision.summary == "Nobody is on the roster of 'Buyers'."


def test_named_agent():
    ok = decide_named(config(), BOB, facts(), at=WED_1000, by="Ivy")
    assert (ok.outcome, ok.agent_id) == ("assigned", BOB)
    assert render_trace(ok.trace)[0].startswith("Hand-off by Ivy to an agent by name: Bob")
    paused = config(agents={BOB: AgentInfo(BOB, "bob@example.com", "Bob", accepting_leads=False)})
    refused = decide_named(paused, BOB, facts(), at=WED_1000)
    assert refused.outcome == "nobody"
    assert refused.summary == "Bob cannot take the lead: paused (not accepting leads)."
    assert decide_named(config(), ISA, facts(), at=WED_1000).summary == (
        "Ivy cannot take the lead: not an agent (role isa).")
    assert decide_named(config(), 404, facts(), at=WED_1000).outcome == "nobody"


def test_specialty_selection_for_rules_too():
    agent = AgentInfo(ANN, "ann@example.com", "Ann", specialties=frozenset({"luxury"}))
    member = Member(ANN, 0)
    local = WED_1000.astimezone(NY)
    assert engine.static_skip_reason(agent, member, "specialty", facts(tags=(" LUXURY ",)),
                                     local) is None
    assert engine.static_skip_reason(agent, member, "specialty", facts(tags=("condo", "new")),
                                     local) == ("no specialty matching the lead's tags "
                                                "(condo, new)")
    assert engine.static_skip_reason(agent, member, "rotation", facts(), local) is None


def test_rotation_cursor_is_the_target_own():
    decision = decide_handoff(config(), spec(), facts(), at=WED_1000,
                              cursor=Cursor(ANN, 0, 1))
    assert decision.agent_id == BOB
    assert set(decision.cursors) == {(-4, engine.AGENT)}


# --- The service ---------------------------------------------------------------------------------

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)


@pytest.fixture
def world(db):
    """An ISA team taking every lead, three agents, a manager."""
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    ivy = AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    ian = AgentFactory(name="Ian Isa", email="ian@example.com", role=Agent.Role.ISA)
    ann = AgentFactory(name="Ann Lee", email="ann@example.com", zip_codes=["60601"],
                       specialties=["luxury"])
    bob = AgentFactory(name="Bob Ray", email="bob@example.com", zip_codes=["60602"])
    cat = AgentFactory(name="Cat Cho", email="cat@example.com", zip_codes=["60601"])
    max_ = AgentFactory(name="Max Boss", email="max@example.com", role=Agent.Role.MANAGER)
    RuleFactory(name="ISA team", is_catch_all=True,
                roster=RosterFactory.with_members([ivy, ian], name="ISAs"))
    closers = RosterFactory.with_members([ann, bob, cat], name="Closers")
    return type("World", (), {"ivy": ivy, "ian": ian, "ann": ann, "bob": bob, "cat": cat,
                              "max": max_, "closers": closers})


def new_lead(**fields) -> Lead:
    data = {"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
            "phone": "+13125550199", "source": "Zillow", "zip_code": "60601",
            "tags": ["luxury"], "message": "Looking for a 2-bed", **fields}
    result = receive_lead(data, channel="api", received_at=fields.pop("at", NOW))
    assert result.status == "assigned", result.as_dict()
    return Lead.objects.get(pk=result.lead.pk)


def target(world, **fields) -> HandoffTarget:
    return HandoffTarget.objects.create(**{"name": "Downtown", "roster": world.closers,
                                           "selection": "territory", **fields})


def qualified_lead(world, **fields) -> Lead:
    lead = new_lead(**fields)
    assert lead.owner == world.ivy and lead.isa_stage == ""
    log_contact(lead, world.ivy, "call", "Pre-approved, wants to buy by spring", now=NOW + MIN)
    save_qualification(lead, world.ivy, {"timeframe": "1-3", "pre_approved": True,
                                         "budget": 650000, "areas": "Loop", "side": "buyer"},
                       now=NOW + 2 * MIN)
    update_card(lead, world.ivy, stage="qualified", temperature="hot", now=NOW + 3 * MIN)
    lead.refresh_from_db()
    return lead


def test_hand_off_by_territory_assigns_with_note_facts_record_and_notification(world):
    lead = qualified_lead(world, zip_code="60601")
    downtown = target(world)

    handoff = hand_off(lead.pk, isa=world.ivy, target=downtown, note="Call her after 5",
                       now=NOW + 10 * MIN)

    lead.refresh_from_db()
    assert lead.owner == world.ann and lead.status == Lead.Status.ASSIGNED
    assert lead.isa == world.ivy and lead.isa_stage == Lead.IsaStage.HANDED_OFF
    assert lead.handed_off_at == NOW + 10 * MIN and lead.first_contact_due_at is None
    assert lead.rule.name == "ISA team"  # the rule that took the lead is kept
    assert (handoff.status, handoff.agent, handoff.isa, handoff.by) == (
        Handoff.Status.ASSIGNED, world.ann, world.ivy, world.ivy)
    assert handoff.contact_due_at == NOW + 40 * MIN  # 30 minutes of the window
    assert handoff.facts == {"timeframe": "1 to 3 months", "pre_approved": "yes",
                             "budget": "$650,000", "areas": "Loop", "side": "Buyer",
                             "temperature": "Hot"}
    record = lead.routing_records.order_by("created_at", "id").last()
    assert (record.reason, record.rule, record.agent, record.outcome) == (
        "handoff", None, world.ann, "assigned")
    assert record.rule_name == "Hand-off: Downtown"
    lines = render_trace(record.trace)
    assert lines[0].startswith("Hand-off by Ivy Isa to target 'Downtown' (roster 'Closers', "
                               "territory")
    assert any("Bob Ray" in line and "outside territory (lead zip 60601)" in line
               for line in lines)
    assert lines[-1] == "Assigned to Ann Lee <ann@example.com> by rule 'Hand-off: Downtown'"
    activity = lead.activities.get(kind=Activity.Kind.HANDED_OFF)
    assert activity.actor == world.ivy
    assert activity.body == ("Handed off to Ann Lee (target 'Downtown'). From ISA Ivy Isa.\n"
                             "Note: Call her after 5\nTimeframe: 1 to 3 months\n"
                             "Pre-approved: yes\nBudget: $650,000\nAreas: Loop\n"
                             "Buyer or seller: Buyer\nTemperature: Hot")
    note = Notification.objects.get(recipient=world.ann)
    assert note.event == Notification.Event.LEAD_ASSIGNED and note.lead_id == lead.pk
    assert note.title == "Hand-off: Pat Buyer"
    assert "Note: Call her after 5" in note.body and "Pre-approved: yes" in note.body
    assert HandoffRotation.objects.get(target=downtown).agent == world.ann


def test_preview_changes_nothing_and_tells_why_nobody_can(world):
    lead = qualified_lead(world, zip_code="99999")
    downtown = target(world)
    before = (Lead.objects.get(pk=lead.pk).owner_id, RoutingRecord.objects.count(),
              Activity.objects.count(), Notification.objects.count())

    preview = preview_handoff(lead.pk, isa=world.ivy, target=downtown, now=NOW)

    assert not preview.possible and preview.agents == []
    assert preview.summary.startswith("Nobody on 'Downtown' covers the lead's zip code (99999)")
    with pytest.raises(HandoffRefused, match="covers the lead's zip code"):
        hand_off(lead.pk, isa=world.ivy, target=downtown, note="x", now=NOW)
    after = (Lead.objects.get(pk=lead.pk).owner_id, RoutingRecord.objects.count(),
             Activity.objects.count(), Notification.objects.count())
    assert after == before
    assert not Handoff.objects.exists() and not HandoffRotation.objects.exists()

    other = target(world, name="Everyone", selection="rotation")
    ok = preview_handoff(lead.pk, isa=world.ivy, target=other, now=NOW)
    assert ok.possible and [a.name for a in ok.agents] == ["Ann Lee"]
    assert hand_off(lead.pk, isa=world.ivy, target=other, note="x", now=NOW).agent == world.ann


def test_preview_for_specialty_with_nobody_matching(world):
    lead = qualified_lead(world, tags=["farm"])
    preview = preview_handoff(lead.pk, isa=world.ivy,
                              target=target(world, selection="specialty"), now=NOW)
    assert not preview.possible
    assert preview.summary.startswith("Nobody on 'Downtown' has a specialty matching the "
                                      "lead's tags (farm)")


def test_hand_off_to_a_named_agent(world):
    lead = qualified_lead(world)
    handoff = hand_off(lead.pk, isa=world.ivy, agent=world.bob, note="Your client",
                       now=NOW + 10 * MIN)
    lead.refresh_from_db()
    assert lead.owner == world.bob and handoff.target is None and handoff.target_name == ""
    record = lead.routing_records.last()
    assert record.rule_name == "Hand-off to an agent by name"
    assert record.summary == "Handed off to Bob Ray (named by the ISA)"
    with pytest.raises(HandoffRefused, match="already handed off"):
        hand_off(lead.pk, isa=world.ivy, agent=world.ann, note="again", now=NOW + 11 * MIN)


def test_who_may_hand_off(world):
    lead = qualified_lead(world)
    downtown = target(world)
    for who in (world.ian, world.ann):
        with pytest.raises(HandoffRefused, match="Only the ISA who holds this lead"):
            hand_off(lead.pk, isa=who, target=downtown, note="x", now=NOW)
    with pytest.raises(HandoffRefused, match="Choose who receives the lead"):
        hand_off(lead.pk, isa=world.ivy, note="x", now=NOW)
    with pytest.raises(HandoffRefused, match="Choose who receives the lead"):
        hand_off(lead.pk, isa=world.ivy, target=downtown, agent=world.ann, note="x", now=NOW)
    downtown.is_active = False
    downtown.save()
    with pytest.raises(HandoffRefused, match="not in use any more"):
        hand_off(lead.pk, isa=world.ivy, target=downtown, note="x", now=NOW)
    handoff = hand_off(lead.pk, isa=world.max, agent=world.cat, note="for Ivy", now=NOW)
    assert (handoff.isa, handoff.by) == (world.ivy, world.max)  # the manager acts for the ISA


def test_dead_leads_and_agent_leads_cannot_be_handed_off(world):
    lead = qualified_lead(world)
    update_card(lead, world.ivy, stage="dead", dead_reason="Bought elsewhere", now=NOW)
    with pytest.raises(HandoffRefused, match="marked dead"):
        hand_off(lead.pk, isa=world.ivy, agent=world.ann, note="x", now=NOW)
    assign_lead(lead.pk, world.ann, by=world.max, now=NOW)
    with pytest.raises(HandoffRefused, match="not with an ISA"):
        hand_off(lead.pk, isa=world.max, agent=world.bob, note="x", now=NOW)


def test_claim_delivery_moves_on_within_the_target_then_escalates_and_tells_the_isa(world):
    lead = qualified_lead(world, zip_code="60601")
    downtown = target(world, delivery="claim", claim_timeout_minutes=5, escalate_to=world.max)
    handoff = hand_off(lead.pk, isa=world.ivy, target=downtown, note="Hot one", now=NOW)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED and lead.owner is None
    offer = Offer.objects.get(lead=lead, status=Offer.Status.OFFERED)
    assert (offer.agent, offer.rule, offer.round) == (world.ann, None, 2)
    assert offer.deadline == NOW + 5 * MIN
    assert handoff.status == Handoff.Status.OFFERED and handoff.agent == world.ann
    assert "Hot one" in Notification.objects.get(recipient=world.ann).body

    # The routing clock expires the offer: the target (not the ISA rule) offers the next agent.
    assert run_clock(NOW + 5 * MIN).expired == 1
    lead.refresh_from_db()
    nxt = Offer.objects.get(lead=lead, status=Offer.Status.OFFERED)
    assert nxt.agent == world.cat and nxt.rule is None  # territory 60601: Ann, then Cat
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.OFFERED and handoff.agent == world.cat

    decline_offer(nxt.pk, world.cat, now=NOW + 6 * MIN)  # nobody left: the escalation
    lead.refresh_from_db()
    assert lead.owner == world.max and lead.status == Lead.Status.ASSIGNED
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.ESCALATED and handoff.agent == world.max
    assert not Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).exists()
    told = Notification.objects.get(recipient=world.ivy, event=Notification.Event.LEAD_ESCALATED)
    assert told.title == "Your hand-off of Pat Buyer escalated"
    assert told.body == "Declined by Cat Cho. Escalated to Max Boss."
    assert lead.activities.filter(kind=Activity.Kind.ESCALATED).count() == 1
    assert not lead.activities.filter(kind=Activity.Kind.OFFERED, actor__isnull=True,
                                      body__contains="ISA team").exists()
    assert lead.isa == world.ivy  # still the second contact


def test_first_to_claim_hand_off_claim_starts_the_contact_window(world):
    lead = qualified_lead(world)
    downtown = target(world, selection="rotation", delivery="first_to_claim",
                      first_contact_minutes=15)
    handoff = hand_off(lead.pk, isa=world.ivy, target=downtown, note="n", now=NOW)
    assert Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).count() == 3
    assert handoff.agent is None
    bob_offer = Offer.objects.get(lead=lead, agent=world.bob)
    claim_offer(bob_offer.pk, world.bob, now=NOW + 2 * MIN)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.ASSIGNED and handoff.agent == world.bob
    assert handoff.contact_due_at == NOW + 17 * MIN
    lead.refresh_from_db()
    assert lead.first_contact_due_at is None  # the hand-off's clock, not the rule's

    log_activity(lead, world.bob, "call", "Booked a showing", now=NOW + 9 * MIN)
    handoff.refresh_from_db()
    lead.refresh_from_db()
    assert handoff.status == Handoff.Status.CONTACTED and handoff.contacted_in_time
    assert handoff.contacted_at == NOW + 9 * MIN
    assert lead.status == Lead.Status.CONTACTED
    assert lead.first_contact_at == NOW + MIN  # the ISA's: the brokerage's speed to lead
    assert run_handoff_clock(NOW + 60 * MIN) == 0


def test_first_to_claim_nobody_claims_escalates_to_the_pond(world):
    lead = qualified_lead(world)
    downtown = target(world, selection="rotation", delivery="first_to_claim")
    hand_off(lead.pk, isa=world.ivy, target=downtown, note="n", now=NOW)
    assert run_clock(NOW + 5 * MIN).expired == 3
    lead.refresh_from_db()
    assert lead.status == Lead.Status.UNASSIGNED and lead.owner is None
    assert Handoff.objects.get().status == Handoff.Status.ESCALATED
    assert Notification.objects.filter(recipient=world.ivy,
                                       event=Notification.Event.LEAD_ESCALATED).count() == 1
    assert Notification.objects.filter(recipient=world.max,
                                       event=Notification.Event.LEAD_UNASSIGNED).exists()


def test_no_first_contact_in_time_escalates_through_the_target(world):
    lead = qualified_lead(world)
    downtown = target(world, first_contact_minutes=20, escalate_to=world.cat)
    handoff = hand_off(lead.pk, isa=world.ivy, target=downtown, note="n", now=NOW)
    log_activity(lead, world.ivy, "call", "ISA checks in", now=NOW + MIN)  # not the agent's
    assert run_handoff_clock(NOW + 19 * MIN) == 0
    assert run_handoff_clock(NOW + 20 * MIN) == 1
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert lead.owner == world.cat and handoff.status == Handoff.Status.ESCALATED
    assert not handoff.contacted_in_time
    assert Notification.objects.filter(recipient=world.ivy,
                                       title="Your hand-off of Pat Buyer escalated").exists()
    assert Notification.objects.filter(recipient=world.ann,
                                       event=Notification.Event.IDLE_REASSIGNED).exists()
    record = lead.routing_records.last()
    assert record.reason == "escalated" and record.rule is None
    assert render_trace(record.trace)[:2] == [
        "Hand-off by Ivy Isa to target 'Downtown' moves on",
        "Ann Lee logged no first contact within 20 minutes of the hand-off"]
    assert run_handoff_clock(NOW + 30 * MIN) == 0  # done once


def test_named_hand_off_without_contact_comes_back_to_the_isa(world):
    lead = qualified_lead(world)
    handoff = hand_off(lead.pk, isa=world.ivy, agent=world.bob, note="n", now=NOW)
    assert run_handoff_clock(NOW + 30 * MIN) == 1
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert lead.owner == world.ivy and lead.isa_stage == Lead.IsaStage.QUALIFIED
    assert lead.status == Lead.Status.CONTACTED and lead.handed_off_at is None
    assert handoff.status == Handoff.Status.RETURNED
    assert lead.activities.filter(kind=Activity.Kind.BACK_TO_ISA).count() == 1
    assert Notification.objects.filter(recipient=world.ivy,
                                       title="Your hand-off of Pat Buyer came back to you")
    again = hand_off(lead.pk, isa=world.ivy, agent=world.ann, note="second try",
                     now=NOW + 40 * MIN)
    assert again.status == Handoff.Status.ASSIGNED


def test_a_late_contact_before_the_clock_counts_but_not_in_time(world):
    lead = qualified_lead(world)
    handoff = hand_off(lead.pk, isa=world.ivy, agent=world.bob, note="n", now=NOW)
    log_activity(lead, world.bob, "text", "Hi!", now=NOW + 31 * MIN)
    assert run_handoff_clock(NOW + 32 * MIN) == 0
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.CONTACTED and not handoff.contacted_in_time


def test_a_manager_taking_the_lead_over_closes_the_hand_off(world):
    lead = qualified_lead(world)
    handoff = hand_off(lead.pk, isa=world.ivy, agent=world.bob, note="n", now=NOW)
    assign_lead(lead.pk, world.cat, by=world.max, now=NOW + MIN)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.TAKEN_OVER
    assert run_handoff_clock(NOW + 60 * MIN) == 0
    assert Lead.objects.get(pk=lead.pk).owner == world.cat


def test_the_second_hand_off_after_the_first_is_refused(world):
    lead = qualified_lead(world)
    downtown = target(world, selection="rotation")
    hand_off(lead.pk, isa=world.ivy, target=downtown, note="n", now=NOW)
    with pytest.raises(HandoffRefused, match="already handed off"):
        hand_off(lead.pk, isa=world.ivy, target=downtown, note="n", now=NOW)
    with pytest.raises(HandoffRefused, match="already handed off"):
        preview_handoff(lead.pk, isa=world.max, target=downtown, now=NOW)
    assert Handoff.objects.count() == 1
    assert HandoffRotation.objects.get().given == 1


def test_claim_refusals_still_apply_to_hand_off_offers(world):
    lead = qualified_lead(world)
    hand_off(lead.pk, isa=world.ivy, target=target(world, delivery="claim"), note="n", now=NOW)
    offer = Offer.objects.get(lead=lead)
    with pytest.raises(ClaimRefused, match="Too late"):
        claim_offer(offer.pk, world.ann, now=NOW + 5 * MIN)


# --- The routing file -----------------------------------------------------------------------------

ROUTING_FILE = """\
timezone: America/Chicago
agents:
  - {email: ivy@example.com, name: Ivy Isa, role: isa}
  - {email: ann@example.com, name: Ann Lee, zip_codes: ["60601"], specialties: [luxury]}
  - {email: max@example.com, name: Max Boss, role: manager}
rosters:
  - {name: ISAs, members: [{agent: ivy@example.com}]}
  - {name: Closers, members: [{agent: ann@example.com}]}
rules:
  - {name: Luxury, criteria: {tag: [luxury]}, roster: Closers, selection: specialty}
  - {name: Everyone else, catch_all: true, roster: ISAs}
handoff_targets:
  - {name: Downtown, roster: Closers, selection: territory, delivery: claim,
     claim_timeout_minutes: 10, first_contact_minutes: 45, escalate_to: max@example.com}
  - {name: Luxury team, roster: Closers, selection: specialty}
"""


def test_routing_file_accepts_specialty_and_hand_off_targets(db):
    from routing.config_file import apply_routing_file, export_routing, load_routing_file

    apply_routing_file(load_routing_file(ROUTING_FILE))
    assert engine_rule_selection("Luxury") == "specialty"
    downtown = HandoffTarget.objects.get(name="Downtown")
    assert (downtown.roster.name, downtown.selection, downtown.delivery,
            downtown.claim_timeout_minutes, downtown.first_contact_minutes,
            downtown.escalate_to.email) == ("Closers", "territory", "claim", 10, 45,
                                            "max@example.com")
    luxury = HandoffTarget.objects.get(name="Luxury team")
    assert (luxury.selection, luxury.delivery, luxury.first_contact_minutes) == (
        "specialty", "assign", 30)
    text = export_routing()
    assert "handoff_targets:" in text and "selection: specialty" in text
    apply_routing_file(load_routing_file(text))
    assert export_routing() == text
    assert HandoffTarget.objects.get(name="Downtown").pk == downtown.pk  # matched by name


def engine_rule_selection(name: str) -> str:
    from routing.models import Rule

    return Rule.objects.get(name=name).selection


def test_routing_file_without_targets_keeps_them_and_their_roster(db):
    from agents.models import Roster
    from routing.config_file import apply_routing_file, load_routing_file

    apply_routing_file(load_routing_file(ROUTING_FILE))
    without = ROUTING_FILE.split("handoff_targets:")[0].replace(
        "  - {name: Closers, members: [{agent: ann@example.com}]}\n", "").replace(
        "  - {name: Luxury, criteria: {tag: [luxury]}, roster: Closers, selection: specialty}\n",
        "")
    apply_routing_file(load_routing_file(without))
    assert HandoffTarget.objects.count() == 2
    assert Roster.objects.filter(name="Closers").exists()  # still used by the targets
    apply_routing_file(load_routing_file(ROUTING_FILE.replace(
        "  - {name: Luxury team, roster: Closers, selection: specialty}\n", "")))
    assert list(HandoffTarget.objects.values_list("name", flat=True)) == ["Downtown"]


def test_routing_file_checks_hand_off_targets():
    from routing.config_file import RoutingFileError, load_routing_file

    bad = ROUTING_FILE.replace("roster: Closers, selection: territory",
                               "roster: Nobody, selection: least_loaded").replace(
        "escalate_to: max@example.com", "escalate_to: who@example.com, first_contact_minutes: 0"
    ).replace("first_contact_minutes: 45, ", "")
    with pytest.raises(RoutingFileError) as error:
        load_routing_file(bad + "  - {name: Downtown, roster: Closers, colour: red}\n")
    assert error.value.errors == [
        "handoff_targets[0].first_contact_minutes: must be at least 1 minute",
        "handoff_targets[0].selection: must be one of: rotation, on_duty, territory, specialty",
        "handoff_targets[0].name: duplicate hand-off target name Downtown",
        "handoff_targets[0].roster: unknown roster Nobody",
        "handoff_targets[0].escalate_to: unknown agent who@example.com",
        "handoff_targets[2].colour: unknown key (expected one of: name, active, roster, "
        "selection, delivery, claim_timeout_minutes, first_contact_minutes, escalate_to)",
        "handoff_targets[2].name: duplicate hand-off target name Downtown",
    ]
