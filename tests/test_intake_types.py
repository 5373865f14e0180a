"""Wrong types are refused, naming the field, on every way in (API, file import, web forms)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from leads.intake.keys import create_key
from leads.models import Lead, LeadSource, Submission, WebForm
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"


@pytest.fixture(autouse=True)
def team(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(email="bob@example.com")]))


@pytest.fixture
def key():
    return create_key("Zillow")[1]


def post(body, key):
    return Client().post(URL, data=json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Api-Key {key}")


def last_submission() -> Submission:
    return Submission.objects.order_by("-id").first()


@pytest.mark.parametrize("field, value, message", [
    ("first_name", {"x": 1}, "Expected text, not an object."),
    ("message", ["call", "me"], "Expected text, not a list."),
    ("city", True, "Expected text, not true or false."),
    ("email", ["pat@example.org"], "Expected text, not a list."),
    ("lead_type", {"kind": "buyer"}, "Expected text, not an object."),
    ("external_id", {"id": 7}, "Expected a string or a whole number, not an object."),
    ("external_id", [7], "Expected a string or a whole number, not a list."),
    ("external_id", False, "Expected a string or a whole number, not true or false."),
    ("external_id", 7.5, "Expected a string or a whole number, not 7.5."),
    ("score", {"value": 5}, "Expected a number, not an object."),
    ("price", [1], "Expected a number, not a list."),
])
def test_a_wrong_type_is_refused_naming_the_field(key, field, value, message):
    response = post({"last_name": "Lee", "phone": "(212) 555-0101", field: value}, key)
    assert response.status_code == 400
    assert response.json() == {"errors": {field: message}}
    assert not Lead.objects.exists()
    sub = last_submission()
    assert (sub.outcome, sub.http_status, sub.errors) == ("rejected", 400, {field: message})
    assert sub.payload[field] == value  # kept as sent, for a manager to correct


def test_no_python_repr_is_ever_stored(key):
    post({"first_name": {"x": 1}, "message": ["a"], "email": "pat@example.org"}, key)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("first, retry", [(1, "1"), ("1", 1), (1001, 1001.0), (" 42 ", 42)])
def test_a_numeric_external_id_is_the_same_lead_as_its_text(key, first, retry):
    one = post({"first_name": "Pat", "external_id": first}, key)
    two = post({"first_name": "Pat", "external_id": retry}, key)
    assert (one.status_code, two.status_code) == (201, 200)
    assert two.json() == one.json()
    lead = Lead.objects.get()
    assert lead.external_id == str(first).strip()


@pytest.mark.parametrize("score, ok", [(0, True), (100, True), (55, True), (101, False),
                                       (150, False), (-1, False)])
def test_score_is_0_to_100(key, score, ok):
    response = post({"first_name": "Pat", "score": score}, key)
    if ok:
        assert response.status_code == 201 and Lead.objects.get().score == score
    else:
        assert response.status_code == 400
        assert response.json()["errors"] == {"score": "Ensure this value is between 0 and 100."}


def test_the_file_import_refuses_the_same_types(tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"first_name": {"x": 1}, "email": "pat@example.org"},
        {"first_name": "Sam", "score": 150},
        {"first_name": "Kim", "external_id": [1]},
        {"first_name": "Lou", "external_id": 12, "score": 100},
    ]) + "\n")
    out = StringIO()
    call_command("ingest_leads", str(path), stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["status"] for a in answers] == ["rejected", "rejected", "rejected", "assigned"]
    assert answers[0]["errors"] == {"first_name": "Expected text, not an object."}
    assert answers[1]["errors"] == {"score": "Ensure this value is between 0 and 100."}
    assert answers[2]["errors"] == {
        "external_id": "Expected a string or a whole number, not a list."}
    assert Lead.objects.get().external_id == "12"


def test_a_web_form_refuses_a_score_out_of_range():
    WebForm.objects.create(slug="contact-us", name="Contact us",
                           thank_you_url="https://www.example-homes.com/thanks/",
                           source=LeadSource.objects.create(name="Website"))
    response = Client().post("/intake/contact-us/", {"first_name": "Pat", "score": "150"})
    assert response.status_code == 400
    assert "between 0 and 100" in response.content.decode()
    assert last_submission().errors == {"score": "Ensure this value is between 0 and 100."}
