"""An ISA's hand-off seen from both sides, in a real browser on a phone (375 px): the ISA lands
on their queue and hands a lead off; the agent claims it (after a look at the pass sheet) and
has the ISA as the lead's second contact; the ISA follows the agent's progress. Then a pass
with a reason, in one extra tap.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots (phone, and desktop for the pages
this changes).
"""

from __future__ import annotations

from django.utils import timezone

from agents.models import Agent
from leads.intake import receive_lead
from routing.models import Brokerage, HandoffTarget, Offer
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
from tests.factories import (
    ALL_WEEK,
    AgentFactory,
    RosterFactory,
    RuleFactory,
    default_stages,
    isa_desk,
)

pytestmark = BROWSER_TEST

def brokerage_with_an_isa() -> tuple[Agent, Agent, HandoffTarget]:
    default_stages()
    ivy = isa_desk(phone="+13125550142")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com", zip_codes=["60602"])
    AgentFactory(name="Ann Lee", email="ann@example.com", zip_codes=["60601"])
    closers = RosterFactory.with_members(list(Agent.objects.filter(role="agent")))
    target = HandoffTarget.objects.create(name="Downtown", roster=closers,
                                          selection="territory", delivery="claim")
    return ivy, bob, target


def new_lead(name: str = "Buyer"):
    return receive_lead({
        "first_name": "Pat", "last_name": name, "email": f"pat.{name.lower()}@example.org",
        "phone": "+13125550199", "source": "Zillow", "zip_code": "60602", "city": "Chicago",
        "message": "Looking for a condo near the river"}, channel="api",
        received_at=timezone.now()).lead


def tap_target_height(driver, selector: str) -> int:
    return driver.execute_script(
        "return Math.round(document.querySelector(arguments[0]).getBoundingClientRect().height)",
        selector)


