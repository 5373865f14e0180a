"""Routing leads for real: what gets stored, who gets told, and how rotations move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, Roster, RosterMember
from leads.intake import build_lead, receive_lead, receive_leads, validate_lead
from leads.models import Activity, Lead, Submission
from notifications.models import Notification
from routing.engine import step_text
from routing.models import Brokerage, RotationState, RoutingRecord, Rule
from routing.selectors import _cache
from routing.services import preview
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=NY)  # a Friday morning, brokerage time


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_counter = iter(range(1, 1_000_000))


def lead_data(**fields) -> dict:
    n = next(_counter)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org"}
    data.update(fields)
    return data


def receive(data: dict | None = None, *, at: datetime = NOW, **fields):
    return receive_lead(data if data is not None else lead_data(**fields), channel="api",
                        received_at=at)


def trace_of(result) -> list[dict]:
    """The decision trace as stored with the lead."""
    return RoutingRecord.objects.get(lead_id=result.lead.pk).trace


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", **kw)


def catch_all(agents: list[Agent], weights: list[int] | None = None, **kw) -> Rule:
    roster = RosterFactory.with_members(agents, weights)
    return RuleFactory(name=kw.pop("name", "Everything else"), is_catch_all=True, roster=roster,
                       **kw)


def routed_owner_names(count: int, **fields) -> list[str]:
    names = []
    for _ in range(count):
        result = receive(**fields)
        lead = Lead.objects.select_related("owner").get(pk=result.lead.pk)
        names.append(lead.owner.name if lead.owner else None)
    return names


# --- Rules ------------------------------------------------------------------------------------


def test_lead_is_routed_by_the_first_matching_rule_and_saved():
    ann, bob = agent("Ann"), agent("Bob")
    luxury = RuleFactory(
        name="Zillow luxury buyers", roster=RosterFactory.with_members([ann]),
        criteria={"source": ["Zillow"], "tag": ["luxury"], "lead_type": ["buyer"]},
    )
    catch_all([bob])

    result = receive(source="zillow", tags=["Luxury", "vip"], lead_type="Buyer")

    assert result.status == "assigned"
    lead = Lead.objects.get(pk=result.lead.pk)
    assert lead.owner == ann
    assert lead.status == Lead.Status.ASSIGNED
    assert lead.rule == luxury
    assert lead.assigned_at == NOW
    assert lead.received_at == NOW
    assert result.as_dict() == {
        "lead": lead.pk, "status": "assigned", "agent": "ann@example.com",
        "rule": "Zillow luxury buyers", "lender": None, "errors": None,
    }
    assert Notification.objects.get(event="lead_assigned").recipient == ann

    other = receive(source="Facebook", lead_type="buyer", tags=["luxury"])
    other_lead = Lead.objects.get(pk=other.lead.pk)
    assert other_lead.owner == bob
    assert other_lead.rule.name == "Everything else"


def test_routing_record_keeps_the_trace_and_a_summary():
    ann = agent("Ann")
    RuleFactory(name="Zillow luxury buyers", roster=RosterFactory.with_members([ann]),
                criteria={"source": ["Zillow"], "price_min": 1_000_000})
    RuleFactory(name="Facebook", roster=RosterFactory.with_members([ann]),
                criteria={"source": ["Facebook"]})
    catch_all([agent("Bob")])

    result = receive(source="Zillow", price="1500000")

    record = RoutingRecord.objects.get(lead=result.lead)
    assert record.outcome == "assigned"
    assert record.reason == "rule"
    assert record.agent == ann
    assert record.rule_name == "Zillow luxury buyers"
    assert record.created_at == NOW
    assert record.summary == "Rule 'Zillow luxury buyers' -> Ann"
    stages = [step["stage"] for step in record.trace]
    assert stages[:4] == ["special", "special", "special", "special"]
    assert "clock" in stages and stages[-1] == "result"
    rule_step = next(s for s in record.trace if s.get("rule") == "Zillow luxury buyers")
    assert rule_step["matched"] is True
    assert {c["field"] for c in rule_step["criteria"]} == {"source", "price_min"}
    assert all(c["matched"] for c in rule_step["criteria"])
    assert record.trace[-1]["agent"] == "ann@example.com"
    # Rules after the winner are not part of the story.
    assert not any(s.get("rule") == "Facebook" for s in record.trace)


def test_non_matching_rule_is_traced_and_the_next_one_takes_the_lead():
    ann, bob = agent("Ann"), agent("Bob")
    RuleFactory(name="Weekend Zillow", roster=RosterFactory.with_members([ann]),
                criteria={"source": ["Zillow"]}, windows=[(["sat", "sun"], "00:00", "23:59")])
    catch_all([bob])

    result = receive(source="Zillow")  # on a Friday

    assert result.lead.owner_id == bob.pk
    step = next(s for s in trace_of(result) if s.get("rule") == "Weekend Zillow")
    assert step["matched"] is False and step["window_matched"] is False


# --- Rotation ---------------------------------------------------------------------------------


def test_weighted_rotation_persists_through_the_database():
    a, b, c = agent("A"), agent("B"), agent("C")
    rule = catch_all([a, b, c], [2, 1, 1])

    names = []
    for _ in range(8):
        # Every lead starts from what is stored: nothing is kept in memory between leads.
        _cache.clear()
        names += routed_owner_names(1)

    assert names == ["A", "A", "B", "C", "A", "A", "B", "C"]
    state = RotationState.objects.get(rule=rule, kind="agent")
    assert (state.agent_id, state.given) == (c.pk, 1)
    assert Lead.objects.filter(owner=a).count() == 4


def test_rotation_survives_roster_edits():
    a, b, c, d = agent("A"), agent("B"), agent("C"), agent("D")
    rule = catch_all([a, b, c])
    assert routed_owner_names(2) == ["A", "B"]

    # B leaves while it was B's turn: the rotation goes on from B's place.
    RosterMember.objects.get(roster=rule.roster, agent=b).delete()
    assert routed_owner_names(2) == ["C", "A"]

    # D joins at the end of the roster.
    RosterMember.objects.create(roster=rule.roster, agent=d, position=3)
    assert routed_owner_names(4) == ["C", "D", "A", "C"]
    assert Lead.objects.filter(owner=b).count() == 1


def test_paused_agent_is_skipped_and_keeps_their_place():
    a, b, c = agent("A"), agent("B"), agent("C")
    catch_all([a, b, c])
    assert routed_owner_names(1) == ["A"]

    b.accepting_leads = False
    b.save()
    result = receive()
    assert result.lead.owner_id == c.pk
    rotation = next(s for s in trace_of(result) if s["stage"] == "rotation")
    assert rotation["skipped"] == ["B"]
    assert any("B <b@example.com>" in step_text(s)
               and s.get("why") == "paused (not accepting leads)" for s in trace_of(result))
    assert routed_owner_names(1) == ["A"]

    b.accepting_leads = True
    b.save()
    assert routed_owner_names(4) == ["B", "C", "A", "B"]


def test_config_snapshot_is_refreshed_after_an_agent_changes():
    a, b = agent("A"), agent("B")
    catch_all([a, b], selection=Rule.Selection.FIRST_IN_ROSTER)
    assert routed_owner_names(2) == ["A", "A"]  # the snapshot is now cached
    token = Brokerage.load().config_token

    a.accepting_leads = False
    a.save()

    assert Brokerage.load().config_token != token
    assert routed_owner_names(1) == ["B"]
    a.accepting_leads = True
    a.save()
    assert routed_owner_names(1) == ["A"]


# --- Caps -------------------------------------------------------------------------------------


def test_max_open_leads_counts_stored_open_leads():
    a, b = agent("A", max_open_leads=2), agent("B")
    catch_all([a, b], selection=Rule.Selection.FIRST_IN_ROSTER)
    LeadFactory(owner=a, status=Lead.Status.ASSIGNED, assigned_at=NOW - timedelta(days=3))
    contacted = LeadFactory(owner=a, status=Lead.Status.CONTACTED,
                            assigned_at=NOW - timedelta(days=3))
    LeadFactory(owner=a, status=Lead.Status.CLOSED, assigned_at=NOW - timedelta(days=3))

    result = receive()
    assert result.lead.owner_id == b.pk
    assert any(s.get("why") == "at cap: 2 of 2 open leads" for s in trace_of(result))

    contacted.status = Lead.Status.CLOSED
    contacted.save()
    assert routed_owner_names(2) == ["A", "B"]  # the new lead fills the cap again


def test_max_leads_per_day_counts_the_brokerage_day():
    a, b = agent("A", max_leads_per_day=1), agent("B")
    catch_all([a, b], selection=Rule.Selection.FIRST_IN_ROSTER)

    morning = datetime(2026, 11, 20, 9, 0, tzinfo=NY)
    late = datetime(2026, 11, 20, 23, 30, tzinfo=NY)  # already the 21st in UTC
    next_day = datetime(2026, 11, 21, 0, 30, tzinfo=NY)
    assert late.astimezone(UTC).day == 21

    assert receive(at=morning).lead.owner_id == a.pk
    late_result = receive(at=late)
    assert late_result.lead.owner_id == b.pk
    assert any(s.get("why") == "at daily cap: 1 of 1 leads today"
               for s in trace_of(late_result))
    assert receive(at=next_day).lead.owner_id == a.pk
    # Closing a lead does not give back a daily slot.
    Lead.objects.filter(owner=a).update(status=Lead.Status.CLOSED)
    assert receive(at=next_day + timedelta(hours=1)).lead.owner_id == b.pk


# --- Existing leads ---------------------------------------------------------------------------


def _assert_registered_again(first, again, owner: Agent):
    assert again.status == "existing"
    assert again.lead.pk == first.lead.pk
    assert again.as_dict()["lead"] == first.lead.pk
    assert again.as_dict()["agent"] == owner.email
    assert Lead.objects.count() == 1
    assert RoutingRecord.objects.count() == 1
    activity = Activity.objects.get(kind=Activity.Kind.REGISTERED_AGAIN)
    assert activity.lead_id == first.lead.pk
    note = Notification.objects.get(event=Notification.Event.REGISTERED_AGAIN)
    assert note.recipient == owner
    assert note.lead_id == first.lead.pk


def test_same_email_in_other_case_is_an_existing_lead():
    a, b = agent("A"), agent("B")
    catch_all([a, b])
    first = receive(lead_data(email="Jane.Doe@Example.com", first_name="Jane"))

    again = receive(lead_data(email="jane.doe@EXAMPLE.COM", message="Still looking"))

    _assert_registered_again(first, again, a)
    assert Activity.objects.get().body == "From an unknown source: Still looking"
    assert routed_owner_names(1) == ["B"]  # the rotation did not move for the repeat


def test_same_phone_written_differently_is_an_existing_lead():
    a, b = agent("A"), agent("B")
    catch_all([a, b])
    first = receive({"first_name": "Jane", "phone": "(212) 555-0101"})
    assert Lead.objects.get().phone_normalized == "+12125550101"

    again = receive({"first_name": "Janet", "phone": "+12125550101",
                     "email": "other@example.org"})

    _assert_registered_again(first, again, a)


def test_email_and_phone_of_two_earlier_leads_points_at_the_first():
    a, b = agent("A"), agent("B")
    catch_all([a, b])
    by_phone = receive({"first_name": "Jo", "phone": "(212) 555-0101"})
    by_email = receive({"first_name": "Jo", "email": "jo@example.org"})
    assert by_phone.lead.pk < by_email.lead.pk

    again = receive({"first_name": "Jo", "email": "JO@example.org", "phone": "2125550101"})

    assert again.status == "existing"
    assert again.lead.pk == by_phone.lead.pk
    assert again.as_dict()["agent"] == "a@example.com"
    cleaned, _ = validate_lead({"email": "jo@example.org", "phone": "+12125550101"})
    assert preview(build_lead(cleaned, received_at=NOW)).existing_lead_id == by_phone.lead.pk


def _returning(first, again, *, status: str, owner: Agent | None):
    """The person's first lead, routed again in a second round; the answer names it."""
    lead = Lead.objects.get(pk=first.lead.pk)
    assert Lead.objects.count() == 1
    assert again.status == status and again.lead.pk == lead.pk
    assert again.as_dict()["lead"] == lead.pk and again.as_dict()["status"] == status
    assert again.as_dict()["agent"] == (owner.email if owner and status == "assigned" else None)
    assert lead.routing_round == 2
    record = RoutingRecord.objects.get(lead=lead, round=2)
    assert record.outcome == status
    assert "routed again through the rules" in " ".join(step_text(s) for s in record.trace)
    return lead


