"""Lead e-mails over HTTP: an inbound-mail service posts the raw message to /intake/email/."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.test import Client

from leads.intake.keys import create_key
from leads.models import Lead, Submission
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.threads import together

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "email"
LABELLED = (FIXTURES / "labelled.eml").read_bytes()


@pytest.fixture
def bob():
    bob = AgentFactory(name="Bob", email="bob@example.com", user=None)
    RuleFactory(name="Everything", is_catch_all=True, roster=RosterFactory.with_members([bob]))
    return bob


@pytest.fixture
def key(bob):
    return create_key("Homes inbox")[1]


def post(body: bytes | str | dict, *, path: str = "/intake/email/",
         content_type: str = "message/rfc822", **headers):
    return Client().post(path, data=body, content_type=content_type, **headers)


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_raw_message_is_routed_to_the_agent(key, bob):
    response = post(LABELLED, **bearer(key))
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email, lead.owner) == ("Marcus", "marcus.ortega@example.org",
                                                         bob)
    assert lead.source == "Homes inbox"  # the key's source, not what the message claims
    assert response.json()["lead"] == lead.pk and response.json()["agent"] == "bob@example.com"
    kept = Submission.objects.get()
    assert (kept.channel, kept.http_status, kept.source_key.source.name) == (
        "email", 201, "Homes inbox")
    assert "Message-ID: <hl-2201@homes.example.net>" in kept.raw_body
    assert kept.idempotency_key == "<hl-2201@homes.example.net>"


def test_the_same_message_delivered_twice_is_one_lead(key):
    first = post(LABELLED, **bearer(key))
    again = post(LABELLED, **bearer(key))
    assert (first.status_code, again.status_code) == (201, 200)
    assert Lead.objects.count() == 1 and again.json()["lead"] == first.json()["lead"]
    assert Submission.objects.filter(outcome="duplicate").count() == 1


def test_the_key_may_be_in_the_address_or_the_basic_user_name(key):
    assert post(LABELLED, path=f"/intake/email/{key}/").status_code == 201
    other = (LABELLED.replace(b"hl-2201", b"hl-2202").replace(b"marcus.ortega", b"ana.ruiz")
             .replace(b"Marcus Ortega", b"Ana Ruiz").replace(b"723-2300", b"723-2301"))
    basic = base64.b64encode(f"{key}:".encode()).decode()
    assert post(other, HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 201
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == ["Ana", "Marcus"]


def test_sendgrid_raw_mime_form_post_is_read(key):
    response = Client().post(f"/intake/email/{key}/", data={
        "email": LABELLED.decode(), "to": "homes@leads.example.com",
        "from": "noreply@homes.example.net", "subject": "You have a new buyer lead"})
    assert response.status_code == 201
    assert Lead.objects.get().phone_normalized == "+16507232300"


def test_mailgun_body_mime_is_read(key):
    body = urlencode({"recipient": "homes@leads.example.com", "body-mime": LABELLED.decode()})
    response = post(body, path=f"/intake/email/{key}/mime",
                    content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201 and Lead.objects.get().last_name == "Ortega"


def test_postmark_raw_email_is_read(key):
    body = json.dumps({"From": "noreply@homes.example.net", "RawEmail": LABELLED.decode()})
    response = post(body, content_type="application/json", **bearer(key))
    assert response.status_code == 201


def test_an_email_without_a_lead_is_kept_with_the_reason(key):
    response = post((FIXTURES / "newsletter.eml").read_bytes(), **bearer(key))
    assert response.status_code == 422
    assert "No lead found" in response.json()["errors"]["email"]
    kept = Submission.objects.get(pk=response.json()["submission"])
    assert kept.outcome == "rejected" and "market report" in kept.raw_body
    assert not Lead.objects.exists()


def test_a_lead_with_a_bad_field_is_kept_with_the_reason(key):
    bad = LABELLED.replace(b"marcus.ortega@example.org", b"marcus.ortega(at)example")
    response = post(bad, **bearer(key))
    assert response.status_code == 422 and "email" in response.json()["errors"]
    assert Submission.objects.get().http_status == 422 and not Lead.objects.exists()


def test_a_form_post_without_the_raw_message_says_how_to_send_it(key):
    response = Client().post(f"/intake/email/{key}/", data={"text": "Name: Pat"})
    assert response.status_code == 400
    assert "'email' field" in response.json()["errors"]["body"]
    assert Submission.objects.get().outcome == "rejected"


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer lr_abcdefgh_nope"}])
def test_without_a_valid_key_nothing_is_routed(key, headers):
    response = post(LABELLED, **headers)
    assert response.status_code == 401 and "key" in response.json()["errors"]
    assert not Lead.objects.exists()
    assert Submission.objects.get().http_status == 401


def test_a_message_over_the_size_limit_is_refused(key, settings):
    settings.INTAKE_EMAIL_MAX_BODY_BYTES = 200
    response = post(LABELLED, **bearer(key))
    assert response.status_code == 413 and not Lead.objects.exists()
    assert Submission.objects.get().http_status == 413


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_delivered_at_once_is_one_lead(key):
    answers = together([lambda: post(LABELLED, **bearer(key)) for _ in range(6)])
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert Lead.objects.count() == 1
