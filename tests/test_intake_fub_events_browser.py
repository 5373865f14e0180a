"""A manager, on a phone, sets a source to ignore Follow Up Boss events and finds the ignored
event in the submissions with its reason (the system Chromium).

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from django.test import Client

from leads.intake.keys import create_key
from leads.models import Lead, LeadSource, Submission
from tests.browser import (
    BROWSER_TEST,
    By,
    fits_the_phone,
    log_in_to_admin,
    screenshot,
    wait_for_text,
)
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.test_rule_admin import manager_user

pytestmark = BROWSER_TEST

EVENT = Path(__file__).parent / "fixtures" / "fub" / "zillow_property_inquiry.json"


def test_a_manager_sets_a_source_to_ignore_events_on_a_phone(browser, live_server):
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(user=None)]))
    raw_key = create_key("Zillow")[1]
    source = LeadSource.objects.get(name="Zillow")
    manager_user()
    driver = browser()
    change = f"/admin/leads/leadsource/{source.pk}/change/"
    log_in_to_admin(driver, live_server, "manager@example.com", change)
    box = driver.find_element(By.NAME, "ignore_events")
    assert not box.is_selected()
    screenshot(driver, "fub_source_phone")
    assert fits_the_phone(driver)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    driver.find_element(By.NAME, "_save").click()
    wait_for_text(driver, "was changed successfully")
    assert LeadSource.objects.get(pk=source.pk).ignore_events

    auth = "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()
    answer = Client().post("/api/v1/events", data=EVENT.read_text(),
                           content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert answer.status_code == 204 and not Lead.objects.exists()

    driver.get(f"{live_server.url}/admin/leads/submission/?outcome__exact=ignored")
    wait_for_text(driver, "The source Zillow is set to ignore events.")
    screenshot(driver, "fub_ignored_submission_phone")
    sub = Submission.objects.get()
    assert (sub.channel, sub.outcome) == ("events", "ignored")
    assert json.loads(sub.raw_body)["person"]["firstName"] == "Maria"
