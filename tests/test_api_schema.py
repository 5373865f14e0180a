"""The API's OpenAPI schema: valid, and the whole API keeps to it under fuzzing (schemathesis):
the intake with a source's key, the agent API with an agent's token, the manager API with a
manager's token, the token login with no credentials."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from config.wsgi import application
from leads.intake import receive_lead
from leads.intake.keys import create_key
from leads.models import Activity, Lead
from leads.services import log_activity
from routing.models import Brokerage, Offer
from tests.factories import (
    AgentFactory,
    LeadFactory,
    RosterFactory,
    RuleFactory,
    UserFactory,
)

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]


@pytest.fixture
def api_schema(transactional_db):
    """The schema as the API serves it (loaded in a test: every request reads the brokerage's
    settings, so the database must be reachable), to a login: it is not public."""
    reader = Token.objects.create(user=UserFactory(username="schema-reader@example.com")).key
    return schemathesis.from_wsgi("/api/schema/?format=json", application,
                                  headers={"Authorization": f"Token {reader}"})


schema = schemathesis.from_pytest_fixture("api_schema")


def test_schema_is_valid_without_warnings(tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(path), "--validate", "--fail-on-warn")
    text = path.read_text()
    assert "/api/v1/leads/" in text and "SourceApiKey" in text
    assert "/api/v1/agent/offers/{id}/claim/" in text and "/api/v1/manager/leads/{id}/" in text


def test_docs_and_schema_are_served(client, db):
    client.force_login(UserFactory())
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


@dataclass
class Fuzzing:
    """Credentials for each part of the API, and ids that exist (so that the fuzzer reaches
    real objects, not only 404s)."""

    api_key: str
    agent_token: str
    manager_token: str
    ids: dict[str, list[int]] = field(default_factory=dict)

    def headers(self, path: str) -> dict[str, str]:
        if path == "/api/v1/leads/":
            return {"Authorization": f"Api-Key {self.api_key}"}
        if path.startswith("/api/v1/agent/"):
            return {"Authorization": f"Token {self.agent_token}"}
        if path.startswith("/api/v1/manager/"):
            return {"Authorization": f"Token {self.manager_token}"}
        return {}  # the token login

    def kind(self, path: str, name: str) -> str:
        """Which ids a path parameter takes: ``/api/v1/agent/offers/{id}/claim/`` -> offer."""
        if name == "activity_id":
            return "activity"
        part, resource = path.split("/")[3:5]
        return f"{part}:{resource}"

    def aim(self, case) -> None:
        """Even generated ids become existing ones; odd ones stay as generated. No generated
        session cookie: the token is the credential (schemathesis then checks that the
        operation answers 401 without it, and with a made-up one)."""
        if case.cookies:
            case.cookies.pop("sessionid", None)
        for name, value in (case.path_parameters or {}).items():
            known = self.ids.get(self.kind(case.path, name))
            if known and isinstance(value, int) and value % 2 == 0:
                case.path_parameters[name] = known[(value // 2) % len(known)]


@pytest.fixture
def fuzzing(transactional_db, settings) -> Fuzzing:
    """A brokerage with offers, leads, a pond and activities, a source key, an agent's and a
    manager's token. ``transactional_db``: every request closes the connection (Django's
    ``close_old_connections``), which a test transaction would not survive."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.INTAKE_RATE_PER_MINUTE = 10_000
    cache.clear()
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    ann, bob = AgentFactory(name="Ann Lee"), AgentFactory(name="Bob Ray")
    meg = AgentFactory(name="Meg Boss", role=Agent.Role.MANAGER)
    sync_access(meg)
    team = RosterFactory.with_members([ann, bob])
    RuleFactory(name="Claims", roster=team, delivery="claim", criteria={"lead_type": ["seller"]},
                windows=[(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "00:00", "23:59")])
    RuleFactory(name="Everything else", is_catch_all=True, roster=team)
    now = timezone.now()
    for n in range(8):
        lead = receive_lead({"first_name": "Pat", "last_name": f"Fuzz{n}",
                             "email": f"fuzz{n}@example.org", "phone": f"+1312555{n:04d}",
                             "lead_type": "seller" if n % 2 else "buyer", "price": "450000",
                             "tags": ["luxury"]}, channel="api", received_at=now).lead
        if lead.owner_id:
            log_activity(lead, lead.owner, "call", "Left a voicemail", now=now)
    for n in range(3):
        LeadFactory(last_name=f"Pond{n}")
    fuzz = Fuzzing(api_key=create_key("Fuzz")[1],
                   agent_token=Token.objects.create(user=ann.user).key,
                   manager_token=Token.objects.create(user=meg.user).key)
    leads = list(Lead.objects.values_list("pk", flat=True))
    fuzz.ids = {
        "agent:offers": list(Offer.objects.filter(agent=ann).values_list("pk", flat=True)),
        "agent:leads": list(Lead.objects.filter(owner=ann).values_list("pk", flat=True)),
        "agent:pond": list(Lead.objects.filter(owner=None).values_list("pk", flat=True)),
        "activity": list(Activity.objects.values_list("pk", flat=True)),
        "manager:agents": list(Agent.objects.values_list("pk", flat=True)),
        "manager:rosters": [team.pk],
        "manager:rules": list(team.rules.values_list("pk", flat=True)),
        "manager:leads": leads,
    }
    assert all(fuzz.ids.values()), fuzz.ids
    return fuzz


@schema.parametrize()
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_keeps_to_its_schema(case, fuzzing):
    """Every operation: no 500, and every answer (status, headers, body) as documented.
    ``FUZZ_EXAMPLES=500`` for a deeper run."""
    fuzzing.aim(case)
    case.call_and_validate(headers=fuzzing.headers(case.path))