def test_returning_person_whose_agent_has_left_is_routed_again():
    a, b = agent("A"), agent("B")
    catch_all([a, b])
    first = receive(lead_data(email="jane@example.com", first_name="Jane"))
    assert first.lead.owner_id == a.pk
    a.is_active = False
    a.save()
    Notification.objects.all().delete()

    again = receive(lead_data(email="JANE@example.com", source="Zillow",
                              message="Still looking"))

    lead = _returning(first, again, status="assigned", owner=b)
    assert (lead.owner_id, lead.status) == (b.pk, Lead.Status.ASSIGNED)
    entry = Activity.objects.get(lead=lead, kind=Activity.Kind.REGISTERED_AGAIN)
    assert entry.body.startswith("From Zillow: Still looking")
    assert "Routed again" in entry.body and "B" in entry.body
    note = Notification.objects.get()
    assert (note.recipient, note.event, note.lead_id) == (b, "lead_assigned", lead.pk)
    assert note.title.endswith("(returning person)")
    assert note.body.startswith("They registered again (from Zillow: Still looking).")


def test_returning_person_in_the_pond_is_routed_again():
    a = agent("A", accepting_leads=False)
    catch_all([a], delivery=Rule.Delivery.CLAIM)
    first = receive(lead_data(email="jane@example.com"))
    assert first.status == "unassigned"
    a.accepting_leads = True
    a.save()
    Notification.objects.all().delete()

    again = receive(lead_data(email="jane@example.com"))

    lead = _returning(first, again, status="offered", owner=None)
    assert again.as_dict()["offered_to"] == ["a@example.com"]
    offer = lead.offers.get()
    assert (offer.agent, offer.round, offer.status) == (a, 2, "offered")
    note = Notification.objects.get()
    assert (note.recipient, note.event) == (a, "lead_offered")
    assert note.title.endswith("(returning person)")


