"""An ISA's day in a real browser (the system Chromium, 375 px wide like a phone): the queue, a
call, qualified, a hand-off by territory; then the agent sees the lead with the ISA's note.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from django.utils import timezone

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Lead
from routing.models import Handoff, HandoffTarget
from tests.browser import (
    BROWSER_TEST,
    WAIT,
    By,
    Select,
    WebDriverWait,
    ec,
    fits_the_phone,
    log_in,
    screenshot,
    wait_for_text,
)
from tests.factories import AgentFactory, RosterFactory, isa_desk

pytestmark = BROWSER_TEST

def test_isa_calls_qualifies_and_hands_off_by_territory(browser, live_server):
    ivy = isa_desk()
    AgentFactory(name="Ann Lee", email="ann@example.com", zip_codes=["60601"])
    bob = AgentFactory(name="Bob Ray", email="bob@example.com", zip_codes=["60602"])
    closers = RosterFactory.with_members(list(Agent.objects.filter(role="agent")))
    target = HandoffTarget.objects.create(name="Downtown", roster=closers,
                                          selection="territory")
    result = receive_lead({
        "first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
        "phone": "+13125550199", "source": "Zillow", "zip_code": "60602", "city": "Chicago",
        "message": "Looking for a condo near the river"}, channel="api",
        received_at=timezone.now())
    lead = result.lead
    assert lead.owner == ivy

    isa = browser()
    log_in(isa, live_server, "ivy@example.com")
    isa.find_element(By.LINK_TEXT, "ISA").click()
    wait_for_text(isa, "My queue")
    row = isa.find_element(By.ID, f"queue-{lead.pk}")
    assert "Pat Buyer" in row.text and "waiting" in row.text and "New" in row.text
    assert fits_the_phone(isa)
    screenshot(isa, "isa-queue")

    row.click()
    wait_for_text(isa, "Looking for a condo near the river")
    isa.find_element(By.CSS_SELECTOR, "#log-form input[name=kind][value=call]").click()
    isa.find_element(By.CSS_SELECTOR, "#log-form textarea[name=body]").send_keys(
        "Pre-approved with Chase, wants to see condos this weekend")
    isa.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(isa, "Speed to lead")
    assert isa.find_element(By.ID, "isa-stage").text == "Contacted"

    Select(isa.find_element(By.CSS_SELECTOR, "#card-form select[name=stage]")).select_by_value(
        "qualified")
    isa.find_element(By.CSS_SELECTOR, "#card-form input[name=temperature][value=hot]").click()
    isa.find_element(By.CSS_SELECTOR, "#card-form button[type=submit]").click()
    wait_for_text(isa, "Saved: Stage: Contacted -> Qualified")
    assert isa.find_element(By.ID, "isa-stage").text == "Qualified"
    assert fits_the_phone(isa)
    screenshot(isa, "isa-lead")

    Select(isa.find_element(By.CSS_SELECTOR, "#handoff-form select[name=to]")).select_by_value(
        f"t{target.pk}")
    isa.find_element(By.CSS_SELECTOR, "#handoff-form textarea[name=note]").send_keys(
        "Hot buyer, call her after 5 pm")
    isa.find_element(By.CSS_SELECTOR, "#handoff-form button[type=submit]").click()
    wait_for_text(isa, "Who gets it")
    assert "Bob Ray gets it at once." in isa.find_element(By.ID, "handoff-preview").text
    assert Lead.objects.get(pk=lead.pk).owner == ivy  # only a preview so far
    screenshot(isa, "isa-preview")
    isa.find_element(By.CSS_SELECTOR, "#handoff-confirm button[name=confirm]").click()
    WebDriverWait(isa, WAIT).until(ec.url_contains("/isa/handed-off/"))
    wait_for_text(isa, "Pat Buyer handed off to Bob Ray.")
    assert "Waiting for the first contact" in isa.find_element(By.ID, "handed-off").text
    assert fits_the_phone(isa)
    screenshot(isa, "isa-handed-off")

    agent = browser()
    log_in(agent, live_server, "bob@example.com")
    agent.find_element(By.LINK_TEXT, "My leads").click()
    wait_for_text(agent, "Pat Buyer")
    agent.find_element(By.PARTIAL_LINK_TEXT, "Pat Buyer").click()
    wait_for_text(agent, "Note: Hot buyer, call her after 5 pm")
    body = agent.find_element(By.TAG_NAME, "body").text
    assert "From ISA Ivy Isa." in body and "Temperature: Hot" in body
    assert "ISA" not in [a.text for a in agent.find_elements(By.CSS_SELECTOR, "nav.tabs a")]
    screenshot(agent, "agent-lead")
    agent.find_element(By.CSS_SELECTOR, "input[name=kind][value=call]").click()
    agent.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(agent, "Call logged")
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.agent == bob and handoff.status == Handoff.Status.CONTACTED

    isa.refresh()
    wait_for_text(isa, "Contacted by the agent")
    assert "in time" in isa.find_element(By.ID, "handed-off").text


def test_the_qualification_typed_in_is_kept_when_the_status_is_saved(browser, live_server):
    isa_desk()
    lead = receive_lead({"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
                         "source": "Zillow"}, channel="api", received_at=timezone.now()).lead

    isa = browser()
    log_in(isa, live_server, "ivy@example.com")
    isa.get(f"{live_server.url}/isa/leads/{lead.pk}/")
    wait_for_text(isa, "Qualification")
    Select(isa.find_element(By.CSS_SELECTOR, "select[name=timeframe]")).select_by_value("1-3")
    Select(isa.find_element(By.CSS_SELECTOR, "select[name=pre_approved]")).select_by_value("yes")
    isa.find_element(By.CSS_SELECTOR, "input[name=budget]").send_keys("650000")
    isa.find_element(By.CSS_SELECTOR, "input[name=areas]").send_keys("Lincoln Park")
    Select(isa.find_element(By.CSS_SELECTOR, "#card-form select[name=stage]")).select_by_value(
        "nurturing")
    isa.find_element(By.CSS_SELECTOR, "#card-form input[name=temperature][value=warm]").click()
    isa.find_element(By.CSS_SELECTOR, "#card-form button[type=submit]").click()  # Save status
    wait_for_text(isa, "Saved: Stage: New -> Nurturing")
    assert isa.find_element(By.ID, "isa-stage").text == "Nurturing"
    assert isa.find_element(By.CSS_SELECTOR, "input[name=areas]").get_attribute(
        "value") == "Lincoln Park"
    assert Select(isa.find_element(By.CSS_SELECTOR, "select[name=timeframe]")
                  ).first_selected_option.get_attribute("value") == "1-3"
    assert "Budget: $650,000" in isa.find_element(By.ID, "handoff").text
    assert fits_the_phone(isa)
