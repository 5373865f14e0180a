"""Retries racing each other (PostgreSQL): the same lead posted at once makes one lead."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from leads.intake.keys import create_key
from leads.models import IdempotencyRecord, Lead, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 10


@pytest.fixture
def key(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(user=None),
                                                   AgentFactory(user=None)]))
    return create_key("Zillow")[1]


def post_at_once(key: str, payload_for, headers_for=lambda n: {}) -> list:
    """Every thread posts when all are ready; the answers, in thread order."""
    def post(n: int):
        return Client().post(
            "/api/v1/leads/", data=json.dumps(payload_for(n)), content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}", **headers_for(n))

    return together([lambda n=n: post(n) for n in range(THREADS)])


def assert_one_lead(answers: list) -> None:
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * (THREADS - 1) + [201], codes
    bodies = [a.json() for a in answers]
    assert all(body == bodies[0] for body in bodies)
    assert Lead.objects.count() == 1 and bodies[0]["lead"] == Lead.objects.get().pk
    outcomes = sorted(Submission.objects.values_list("outcome", flat=True))
    assert outcomes == ["accepted"] + ["duplicate"] * (THREADS - 1)
    assert set(Submission.objects.values_list("lead_id", flat=True)) == {bodies[0]["lead"]}


def test_same_external_id_at_once_makes_one_lead(key):
    # different people each time: only the external id says it is the same lead
    answers = post_at_once(key, lambda n: {"first_name": f"Pat {n}",
                                           "email": f"pat{n}@example.org",
                                           "external_id": "Z-1001"})
    assert_one_lead(answers)
    assert IdempotencyRecord.objects.count() == 1


def test_same_idempotency_key_at_once_makes_one_lead(key):
    answers = post_at_once(key, lambda n: {"first_name": "Sam", "phone": "+12125550042"},
                           lambda n: {"HTTP_IDEMPOTENCY_KEY": "retry-42"})
    assert_one_lead(answers)


def test_same_idempotency_key_with_different_people_at_once(key):
    """One is taken; every other person is refused with 422 and kept, none lost silently."""
    answers = post_at_once(key, lambda n: {"first_name": f"Sam {n}",
                                           "phone": f"+1212555{n:04d}"},
                           lambda n: {"HTTP_IDEMPOTENCY_KEY": "retry-42"})
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [422] * (THREADS - 1), codes
    assert Lead.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
    rejected = Submission.objects.filter(outcome="rejected", http_status=422)
    names = {s.payload["first_name"] for s in rejected} | {Lead.objects.get().first_name}
    assert names == {f"Sam {n}" for n in range(THREADS)}


def test_same_external_id_as_text_and_numbers_at_once_makes_one_lead(key):
    answers = post_at_once(key, lambda n: {"first_name": "Pat", "email": "pat@example.org",
                                           "external_id": ("1001", 1001, 1001.0)[n % 3]})
    assert_one_lead(answers)
    assert Lead.objects.get().external_id == "1001"