def test_returning_person_nobody_can_take_stays_in_the_pond_and_managers_hear():
    catch_all([agent("A", accepting_leads=False)])
    meg = agent("Meg", role=Agent.Role.MANAGER)
    first = receive(lead_data(email="jane@example.com"))
    Notification.objects.all().delete()

    again = receive(lead_data(email="jane@example.com"))

    lead = _returning(first, again, status="unassigned", owner=None)
    assert lead.status == Lead.Status.UNASSIGNED
    note = Notification.objects.get()
    assert (note.recipient, note.event) == (meg, "lead_unassigned")


def test_returning_person_twice_in_one_file_is_routed_again_once():
    a, b = agent("A"), agent("B")
    catch_all([a, b])
    first = receive(lead_data(email="jane@example.com"))
    a.is_active = False
    a.save()

    results = receive_leads([lead_data(email="jane@example.com"),
                             lead_data(email="jane@example.com")], channel="file",
                            received_at=NOW)

    assert [r.status for r in results] == ["assigned", "existing"]
    assert {r.lead.pk for r in results} == {first.lead.pk}
    lead = Lead.objects.get()
    assert (lead.owner_id, lead.routing_round) == (b.pk, 2)
    assert lead.activities.filter(kind="registered_again").count() == 2


def test_a_big_batch_keeps_every_leads_routing_record_with_its_trace():
    a, b = agent("A"), agent("B")
    catch_all([a, b])

    results = receive_leads([lead_data() for _ in range(30)], channel="file", received_at=NOW)

    assert [r.status for r in results] == ["assigned"] * 30
    records = {r.lead_id: r for r in RoutingRecord.objects.all()}
    assert set(records) == {r.lead.pk for r in results}
    for result in results:
        record = records[result.lead.pk]
        assert (record.outcome, record.agent_id) == ("assigned", result.lead.owner_id)
        decision = result.routing.decision
        assert (record.summary, record.trace) == (decision.summary, decision.trace)
    owners = [r.lead.owner_id for r in results]
    assert owners.count(a.pk) == owners.count(b.pk) == 15


