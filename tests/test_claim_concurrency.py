"""Many agents and clocks at once (PostgreSQL row locks): one winner, nothing done twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from leads.intake import receive_lead, receive_leads
from leads.models import Activity, Lead
from routing import clock, engine
from routing.claims import ClaimRefused, claim_from_pond, claim_offer, decline_offer
from routing.clock import run_clock
from routing.engine import Cursor
from routing.models import Offer, RotationState, RoutingRecord, Rule
from routing.selectors import cursor_of, facts_of, routing_config
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import failures, together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
MIN = timedelta(minutes=1)
LOST = "Another agent claimed this lead first."


def agents(count: int) -> list[Agent]:
    return [AgentFactory(user=None, name=f"Agent {i:02d}", email=f"agent{i:02d}@example.com")
            for i in range(count)]


def rule(members: list[Agent], delivery: str) -> Rule:
    return RuleFactory(name="Everything else", is_catch_all=True, delivery=delivery,
                       roster=RosterFactory.with_members(members))



def refusals(results: list[Any]) -> Counter:
    """How many jobs ended how: "won", or the exception's type and message."""
    return Counter("won" if not isinstance(r, BaseException) else f"{type(r).__name__}: {r}"
                   for r in results)


def test_twenty_agents_claim_the_same_lead_at_once_and_exactly_one_wins():
    team = agents(20)
    rule(team, Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive_lead({"first_name": "Pat", "email": "pat@example.org"}, channel="api",
                        received_at=NOW).lead
    offers = list(Offer.objects.filter(lead=lead).select_related("agent"))
    assert len(offers) == 20

    results = together([
        (lambda o=o: claim_offer(o.pk, o.agent, now=NOW + MIN)) for o in offers])

    assert refusals(results) == {"won": 1, f"ClaimRefused: {LOST}": 19}
    winner = next(r for r in results if isinstance(r, Lead))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.ASSIGNED and lead.owner_id == winner.owner_id
    statuses = Counter(Offer.objects.filter(lead=lead).values_list("status", flat=True))
    assert statuses == {Offer.Status.CLAIMED: 1, Offer.Status.WITHDRAWN: 19}
    assert Offer.objects.get(lead=lead, status=Offer.Status.CLAIMED).agent_id == lead.owner_id
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.CLAIMED).count() == 1


def test_claims_and_declines_at_once_on_a_first_to_claim_lead():
    team = agents(20)
    rule(team, Rule.Delivery.FIRST_TO_CLAIM)
    lead = receive_lead({"first_name": "Pat", "email": "pat@example.org"}, channel="api",
                        received_at=NOW).lead
    offers = list(Offer.objects.filter(lead=lead).select_related("agent").order_by("id"))
    jobs = [(lambda o=o: claim_offer(o.pk, o.agent, now=NOW + MIN)) if i % 2 else
            (lambda o=o: decline_offer(o.pk, o.agent, now=NOW + MIN))
            for i, o in enumerate(offers)]

    results = together(jobs)

    errors = [r for r in results if isinstance(r, BaseException)
              and not isinstance(r, ClaimRefused)]
    assert errors == []
    lead.refresh_from_db()
    statuses = Counter(Offer.objects.filter(lead=lead).values_list("status", flat=True))
    assert statuses[Offer.Status.CLAIMED] == 1
    assert statuses[Offer.Status.CLAIMED] + statuses[Offer.Status.DECLINED] + statuses[
        Offer.Status.WITHDRAWN] == 20
    assert lead.status == Lead.Status.ASSIGNED
    assert Offer.objects.get(lead=lead, status=Offer.Status.CLAIMED).agent_id == lead.owner_id


def test_twenty_agents_claim_the_same_pond_lead_at_once_and_exactly_one_wins():
    team = agents(20)
    lead = Lead.objects.create(first_name="Pat", email="pat@example.org", received_at=NOW,
                               status=Lead.Status.UNASSIGNED)

    results = together([(lambda a=a: claim_from_pond(lead.pk, a, now=NOW)) for a in team])

    assert refusals(results) == {"won": 1, f"ClaimRefused: {LOST}": 19}
    winner = next(r for r in results if isinstance(r, Lead))
    lead.refresh_from_db()
    assert lead.owner_id == winner.owner_id and lead.status == Lead.Status.ASSIGNED
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.CLAIMED).count() == 1


