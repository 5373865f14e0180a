"""The admin screens for sources, keys, web forms and rejected submissions."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from leads.intake.keys import create_key
from leads.models import Lead, LeadSource, SourceKey, Submission, WebForm
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bob():
    bob = AgentFactory(name="Bob", email="bob@example.com")
    RuleFactory(name="Everything", is_catch_all=True, roster=RosterFactory.with_members([bob]))
    return bob


@pytest.fixture
def mc(manager_client):
    """The manager's client (tests/conftest.py), by a short name."""
    return manager_client


def post_lead(key: str, body: dict) -> int:
    return Client().post("/api/v1/leads/", data=json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Api-Key {key}").status_code


def test_a_key_created_in_the_admin_is_shown_once_and_works(mc, bob):
    source = LeadSource.objects.create(name="Zillow")
    response = mc.post("/admin/leads/leadsource/", {"action": "create_key_action",
                                                    "_selected_action": [source.pk]}, follow=True)
    raw = re.search(r"lr_[\w-]+", response.content.decode()).group(0)
    assert f'<code class="source-key">{raw}</code>' in response.content.decode()  # one block
    key = SourceKey.objects.get(source=source)
    assert raw not in key.key_hash
    assert post_lead(raw, {"first_name": "Pat", "email": "pat@example.org"}) == 201
    page = mc.get(f"/admin/leads/leadsource/{source.pk}/change/").content.decode()
    assert key.prefix in page and raw not in page  # listed, never shown again


def test_revoking_a_key_in_the_admin_stops_the_api(mc, bob):
    key, raw = create_key("Zillow", label="site")
    assert post_lead(raw, {"first_name": "Pat", "email": "pat@example.org"}) == 201
    mc.post("/admin/leads/sourcekey/", {"action": "revoke_action", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None and key.last_used_at is not None
    assert post_lead(raw, {"first_name": "Ann", "email": "ann@example.org"}) == 401


def test_a_web_form_made_in_the_admin_gives_html_that_routes_a_lead(mc, bob):
    website = LeadSource.objects.create(name="Website")
    response = mc.post("/admin/leads/webform/add/", {
        "name": "Contact us", "slug": "contact-us", "source": website.pk,
        "thank_you_url": "https://example.com/thanks", "active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    form = WebForm.objects.get(slug="contact-us")
    page = mc.get(f"/admin/leads/webform/{form.pk}/change/").content.decode()
    assert "/intake/contact-us/" in page and "Copy" in page
    answer = Client().post("/intake/contact-us/", {"first_name": "Pat", "email": "pat@example.org"})
    assert answer.status_code == 303 and Lead.objects.get().owner == bob


def test_fix_and_route_again_shows_errors_then_routes(mc, bob):
    _, raw = create_key("Website")
    assert post_lead(raw, {"first_name": "Pat", "email": "pat@example"}) == 400
    submission = Submission.objects.get(outcome=Submission.Outcome.REJECTED)
    change = mc.get(f"/admin/leads/submission/{submission.pk}/change/").content.decode()
    fix_url = f"/admin/leads/submission/{submission.pk}/fix/"
    assert fix_url in change and "Fix and route again" in change
    form = mc.get(fix_url).content.decode()
    assert 'value="pat@example"' in form

    still_bad = mc.post(fix_url, {"first_name": "Pat", "email": "still bad"})
    assert still_bad.status_code == 200 and "errorlist" in still_bad.content.decode()
    assert not Lead.objects.exists()

    done = mc.post(fix_url, {"first_name": "Pat", "email": "pat@example.org"}, follow=True)
    lead = Lead.objects.get()
    assert lead.email == "pat@example.org" and lead.owner == bob and lead.source == "Website"
    submission.refresh_from_db()
    assert submission.lead == lead and submission.replayed_by is not None
    assert "Routed again" in done.content.decode()
    again = mc.post(fix_url, {"first_name": "Pat", "email": "pat@example.org"}, follow=True)
    assert Lead.objects.count() == 1 and "not a rejected one" in again.content.decode()


def test_agents_cannot_open_the_fix_page(client, bob):
    _, raw = create_key("Website")
    post_lead(raw, {"first_name": "Pat", "email": "pat@example"})
    submission = Submission.objects.get()
    client.force_login(bob.user)
    response = client.get(f"/admin/leads/submission/{submission.pk}/fix/")
    assert response.status_code in (302, 403)


def test_the_web_form_snippet_is_a_visitors_contact_form_that_routes_with_consent(mc, bob):
    from leads.admin import form_snippet

    form = WebForm.objects.create(name="Contact us", slug="contact-us", active=True,
                                  source=LeadSource.objects.create(name="Website"),
                                  thank_you_url="https://example.com/thanks")
    html = form_snippet(form)
    for tag in ('<input name="email" type="email"', '<input name="phone" type="tel"',
                '<textarea name="message"', '<input name="consent" type="checkbox" value="true">',
                "<label>First name<br>"):
        assert tag in html
    for internal in ("score", "assigned_to", "tracking_agent", "external_id"):
        assert f'name="{internal}"' not in html  # named in the comment only
        assert internal in html
    answer = Client().post("/intake/contact-us/", {
        "first_name": "Pat", "email": "pat@example.org", "consent": "true", "website": ""})
    assert answer.status_code == 303
    assert Lead.objects.get().owner == bob


def test_fix_keeps_a_messages_lines_and_says_a_missing_contact_once(mc, bob):
    submission = Submission.objects.create(
        channel=Submission.Channel.FILE, source="Website", outcome=Submission.Outcome.REJECTED,
        errors={"contact": "Give at least a name, an email or a phone number."},
        payload={"message": "Customer Mail: x@example.org\nInternal Id: 7"},
        received_at=timezone.now())
    fix_url = f"/admin/leads/submission/{submission.pk}/fix/"
    form = mc.get(fix_url).content.decode()
    assert ">\nCustomer Mail: x@example.org\nInternal Id: 7</textarea>" in form
    refused = mc.post(fix_url, {"message": "Customer Mail: x@example.org\r\nInternal Id: 7"})
    assert refused.content.decode().count("Give at least a name") == 1
    mc.post(fix_url, {"first_name": "Xi", "message": "Customer Mail: x@example.org\r\nId: 7"})
    assert Lead.objects.get().message == "Customer Mail: x@example.org\nId: 7"