def test_a_big_batchs_leads_are_stored_whole_like_a_lead_routed_alone():
    """A batch's leads go in together (``COPY`` on PostgreSQL): each is stored with the same
    columns as the same lead routed alone, its phone number in its stored form."""
    catch_all([agent("A")])
    fields = {"price": "350000", "tags": ["web"], "consent": True, "city": "Queens",
              "source": "Zillow"}
    alone = receive(lead_data(phone="(212) 555-0100", **fields)).lead
    results = receive_leads([lead_data(phone=f"(212) 555-01{i:02d}", **fields)
                             for i in range(1, 31)], channel="file", received_at=NOW)

    varying = {"id", "first_name", "last_name", "email", "email_normalized", "phone",
               "phone_normalized", "assigned_at", "received_at"}

    def columns(lead: Lead) -> dict:
        return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields
                if f.attname not in varying}

    expected = columns(Lead.objects.get(pk=alone.pk))
    stored = Lead.objects.in_bulk([r.lead.pk for r in results])
    assert len(stored) == 30
    for at, result in enumerate(results, start=1):
        lead = stored[result.lead.pk]
        assert columns(lead) == expected
        assert lead.email_normalized == result.lead.email
        assert lead.phone_normalized == str(lead.phone) == f"+121255501{at:02d}"
        assert RoutingRecord.objects.filter(lead=lead, outcome="assigned").exists()