def test_two_clocks_at_once_expire_each_offer_once():
    team = agents(5)
    rule(team, Rule.Delivery.CLAIM)
    results = receive_leads([{"first_name": "Pat", "email": f"pat{i}@example.org"}
                             for i in range(50)], channel="file", received_at=NOW)
    assert {r.status for r in results} == {"offered"}
    at = NOW + 5 * MIN

    passes = together([lambda: run_clock(at), lambda: run_clock(at)])

    assert not [p for p in passes if isinstance(p, BaseException)], passes
    assert sum(p.expired for p in passes) == 50
    assert Activity.objects.filter(kind=Activity.Kind.EXPIRED).count() == 50
    assert Offer.objects.count() == 100  # one expired, one new per lead: no duplicate rows
    assert Offer.objects.filter(status=Offer.Status.EXPIRED).count() == 50
    per_lead = Counter(Offer.objects.values_list("lead_id", "agent_id"))
    assert set(per_lead.values()) == {1}  # nobody got the same lead twice
    for lead_id in Lead.objects.values_list("id", flat=True):
        open_offers = Offer.objects.filter(lead_id=lead_id, status=Offer.Status.OFFERED)
        assert open_offers.count() == 1
        assert open_offers.get().deadline == at + 5 * MIN
    assert sum(run_clock(at).expired for _ in range(2)) == 0


def test_two_clocks_at_once_on_first_to_claim_leads_escalate_each_once():
    team = agents(4)
    escalate = AgentFactory(user=None, name="Esc", email="esc@example.com")
    RuleFactory(name="Everything else", is_catch_all=True, escalate_to=escalate,
                delivery=Rule.Delivery.FIRST_TO_CLAIM, roster=RosterFactory.with_members(team))
    receive_leads([{"first_name": "Pat", "email": f"pat{i}@example.org"} for i in range(20)],
                  channel="file", received_at=NOW)
    at = NOW + 5 * MIN

    passes = together([lambda: run_clock(at), lambda: run_clock(at)])

    assert not [p for p in passes if isinstance(p, BaseException)], passes
    assert sum(p.expired for p in passes) == 80
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {escalate.pk}
    assert Activity.objects.filter(kind=Activity.Kind.ESCALATED).count() == 20
    assert Offer.objects.count() == 80


def test_claims_racing_the_clock_at_the_deadline_give_one_outcome():
    team = agents(10)
    escalate = AgentFactory(user=None, name="Esc", email="esc@example.com")
    RuleFactory(name="Everything else", is_catch_all=True, escalate_to=escalate,
                delivery=Rule.Delivery.FIRST_TO_CLAIM, roster=RosterFactory.with_members(team))
    lead = receive_lead({"first_name": "Pat", "email": "pat@example.org"}, channel="api",
                        received_at=NOW).lead
    offers = list(Offer.objects.filter(lead=lead).select_related("agent"))
    just_in_time = NOW + 5 * MIN - timedelta(milliseconds=1)
    jobs = [(lambda o=o: claim_offer(o.pk, o.agent, now=just_in_time)) for o in offers]
    jobs += [lambda: run_clock(NOW + 5 * MIN), lambda: run_clock(NOW + 5 * MIN)]

    results = together(jobs)

    errors = [r for r in results if isinstance(r, BaseException)
              and not isinstance(r, ClaimRefused)]
    assert errors == []
    lead.refresh_from_db()
    statuses = Counter(Offer.objects.filter(lead=lead).values_list("status", flat=True))
    assert Offer.Status.OFFERED not in statuses
    assert sum(statuses.values()) == 10
    if statuses[Offer.Status.CLAIMED]:
        assert statuses[Offer.Status.CLAIMED] == 1
        assert Offer.objects.get(lead=lead, status=Offer.Status.CLAIMED).agent_id == lead.owner_id
        assert sum(isinstance(r, Lead) for r in results) == 1
    else:  # the clocks expired every offer before any claim got in
        assert lead.owner_id == escalate.pk
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.ESCALATED).count() == (
        0 if statuses[Offer.Status.CLAIMED] else 1)


# --- The clock's batches: a burst split between clocks, claims and declines in the middle ----


def _burst(members: int, leads: int) -> list[Agent]:
    team = agents(members)
    rule(team, Rule.Delivery.CLAIM)
    results = receive_leads([{"first_name": "Pat", "email": f"pat{i}@example.org"}
                             for i in range(leads)], channel="file", received_at=NOW)
    assert {r.status for r in results} == {"offered"}
    return team


