"""Follow Up Boss events (``POST /api/v1/events``): a provider that posts to Follow Up Boss
posts here by changing the host, and each event becomes a routed lead with the right fields."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from agents.directory import AgentDirectory
from agents.models import Agent
from agents.services import sync_access
from leads.intake.fub import TYPE_MAP, fub_event_to_lead
from leads.intake.keys import create_key
from leads.intake.replay import replay_submission
from leads.models import Activity, Lead, LeadSource, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.test_intake_bodies import chunked
from tests.threads import together

FIXTURES = Path(__file__).parent / "fixtures" / "fub"
URL = "/api/v1/events"
CENTRAL = ZoneInfo("America/Chicago")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def basic(key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


def post(body, key: str | None = None, *, url: str = URL, raw: bool = False, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if key is not None:
        extra.setdefault("HTTP_AUTHORIZATION", basic(key))
    return Client().post(url, data=body if raw else json.dumps(body),
                         content_type="application/json", **extra)


def last_submission() -> Submission:
    return Submission.objects.order_by("-id").first()


# --- The reading of an event (no database) ---------------------------------------------------

@pytest.mark.parametrize(("fub_type", "with_property", "lead_type", "tag"), [
    ("Seller Inquiry", False, "seller", "Seller Inquiry"),
    ("Property Inquiry", True, "buyer", "Property Inquiry"),
    ("General Inquiry", False, "", "General Inquiry"),
    ("Registration", False, "", "Registration"),
    ("Visited Open House", True, "buyer", "Visited Open House"),
    ("Saved Property", True, "buyer", "Saved Property"),
    ("Viewed Property", True, "buyer", "Viewed Property"),
    ("Property Search", False, "buyer", "Property Search"),
    ("Saved Property Search", False, "buyer", "Saved Property Search"),
    ("Visited Website", False, "", "Visited Website"),
    ("Viewed Page", False, "", "Viewed Page"),
    ("Incoming Call", False, "", "Incoming Call"),
    ("Inquiry", True, "buyer", "Property Inquiry"),
    ("Inquiry", False, "", "General Inquiry"),
    ("seller inquiry", False, "seller", "Seller Inquiry"),  # any case
    ("Registration", True, "buyer", "Registration"),  # registered on a listing: a buyer
])
def test_each_type_gives_its_lead_type_and_tag(fub_type, with_property, lead_type, tag):
    body = {"type": fub_type, "person": {"firstName": "Pat", "tags": ["VIP"]}}
    if with_property:
        body["property"] = {"city": "Austin", "code": "78704"}
    fields = fub_event_to_lead(body).fields
    assert fields.get("lead_type", "") == lead_type
    assert fields["tags"][0] == "VIP" and tag in fields["tags"]


def test_every_listed_type_is_mapped():
    assert set(TYPE_MAP) >= {"Registration", "Seller Inquiry", "Property Inquiry",
                             "General Inquiry", "Visited Open House", "Saved Property",
                             "Viewed Property", "Property Search", "Visited Website"}
    assert fub_event_to_lead({"type": "Unsubscribed", "person": {}}).takes_lead is False


def test_an_unknown_type_is_kept_as_a_tag():
    mapped = fub_event_to_lead({"type": "Texted Agent", "person": {"firstName": "Pat"}})
    assert mapped.takes_lead and mapped.fields["tags"] == ["Texted Agent"]
    assert "Event type: Texted Agent" in mapped.fields["message"]


def test_property_fields_of_a_zillow_inquiry():
    arrived = datetime(2026, 12, 2, 14, 9, 31, tzinfo=UTC)
    fields = fub_event_to_lead(fixture("zillow_property_inquiry"), received_at=arrived,
                               tz=CENTRAL).fields
    assert {k: fields[k] for k in ("first_name", "last_name", "email", "phone", "city",
                                   "zip_code", "listing_ref", "price", "property_type",
                                   "lead_type", "site")} == {
        "first_name": "Maria", "last_name": "Delgado", "email": "maria.delgado@example.com",
        "phone": "(512) 555-0148", "city": "Austin", "zip_code": "78704",
        "listing_ref": "ACT5521934", "price": 649000, "property_type": "Single Family",
        "lead_type": "buyer", "site": "Zillow"}
    assert fields["tags"] == ["Zillow Flex", "Property Inquiry"]
    message = fields["message"]
    assert message.startswith("I am interested in 2418 Maple Ridge Dr")
    assert "Property: 2418 Maple Ridge Dr, Austin, TX 78704; bedrooms 3, bathrooms 2" in message
    assert "Listing: https://www.zillow.com/homedetails/2418-Maple-Ridge" in message
    # occurredAt: in the brokerage's time, and how late it came; arrival stays leadrouter's
    assert "Happened at Wed 2 Dec 2026 8:05, 4 min before it arrived here" in message


def test_seller_inquiry_keeps_other_emails_campaign_and_page():
    fields = fub_event_to_lead(fixture("seller_inquiry")).fields
    assert (fields["lead_type"], fields["email"], fields["phone"]) == (
        "seller", "derek.okafor@example.net", "+15125550177")
    message = fields["message"]
    assert "What is my home worth?" in message and "Home valuation request" in message
    assert "Other emails: d.okafor@work.example.com" in message
    assert "Campaign: source google, medium cpc, term sell my house austin" in message
    assert "Page: What's your Austin home worth?" in message
    assert "Property: 907 W 31st St, Austin, TX 78705" in message


def test_registration_reads_the_saved_search():
    fields = fub_event_to_lead(fixture("registration")).fields
    assert (fields["city"], fields["price"], fields["property_type"], fields["lead_type"]) == (
        "Round Rock", 425000, "Townhouse", "buyer")
    assert ("Search: type Townhouse, city Round Rock, state TX, min price 300000, max price "
            "425000, min bedrooms 3") in fields["message"]
    assert "Came from: https://www.google.com/" in fields["message"]


def test_shape_errors_name_the_field():
    mapped = fub_event_to_lead({"type": "Registration", "person": {
        "firstName": {"a": 1}, "emails": [{"value": {"x": "y"}}], "tags": {"a": 1}},
        "property": "2418 Maple Ridge Dr"})
    assert mapped.errors == {"property": "Expected an object.",
                             "person.firstName": "Expected text.",
                             "person.emails": 'Expected a list of {"value": "..."}.',
                             "person.tags": "Expected a list of tags."}


@pytest.mark.parametrize(("value", "email", "problem"), [
    ("Bob Stone", "bob@example.com", ""),
    ("  bob   STONE ", "bob@example.com", ""),
    ("BOB@example.com", "bob@example.com", ""),
    ("Zed Quill", "", "No agent named Zed Quill."),
    ("zed@example.com", "", "No agent with email zed@example.com."),
    ("Ann Lee", "", "2 agents are named Ann Lee: give an email."),
])
def test_agents_found_by_name_or_email(value, email, problem):
    class A:
        def __init__(self, name, email):
            self.name, self.email = name, email

    directory = AgentDirectory.of([A("Bob Stone", "Bob@example.com"),
                                   A("Ann Lee", "ann1@example.com"),
                                   A("Ann Lee", "ann2@example.com")])
    found = directory.find(value)
    assert (found.email, found.problem) == (email, problem)


# --- The endpoint -------------------------------------------------------------------------------

@pytest.fixture
def team(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = "https://leads.example.com"
    ann = AgentFactory(name="Ann Ray", email="ann@example.com")
    bob = AgentFactory(name="Bob Stone", email="bob@example.com")
    RuleFactory(name="Sellers", roster=RosterFactory.with_members([ann]),
                criteria={"lead_type": ["seller"]})
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([ann]))
    return {"ann": ann, "bob": bob}


@pytest.fixture
def key(team):
    return create_key("Zillow")[1]


def test_a_zillow_property_inquiry_becomes_a_routed_buyer_lead(key):
    response = post(fixture("zillow_property_inquiry"), key)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    body = response.json()
    assert (body["lead"], body["status"], body["agent"]) == (lead.pk, "assigned",
                                                             "ann@example.com")
    assert response["Location"] == f"https://leads.example.com/leads/{lead.pk}/"
    assert (lead.source, lead.lead_type, lead.city, lead.zip_code, lead.listing_ref) == (
        "Zillow", "buyer", "Austin", "78704", "ACT5521934")
    assert (lead.price, lead.phone_normalized, lead.owner.email) == (649000, "+15125550148",
                                                                      "ann@example.com")
    sub = last_submission()
    assert (sub.channel, sub.outcome, sub.http_status, sub.lead_id) == ("events", "accepted",
                                                                        201, lead.pk)
    assert json.loads(sub.raw_body)["property"]["mlsNumber"] == "ACT5521934"


def test_a_seller_inquiry_goes_to_the_sellers_rule(key):
    response = post(fixture("seller_inquiry"), key, url=URL + "/")  # a slash is fine too
    assert response.status_code == 201, response.content
    assert response.json()["rule"] == "Sellers"
    assert Lead.objects.get().lead_type == "seller"


def test_assigned_to_a_known_agent_by_name(key, team):
    response = post(fixture("registration"), key)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.assigned_to, lead.owner, response.json()["agent"]) == (
        "bob@example.com", team["bob"], "bob@example.com")


def test_assigned_to_an_unknown_agent_is_dropped_and_said(key, team):
    event = fixture("registration")
    event["person"]["assignedTo"] = "Zed Quill"
    response = post(event, key)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.assigned_to, lead.owner) == ("", team["ann"])  # routed by the rules
    assert ("Follow Up Boss assigned this person to Zed Quill. No agent named Zed Quill. "
            "Routed by the rules instead.") in lead.message


def test_the_same_person_again_is_200_and_registered_again(key):
    first = post(fixture("zillow_property_inquiry"), key)
    again = fixture("zillow_property_inquiry")
    again["type"] = "Saved Property"
    second = post(again, key)
    assert (first.status_code, second.status_code) == (201, 200)
    lead = Lead.objects.get()
    assert second.json()["lead"] == lead.pk and second.json()["status"] == "existing"
    assert lead.activities.filter(kind=Activity.Kind.REGISTERED_AGAIN).count() == 1
    assert list(Submission.objects.order_by("id").values_list("outcome", "http_status")) == [
        ("accepted", 201), ("existing", 200)]


def test_a_source_set_to_ignore_events_is_answered_204_and_kept(key):
    LeadSource.objects.filter(name="Zillow").update(ignore_events=True)
    response = post(fixture("zillow_property_inquiry"), key)
    assert response.status_code == 204 and response.content == b""
    assert not Lead.objects.exists()
    sub = last_submission()
    assert (sub.channel, sub.outcome, sub.http_status) == ("events", "ignored", 204)
    assert sub.errors == {"ignored": "The source Zillow is set to ignore events."}
    assert sub.payload["email"] == "maria.delgado@example.com"


def test_a_manager_switches_ignore_events_on_in_the_admin(key, client):
    manager = AgentFactory(name="Mia", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(manager)
    client.force_login(manager.user)
    source = LeadSource.objects.get(name="Zillow")
    page = client.get(f"/admin/leads/leadsource/{source.pk}/change/")
    assert b'name="ignore_events"' in page.content
    response = client.post(f"/admin/leads/leadsource/{source.pk}/change/",
                           {"name": "Zillow", "ignore_events": "on", "keys-TOTAL_FORMS": "1",
                            "keys-INITIAL_FORMS": "1", "keys-0-id": source.keys.get().pk,
                            "keys-0-source": source.pk})
    assert response.status_code == 302
    assert post(fixture("zillow_property_inquiry"), key).status_code == 204
    assert not Lead.objects.exists()


def test_an_unsubscribed_event_makes_no_lead(key):
    response = post({"type": "Unsubscribed", "person": {
        "emails": [{"value": "maria.delgado@example.com"}]}}, key)
    assert response.status_code == 204
    assert not Lead.objects.exists() and last_submission().outcome == "ignored"


@pytest.mark.parametrize("authorization", [
    None, "Basic !!!", basic("lr_00000000_nope"), "Bearer abc", basic(""),
])
def test_bad_auth_is_401_and_kept(key, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = post(fixture("seller_inquiry"), None, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="leadrouter"'
    assert response.json()["errorMessage"]
    assert not Lead.objects.exists()
    assert (last_submission().channel, last_submission().http_status) == ("events", 401)


def test_the_x_system_header_names_the_site_when_the_body_does_not(key):
    event = {"type": "General Inquiry", "person": {"firstName": "Lee", "phones": ["5125550111"]}}
    assert post(event, key, **{"X-System": "BoomTown"}).status_code == 201
    assert Lead.objects.get().site == "BoomTown"


def test_the_password_is_ignored_and_api_key_header_works_too(key):
    assert post(fixture("seller_inquiry"), key, Authorization=basic(key, "x")).status_code == 201
    assert post(fixture("zillow_property_inquiry"), key,
                Authorization=f"Api-Key {key}").status_code == 201


def test_bad_json_is_400(key):
    response = post('{"type": "Registration", ', key, raw=True)
    assert response.status_code == 400
    assert response.json()["errorMessage"].startswith("The body is not valid JSON")
    assert last_submission().outcome == "rejected"


def test_an_invalid_lead_is_422_and_kept_rejected_with_the_reason(key):
    response = post({"type": "Registration", "source": "Zillow",
                     "person": {"tags": ["Buyer"]}, "message": "Call me"}, key)
    assert response.status_code == 422
    assert response.json() == {
        "errorMessage": "Give at least a name, an email or a phone number.",
        "errors": {"contact": "Give at least a name, an email or a phone number."}}
    sub = last_submission()
    assert (sub.channel, sub.outcome, sub.http_status) == ("events", "rejected", 422)
    assert sub.payload["message"] == "Call me" and sub.errors["contact"]
    assert not Lead.objects.exists()


def test_a_rejected_event_is_fixed_and_routed_again(key):
    post({"type": "Seller Inquiry", "person": {"emails": [{"value": "not-an-email"}]},
          "property": {"city": "Austin", "code": "78705"}}, key)
    sub = last_submission()
    assert (sub.outcome, sub.errors) == ("rejected", {"email": "Enter a valid email address."})
    result = replay_submission(sub, {**sub.payload, "email": "derek@example.net"})
    lead = result.lead
    assert (lead.email, lead.source, lead.lead_type, lead.zip_code) == (
        "derek@example.net", "Zillow", "seller", "78705")
    assert lead.owner is not None


def test_a_malformed_person_is_422_naming_the_field(key):
    response = post({"type": "Registration", "person": {
        "firstName": "Pat", "emails": [{"value": {"nested": True}}]}}, key)
    assert response.status_code == 422
    assert response.json()["errors"] == {"person.emails": 'Expected a list of {"value": "..."}.'}
    assert last_submission().outcome == "rejected"


def test_a_retry_with_the_same_idempotency_key_replays_the_answer(key):
    event = fixture("zillow_property_inquiry")
    first = post(event, key, **{"Idempotency-Key": "fub-evt-981"})
    retry = post(event, key, **{"Idempotency-Key": "fub-evt-981"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1
    assert list(Submission.objects.order_by("id").values_list("outcome", flat=True)) == [
        "accepted", "duplicate"]


def test_over_the_rate_limit_is_429(key, settings):
    settings.INTAKE_RATE_PER_MINUTE = 1
    assert post(fixture("seller_inquiry"), key).status_code == 201
    response = post(fixture("zillow_property_inquiry"), key)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "More than 1 requests" in response.json()["errorMessage"]


def test_too_large_is_413(key, settings):
    settings.INTAKE_MAX_BODY_BYTES = 200
    response = post(fixture("zillow_property_inquiry"), key)
    assert response.status_code == 413 and Lead.objects.count() == 0


def test_chunked_events_are_read_or_answered_411(key):
    body = (FIXTURES / "seller_inquiry.json").read_bytes()
    read = chunked(URL, body, "application/json", HTTP_AUTHORIZATION=basic(key))
    assert read.status_code == 201
    unread = chunked(URL, body, "application/json", terminated=False,
                     HTTP_AUTHORIZATION=basic(key))
    assert unread.status_code == 411 and "Content-Length" in unread.json()["errorMessage"]
    assert Lead.objects.count() == 1


# --- At once (PostgreSQL) -----------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "fub-evt-77"}])
def test_the_same_event_twice_at_once_makes_one_lead(settings, headers):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(user=None)]))
    raw_key = create_key("Zillow")[1]
    event = json.dumps(fixture("zillow_property_inquiry"))

    def send():
        return Client().post(URL, data=event, content_type="application/json",
                             HTTP_AUTHORIZATION=basic(raw_key), **headers)

    answers = together([send, send])
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert Lead.objects.count() == 1
    assert {a.json()["lead"] for a in answers} == {Lead.objects.get().pk}
    assert sorted(Submission.objects.values_list("outcome", flat=True)) == (
        ["accepted", "duplicate"] if headers else ["accepted", "existing"])
