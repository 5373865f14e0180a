"""Web form capture: plain form posts from the brokerage's sites, routed like any lead."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from leads.models import Lead, LeadSource, Submission, WebForm
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

THANKS = "https://www.example-homes.com/thank-you/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def web_form():
    bob = AgentFactory(name="Bob", email="bob@example.com")
    RuleFactory(name="Website leads", roster=RosterFactory.with_members([bob]),
                criteria={"source": ["Website"]})
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory()]))
    return WebForm.objects.create(slug="contact-us", name="Contact us", thank_you_url=THANKS,
                                  source=LeadSource.objects.create(name="Website"))


def submit(data, slug="contact-us", **extra):
    return Client(enforce_csrf_checks=True).post(f"/intake/{slug}/", data=data, **extra)


def test_a_form_post_is_routed_and_redirected(web_form):
    response = submit({"first_name": "Pat", "last_name": "Lee", "email": "pat@example.org",
                       "phone": "(212) 555-0101", "tags": ["buyer", "web"], "price": "450000",
                       "message": "Call me", "website": "", "submit": "Send"})
    assert response.status_code == 303
    assert response["Location"] == THANKS
    lead = Lead.objects.get()
    assert lead.source == "Website" and lead.owner.email == "bob@example.com"
    assert lead.tags == ["buyer", "web"] and lead.phone_normalized == "+12125550101"
    sub = Submission.objects.get()
    assert (sub.channel, sub.outcome, sub.http_status, sub.web_form) == (
        "form", "accepted", 303, web_form)
    assert sub.response["status"] == "assigned" and "name=\"first_name\"" in sub.raw_body


def test_urlencoded_post(web_form):
    response = submit("first_name=Pat&email=pat%40example.org&tags=a%2Cb",
                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303
    assert Lead.objects.get().tags == ["a", "b"]


def test_a_retry_with_the_same_external_id_makes_no_second_lead(web_form):
    data = {"first_name": "Pat", "email": "pat@example.org", "external_id": "F-1"}
    assert submit(data).status_code == 303
    assert submit(data).status_code == 303
    assert Lead.objects.count() == 1
    assert list(Submission.objects.order_by("id").values_list("outcome", flat=True)) == [
        "accepted", "duplicate"]


def test_honeypot(web_form):
    response = submit({"first_name": "Bot", "email": "bot@example.org",
                       "website": "http://spam.example"})
    assert response.status_code == 303 and response["Location"] == THANKS
    assert not Lead.objects.exists()
    sub = Submission.objects.get()
    assert (sub.outcome, sub.lead, sub.http_status) == ("spam", None, 303)
    assert sub.payload["first_name"] == "Bot"


def test_invalid_input_renders_the_errors(web_form):
    response = submit({"first_name": "Pat", "email": "nope", "lead_type": "renter"},
                      HTTP_REFERER="https://www.example-homes.com/contact/")
    assert response.status_code == 400
    page = response.content.decode()
    assert "<li><strong>Email</strong>: Enter a valid email address.</li>" in page
    assert "<strong>Lead type</strong>: Unknown lead type" in page
    assert 'href="https://www.example-homes.com/contact/"' in page
    assert not Lead.objects.exists()
    sub = Submission.objects.get()
    assert (sub.outcome, sub.http_status, sub.web_form) == ("rejected", 400, web_form)
    assert set(sub.errors) == {"email", "lead_type"}


def test_no_contact_and_no_script_link(web_form):
    response = submit({"city": "Brooklyn"}, HTTP_REFERER="javascript:alert(1)")
    assert response.status_code == 400
    assert "<li>Give at least a name, an email or a phone number.</li>" in response.content.decode()
    assert "javascript" not in response.content.decode()


def test_oversized_post(web_form, settings):
    settings.INTAKE_MAX_BODY_BYTES = 1024
    response = submit({"first_name": "Pat", "message": "x" * 2000})
    assert response.status_code == 413
    assert not Lead.objects.exists()
    assert Submission.objects.get().http_status == 413


def test_inactive_form_is_410_and_kept_unknown_form_is_404(web_form):
    """An inactive form's post is kept (tests/test_intake_bodies.py); an unknown slug is not."""
    web_form.active = False
    web_form.save()
    assert submit({"first_name": "Pat"}).status_code == 410
    assert submit({"first_name": "Pat"}, slug="nope").status_code == 404
    assert not Lead.objects.exists()
    assert Submission.objects.get().outcome == "rejected"


