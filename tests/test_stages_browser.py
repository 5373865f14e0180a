"""Stages on a phone (the system Chromium, 375 px wide): after the first call, one tap moves the
lead on (htmx swaps the card and the timeline, no reload), lost asks why in one more tap, and My
leads finds the lead by its phone written another way, in its stage.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots.
"""

from __future__ import annotations

from django.utils import timezone

from leads.models import Lead
from leads.services import log_activity
from tests.browser import (
    BROWSER_TEST,
    WAIT,
    By,
    WebDriverWait,
    fits_the_phone,
    log_in,
    screenshot,
    wait_for_text,
)
from tests.factories import AgentFactory, LeadFactory, default_stages

pytestmark = BROWSER_TEST

MIN_TAP = 44


def test_an_agent_sets_a_stage_in_one_tap_then_marks_the_lead_lost(browser, live_server):
    default_stages()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    lead = LeadFactory(first_name="Dana", last_name="Reyes", owner=ann,
                       status=Lead.Status.ASSIGNED, assigned_at=timezone.now(),
                       phone="+15551234567", phone_normalized="+15551234567")
    log_activity(lead, ann, "call", "Talked: wants a 2-bedroom", now=timezone.now())

    phone = browser()
    log_in(phone, live_server, "ann@example.com")
    phone.get(f"{live_server.url}/leads/{lead.pk}/")
    wait_for_text(phone, "Stage")
    phone.execute_script("document.getElementById('stage').scrollIntoView()")
    for button in phone.find_elements(By.CSS_SELECTOR, "#stage .button"):
        assert button.size["height"] >= MIN_TAP, button.text
    assert fits_the_phone(phone)
    screenshot(phone, "stages-lead")

    # One tap: the card and the timeline change in place (the page is not reloaded).
    phone.execute_script("window.notReloaded = true")
    phone.find_element(By.CSS_SELECTOR, "button[name=stage][value=appointment]").click()
    wait_for_text(phone, "Stage: Appointment set.")
    assert phone.execute_script("return window.notReloaded") is True
    current = phone.find_element(By.CSS_SELECTOR, "#stage .button.current")
    assert current.text == "Appointment set"
    assert "Stage: New → Appointment set" in phone.find_element(By.ID, "timeline").text
    lead.refresh_from_db()
    assert lead.stage.key == "appointment"
    screenshot(phone, "stages-set")

    # Lost: the sheet asks why; one tap on a reason.
    phone.find_element(By.CSS_SELECTOR, "#lost-lost summary").click()
    reason = phone.find_element(By.CSS_SELECTOR,
                                "#lost-lost button[value='Went with another agent']")
    assert reason.size["height"] >= MIN_TAP
    screenshot(phone, "stages-lost-sheet")
    reason.click()
    wait_for_text(phone, "Stage: Lost.")
    assert phone.find_element(By.ID, "lead-status").text == "Dead"
    assert "(Went with another agent)" in phone.find_element(By.ID, "stage-now").text
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DEAD and lead.lost_reason == "Went with another agent"
    assert fits_the_phone(phone)
    screenshot(phone, "stages-lost")

    # My leads: the phone written another way finds it, in its stage.
    phone.get(f"{live_server.url}/leads/")
    box = phone.find_element(By.ID, "q")
    box.send_keys("(555) 123-4567")
    phone.find_element(By.CSS_SELECTOR, "#lead-search button[type=submit]").click()
    wait_for_text(phone, "1 lead found")
    row = phone.find_element(By.CSS_SELECTOR, "ul.lead-list .lead-row")
    assert "Dana Reyes" in row.text and "Lost" in row.text
    WebDriverWait(phone, WAIT).until(lambda d: fits_the_phone(d))
    screenshot(phone, "my-leads-search")
