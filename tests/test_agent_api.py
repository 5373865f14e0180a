"""The agent API: tokens, offers, claims, leads, activities, the pond, availability, and who
may reach what (another agent's lead, offer or activity is 404, as on the pages)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import count
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from config.api.agent import OfferClaimView, OfferDeclineView
from config.api.errors import api_exception_handler
from config.errors import ApplicationError
from leads.intake import receive_lead
from leads.intake.keys import create_key
from leads.isa.queue import IsaRefused
from leads.models import Activity, Lead
from routing.claims import ClaimRefused
from routing.engine import render_trace
from routing.models import Brokerage, Offer, RoutingRecord
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory
from tests.threads import together

pytestmark = pytest.mark.django_db

API = "/api/v1"
ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
_n = count(1)


@pytest.fixture(autouse=True)
def _setup(settings):
    """Fast password hashing, login attempts counted from zero, claim clocks running now."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    yield
    cache.clear()


@pytest.fixture
def ann() -> Agent:
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def bob() -> Agent:
    return AgentFactory(name="Bob Ray", email="bob@example.com")


def api(agent: Agent | None = None, user=None) -> Client:
    """A client sending the agent's (or the user's) token."""
    user = user or (agent.user if agent else None)
    if user is None:
        return Client()
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def route(agents: list[Agent], delivery: str = "claim", lead_type: str = "buyer") -> Lead:
    """A new lead offered through a catch-all rule with this delivery (sellers: through a
    rule of their own, so that a test may route twice)."""
    n = next(_n)
    RuleFactory(name=f"Rule {n}", is_catch_all=lead_type == "buyer", delivery=delivery,
                roster=RosterFactory.with_members(agents),
                criteria={"lead_type": [lead_type]} if lead_type != "buyer" else None)
    result = receive_lead({
        "first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
        "phone": f"+1312555{n:04d}", "source": "Zillow", "lead_type": lead_type, "price": "1250000",
        "city": "Chicago", "zip_code": "60601", "neighborhood": "Loop",
        "message": "Can I see it on Saturday?", "tags": ["luxury"],
    }, channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return Lead.objects.get(pk=result.lead.pk)


def offer_of(lead: Lead, agent: Agent) -> Offer:
    return Offer.objects.get(lead=lead, agent=agent)


def owned(agent: Agent, **fields) -> Lead:
    fields.setdefault("status", Lead.Status.ASSIGNED)
    fields.setdefault("assigned_at", timezone.now())
    return LeadFactory(owner=agent, **fields)


def errors(response) -> dict[str, str]:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["errors"]


# --- Tokens and authentication ----------------------------------------------------------------


def test_token_from_username_and_password_then_the_same_token_again(ann):
    body = {"username": "ann@example.com", "password": "pass-12345"}
    response = Client().post(f"{API}/auth/token/", body, content_type="application/json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=ann.user).key
    again = Client().post(f"{API}/auth/token/", urlencode(body),  # a form post works too
                          content_type="application/x-www-form-urlencoded")
    assert again.json() == {"token": token}
    offers = Client(headers={"Authorization": f"Token {token}"}).get(f"{API}/agent/offers/")
    assert offers.status_code == 200 and offers.json() == []


def test_wrong_password_or_missing_fields_say_so(ann):
    response = Client().post(f"{API}/auth/token/",
                             {"username": "ann@example.com", "password": "nope"},
                             content_type="application/json")
    assert response.status_code == 400
    assert errors(response) == {"credentials": "Unable to log in with provided credentials."}
    response = Client().post(f"{API}/auth/token/", {}, content_type="application/json")
    assert set(errors(response)) == {"username", "password"}
    assert not Token.objects.exists()


def test_password_guessing_is_throttled_per_username(ann, settings):
    settings.API_LOGIN_RATE_PER_MINUTE = 3
    body = {"username": "ANN@example.com", "password": "guess"}
    statuses = [Client().post(f"{API}/auth/token/", body, content_type="application/json")
                for _ in range(4)]
    assert [r.status_code for r in statuses] == [400, 400, 400, 429]
    assert int(statuses[-1]["Retry-After"]) > 0
    assert "rate" in errors(statuses[-1])
    other = Client().post(f"{API}/auth/token/", {"username": "bob@example.com", "password": "x"},
                          content_type="application/json")
    assert other.status_code == 400


def test_no_token_or_a_bad_one_is_401_with_the_scheme(ann):
    for client in (Client(), Client(headers={"Authorization": "Token nope"})):
        response = client.get(f"{API}/agent/offers/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert "auth" in errors(response)


def test_a_login_without_an_agent_is_403():
    user = get_user_model().objects.create_user("office@example.com", password="pass-12345")
    for path in ("offers/", "leads/", "pond/", "availability/"):
        response = api(user=user).get(f"{API}/agent/{path}")
        assert response.status_code == 403
        assert errors(response) == {"permission": "Your login is not linked to an agent."}


def test_superuser_without_an_agent_reads_leads_but_cannot_act(ann):
    lead = owned(ann)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pass-12345")
    client = api(user=root)
    assert client.get(f"{API}/agent/leads/").json()["count"] == 1
    assert client.get(f"{API}/agent/leads/{lead.pk}/").status_code == 200
    assert client.get(f"{API}/agent/leads/{lead.pk}/activities/").status_code == 200
    response = client.post(f"{API}/agent/leads/{lead.pk}/activities/", {"kind": "call"},
                           content_type="application/json")
    assert response.status_code == 403
    assert client.get(f"{API}/agent/offers/").status_code == 403


def test_the_session_works_too_and_the_api_is_browsable(client, ann):
    client.force_login(ann.user)
    assert client.get(f"{API}/agent/availability/").json() == {"accepting_leads": True}
    html = client.get(f"{API}/agent/availability/", headers={"Accept": "text/html"})
    assert html.status_code == 200 and b"accepting_leads" in html.content


# --- Offers -----------------------------------------------------------------------------------


def test_my_offers_show_the_essentials_and_a_countdown_but_no_contact(ann, bob):
    lead = route([ann])
    route([bob], lead_type="seller")  # Bob's offer is not Ann's business
    [offer] = api(ann).get(f"{API}/agent/offers/").json()
    assert offer["id"] == offer_of(lead, ann).pk and offer["status"] == "offered"
    assert 280 <= offer["seconds_left"] <= 300 and offer["clock_running"] is True
    essentials = offer["lead"]
    assert essentials["name"] == lead.full_name and essentials["price"] == 1250000
    assert essentials["area"] == "Loop, Chicago, 60601" and essentials["tags"] == ["luxury"]
    assert offer["contact"] is None
    assert "email" not in essentials and "phone" not in essentials


def test_contact_details_on_offers_when_the_brokerage_shows_them(ann):
    brokerage = Brokerage.load()
    brokerage.hide_contact_until_claimed = False
    brokerage.save()
    lead = route([ann])
    [offer] = api(ann).get(f"{API}/agent/offers/").json()
    assert offer["contact"] == {"email": lead.email, "phone": lead.phone.as_e164}


def test_claim_answers_the_lead_with_its_contact_details(ann):
    lead = route([ann])
    client = api(ann)
    response = client.post(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == lead.pk and body["status"] == "assigned"
    assert body["owner"] == {"id": ann.pk, "name": "Ann Lee", "email": "ann@example.com"}
    assert body["contact"] == {"email": lead.email, "phone": lead.phone.as_e164}
    lead.refresh_from_db()
    assert (lead.owner, lead.status) == (ann, Lead.Status.ASSIGNED)
    assert client.get(f"{API}/agent/offers/").json() == []


def test_the_second_claim_is_409_with_the_reason(ann, bob):
    lead = route([ann, bob], delivery="first_to_claim")
    assert api(ann).post(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/").status_code == 200
    response = api(bob).post(f"{API}/agent/offers/{offer_of(lead, bob).pk}/claim/")
    assert response.status_code == 409
    assert errors(response) == {"claim": "Another agent claimed this lead first."}
    again = api(ann).post(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/")
    assert errors(again) == {"claim": "You have already claimed this lead."}
    lead.refresh_from_db()
    assert lead.owner == ann


def test_a_claim_after_the_deadline_is_409(ann):
    lead = route([ann])
    Offer.objects.filter(lead=lead).update(deadline=timezone.now() - timedelta(seconds=1))
    response = api(ann).post(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/")
    assert response.status_code == 409
    assert errors(response) == {"claim": "Too late: the claim window for this lead has closed."}


def test_decline_passes_the_lead_on_and_only_once(ann, bob):
    lead = route([ann, bob])
    first = Offer.objects.get(lead=lead)
    other = bob if first.agent == ann else ann
    client = api(first.agent)
    response = client.post(f"{API}/agent/offers/{first.pk}/decline/")
    assert response.status_code == 200
    assert response.json() == {"offer": first.pk, "status": "declined", "reason": "",
                               "message": "You passed on this lead; it goes to the next agent."}
    assert offer_of(lead, other).status == Offer.Status.OFFERED
    response = client.post(f"{API}/agent/offers/{first.pk}/decline/")
    assert response.status_code == 409
    assert errors(response) == {"decline": "You declined this lead."}


def test_another_agents_offer_is_404_and_stays_untouched(ann, bob):
    lead = route([ann])
    offer = offer_of(lead, ann)
    for action in ("claim", "decline"):
        response = api(bob).post(f"{API}/agent/offers/{offer.pk}/{action}/")
        assert response.status_code == 404
        assert errors(response) == {"not_found": "No such offer."}
    assert offer_of(lead, ann).status == Offer.Status.OFFERED
    for missing in (999_999, 2**63 - 1, 2**70):
        assert api(bob).post(f"{API}/agent/offers/{missing}/claim/").status_code == 404


def test_claim_needs_a_post(ann):
    lead = route([ann])
    response = api(ann).get(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/")
    assert response.status_code == 405 and "method" in errors(response)


# --- My leads and the lead --------------------------------------------------------------------


def test_my_leads_are_mine_newest_first_and_filter_by_status(ann, bob):
    now = timezone.now()
    old = owned(ann, last_name="Older", received_at=now - timedelta(hours=3),
                first_contact_due_at=now - timedelta(minutes=5))
    new = owned(ann, last_name="Newer", status=Lead.Status.CONTACTED,
                received_at=now - timedelta(minutes=12))
    owned(bob, last_name="Bobs")
    body = api(ann).get(f"{API}/agent/leads/").json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    assert [row["overdue"] for row in body["results"]] == [False, True]
    assert body["results"][0]["contact"]["email"] == new.email
    contacted = api(ann).get(f"{API}/agent/leads/", {"status": "contacted"}).json()
    assert [row["id"] for row in contacted["results"]] == [new.pk]
    response = api(ann).get(f"{API}/agent/leads/", {"status": "bogus"})
    assert response.status_code == 400 and "status" in errors(response)
    assert api(ann).get(f"{API}/agent/leads/", {"page": 9}).status_code == 404


def test_lead_detail_has_contact_timeline_and_why(ann):
    lead = route([ann])
    client = api(ann)
    client.post(f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/")
    body = client.get(f"{API}/agent/leads/{lead.pk}/").json()
    assert body["contact"]["email"] == lead.email and body["message"] == lead.message
    record = RoutingRecord.objects.filter(lead=lead).first()
    first, claim = body["routing"]
    assert first["lines"] == [
        f"The “{lead.rule.name}” rule took it.",
        f"It was your turn in the “{lead.rule.name}” rotation.",
        "It was offered to you to claim.",
    ]
    assert claim["lines"] == ["You claimed it."]
    assert not set(render_trace(record.trace)) & set(first["lines"])  # no engine trace
    assert body["rule"] == lead.rule.name and body["speed_to_lead_seconds"] is None


def test_another_agents_lead_and_its_activities_are_404(ann, bob):
    lead = owned(bob)
    note = Activity.objects.create(lead=lead, kind="note", actor=bob, body="Mine",
                                   created_at=timezone.now())
    client = api(ann)
    for path in (f"leads/{lead.pk}/", f"leads/{lead.pk}/activities/",
                 f"leads/{lead.pk}/activities/{note.pk}/"):
        response = client.get(f"{API}/agent/{path}")
        assert response.status_code == 404, path
        assert errors(response) == {"not_found": "No such lead."}
    response = client.post(f"{API}/agent/leads/{lead.pk}/activities/", {"kind": "call"},
                           content_type="application/json")
    assert response.status_code == 404
    assert list(Activity.objects.filter(lead=lead)) == [note]
    assert lead.pk not in [r["id"] for r in client.get(f"{API}/agent/leads/").json()["results"]]


def test_an_activity_of_another_lead_is_404_under_mine(ann, bob):
    mine, theirs = owned(ann), owned(bob)
    note = Activity.objects.create(lead=theirs, kind="note", actor=bob, body="Theirs",
                                   created_at=timezone.now())
    response = api(ann).get(f"{API}/agent/leads/{mine.pk}/activities/{note.pk}/")
    assert response.status_code == 404
    assert errors(response) == {"not_found": "No such activity."}


def test_a_manager_sees_every_lead_and_mine_narrows_it(ann):
    boss = AgentFactory(name="Meg Boss", role=Agent.Role.MANAGER)
    annslead, bosslead = owned(ann), owned(boss)
    client = api(boss)
    ids = {row["id"] for row in client.get(f"{API}/agent/leads/").json()["results"]}
    assert ids == {annslead.pk, bosslead.pk}
    mine = client.get(f"{API}/agent/leads/", {"mine": "true"}).json()["results"]
    assert [row["id"] for row in mine] == [bosslead.pk]
    assert client.get(f"{API}/agent/leads/{annslead.pk}/").status_code == 200


# --- Activities -------------------------------------------------------------------------------


def test_logging_a_call_is_the_first_contact(ann):
    lead = owned(ann, received_at=timezone.now() - timedelta(minutes=7),
                 first_contact_due_at=timezone.now() + timedelta(minutes=3))
    client = api(ann)
    response = client.post(f"{API}/agent/leads/{lead.pk}/activities/",
                           {"kind": "call", "body": "  Left a voicemail "},
                           content_type="application/json")
    assert response.status_code == 201
    activity = response.json()
    assert activity["kind"] == "call" and activity["label"] == "Call"
    assert activity["body"] == "Left a voicemail"
    assert activity["actor"]["email"] == "ann@example.com"
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED and lead.first_contact_due_at is None
    detail = client.get(f"{API}/agent/leads/{lead.pk}/").json()
    assert 7 * 60 <= detail["speed_to_lead_seconds"] < 8 * 60
    timeline = client.get(f"{API}/agent/leads/{lead.pk}/activities/").json()
    assert [a["id"] for a in timeline["results"]] == [activity["id"]]
    one = client.get(f"{API}/agent/leads/{lead.pk}/activities/{activity['id']}/")
    assert one.json() == activity


def test_a_note_needs_words_and_unknown_kinds_are_refused(ann):
    lead = owned(ann)
    client = api(ann)
    url = f"{API}/agent/leads/{lead.pk}/activities/"
    response = client.post(url, {"kind": "note", "body": " "}, content_type="application/json")
    assert response.status_code == 400 and errors(response) == {"body": "Write the note."}
    response = client.post(url, {"kind": "dance"}, content_type="application/json")
    assert response.status_code == 400 and set(errors(response)) == {"kind"}
    response = client.post(url, "not json", content_type="application/json")
    assert response.status_code == 400 and "body" in errors(response)
    response = client.post(url, {"kind": "note", "body": "Prefers texts"},
                           content_type="application/json")
    assert response.status_code == 201
    lead.refresh_from_db()
    assert lead.first_contact_at is None
    assert Activity.objects.filter(lead=lead).count() == 1


# --- The pond ---------------------------------------------------------------------------------


def test_the_pond_oldest_first_without_contact_and_first_claim_wins(ann, bob):
    now = timezone.now()
    newer = LeadFactory(last_name="Newer", received_at=now - timedelta(hours=1))
    older = LeadFactory(last_name="Older", received_at=now - timedelta(days=2))
    taken = owned(bob, last_name="Taken")
    body = api(ann).get(f"{API}/agent/pond/").json()
    assert [row["id"] for row in body["results"]] == [older.pk, newer.pk]
    assert "contact" not in body["results"][0] and "email" not in body["results"][0]
    response = api(ann).post(f"{API}/agent/pond/{older.pk}/claim/")
    assert response.status_code == 200
    assert response.json()["owner"]["id"] == ann.pk
    assert response.json()["contact"]["email"] == older.email
    response = api(bob).post(f"{API}/agent/pond/{older.pk}/claim/")
    assert response.status_code == 409
    assert errors(response) == {"claim": "Another agent claimed this lead first."}
    assert api(ann).post(f"{API}/agent/pond/{taken.pk}/claim/").status_code == 409
    assert api(ann).post(f"{API}/agent/pond/999999/claim/").status_code == 404
    older.refresh_from_db()
    assert older.owner == ann


# --- Availability -----------------------------------------------------------------------------


def test_pause_and_resume(ann):
    client = api(ann)
    url = f"{API}/agent/availability/"
    assert client.get(url).json() == {"accepting_leads": True}
    response = client.put(url, {"accepting_leads": False}, content_type="application/json")
    assert response.json() == {"accepting_leads": False}
    ann.refresh_from_db()
    assert ann.accepting_leads is False
    response = client.put(url, {}, content_type="application/json")
    assert response.status_code == 400 and set(errors(response)) == {"accepting_leads"}
    client.put(url, {"accepting_leads": True}, content_type="application/json")
    ann.refresh_from_db()
    assert ann.accepting_leads is True


# --- Many taps at once (PostgreSQL) -----------------------------------------------------------


def at_once(count_: int, job) -> list:
    """Run ``job(i)`` in ``count_`` threads released together; their results."""
    return together([lambda i=i: job(i) for i in range(count_)])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_claims_of_one_offer_at_once_give_one_200_and_nine_409s(ann):
    lead = route([ann])
    url = f"{API}/agent/offers/{offer_of(lead, ann).pk}/claim/"
    token = Token.objects.create(user=ann.user).key
    results = at_once(10, lambda _: Client(headers={"Authorization": f"Token {token}"})
                      .post(url).status_code)
    assert Counter(results) == {200: 1, 409: 9}
    lead.refresh_from_db()
    assert lead.owner == ann
    assert Activity.objects.filter(lead=lead, kind="claimed").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_agents_claiming_one_lead_at_once_give_one_owner(ann):
    team = [AgentFactory() for _ in range(10)]
    lead = route(team, delivery="first_to_claim")
    offers = [offer_of(lead, agent) for agent in team]
    tokens = [Token.objects.create(user=agent.user).key for agent in team]
    results = at_once(10, lambda i: Client(headers={"Authorization": f"Token {tokens[i]}"})
                      .post(f"{API}/agent/offers/{offers[i].pk}/claim/").status_code)
    assert Counter(results) == {200: 1, 409: 9}
    lead.refresh_from_db()
    assert lead.owner in team
    assert Offer.objects.filter(lead=lead, status=Offer.Status.CLAIMED).count() == 1


# --- The one exception handler ----------------------------------------------------------------


def test_a_domain_error_answers_its_status_and_message_under_the_views_key():
    class Gone(ApplicationError):
        status_code = 410

    cases = [(ClaimRefused("Too late."), OfferClaimView),
             (ClaimRefused("You declined this lead."), OfferDeclineView),
             (IsaRefused("Not yours."), OfferClaimView),
             (Gone("Gone."), OfferClaimView)]
    answers = [api_exception_handler(error, {"view": view()}) for error, view in cases]
    assert [(answer.status_code, answer.data) for answer in answers] == [
        (409, {"errors": {"claim": "Too late."}}),
        (409, {"errors": {"decline": "You declined this lead."}}),
        (403, {"errors": {"permission": "Not yours."}}),
        (410, {"errors": {"detail": "Gone."}}),
    ]


def test_views_without_the_envelope_keep_drfs_error_bodies():
    key = create_key("Zillow")[1]
    response = Client().get(f"{API}/leads/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}