def test_a_batch_that_fails_leaves_the_garbage_collector_on(monkeypatch):
    """Routing a batch holds the cyclic garbage collector off, and turns it back on even when
    the batch fails (its leads are then routed one by one)."""
    import gc

    import leads.intake.services as intake

    catch_all([agent("A")])
    seen = []
    real = intake.route_leads

    def failing(leads, **kwargs):
        seen.append(gc.isenabled())
        if len(leads) > 1:
            raise RuntimeError("a batch that fails")
        return real(leads, **kwargs)

    monkeypatch.setattr(intake, "route_leads", failing)
    results = receive_leads([lead_data() for _ in range(3)], channel="file", received_at=NOW)

    assert [r.status for r in results] == ["assigned"] * 3
    assert seen[0] is False
    assert gc.isenabled()


# --- Special routing --------------------------------------------------------------------------


def test_pre_assigned_lead_goes_to_that_agent_even_when_paused():
    a = agent("A")
    carol = agent("Carol", accepting_leads=False)
    rule = catch_all([a])

    result = receive(assigned_to="CAROL@example.com", tracking_agent="a@example.com")

    lead = Lead.objects.get(pk=result.lead.pk)
    assert (lead.owner, lead.status, lead.rule) == (carol, Lead.Status.ASSIGNED, None)
    record = RoutingRecord.objects.get(lead=lead)
    assert record.reason == "pre_assigned"
    assert "paused" in record.trace[0]["text"]
    # The rotation did not move: A is still first in line.
    assert not RotationState.objects.filter(rule=rule, agent__isnull=False).exists()
    assert routed_owner_names(1) == ["A"]


