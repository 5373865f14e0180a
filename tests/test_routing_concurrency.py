"""Many routers at once (PostgreSQL row locks): rotations stay exact, no lead is lost."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from leads.intake import receive_lead
from leads.models import Lead
from routing.models import RotationState, RoutingRecord
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import failures, together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("America/New_York"))
THREADS = 16
PER_THREAD = 10


def run_threads(payload_for) -> list[BaseException]:
    """Every thread receives PER_THREAD leads, all threads starting together."""
    def work(thread: int) -> None:
        for n in range(PER_THREAD):
            result = receive_lead(payload_for(thread, n), channel="api", received_at=NOW)
            assert result.status == "assigned", result.as_dict()

    return failures(together([lambda t=t: work(t) for t in range(THREADS)]))


def owner_counts(**filters) -> Counter:
    return Counter(
        Lead.objects.filter(**filters).values_list("owner__email", flat=True)
    )


def assert_nothing_lost(total: int) -> None:
    assert Lead.objects.count() == total
    assert RoutingRecord.objects.count() == total
    assert RoutingRecord.objects.values("lead_id").distinct().count() == total
    assert not Lead.objects.filter(owner__isnull=True).exists()
    emails = Lead.objects.values_list("email", flat=True)
    assert len(set(emails)) == total
    for lead_id, owner_id in Lead.objects.values_list("id", "owner_id"):
        record = RoutingRecord.objects.get(lead_id=lead_id)
        assert record.agent_id == owner_id


def _agents(*names):
    return [AgentFactory(user=None, name=n, email=f"{n.lower()}@example.com") for n in names]


def test_one_rotation_under_concurrency_is_exact():
    agents = _agents("A", "B", "C", "D")
    rule = RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members(agents))

    errors = run_threads(
        lambda t, n: {"first_name": "Pat", "email": f"t{t}-n{n}@example.org"})

    assert errors == []
    assert_nothing_lost(THREADS * PER_THREAD)
    assert owner_counts() == {a.email: 40 for a in agents}
    state = RotationState.objects.get(rule=rule, kind="agent")
    assert state.agent_id == agents[-1].pk and state.given == 1


def test_two_rules_keep_separate_rotations_under_concurrency():
    a, b, c, x, y = _agents("A", "B", "C", "X", "Y")
    zillow = RuleFactory(name="Zillow", roster=RosterFactory.with_members([a, b, c], [2, 1, 1]),
                         criteria={"source": ["Zillow"]})
    rest = RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members([x, y]))

    def payload(t: int, n: int) -> dict:
        source = "Zillow" if (t + n) % 2 == 0 else "Facebook"
        return {"first_name": "Pat", "email": f"t{t}-n{n}@example.org", "source": source}

    errors = run_threads(payload)

    assert errors == []
    assert_nothing_lost(THREADS * PER_THREAD)
    # 80 Zillow leads: 20 full rounds of A, A, B, C.
    assert owner_counts(rule=zillow) == {"a@example.com": 40, "b@example.com": 20,
                                         "c@example.com": 20}
    assert owner_counts(rule=rest) == {"x@example.com": 40, "y@example.com": 40}
    assert Lead.objects.filter(source="Zillow", rule=zillow).count() == 80
    assert RotationState.objects.get(rule=zillow).agent_id == c.pk
    assert RotationState.objects.get(rule=rest).agent_id == y.pk


def test_same_person_sent_at_once_is_one_lead():
    """A vendor posting the same person many times at once (retries) makes one lead."""
    agents = _agents("A", "B", "C", "D")
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members(agents))
    def work(thread: int) -> str:
        email = "Jane@Example.com" if thread % 2 else "jane@example.com"
        return receive_lead({"first_name": "Jane", "email": email}, channel="api",
                            received_at=NOW).status

    results = together([lambda t=t: work(t) for t in range(THREADS)])
    assert failures(results) == []
    assert sorted(results) == ["assigned"] + ["existing"] * (THREADS - 1)
    lead = Lead.objects.get()
    assert lead.activities.filter(kind="registered_again").count() == THREADS - 1
