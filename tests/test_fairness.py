"""The fairness figures a manager checks by hand: shares against weights, missed turns and
their reasons, for rules and hand-off targets; and where an agent stands in their rotations."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
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
