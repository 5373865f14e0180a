"""What one routed lead costs in SQL statements, pinned so that it cannot creep back: a request
to the intake API (key, rate limit, exactly once, routed, kept in the inbound log) and a lead
routed by the intake service (a file import's lead, an API request's core).

Counted as ``CaptureQueriesContext`` counts them, BEGIN and COMMIT included, with the task
that sends the notifications (the ORM broker writes it in the same transaction).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.intake import receive_lead
from leads.intake.keys import create_key
from leads.models import Lead
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"

#: Statements of one request and of one lead, by database. PostgreSQL adds the advisory locks
#: (one statement for the idempotency keys, the person and the capped agents) and writes the
#: lead, its routing record, offers and rotation in one statement, the inbound log entry and
#: the idempotency keys in another (``routing.statements``). The API key's statement reads
#: the configuration's token; the agents' notification preferences come with the snapshot.
API_REQUEST = {"postgresql": 11, "sqlite": 14}
ROUTED_LEAD = {"postgresql": 9, "sqlite": 11}


@pytest.fixture(autouse=True)
def brokerage(settings):
    """Zillow leads are offered (claim window) round robin to a team whose agents have caps;
    everything else goes to Bob."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    team = [AgentFactory(user=None, max_open_leads=100) for _ in range(3)]
    RuleFactory(name="Zillow claims", roster=RosterFactory.with_members(team),
                delivery="claim", criteria={"source": ["Zillow"]})
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(user=None)]))


def lead(n: int) -> dict:
    return {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            "phone": f"+1646555{n:04d}", "city": "Queens", "price": 450000,
            "external_id": f"vendor-{n}", "source": "Zillow"}


def statements(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return [q["sql"] for q in captured]


def test_one_routed_api_request_costs_a_fixed_number_of_statements():
    key = create_key("Zillow")[1]

    def post(n: int):
        response = Client().post(URL, data=json.dumps(lead(n)), content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert response.status_code == 201
        assert response.json()["status"] == "offered"

    post(1)  # the first request after a change reads the configuration once
    sql = statements(lambda: post(2))

    assert len(sql) == API_REQUEST[connection.vendor], "\n".join(sql)
    assert Lead.objects.count() == 2


def test_one_routed_lead_costs_a_fixed_number_of_statements():
    def route(n: int):
        result = receive_lead(lead(n), channel="file", received_at=timezone.now())
        assert result.status == "offered"

    route(1)
    sql = statements(lambda: route(2))

    assert len(sql) == ROUTED_LEAD[connection.vendor], "\n".join(sql)
