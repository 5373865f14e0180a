"""Bodies that used to be lost: an inactive web form, too many fields, chunked bodies. Each
is kept as a submission with the reason, its body kept as far as it can be read."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from leads.intake.keys import create_key
from leads.models import Lead, LeadSource, Submission, WebForm
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

THANKS = "https://www.example-homes.com/thank-you/"
PAT = {"first_name": "Pat", "email": "pat@example.org", "phone": "(212) 555-0101"}


@pytest.fixture(autouse=True)
def team(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(email="bob@example.com")]))


@pytest.fixture
def web_form():
    return WebForm.objects.create(slug="contact-us", name="Contact us", thank_you_url=THANKS,
                                  source=LeadSource.objects.create(name="Website"))


@pytest.fixture
def key():
    return create_key("Zillow")[1]


def chunked(path: str, body: bytes, content_type: str, *, terminated: bool = True, **extra):
    """A chunked post as gunicorn hands it over: no CONTENT_LENGTH, the body de-chunked in
    ``wsgi.input`` up to its end (``wsgi.input_terminated``)."""
    environ = {"wsgi.input": io.BytesIO(body), "CONTENT_TYPE": content_type,
               "HTTP_TRANSFER_ENCODING": "chunked", **extra}
    if terminated:
        environ["wsgi.input_terminated"] = True
    return Client().generic("POST", path, b"", **environ)


def only_submission() -> Submission:
    return Submission.objects.get()


# --- web forms --------------------------------------------------------------------------------

def test_a_post_to_an_inactive_form_is_kept(web_form):
    web_form.active = False
    web_form.save()
    response = Client().post("/intake/contact-us/", PAT)
    assert response.status_code == 410
    assert "no longer in use" in response.content.decode()
    assert not Lead.objects.exists()
    sub = only_submission()
    assert (sub.outcome, sub.http_status, sub.web_form, sub.source) == (
        "rejected", 410, web_form, "Website")
    assert sub.errors == {"form": "This form is no longer in use."}
    assert sub.payload == PAT and "pat@example.org" in sub.raw_body


def test_an_unknown_form_is_still_not_found(web_form):
    assert Client().post("/intake/nope/", PAT).status_code == 404
    assert not Submission.objects.exists()


def test_more_than_1000_fields_is_kept_with_the_reason(web_form):
    data = {**PAT, **{f"extra{n}": "x" for n in range(1200)}}
    response = Client().post("/intake/contact-us/", urlencode(data),
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "more than 1000 fields" in response.content.decode()
    sub = only_submission()
    assert (sub.outcome, sub.http_status, sub.web_form) == ("rejected", 400, web_form)
    assert sub.errors == {"body": "The form sent more than 1000 fields."}
    assert sub.payload == PAT  # the lead's own fields, for a manager to route it again
    assert sub.raw_body.startswith("first_name=Pat&email=pat%40example.org")


def test_too_many_multipart_fields_is_kept(web_form, settings):
    settings.INTAKE_MAX_BODY_BYTES = 256 * 1024  # 1,001 parts take more than 64 KB
    response = Client().post("/intake/contact-us/",
                             {**PAT, **{f"extra{n}": "x" for n in range(1200)}})
    assert response.status_code == 400
    sub = only_submission()
    assert sub.outcome == "rejected" and "1000 fields" in sub.errors["body"]
    assert 'name="first_name"' in sub.raw_body


def test_a_chunked_form_post_is_read(web_form):
    response = chunked("/intake/contact-us/", urlencode(PAT).encode(),
                       "application/x-www-form-urlencoded")
    assert response.status_code == 303 and response["Location"] == THANKS
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email) == ("Pat", "pat@example.org")
    assert only_submission().outcome == "accepted"


# --- the API ----------------------------------------------------------------------------------

def test_a_chunked_api_post_is_read(key):
    response = chunked("/api/v1/leads/", json.dumps(PAT).encode(), "application/json",
                       HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 201, response.content
    assert Lead.objects.get().email == "pat@example.org"
    sub = only_submission()
    assert sub.outcome == "accepted" and json.loads(sub.raw_body) == PAT


def test_a_chunked_body_over_the_limit_is_413_with_what_was_read(key, settings):
    settings.INTAKE_MAX_BODY_BYTES = 1000
    body = json.dumps({**PAT, "message": "x" * 5000}).encode()
    response = chunked("/api/v1/leads/", body, "application/json",
                       HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 413
    sub = only_submission()
    assert (sub.outcome, sub.http_status) == ("rejected", 413)
    assert sub.raw_body == body[:1000].decode()


def test_a_chunked_body_a_server_cannot_end_is_411(key):
    response = chunked("/api/v1/leads/", json.dumps(PAT).encode(), "application/json",
                       terminated=False, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["errors"]["body"]
    sub = only_submission()
    assert (sub.outcome, sub.http_status, sub.source) == ("rejected", 411, "Zillow")
