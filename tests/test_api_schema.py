"""The API's OpenAPI schema: valid, and the API keeps to it under fuzzing (schemathesis)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings

from config.wsgi import application
from leads.keys import create_key
from tests.factories import AgentFactory, RosterFactory, RuleFactory


@pytest.fixture
def api_schema(transactional_db):
    """The schema as the API serves it (loaded in a test: every request reads the brokerage's
    settings, so the database must be reachable)."""
    return schemathesis.from_wsgi("/api/schema/?format=json", application)


schema = schemathesis.from_pytest_fixture("api_schema")


def test_schema_is_valid_without_warnings(tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(path), "--validate", "--fail-on-warn")
    text = path.read_text()
    assert "/api/v1/leads/" in text and "SourceApiKey" in text


def test_docs_and_schema_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


@pytest.fixture
def api_key(transactional_db, settings):
    """A real key, and a brokerage to route to. ``transactional_db``: every request closes
    the connection (Django's ``close_old_connections``), which a test transaction would not
    survive."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.INTAKE_RATE_PER_MINUTE = 10_000
    agents = [AgentFactory(user=None), AgentFactory(user=None)]
    RuleFactory(name="Claims", roster=RosterFactory.with_members(agents), delivery="claim",
                criteria={"lead_type": ["seller"]})
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members(agents))
    return create_key("Fuzz")[1]


@schema.parametrize()
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_keeps_to_its_schema(case, api_key):
    """No 500, and every answer (status, headers, body) as documented. ``FUZZ_EXAMPLES=500``
    for a deeper run."""
    case.call_and_validate(headers={"Authorization": f"Api-Key {api_key}"})