def test_only_post(web_form):
    assert Client().get("/intake/contact-us/").status_code == 405


@pytest.mark.parametrize(("given", "stored"), [
    ("(212) 555-0101", "+12125550101"), ("212.555.0101", "+12125550101"),
    ("+1 212 555 0101", "+12125550101"), ("+44 20 7946 0958", "+442079460958"),
])
def test_the_phone_is_checked_once_and_stored_as_ever(given, stored):
    """The phone is parsed and checked once per lead (the form's validators, the lead's field
    and its insert share the answer): national and international numbers are stored in E.164
    as before, and saved leads read back the same."""
    from unittest import mock

    import phonenumbers

    from leads.intake import build_lead, validate_lead

    with mock.patch.object(phonenumbers, "is_valid_number",
                           wraps=phonenumbers.is_valid_number) as checks:
        cleaned, errors = validate_lead({"first_name": "Pat", "phone": given})
        assert errors is None
        lead = build_lead(cleaned, received_at=timezone.now())
        lead.save()
    assert checks.call_count == 1
    assert lead.phone_normalized == stored
    assert Lead.objects.get(pk=lead.pk).phone == stored
    assert str(Lead.objects.get(pk=lead.pk).phone) == stored


@pytest.mark.parametrize("given", ["12", "(212) 555-010", "not a phone", "+1 000 000 0000"])
def test_an_invalid_phone_is_still_refused_with_the_same_message(given):
    from leads.intake import validate_lead

    cleaned, errors = validate_lead({"first_name": "Pat", "phone": given})
    assert cleaned is None
    assert errors == {"phone": "Enter a valid phone number (e.g. (201) 555-0123) or a number "
                               "with an international call prefix."}


def test_a_checked_number_checks_again_when_its_digits_change():
    from leads.forms import CheckedPhoneNumber

    number = CheckedPhoneNumber.from_string("(212) 555-0101", region="US")
    assert number.is_valid()
    number.national_number = 12
    assert not number.is_valid()


def test_a_built_lead_is_the_lead_its_fields_make():
    """``build_lead`` builds the lead from its values at once: text stripped, the email
    lowercased, the phone in E.164, every other column its default, as keywords give."""
    from leads.intake import build_lead, validate_lead

    now = timezone.now()
    cleaned, errors = validate_lead({
        "first_name": " Pat ", "last_name": "Lee", "email": " Pat@Example.org ",
        "phone": "(212) 555-0101", "tags": "a; b", "price": "450000", "score": 7,
        "lead_type": "buyer", "consent": True, "city": "Queens"})
    assert errors is None
    lead = build_lead(cleaned, received_at=now)
    assert (lead.first_name, lead.email, lead.email_normalized, lead.phone_normalized) == (
        "Pat", "pat@example.org", "pat@example.org", "+12125550101")
    assert (lead.tags, lead.consent, lead.score, lead.received_at) == (["a", "b"], True, 7, now)
    given = {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields
             if f.attname in cleaned or f.attname in (
                 "received_at", "email_normalized", "phone_normalized")}
    usual = Lead(**given)
    assert {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields} == {
        f.attname: getattr(usual, f.attname) for f in Lead._meta.concrete_fields}
    assert lead._state.adding and lead.pk is None
    assert build_lead({}, received_at=now).phone == ""
