"""The lead intake API: keys, answers, exactly-once retries, refusals and the inbound log."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.intake.keys import check_header, create_key, revoke, take_key
from leads.intake.replay import replay_submission
from leads.models import IdempotencyRecord, Lead, LeadSource, SourceKey, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
ANSWER_KEYS = {"lead", "status", "agent", "offered_to", "rule", "lender", "url"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = "https://leads.example.com"


@pytest.fixture
def team():
    """Zillow leads are offered to Ann (claim window); everything else goes to Bob."""
    ann = AgentFactory(name="Ann", email="ann@example.com")
    bob = AgentFactory(name="Bob", email="bob@example.com")
    RuleFactory(name="Zillow claims", roster=RosterFactory.with_members([ann]),
                delivery="claim", criteria={"source": ["Zillow"]})
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([bob]))
    return {"ann": ann, "bob": bob}


@pytest.fixture
def key():
    return create_key("Website", label="site")[1]


@pytest.fixture
def zillow_key():
    return create_key("Zillow")[1]


def post(body, key: str | None = None, *, raw: bool = False, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if key is not None:
        extra["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    data = body if raw else json.dumps(body)
    return Client().post(URL, data=data, content_type="application/json", **extra)


def last_submission() -> Submission:
    return Submission.objects.order_by("-id").first()


# --- 201: every status ------------------------------------------------------------------------

def test_assigned(team, key):
    response = post({"first_name": "Pat", "email": "pat@example.org", "tags": "web, buyer",
                     "lead_type": "Buyer", "price": "450000"}, key)
    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get()
    assert set(body) == ANSWER_KEYS
    assert body == {"lead": lead.pk, "status": "assigned", "agent": "bob@example.com",
                    "offered_to": [], "rule": "Everything else", "lender": None,
                    "url": f"https://leads.example.com/leads/{lead.pk}/"}
    assert response["Location"] == body["url"]
    assert lead.source == "Website"  # the key's source
    assert lead.tags == ["web", "buyer"] and lead.lead_type == "buyer"
    sub = last_submission()
    assert (sub.channel, sub.outcome, sub.http_status, sub.lead_id) == ("api", "accepted", 201,
                                                                        lead.pk)
    assert sub.source == "Website" and sub.key_prefix == sub.source_key.prefix
    assert sub.response == body and json.loads(sub.raw_body)["email"] == "pat@example.org"
    assert SourceKey.objects.get().last_used_at is not None


def test_offered(team, zillow_key):
    body = post({"first_name": "Zed", "email": "zed@example.org", "source": "ignored"},
                zillow_key).json()
    assert body["status"] == "offered"
    assert body["offered_to"] == ["ann@example.com"] and body["agent"] is None
    assert body["rule"] == "Zillow claims"
    assert Lead.objects.get().source == "Zillow"


def test_existing(team, key):
    first = post({"first_name": "Pat", "email": "pat@example.org"}, key).json()
    again = post({"first_name": "Pat", "email": "PAT@example.org", "message": "Me again"}, key)
    assert again.status_code == 201
    assert again.json()["status"] == "existing" and again.json()["lead"] == first["lead"]
    assert Lead.objects.count() == 1
    assert last_submission().outcome == "existing"


def test_unassigned_without_rules(key):
    response = post({"first_name": "Pat", "phone": "(212) 555-0101"}, key)
    assert response.status_code == 201
    assert response.json()["status"] == "unassigned" and response.json()["agent"] is None


# --- exactly once -----------------------------------------------------------------------------

def test_retry_with_external_id_returns_the_first_answer(team, key):
    lead = {"first_name": "Pat", "email": "pat@example.org", "external_id": "Z-1"}
    first = post(lead, key)
    retry = post({**lead, "first_name": "Changed"}, key)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true" and first["Idempotent-Replayed"] == "false"
    assert Lead.objects.count() == 1 and Lead.objects.get().first_name == "Pat"
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.lead_id) == ("duplicate", 200, first.json()["lead"])
    # the same external id from another source is another lead
    other = post({**lead, "email": "other@example.org"}, create_key("Zillow")[1])
    assert other.status_code == 201 and other.json()["lead"] != first.json()["lead"]


def test_retry_with_idempotency_key(team, key):
    first = post({"first_name": "Pat", "email": "pat@example.org"}, key, idempotency_key="abc")
    retry = post({"first_name": "Pat", "email": "pat@example.org"}, key, idempotency_key="abc")
    fresh = post({"first_name": "Sam", "email": "sam@example.org"}, key, idempotency_key="xyz")
    assert (first.status_code, retry.status_code, fresh.status_code) == (201, 200, 201)
    assert retry.json() == first.json()
    assert Lead.objects.count() == 2
    assert last_submission().idempotency_key == "xyz"
    assert IdempotencyRecord.objects.count() == 2


def test_a_rejected_lead_is_not_remembered(team, key):
    assert post({"first_name": "Pat", "email": "bad", "external_id": "Z-2"}, key).status_code \
        == 400
    fixed = post({"first_name": "Pat", "email": "pat@example.org", "external_id": "Z-2"}, key)
    assert fixed.status_code == 201


# --- 400: every field's error -----------------------------------------------------------------

def test_every_field_error_in_one_body(team, key):
    response = post({"first_name": "Pat", "email": "not-an-email", "phone": "12",
                     "price": "a lot", "lead_type": "renter",
                     "assigned_to": "nobody@example.com"}, key)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"email", "phone", "price", "lead_type", "assigned_to"}
    assert errors["email"] == "Enter a valid email address."
    assert errors["lead_type"] == "Unknown lead type 'renter': use buyer or seller."
    assert errors["assigned_to"] == "No agent with email nobody@example.com."
    assert "number" in errors["price"]
    assert not Lead.objects.exists()
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.errors) == ("rejected", 400, errors)
    assert sub.source == "Website" and sub.source_key is not None
    assert sub.response == {"errors": errors} and "not-an-email" in sub.raw_body


def test_no_contact(key):
    response = post({"city": "Brooklyn"}, key)
    assert response.status_code == 400
    assert response.json() == {"errors": {
        "contact": "Give at least a name, an email or a phone number."}}


def test_values_no_column_can_hold(team, key):
    response = post({"first_name": "Pa\u0000t", "email": f"{'a' * 250}@example.org",
                     "score": 2**40, "tags": ["ok", "b\u0000d"]}, key)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"first_name", "email", "score", "tags"}
    assert "\x00" not in json.dumps(last_submission().payload)


@pytest.mark.parametrize("raw, message", [
    ('{"first_name": ', "not valid JSON"),
    ("[1, 2]", "Expected a JSON object"),
    ('{"price": NaN, "first_name": "Pat"}', "not valid JSON"),
    ("", "not valid JSON"),
    (b"\xff\xfe{", "not valid JSON"),
])
def test_body_not_json(key, raw, message):
    response = post(raw, key, raw=True)
    assert response.status_code == 400
    assert message in response.json()["errors"]["body"]
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.payload) == ("rejected", 400, {})
    expected = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    assert sub.raw_body == expected


def test_deeply_nested_body(key):
    response = post("[" * 5000 + "]" * 5000, key, raw=True)
    assert response.status_code == 400
    nested = post({"first_name": "Pat", "tags": json.loads("[" * 30 + "]" * 30)}, key)
    assert nested.status_code == 400 and "nested" in nested.json()["errors"]["body"]


def test_oversized_body(key, settings):
    settings.INTAKE_MAX_BODY_BYTES = 64 * 1024
    big = {"first_name": "Pat", "email": "pat@example.org", "message": "x" * (64 * 1024)}
    response = post(big, key)
    assert response.status_code == 413
    assert response.json() == {"errors": {"body": "The body is larger than 65536 bytes."}}
    assert not Lead.objects.exists()
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.raw_body) == ("rejected", 413, "")


def test_oversized_body_by_declared_length(key):
    response = Client().post(URL, data='{"first_name": "Pat"}', content_type="application/json",
                             HTTP_AUTHORIZATION=f"Api-Key {key}", CONTENT_LENGTH=str(10**6))
    assert response.status_code == 413
    assert last_submission().http_status == 413


def test_idempotency_key_too_long(key):
    response = post({"first_name": "Pat"}, key, idempotency_key="k" * 256)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


# --- 401 and 429 ------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, "Bearer abc", "Api-Key ", "Api-Key lr_nope",
                                           "Api-Key lr_12345678_wrong"])
def test_missing_or_wrong_key(authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client().post(URL, data='{"first_name": "Pat"}', content_type="application/json",
                             **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert "key" in response.json()["errors"]
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.source_key, sub.source) == ("rejected", 401, None,
                                                                          "")
    assert "lr_nope" not in sub.key_prefix


def test_wrong_secret_with_a_real_prefix(key):
    prefix = key.split("_")[1]
    response = post({"first_name": "Pat"}, f"lr_{prefix}_{'x' * 43}")
    assert response.status_code == 401 and response.json()["errors"]["key"] == "Invalid API key."
    assert last_submission().key_prefix == prefix


def test_revoked_key(team, key):
    assert post({"first_name": "Pat"}, key).status_code == 201
    revoke(SourceKey.objects.get())
    response = post({"first_name": "Sam"}, key)
    assert response.status_code == 401
    assert response.json() == {"errors": {"key": "This API key was revoked."}}
    assert Lead.objects.count() == 1
    assert last_submission().http_status == 401


def test_rotation_two_active_keys(team):
    old = create_key("Website", label="old")[1]
    new = create_key("Website", label="new")[1]
    assert LeadSource.objects.count() == 1
    assert post({"first_name": "A"}, old).status_code == 201
    assert post({"first_name": "B"}, new).status_code == 201
    revoke(check_header(f"Api-Key {old}").key)
    assert post({"first_name": "C"}, old).status_code == 401
    assert post({"first_name": "D"}, new).status_code == 201


def test_rate_limit(team, key, settings):
    settings.INTAKE_RATE_PER_MINUTE = 2
    codes = [post({"first_name": f"P{i}"}, key).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    response = post({"first_name": "P4"}, key)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "rate" in response.json()["errors"]
    assert Lead.objects.count() == 2
    assert last_submission().http_status == 429
    other = create_key("Zillow")[1]  # per key
    assert post({"first_name": "Z"}, other).status_code == 201


def test_get_is_not_allowed(key):
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 405


# --- keys and replay --------------------------------------------------------------------------

def test_create_source_key_command():
    out, err = StringIO(), StringIO()
    call_command("create_source_key", "Zillow", "--label", "production", stdout=out, stderr=err)
    raw_key = out.getvalue().strip()
    key = SourceKey.objects.get()
    assert raw_key.startswith(f"lr_{key.prefix}_") and key.label == "production"
    assert raw_key not in key.key_hash and "cannot be shown again" in err.getvalue()
    assert check_header(f"Api-Key {raw_key}").key == key
    call_command("create_source_key", "Zillow", stdout=StringIO(), stderr=StringIO())
    assert LeadSource.objects.get().keys.count() == 2


def test_replay_a_rejected_submission(team, key):
    manager = UserFactory()
    post({"first_name": "Pat", "email": "pat@example", "external_id": "Z-9"}, key)
    sub = last_submission()
    still_bad = replay_submission(sub, {"first_name": "Pat", "email": "still bad"}, manager)
    assert still_bad.status == "rejected" and "email" in still_bad.errors
    sub.refresh_from_db()
    assert sub.replayed_at is None and Submission.objects.count() == 1

    result = replay_submission(sub, {"first_name": "Pat", "email": "pat@example.org",
                                     "external_id": "Z-9"}, manager)
    assert result.status == "assigned"
    sub.refresh_from_db()
    assert sub.lead == result.lead and sub.replayed_by == manager
    assert sub.replayed_at is not None and sub.replay_payload["email"] == "pat@example.org"
    assert result.lead.source == "Website"
    with pytest.raises(ValueError):
        replay_submission(sub, {"first_name": "Pat"}, manager)
    # the vendor's retry of the same external id gets the replayed lead, not a second one
    retry = post({"first_name": "Pat", "email": "pat@example.org", "external_id": "Z-9"}, key)
    assert retry.status_code == 200 and retry.json()["lead"] == result.lead.pk
    assert Lead.objects.count() == 1


def test_a_field_name_no_column_can_hold(key):
    response = post({"\u0000": None, "first_name": "Pat"}, key)
    assert response.status_code == 400
    assert response.json() == {"errors": {"\ufffd": "Null characters are not allowed."}}
    assert last_submission().errors == response.json()["errors"]


def test_a_server_error_is_kept_in_the_log(team, key, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("routing is down")

    monkeypatch.setattr("leads.intake.idempotency.route_valid_lead", broken)
    client = Client(raise_request_exception=False)
    response = client.post(URL, data='{"first_name": "Pat"}', content_type="application/json",
                           HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 500
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.source) == ("rejected", 500, "Website")
    assert '"first_name"' in sub.raw_body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_keys_count_alone_commits_without_waiting_for_the_disk():
    """The rate limit's count is its own transaction: a database crash may forget the last
    counts of a minute, never a lead; inside a caller's transaction it changes nothing."""
    raw = create_key("Zillow")[1]
    with CaptureQueriesContext(connection) as alone:
        assert take_key(f"Api-Key {raw}", limit=10, now=timezone.now()).key is not None
    with transaction.atomic(), CaptureQueriesContext(connection) as inside:
        assert take_key(f"Api-Key {raw}", limit=10, now=timezone.now()).key is not None
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('synchronous_commit')")
            assert cursor.fetchone()[0] == "on"
    assert "set_config('synchronous_commit', 'off', true)" in alone.captured_queries[0]["sql"]
    assert "synchronous_commit" not in inside.captured_queries[0]["sql"]
    assert SourceKey.objects.get().window_count == 2
