"""An Idempotency-Key is one request: reused with a different body it is a 422, never a lost
lead (the new submission is kept, rejected, with the reason)."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client

from leads.intake.idempotency import answers_for
from leads.intake.keys import create_key
from leads.models import IdempotencyRecord, Lead, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
REUSED = {"Idempotency-Key": "This key was used with a different request."}


@pytest.fixture
def key(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(email="bob@example.com")]))
    return create_key("Zillow")[1]


def post(raw: str, key: str, idempotency_key: str = "k-1"):
    return Client().post(URL, data=raw, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Api-Key {key}",
                         HTTP_IDEMPOTENCY_KEY=idempotency_key)


def test_the_same_key_with_another_person_is_a_422_and_kept(key):
    first = post(json.dumps({"first_name": "Pat", "email": "pat@example.org"}), key)
    other = post(json.dumps({"first_name": "Sam", "email": "sam@example.org"}), key)
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json() == {"errors": REUSED}
    assert Lead.objects.count() == 1
    sub = Submission.objects.order_by("-id").first()
    assert (sub.outcome, sub.http_status, sub.errors, sub.lead_id) == (
        "rejected", 422, REUSED, None)
    assert sub.payload == {"first_name": "Sam", "email": "sam@example.org"}
    assert sub.idempotency_key == "k-1" and "sam@example.org" in sub.raw_body
    # a fresh key takes Sam
    again = post(json.dumps({"first_name": "Sam", "email": "sam@example.org"}), key, "k-2")
    assert again.status_code == 201 and Lead.objects.count() == 2


def test_the_same_request_written_differently_is_a_retry(key):
    first = post('{"first_name": "Pat", "email": "pat@example.org"}', key)
    retry = post('{ "email":"pat@example.org",\n  "first_name":"Pat" }', key)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    assert IdempotencyRecord.objects.get().request_digest


def test_the_same_external_id_under_a_new_key_is_still_a_retry(key):
    first = post(json.dumps({"first_name": "Pat", "external_id": "Z-1"}), key, "a")
    retry = post(json.dumps({"first_name": "Pat B.", "external_id": "Z-1"}), key, "b")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()


def test_a_rejected_reuse_is_not_remembered_as_the_answer(key):
    post(json.dumps({"first_name": "Pat"}), key)
    assert post(json.dumps({"first_name": "Sam"}), key).status_code == 422
    assert post(json.dumps({"first_name": "Pat"}), key).status_code == 200


def test_kept_answers_are_read_back_as_the_orm_reads_them(key):
    post(json.dumps({"first_name": "Pat", "email": "pat@example.org"}), key)
    kept = IdempotencyRecord.objects.order_by("id")
    source = kept[0].source
    with transaction.atomic():  # the keys' locks are held to its end
        read = answers_for(source, [(r.kind, r.key_hash) for r in kept])
    assert [(r.pk, r.kind, r.status_code, r.response, r.created_at, r.lead_id) for r in read] == [
        (r.pk, r.kind, r.status_code, r.response, r.created_at, r.lead_id) for r in kept]
    assert isinstance(read[0].response, dict)