def test_tracking_link_and_own_listing():
    a, ted, lisa = agent("A"), agent("Ted"), agent("Lisa")
    catch_all([a])

    tracked = receive(tracking_agent="ted@example.com", listing_agent="lisa@example.com")
    listing = receive(listing_agent="lisa@example.com")

    assert tracked.lead.owner_id == ted.pk
    assert tracked.routing.decision.reason == "tracking_link"
    assert listing.lead.owner_id == lisa.pk
    assert listing.routing.decision.reason == "own_listing"
    assert RoutingRecord.objects.get(lead=listing.lead).reason == "own_listing"
    assert routed_owner_names(1) == ["A"]


def test_inactive_special_agent_is_ignored():
    a = agent("A")
    agent("Gone", is_active=False)
    catch_all([a])

    result = receive(tracking_agent="gone@example.com")

    assert result.lead.owner_id == a.pk
    assert result.routing.decision.reason == "rule"
    assert "agent is inactive, ignored" in trace_of(result)[1]["text"]


def test_a_vendor_naming_a_lender_or_a_manager_does_not_give_them_the_lead():
    a = agent("A")
    agent("Lena", role=Agent.Role.LENDER)
    agent("Meg", role=Agent.Role.MANAGER)
    catch_all([a])

    lender = receive(assigned_to="lena@example.com")
    manager = receive(tracking_agent="meg@example.com", listing_agent="lena@example.com")

    for result in (lender, manager):
        assert (result.status, result.as_dict()["agent"]) == ("assigned", "a@example.com")
        assert result.routing.decision.reason == "rule"
    assert "lena@example.com: a lender, not an agent, ignored" in trace_of(lender)[0]["text"]
    texts = [step_text(s) for s in trace_of(manager)]
    assert any("meg@example.com: a manager, not an agent, ignored" in t for t in texts)
    assert any("lena@example.com: a lender, not an agent, ignored" in t for t in texts)


def test_listing_routing_switched_off_for_the_brokerage():
    a = agent("A")
    agent("Lisa")
    catch_all([a])
    brokerage = Brokerage.load()
    brokerage.listing_routing = False
    brokerage.save()

    result = receive(listing_agent="lisa@example.com")

    assert result.lead.owner_id == a.pk
    assert result.routing.decision.reason == "rule"
    assert "switched off" in trace_of(result)[2]["text"]


# --- Nobody available -------------------------------------------------------------------------


def test_matched_rule_with_nobody_eligible_goes_on_to_the_next_rule():
    paused = agent("Paused", accepting_leads=False)
    capped = agent("Capped", max_open_leads=0)
    b = agent("B")
    first = RuleFactory(name="Zillow A team", roster=RosterFactory.with_members([paused, capped]),
                        criteria={"source": ["Zillow"]})
    second = RuleFactory(name="Zillow B team", roster=RosterFactory.with_members([b]),
                         criteria={"source": ["Zillow"]})
    catch_all([agent("C")])

    result = receive(source="Zillow")

    lead = Lead.objects.get(pk=result.lead.pk)
    assert (lead.owner, lead.rule) == (b, second)
    assert any(s.get("staffed") is False and s.get("rule") == first.name
               for s in trace_of(result))
    assert RotationState.objects.get(rule=first).agent_id is None


def test_catch_all_with_nobody_leaves_the_lead_in_the_pond_and_tells_managers():
    catch_all([agent("A", accepting_leads=False), agent("B", is_active=False)])
    boss = agent("Boss", role=Agent.Role.MANAGER)
    agent("Old boss", role=Agent.Role.MANAGER, is_active=False)

    result = receive(source="Zillow")

    assert result.status == "unassigned"
    assert result.as_dict()["agent"] is None and result.as_dict()["rule"] is None
    lead = Lead.objects.get(pk=result.lead.pk)
    assert (lead.status, lead.owner, lead.rule, lead.assigned_at) == (
        Lead.Status.UNASSIGNED, None, None, None)
    record = RoutingRecord.objects.get(lead=lead)
    assert (record.outcome, record.reason, record.agent) == ("unassigned", "pond", None)
    notes = Notification.objects.filter(event=Notification.Event.LEAD_UNASSIGNED)
    assert [n.recipient for n in notes] == [boss]
    assert notes[0].lead_id == lead.pk


