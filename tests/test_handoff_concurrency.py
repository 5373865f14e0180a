"""Hand-offs at once (PostgreSQL row locks): one hand-off per lead, one escalation per miss."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa.handoffs import hand_off, run_handoff_clock
from leads.models import Activity, Lead
from routing.models import Brokerage, Handoff, HandoffRotation, HandoffTarget, RoutingRecord
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning
ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
ALREADY = "HandoffRefused: This lead was already handed off."



def outcomes(results: list[Any]) -> Counter:
    return Counter("handed off" if isinstance(r, Handoff) else f"{type(r).__name__}: {r}"
                   for r in results)


@pytest.fixture
def team():
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    isa = AgentFactory(user=None, name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    manager = AgentFactory(user=None, name="Max Boss", email="max@example.com",
                           role=Agent.Role.MANAGER)
    agents = [AgentFactory(user=None, name=f"Agent {i}", email=f"agent{i}@example.com")
              for i in range(4)]
    RuleFactory(name="ISA team", is_catch_all=True, roster=RosterFactory.with_members([isa]))
    target = HandoffTarget.objects.create(name="Closers",
                                          roster=RosterFactory.with_members(agents))
    return isa, manager, agents, target


def isa_lead(n: int = 0) -> Lead:
    result = receive_lead({"first_name": "Pat", "email": f"pat{n}@example.org"}, channel="api",
                          received_at=NOW)
    assert result.status == "assigned"
    return result.lead


def test_two_clicks_at_once_hand_the_lead_off_once(team):
    isa, _, _, target = team
    lead = isa_lead()

    results = together([
        lambda: hand_off(lead.pk, isa=isa, target=target, note="first click", now=NOW),
        lambda: hand_off(lead.pk, isa=isa, target=target, note="second click", now=NOW),
    ])

    assert outcomes(results) == {"handed off": 1, ALREADY: 1}
    lead.refresh_from_db()
    assert Handoff.objects.filter(lead=lead).count() == 1
    assert RoutingRecord.objects.filter(lead=lead, reason="handoff").count() == 1
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.HANDED_OFF).count() == 1
    assert lead.isa_stage == Lead.IsaStage.HANDED_OFF and lead.routing_round == 2
    assert HandoffRotation.objects.get(target=target).given == 1  # the rotation moved once


def test_isa_and_managers_clicking_at_once_on_many_leads(team):
    isa, manager, agents, target = team
    leads = [isa_lead(n) for n in range(5)]
    jobs = []
    for lead in leads:
        for who in (isa, manager, isa, manager):
            jobs.append(lambda lead=lead, who=who: hand_off(
                lead.pk, isa=who, target=target, note=f"by {who.name}", now=NOW))

    results = together(jobs)

    assert outcomes(results) == {"handed off": 5, ALREADY: 15}
    assert Handoff.objects.count() == 5
    # Five leads, one rotation: each agent got their turn in order, nobody twice in a row.
    owners = Counter(Lead.objects.values_list("owner_id", flat=True))
    assert sorted(owners.values()) == [1, 1, 1, 2]
    assert set(owners) <= {a.pk for a in agents}


def test_two_clocks_at_once_escalate_a_missed_first_contact_once(team):
    isa, manager, _, target = team
    target.escalate_to = manager
    target.save()
    leads = [isa_lead(n) for n in range(6)]
    for lead in leads:
        hand_off(lead.pk, isa=isa, target=target, note="n", now=NOW)
    late = NOW + timedelta(minutes=target.first_contact_minutes)

    passes = together([lambda: run_handoff_clock(late), lambda: run_handoff_clock(late)])

    assert not [p for p in passes if isinstance(p, BaseException)], passes
    assert sum(passes) == 6
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {manager.pk}
    assert Activity.objects.filter(kind=Activity.Kind.ESCALATED).count() == 6
    assert set(Handoff.objects.values_list("status", flat=True)) == {Handoff.Status.ESCALATED}
