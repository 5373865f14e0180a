"""The manager API (read): agents, rosters, rules, leads with filters, a lead's routing trace,
and who may read it (managers and superusers; an agent's token is 403)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from leads.intake import receive_lead
from leads.models import Activity, Lead
from routing.engine import render_trace, step_text
from routing.models import Offer, RoutingRecord, RuleWindow
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/manager"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def meg() -> Agent:
    """A manager: staff in the Managers group, as the admin makes them."""
    agent = AgentFactory(name="Meg Boss", email="meg@example.com", role=Agent.Role.MANAGER)
    sync_access(agent)
    return agent


@pytest.fixture
def ann() -> Agent:
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def bob() -> Agent:
    return AgentFactory(name="Bob Ray", email="bob@example.com")


def api(user) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def errors(response) -> dict[str, str]:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["errors"]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Who may read -----------------------------------------------------------------------------


def manager_paths(lead: Lead, agent: Agent) -> list[str]:
    roster = RosterFactory.with_members([agent])
    rule = RuleFactory(name="Everything", is_catch_all=True, roster=roster)
    return ["agents/", f"agents/{agent.pk}/", "rosters/", f"rosters/{roster.pk}/", "rules/",
            f"rules/{rule.pk}/", "leads/", f"leads/{lead.pk}/"]


def test_an_agents_token_is_403_everywhere(ann):
    lead = LeadFactory(owner=ann, status=Lead.Status.ASSIGNED)
    for path in manager_paths(lead, ann):
        response = api(ann.user).get(f"{API}/{path}")
        assert response.status_code == 403, path
        assert errors(response) == {"permission": "Only managers may use the manager API."}


def test_no_token_is_401(ann):
    response = Client().get(f"{API}/leads/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert "auth" in errors(response)


def test_managers_and_superusers_read_everything(meg, ann):
    lead = LeadFactory(owner=ann, status=Lead.Status.ASSIGNED)
    paths = manager_paths(lead, ann)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pass-12345")
    for user in (meg.user, root):
        for path in paths:
            assert api(user).get(f"{API}/{path}").status_code == 200, path


def test_staff_outside_the_managers_group_is_403(ann):
    """As in the admin: staff alone is not enough, nor a manager whose login is inactive."""
    staff = UserFactory(username="staff@example.com", is_staff=True)
    assert api(staff).get(f"{API}/agents/").status_code == 403
    meg = AgentFactory(role=Agent.Role.MANAGER)
    sync_access(meg)
    meg.user.is_active = False
    meg.user.save()
    assert api(meg.user).get(f"{API}/agents/").status_code == 401  # its token is refused


def test_the_session_works_too(client, meg):
    client.force_login(meg.user)
    assert client.get(f"{API}/rules/").status_code == 200


# --- Agents, rosters, rules -------------------------------------------------------------------


def test_agents_with_open_leads_rosters_and_filters(meg, ann, bob):
    RosterFactory.with_members([ann, bob], name="Downtown")
    LeadFactory(owner=ann, status=Lead.Status.ASSIGNED)
    LeadFactory(owner=ann, status=Lead.Status.CONTACTED)
    LeadFactory(owner=ann, status=Lead.Status.CLOSED)
    bob.accepting_leads = False
    bob.save()
    client = api(meg.user)
    rows = {row["email"]: row for row in client.get(f"{API}/agents/").json()["results"]}
    assert set(rows) == {"ann@example.com", "bob@example.com", "meg@example.com"}
    assert rows["ann@example.com"]["open_leads"] == 2
    assert rows["ann@example.com"]["rosters"][0]["name"] == "Downtown"
    assert rows["bob@example.com"]["accepting_leads"] is False
    assert ids(client.get(f"{API}/agents/", {"accepting_leads": "false"})) == [bob.pk]
    assert ids(client.get(f"{API}/agents/", {"role": "manager"})) == [meg.pk]
    assert ids(client.get(f"{API}/agents/", {"search": "ANN"})) == [ann.pk]
    assert client.get(f"{API}/agents/", {"role": "boss"}).status_code == 400
    assert client.get(f"{API}/agents/{ann.pk}/").json()["name"] == "Ann Lee"
    response = client.get(f"{API}/agents/999999/")
    assert response.status_code == 404 and "not_found" in errors(response)
    assert client.get(f"{API}/agents/{2**70}/").status_code == 404


def test_rosters_list_members_in_rotation_order_and_their_rules(meg, ann, bob):
    roster = RosterFactory.with_members([bob, ann], weights=[2, 1], name="Downtown")
    RuleFactory(name="Downtown buyers", roster=roster)
    body = api(meg.user).get(f"{API}/rosters/{roster.pk}/").json()
    assert [(m["agent"]["name"], m["position"], m["leads_per_round"]) for m in body["members"]] \
        == [("Bob Ray", 0, 2), ("Ann Lee", 1, 1)]
    assert [r["name"] for r in body["rules"]] == ["Downtown buyers"]


def test_rules_in_priority_order_catch_all_last_and_in_words(meg, ann):
    roster = RosterFactory.with_members([ann], name="Office")
    catch_all = RuleFactory(name="Everyone else", is_catch_all=True, roster=roster, priority=0)
    lux = RuleFactory(name="Zillow luxury", roster=roster, priority=5, delivery="claim",
                      criteria={"source": ["Zillow"], "lead_type": ["buyer"],
                                "price_min": 1000000},
                      windows=[(["sat", "sun"], "00:00", "23:59")], escalate_to=ann)
    paused = RuleFactory(name="Paused", roster=roster, priority=7, is_active=False)
    client = api(meg.user)
    rows = client.get(f"{API}/rules/").json()["results"]
    assert [r["id"] for r in rows] == [lux.pk, paused.pk, catch_all.pk]
    first = rows[0]
    assert first["criteria_text"] == "Source is Zillow · Buyer · Price ≥ $1,000,000"
    assert first["when_text"] == "Sat, Sun 00:00-23:59"
    assert {"field": "source", "value": "Zillow"} in first["criteria"]
    assert first["windows"] == [{"days": ["sat", "sun"], "start": "00:00", "end": "23:59"}]
    assert first["roster"] == {"id": roster.pk, "name": "Office"}
    assert first["escalate_to"]["email"] == "ann@example.com" and first["delivery"] == "claim"
    assert rows[2]["criteria_text"] == "Everything no other rule takes"
    assert ids(client.get(f"{API}/rules/", {"is_active": "false"})) == [paused.pk]
    assert ids(client.get(f"{API}/rules/", {"delivery": "claim"})) == [lux.pk]
    assert RuleWindow.objects.get(rule=lux).start == time(0, 0)


# --- Leads ------------------------------------------------------------------------------------


@pytest.fixture
def leads(ann, bob):
    """A mix: Ann's overdue Zillow lead, Bob's contacted one, a pond lead, an old one."""
    now = timezone.now()
    roster = RosterFactory.with_members([ann])
    rule = RuleFactory(name="Zillow", roster=roster, criteria={"source": ["Zillow"]})
    return {
        "overdue": LeadFactory(owner=ann, status=Lead.Status.ASSIGNED, source="Zillow",
                               rule=rule, first_name="Olive", email="olive@example.org",
                               phone="+13125550101", phone_normalized="+13125550101",
                               received_at=now - timedelta(hours=1),
                               first_contact_due_at=now - timedelta(minutes=1)),
        "contacted": LeadFactory(owner=bob, status=Lead.Status.CONTACTED, source="Website",
                                 first_name="Carl", received_at=now - timedelta(hours=2),
                                 first_contact_at=now - timedelta(hours=1)),
        "pond": LeadFactory(source="zillow", first_name="Pete",
                            received_at=now - timedelta(hours=3)),
        "old": LeadFactory(owner=bob, status=Lead.Status.CLOSED, first_name="Otto",
                           received_at=now - timedelta(days=40)),
    }


def test_leads_newest_first_with_every_filter(meg, ann, bob, leads):
    client = api(meg.user)
    every = [leads[k].pk for k in ("overdue", "contacted", "pond", "old")]
    assert ids(client.get(f"{API}/leads/")) == every

    def found(**params) -> set[str]:
        names = {lead.pk: key for key, lead in leads.items()}
        return {names[i] for i in ids(client.get(f"{API}/leads/", params))}

    assert found(status=["assigned", "contacted"]) == {"overdue", "contacted"}
    assert found(source="ZILLOW") == {"overdue", "pond"}
    assert found(owner=bob.pk) == {"contacted", "old"}
    assert found(rule=leads["overdue"].rule_id) == {"overdue"}
    assert found(pond="true") == {"pond"}
    assert found(pond="false") == {"overdue", "contacted", "old"}
    assert found(overdue="true") == {"overdue"}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert found(received_after=since) == {"overdue", "contacted", "pond"}
    assert found(received_before=since) == {"old"}
    assert found(received_after="2000-01-01T00:00:00+16:00") == set(leads)  # any valid offset
    assert found(search="olive") == {"overdue"}
    assert found(search="(312) 555-0101") == {"overdue"}
    assert found(search="carl example.org") == {"contacted"}
    row = client.get(f"{API}/leads/", {"pond": "true"}).json()["results"][0]
    assert row["in_pond"] is True and row["owner"] is None and row["rule"] is None


@pytest.mark.parametrize("params", [
    {"owner": "ann"}, {"owner": 2**70}, {"owner": 0}, {"status": "lost"},
    {"received_after": "yesterday"}, {"received_after": "9999-12-31T23:59:59-14:00"},
    {"received_before": "0001-01-01T00:00:00+14:00"}, {"search": "a\x00b"},
])
def test_invalid_filters_are_400_with_the_field(meg, leads, params):
    response = api(meg.user).get(f"{API}/leads/", params)
    assert response.status_code == 400
    assert set(errors(response)) == set(params)


def test_listing_leads_costs_the_same_queries_whatever_their_number(meg, ann,
                                                                   django_assert_max_num_queries):
    rule = RuleFactory(name="Everything", is_catch_all=True,
                       roster=RosterFactory.with_members([ann]))
    for _ in range(30):
        LeadFactory(owner=ann, status=Lead.Status.ASSIGNED, rule=rule, lender=ann)
    client = api(meg.user)
    client.get(f"{API}/leads/")  # loads the routing snapshot every request reads (cached)
    with django_assert_max_num_queries(5):  # config token, auth token, group, count, page
        assert client.get(f"{API}/leads/").json()["count"] == 30


def test_a_lead_with_its_trace_offers_and_timeline(meg, ann, bob):
    RuleFactory(name="Everything", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members([ann, bob]))
    lead = receive_lead({"first_name": "Pat", "email": "pat@example.org", "phone": "3125550101",
                         "source": "Zillow"}, channel="api", received_at=timezone.now()).lead
    body = api(meg.user).get(f"{API}/leads/{lead.pk}/").json()
    record = RoutingRecord.objects.get(lead=lead)
    [trace] = body["trace"]
    assert trace["summary"] == record.summary and trace["rule"] == "Everything"
    assert trace["lines"] == render_trace(record.trace)
    # Every step as stored, with its sentence (a member's written from its data).
    assert trace["steps"] == [{**step, "text": step_text(step)} for step in record.trace]
    assert [step["text"] for step in trace["steps"]] == [line.strip() for line in trace["lines"]]
    offer = Offer.objects.get(lead=lead)
    assert [(o["id"], o["status"]) for o in body["offers"]] == [(offer.pk, "offered")]
    kinds = [a["kind"] for a in body["activities"]]
    assert kinds == list(Activity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert body["contact"] == {"email": "pat@example.org", "phone": "+13125550101"}
    assert body["status"] == "offered" and body["owner"] is None
    response = api(meg.user).get(f"{API}/leads/999999/")
    assert response.status_code == 404 and "not_found" in errors(response)