# --- Lender and tags --------------------------------------------------------------------------


def test_lender_roster_assigns_a_lender_in_rotation():
    a = agent("A")
    l1, l2 = agent("Lou", role=Agent.Role.LENDER), agent("Len", role=Agent.Role.LENDER)
    lenders = RosterFactory.with_members([l1, l2])
    rule = catch_all([a], lender_roster=lenders)

    first, second, third = receive(), receive(), receive()

    assert [r.lead.lender_id for r in (first, second, third)] == [l1.pk, l2.pk, l1.pk]
    assert Lead.objects.get(pk=second.lead.pk).lender == l2
    assert second.as_dict()["lender"] == "len@example.com"
    assert RoutingRecord.objects.get(lead=first.lead).lender == l1
    assert RotationState.objects.get(rule=rule, kind="lender").agent_id == l1.pk
    assert "lender Lou" in first.routing.decision.summary


def test_rule_adds_its_tags_to_the_lead():
    catch_all([agent("A")], add_tags=["hot", "team-a"])

    result = receive(tags="hot;zillow")

    assert Lead.objects.get(pk=result.lead.pk).tags == ["hot", "zillow", "team-a"]


# --- Preview ----------------------------------------------------------------------------------


def _snapshot_of_rows() -> tuple:
    return (
        list(Lead.objects.values_list("id", "owner_id", "status")),
        list(RotationState.objects.values_list("id", "agent_id", "position", "given")),
        RoutingRecord.objects.count(), Notification.objects.count(), Activity.objects.count(),
        Submission.objects.count(),
    )


def test_preview_changes_nothing():
    a, b, c = agent("A"), agent("B"), agent("C")
    rule = RuleFactory(name="Zillow", roster=RosterFactory.with_members([a, b, c]),
                       criteria={"source": ["Zillow"]})
    catch_all([c])
    receive(source="Zillow")
    before = _snapshot_of_rows()

    cleaned, errors = validate_lead(lead_data(source="Zillow"))
    assert errors is None
    with CaptureQueriesContext(connection) as captured:
        decisions = [preview(build_lead(cleaned, received_at=NOW)) for _ in range(3)]
    # A catch-all lead whose rotation has no stored state yet: still nothing written.
    other, _ = validate_lead(lead_data(source="Facebook"))
    other_decision = preview(build_lead(other, received_at=NOW))

    assert {d.agent_id for d in decisions} == {b.pk}
    assert decisions[0].rule_name == "Zillow"
    assert other_decision.agent_id == c.pk
    writes = [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert _snapshot_of_rows() == before
    assert not RotationState.objects.filter(rule__is_catch_all=True).exists()
    assert RotationState.objects.get(rule=rule).agent_id == a.pk
    assert routed_owner_names(1, source="Zillow") == ["B"]


def test_preview_of_a_repeat_lead_says_existing():
    a = agent("A")
    catch_all([a])
    first = receive(lead_data(email="jane@example.com"))
    cleaned, _ = validate_lead(lead_data(email="Jane@Example.com"))

    decision = preview(build_lead(cleaned, received_at=NOW))

    assert (decision.outcome, decision.existing_lead_id) == ("existing", first.lead.pk)
    assert not Activity.objects.exists()


# --- Rejected input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": "Pat", "email": "not-an-email"}, "email"),
        ({"first_name": "Pat", "phone": "12"}, "phone"),
        ({"first_name": "Pat", "price": "cheap"}, "price"),
        ({"first_name": "Pat", "lead_type": "renter"}, "lead_type"),
        ({"source": "Zillow", "city": "Brooklyn"}, "contact"),
        ({"first_name": "Pat", "assigned_to": "nobody@example.com"}, "assigned_to"),
    ],
    ids=["email", "phone", "price", "lead-type", "no-contact", "unknown-agent"],
)
def test_rejected_input_is_kept_and_nothing_else_written(data, field):
    catch_all([agent("A")])
    before = _snapshot_of_rows()

    result = receive(data)

    assert result.status == "rejected"
    assert result.lead is None
    assert field in result.errors
    assert result.as_dict()["errors"] == result.errors
    submission = Submission.objects.get()
    assert submission.outcome == Submission.Outcome.REJECTED
    assert submission.payload == data
    assert submission.errors == result.errors
    assert submission.received_at == NOW
    assert submission.lead is None
    after = _snapshot_of_rows()
    assert after[:5] == before[:5]