def test_isa_hands_off_agent_claims_and_sees_the_isa_isa_sees_progress(
        browser, live_server, driver):
    ivy, bob, target = brokerage_with_an_isa()
    lead = new_lead()
    assert lead.owner == ivy

    isa = browser()
    log_in(isa, live_server, "ivy@example.com")
    WebDriverWait(isa, WAIT).until(ec.url_contains("/isa/"))  # the queue, not the offers
    wait_for_text(isa, "My queue")
    isa.find_element(By.ID, f"queue-{lead.pk}").click()
    wait_for_text(isa, "Looking for a condo near the river")
    Select(isa.find_element(By.CSS_SELECTOR, "#handoff-form select[name=to]")).select_by_value(
        f"t{target.pk}")
    isa.find_element(By.CSS_SELECTOR, "#handoff-form textarea[name=note]").send_keys(
        "Pre-approved, call her after 5 pm")
    isa.find_element(By.CSS_SELECTOR, "#handoff-form button[type=submit]").click()
    wait_for_text(isa, "Who gets it")
    isa.find_element(By.CSS_SELECTOR, "#handoff-confirm button[name=confirm]").click()
    WebDriverWait(isa, WAIT).until(ec.url_contains("/isa/handed-off/"))
    wait_for_text(isa, "Waiting for a claim")

    agent = browser()
    log_in(agent, live_server, "bob@example.com")
    offer = Offer.objects.get(lead=lead, status=Offer.Status.OFFERED)
    assert offer.agent == bob
    wait_for_text(agent, "Pat Buyer")
    agent.find_element(By.CSS_SELECTOR, f"#pass-{offer.pk} summary").click()
    wait_for_text(agent, "Why do you pass?")
    assert tap_target_height(agent, f"#pass-{offer.pk} button[value=too_busy]") >= 44
    assert fits_the_phone(agent)
    screenshot(agent, "offer-pass-sheet")
    agent.find_element(By.CSS_SELECTOR, f"#pass-{offer.pk} summary").click()  # changed my mind
    agent.find_element(By.CSS_SELECTOR, f"#offer-{offer.pk} button[name=claim]").click()
    wait_for_text(agent, "Make the first contact now")

    card = agent.find_element(By.ID, "second-contact")
    assert "Second contact" in card.text and "Ivy Isa (ISA) handed it off" in card.text
    assert "Pre-approved, call her after 5 pm" in card.text
    assert "Call Ivy Isa (312) 555-0142" in card.text  # her phone, written as people write it
    call = card.find_element(By.PARTIAL_LINK_TEXT, "Call Ivy Isa")
    assert call.get_attribute("href") == "tel:+13125550142"
    assert call.size["height"] >= 44
    assert card.find_element(By.PARTIAL_LINK_TEXT, "Text Ivy Isa").get_attribute(
        "href") == "sms:+13125550142"
    assert fits_the_phone(agent)
    agent.execute_script("arguments[0].scrollIntoView()", card)
    screenshot(agent, "agent-lead-second-contact")
    agent.find_element(By.CSS_SELECTOR, "input[name=kind][value=call]").click()
    agent.find_element(By.CSS_SELECTOR, "#log-form textarea[name=body]").send_keys(
        "Showing booked for Saturday 10 am")
    agent.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(agent, "Call logged")
    agent.find_element(By.CSS_SELECTOR, "button[name=stage][value=appointment]").click()
    wait_for_text(agent, "Stage: Appointment set.")

    isa.refresh()
    wait_for_text(isa, "Contacted by the agent")
    row = isa.find_element(By.ID, "handed-off").text
    assert "Latest: Stage changed" in row and "Stage: New → Appointment set" in row
    assert fits_the_phone(isa)
    screenshot(isa, "isa-handed-off-progress")
    isa.find_element(By.PARTIAL_LINK_TEXT, "Pat Buyer").click()
    wait_for_text(isa, "The agent's progress")
    progress = isa.find_element(By.CSS_SELECTOR, "[id^=agent-progress-]").text
    assert "Bob Ray" in progress and "Showing booked for Saturday 10 am" in progress
    assert isa.find_element(By.ID, "agent-stage").text == "Appointment set"
    why = isa.find_element(By.CSS_SELECTOR, "details.why")
    why.find_element(By.TAG_NAME, "summary").click()
    assert "@example.com" not in why.text and "Bob claimed it." in why.text
    assert fits_the_phone(isa)
    isa.execute_script("document.querySelector('[id^=agent-progress-]').scrollIntoView()")
    screenshot(isa, "isa-lead-progress")
    isa.execute_script("arguments[0].scrollIntoView()", why)
    screenshot(isa, "isa-lead-why")

    # The same pages on a desktop screen.
    log_in(driver, live_server, "bob@example.com")
    driver.get(f"{live_server.url}/leads/{lead.pk}/")
    wait_for_text(driver, "Second contact")
    screenshot(driver, "desktop-agent-lead-second-contact")
    driver.delete_all_cookies()
    log_in(driver, live_server, "ivy@example.com")
    driver.get(f"{live_server.url}/isa/leads/{lead.pk}/")
    wait_for_text(driver, "The agent's progress")
    screenshot(driver, "desktop-isa-lead-progress")


def test_an_agent_passes_with_a_reason_in_one_extra_tap(browser, live_server, driver):
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    RuleFactory(name="Everyone", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members([ann, bob]))
    lead = new_lead()
    offer = Offer.objects.get(lead=lead, status=Offer.Status.OFFERED)
    email = offer.agent.email

    log_in(driver, live_server, email)
    wait_for_text(driver, "Pat Buyer")
    driver.find_element(By.CSS_SELECTOR, f"#pass-{offer.pk} summary").click()
    wait_for_text(driver, "Why do you pass?")
    screenshot(driver, "desktop-offer-pass-sheet")

    phone = browser()
    log_in(phone, live_server, email)
    wait_for_text(phone, "Pat Buyer")
    phone.find_element(By.CSS_SELECTOR, f"#pass-{offer.pk} summary").click()
    # The list refreshes every second, but not under an open sheet (its htmx trigger's filter).
    assert phone.execute_script(
        "return !!document.getElementById('offer-list')"
        ".querySelector('button[disabled], details[open]')")
    phone.find_element(By.CSS_SELECTOR, f"#pass-{offer.pk} button[value=out_of_area]").click()
    wait_for_text(phone, "You passed on this lead")
    offer.refresh_from_db()
    assert (offer.status, offer.pass_reason) == (Offer.Status.DECLINED, "out_of_area")
    assert lead.activities.get(kind="declined").body.endswith(": Out of my area")