def _each_lead_offered_once_per_agent() -> None:
    assert set(Counter(Offer.objects.values_list("lead_id", "agent_id")).values()) == {1}


def _replay_one_by_one(start: Cursor, at: datetime) -> None:
    """The rotation is exact: the moves, replayed one lead after the other from where the
    rotation stood, in the order they were written (under the rotation's lock, so the order
    the clocks took turns), pick the same agents and leave the rotation where it is now."""
    config = routing_config()
    rule_id = Rule.objects.get().pk
    cursors = {(rule_id, engine.AGENT): start}
    first = dict(Offer.objects.exclude(status=Offer.Status.OFFERED)
                 .values_list("lead_id", "agent_id"))
    now_offered = dict(Offer.objects.filter(status=Offer.Status.OFFERED)
                       .values_list("lead_id", "agent_id"))
    moves = RoutingRecord.objects.filter(created_at=at).order_by("id").select_related("lead")
    assert moves.count() == len(now_offered)
    for record in moves:
        decision = engine.continue_rule(config, rule_id, facts_of(record.lead), at=at, why="",
                                        excluded=frozenset({first[record.lead_id]}),
                                        cursors=cursors)
        assert decision.offered_to == (now_offered[record.lead_id],)
        cursors.update(decision.cursors)
    assert cursors[(rule_id, engine.AGENT)] == cursor_of(RotationState.objects.get())


def test_two_clocks_split_a_burst_in_batches_and_keep_the_rotation_exact(monkeypatch):
    monkeypatch.setattr(clock, "BATCH", 7)  # many batches each, interleaved
    _burst(6, 60)
    start = cursor_of(RotationState.objects.get())
    at = NOW + 5 * MIN

    passes = together([lambda: run_clock(at), lambda: run_clock(at)])

    assert not failures(passes), passes
    assert sum(p.expired for p in passes) == 60
    assert sorted(Counter(Activity.objects.filter(kind=Activity.Kind.EXPIRED)
                          .values_list("lead_id", flat=True)).values()) == [1] * 60
    assert Offer.objects.filter(status=Offer.Status.EXPIRED).count() == 60
    assert Offer.objects.filter(status=Offer.Status.OFFERED, deadline=at + 5 * MIN).count() == 60
    _each_lead_offered_once_per_agent()
    assert Activity.objects.filter(kind=Activity.Kind.OFFERED).count() == 60
    _replay_one_by_one(start, at)
    assert sum(run_clock(at).expired for _ in range(2)) == 0


def test_a_clock_batch_racing_claims_and_declines_does_each_lead_once(monkeypatch):
    monkeypatch.setattr(clock, "BATCH", 5)
    _burst(5, 30)
    at = NOW + 5 * MIN
    just_in_time = at - timedelta(milliseconds=1)
    first = list(Offer.objects.select_related("agent").order_by("id"))
    jobs = [(lambda o=o: claim_offer(o.pk, o.agent, now=just_in_time)) for o in first[:10]]
    jobs += [(lambda o=o: decline_offer(o.pk, o.agent, now=just_in_time)) for o in first[10:20]]
    jobs += [lambda: run_clock(at), lambda: run_clock(at)]

    results = together(jobs)

    assert [r for r in failures(results) if not isinstance(r, ClaimRefused)] == []
    claimed = Offer.objects.filter(status=Offer.Status.CLAIMED)
    declined = Offer.objects.filter(status=Offer.Status.DECLINED).count()
    expired = Offer.objects.filter(status=Offer.Status.EXPIRED).count()
    assert claimed.count() + declined + expired == 30  # each first offer ended one way
    assert sum(p.expired for p in results[20:]) == expired
    for offer in claimed:
        assert Lead.objects.get(pk=offer.lead_id).owner_id == offer.agent_id
    # Every offer that ended unclaimed moved its lead on once: one new offer each.
    assert Offer.objects.filter(status=Offer.Status.OFFERED).count() == declined + expired
    assert Offer.objects.count() == 30 + declined + expired
    for lead in Lead.objects.exclude(status=Lead.Status.ASSIGNED):
        assert lead.offers.filter(status=Offer.Status.OFFERED).count() == 1
    _each_lead_offered_once_per_agent()
    assert run_clock(at).expired == 0  # no lead skipped while locked was left behind