def test_rejected_non_object_is_kept():
    result = receive_lead(["not", "a", "lead"], channel="api", received_at=NOW)

    assert result.status == "rejected"
    assert Submission.objects.get().payload == {"raw": ["not", "a", "lead"]}
    assert not Lead.objects.exists()


# --- Queries ----------------------------------------------------------------------------------


def _reset_brokerage() -> None:
    Lead.objects.all().delete()
    Rule.objects.all().delete()
    Roster.objects.all().delete()
    Agent.objects.all().delete()


def _build_brokerage(rules: int, members: int) -> None:
    """Many rules; every tenth matches a Zillow lead but its roster is at cap."""
    busy = RosterFactory.with_members(
        [AgentFactory(user=None, max_open_leads=0) for _ in range(members)])
    team = RosterFactory.with_members(
        [AgentFactory(user=None, max_open_leads=1000, max_leads_per_day=1000)
         for _ in range(members)])
    for i in range(rules - 2):
        if i % 10 == 0:
            RuleFactory(roster=busy, criteria={"source": ["Zillow"]})
        else:
            RuleFactory(roster=team, criteria={"source": [f"Nowhere {i}"], "city": ["Gotham"]})
    RuleFactory(name="Zillow team", roster=team, criteria={"source": ["Zillow"]},
                lender_roster=busy)
    RuleFactory(name="Everything else", roster=team, is_catch_all=True)
    for member in RosterMember.objects.filter(roster=team)[:3]:
        LeadFactory(owner_id=member.agent_id, status=Lead.Status.ASSIGNED, assigned_at=NOW)


def _queries_to_route_one(rules: int, members: int) -> tuple[int, int]:
    """Queries for the first lead after a change (snapshot rebuilt) and for the next one."""
    _reset_brokerage()
    _build_brokerage(rules, members)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            result = receive(source="Zillow")
        assert result.status == "assigned"
        assert result.as_dict()["rule"] == "Zillow team"
        counts.append(len(captured))
    return counts[0], counts[1]


def test_routing_one_lead_costs_the_same_queries_at_any_scale():
    small = _queries_to_route_one(rules=10, members=5)
    large = _queries_to_route_one(rules=200, members=100)

    assert small == large
    assert small[1] < small[0] <= 25


# --- Returning people at once (PostgreSQL) ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_returning_pond_person_sent_at_once_is_routed_again_exactly_once():
    """A vendor re-posting a pond lead's person many times at once routes the lead once."""
    from tests.threads import failures, together

    a = agent("A", accepting_leads=False)
    catch_all([a, agent("B", accepting_leads=False)])
    first = receive(lead_data(email="jane@example.com"))
    assert first.status == "unassigned"
    a.accepting_leads = True
    a.save()
    threads = 12

    def work(thread: int) -> str:
        email = "Jane@Example.com" if thread % 2 else "jane@example.com"
        return receive_lead({"first_name": "Jane", "email": email}, channel="api",
                            received_at=NOW).status

    results = together([lambda t=t: work(t) for t in range(threads)])

    assert failures(results) == []
    assert sorted(results) == ["assigned"] + ["existing"] * (threads - 1)
    lead = Lead.objects.get()
    assert (lead.owner_id, lead.routing_round) == (a.pk, 2)
    assert RoutingRecord.objects.filter(lead=lead).count() == 2
    assert lead.activities.filter(kind="registered_again").count() == threads
    assert Notification.objects.filter(event="lead_assigned", recipient=a).count() == 1
