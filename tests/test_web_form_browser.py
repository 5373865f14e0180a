"""A web form as a brokerage uses it, in a real browser: a manager makes the form in the admin
and copies its HTML, the HTML is pasted on a page of the brokerage's site, a visitor fills it
in on a phone and lands on the thank-you page, and the lead is routed with what was typed."""

from __future__ import annotations

import pytest

from leads.models import Lead, LeadSource, WebForm
from tests.browser import BROWSER_TEST, WAIT, By, WebDriverWait, log_in_to_admin, screenshot
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = BROWSER_TEST


@pytest.fixture
def manager():
    from agents.models import Agent
    from agents.services import sync_access

    mia = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(mia)
    return mia


def test_the_pasted_form_routes_a_visitors_lead(browser, live_server, settings, manager,
                                                tmp_path):
    settings.SITE_URL = live_server.url
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    RuleFactory(name="Everything", is_catch_all=True, roster=RosterFactory.with_members([bob]))
    LeadSource.objects.create(name="Website")
    thanks = f"{live_server.url}/accounts/login/?thanks"

    admin = browser()
    log_in_to_admin(admin, live_server, "mia@example.com", "/admin/leads/webform/add/")
    admin.find_element(By.NAME, "name").send_keys("Contact us")
    admin.find_element(By.CSS_SELECTOR, "select[name=source] option:not([value=''])").click()
    admin.find_element(By.NAME, "thank_you_url").send_keys(thanks)
    admin.find_element(By.NAME, "_continue").click()
    snippet = WebDriverWait(admin, WAIT).until(
        lambda d: d.find_element(By.ID, "webform-snippet")).get_attribute("value")
    assert WebForm.objects.get().slug == "contact-us"
    site = tmp_path / "contact.html"
    site.write_text("<!doctype html><meta name=viewport content='width=device-width'>"
                    f"<h1>Hudson Realty</h1>{snippet}", encoding="utf-8")

    visitor = browser()
    visitor.get(site.as_uri())
    visitor.find_element(By.NAME, "first_name").send_keys("Wendy")
    visitor.find_element(By.NAME, "last_name").send_keys("Form")
    visitor.find_element(By.NAME, "email").send_keys("wendy.form@example.org")
    visitor.find_element(By.NAME, "phone").send_keys("(718) 555-0166")
    visitor.find_element(By.NAME, "message").send_keys("Two bedrooms,\nnear a park")
    visitor.find_element(By.NAME, "consent").click()
    screenshot(visitor, "web-form-on-the-site")
    visitor.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(visitor, WAIT).until(lambda d: d.current_url == thanks)

    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.phone) == (
        "Wendy", "Form", "wendy.form@example.org", "+17185550166")
    assert lead.source == "Website" and lead.owner == bob
    assert lead.message.replace("\r\n", "\n") == "Two bedrooms,\nnear a park"
