"""Capped agents locked shared far from their caps, exclusive near them (``routing.cap_locks``):
routers of one agent's rules stop waiting for each other, and a cap is still never passed."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from leads.intake import idempotency, receive_lead
from leads.intake.keys import create_key
from leads.models import Lead
from routing import cap_locks, engine, services
from routing.engine import Loads
from routing.models import Rule
from tests.engine_builders import agent
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory
from tests.threads import failures, together

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=NY)
TODAY = date(2026, 11, 20)


# --- Room under the caps (no database) --------------------------------------------------------


def test_room_for_counts_every_cap():
    capped = agent("A", max_open_leads=40, max_leads_per_day=20)
    far = Loads({capped.id: 8}, {capped.id: 4})
    assert engine.room_for(capped, far, TODAY, 16)
    assert not engine.room_for(capped, Loads({capped.id: 25}, {capped.id: 4}), TODAY, 16)
    assert not engine.room_for(capped, Loads({capped.id: 8}, {capped.id: 5}), TODAY, 16)
    assert engine.room_for(agent("B"), Loads({}, {}), TODAY, 10**6)  # no cap: always room


def test_room_for_counts_the_first_day_back():
    back = agent("A", first_days_back=frozenset({TODAY}), first_day_back_leads=3)
    assert not engine.room_for(back, Loads({}, {}), TODAY, 16)
    assert engine.room_for(back, Loads({}, {}), date(2026, 11, 21), 16)


# --- Which lock, and the cap held under concurrency (PostgreSQL) -------------------------------


def _team(cap: int, selection: str = Rule.Selection.FIRST_IN_ROSTER):
    capped = AgentFactory(user=None, name="Capped", max_open_leads=cap)
    other = AgentFactory(user=None, name="Other")
    RuleFactory(name="Everyone", is_catch_all=True, selection=selection,
                roster=RosterFactory.with_members([capped, other]))
    return capped, other


def _payload(n: int) -> dict:
    return {"first_name": "Pat", "last_name": f"Buyer {n}", "email": f"pat{n}@example.org",
            "source": "Zillow"}


def _route_two() -> None:
    for n in (1, 2):
        receive_lead(_payload(n), channel="api", received_at=NOW)


@pytest.fixture
def lock_calls(monkeypatch):
    """The shared keys of every statement that takes advisory locks, in order."""
    calls: list[set[str]] = []
    real = services.serialize_on

    def spy(keys, *, then=(), shared=frozenset()):
        if keys or then:
            calls.append(set(shared))
        return real(keys, then=then, shared=shared)

    monkeypatch.setattr(services, "serialize_on", spy)
    monkeypatch.setattr(idempotency, "serialize_on", spy)
    return calls


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_agent_far_from_the_cap_is_locked_shared_once_counted(lock_calls):
    capped, _ = _team(cap=1000)
    _route_two()  # the first counts the agent, exclusive
    assert lock_calls == [set(), {f"agent:{capped.pk}"}]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_agent_near_the_cap_is_locked_exclusive(lock_calls):
    capped, _ = _team(cap=2 * cap_locks.SLOTS + 5)
    for _ in range(6):
        LeadFactory(owner=capped, status=Lead.Status.ASSIGNED)
    _route_two()
    assert lock_calls == [set(), set()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_least_loaded_agents_stay_exclusive(lock_calls):
    _team(cap=1000, selection=Rule.Selection.LEAST_LOADED)
    _route_two()
    assert lock_calls == [set(), set()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_count_grown_meanwhile_routes_again_exclusive(lock_calls):
    capped, other = _team(cap=2 * cap_locks.SLOTS + 2)
    receive_lead(_payload(1), channel="api", received_at=NOW)  # counted: none open, far
    for _ in range(20):  # another server gave them more meanwhile: 21 open, 13 from the cap
        LeadFactory(owner=capped, status=Lead.Status.ASSIGNED)
    result = receive_lead(_payload(2), channel="api", received_at=NOW)
    assert lock_calls == [set(), {f"agent:{capped.pk}"}, set()]  # shared, then again
    assert result.lead.owner_id == capped.pk  # still under the cap: theirs
    assert Lead.objects.filter(email="pat2@example.org").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_intake_api_routes_again_exclusive_when_near_the_cap(settings, lock_calls):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    capped, _ = _team(cap=2 * cap_locks.SLOTS + 2)
    key = create_key("Zillow")[1]

    def post(n: int):
        return Client().post("/api/v1/leads/", data=json.dumps(
            {**_payload(n), "external_id": f"Z-{n}"}), content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert post(1).status_code == 201
    for _ in range(20):
        LeadFactory(owner=capped, status=Lead.Status.ASSIGNED)
    answer = post(2)
    assert answer.status_code == 201, answer.content
    assert answer.json()["agent"] == capped.email
    assert lock_calls == [set(), {f"agent:{capped.pk}"}, set()]
    assert Lead.objects.filter(external_id="Z-2").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cap_is_never_passed_by_routers_at_once(monkeypatch):
    """Sixteen routers, each lead offered first to the capped agent: shared while far from the
    cap, exclusive near it, and the cap is filled exactly."""
    monkeypatch.setattr(cap_locks, "SLOTS", 2)  # shared up to 4 short of the cap
    cap = 30
    capped, other = _team(cap=cap)
    receive_lead(_payload(0), channel="api", received_at=NOW)
    threads, per_thread = 16, 4

    def work(thread: int) -> None:
        for n in range(per_thread):
            receive_lead(_payload(1 + thread * per_thread + n), channel="api", received_at=NOW)

    assert not failures(together([lambda t=t: work(t) for t in range(threads)]))
    owners = Counter(Lead.objects.values_list("owner_id", flat=True))
    assert owners == {capped.pk: cap, other.pk: 1 + threads * per_thread - cap}
