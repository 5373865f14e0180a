"""The offers page in a real browser (the system Chromium, 375 px wide like a phone).

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from django.utils import timezone

from leads.intake import receive_lead
from leads.models import Lead
from notifications.models import Notification
from routing.models import Brokerage, Offer
from tests.browser import (
    BROWSER_TEST,
    WAIT,
    By,
    WebDriverWait,
    ec,
    log_in,
    screenshot,
    wait_for_text,
)
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = BROWSER_TEST

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]


def offered_lead(agents, delivery: str = "first_to_claim", **fields) -> Lead:
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    RuleFactory(name="Everyone", is_catch_all=True, delivery=delivery,
                roster=RosterFactory.with_members(agents))
    return route(**fields)


def route(**fields) -> Lead:
    data = {"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
            "phone": "+13125550199", "source": "Zillow", "lead_type": "buyer",
            "price": "1250000", "city": "Chicago", "zip_code": "60601", "neighborhood": "Loop",
            "message": "Can we see it on Saturday morning?", **fields}
    result = receive_lead(data, channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return result.lead


def test_claim_race_countdown_and_first_contact(browser, live_server, settings):
    # The second agent's page stays as loaded while the first agent works.
    settings.OFFERS_REFRESH_SECONDS = 600
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    lead = offered_lead([ann, bob])
    assert Offer.objects.filter(lead=lead).count() == 2

    first = browser()
    log_in(first, live_server, "ann@example.com")
    card = first.find_element(By.CSS_SELECTOR, "article.offer")
    assert "Pat Buyer" in card.text and "$1,250,000" in card.text
    timer = card.find_element(By.CLASS_NAME, "countdown")
    before = timer.text
    assert before.endswith(" left"), before
    WebDriverWait(first, 5, poll_frequency=0.2).until(lambda d: timer.text != before)
    assert timer.text.endswith(" left")
    assert first.execute_script("return document.documentElement.clientWidth") == 375
    assert first.execute_script(  # nothing sticks out sideways on a phone
        "return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(first, "offers")

    second = browser()
    log_in(second, live_server, "bob@example.com")
    assert "Pat Buyer" in second.find_element(By.CSS_SELECTOR, "article.offer").text

    card.find_element(By.NAME, "claim").click()
    WebDriverWait(first, WAIT).until(ec.url_contains(f"/leads/{lead.pk}/"))
    wait_for_text(first, "pat@example.org")
    screenshot(first, "lead")

    second.find_element(By.NAME, "claim").click()
    wait_for_text(second, "Another agent claimed this lead first.")
    assert "/offers/" in second.current_url
    assert "Pat Buyer" not in second.find_element(By.ID, "offer-list").text
    screenshot(second, "refused")

    first.find_element(By.CSS_SELECTOR, "input[name=kind][value=call]").click()
    first.find_element(By.NAME, "body").send_keys("Talked, showing on Saturday")
    first.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(first, "Speed to lead")
    assert first.find_element(By.ID, "speed-to-lead").text
    assert "Talked, showing on Saturday" in first.find_element(By.TAG_NAME, "body").text
    lead.refresh_from_db()
    assert lead.owner == ann and lead.first_contact_at is not None


def test_offers_list_refreshes_itself(browser, live_server, settings):
    settings.OFFERS_REFRESH_SECONDS = 1
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    offered_lead([ann], delivery="claim")
    driver = browser()
    log_in(driver, live_server, "ann@example.com")
    assert len(driver.find_elements(By.CSS_SELECTOR, "article.offer")) == 1
    assert driver.find_element(By.ID, "bell-count").text == "1"
    route(first_name="Sam", last_name="Seller", email="sam@example.org", phone="")
    WebDriverWait(driver, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.offer")) == 2)
    assert "Sam Seller" in driver.find_element(By.ID, "offer-list").text
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "bell-count").text == "2")
    # Still ticking after the list was swapped in (read by script: the list is replaced).
    before = countdowns(driver)
    WebDriverWait(driver, 5, poll_frequency=0.2).until(lambda d: countdowns(d) != before)


def countdowns(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.countdown'), e => e.textContent)")


def test_marking_a_notification_read_swaps_it_and_the_bell_in_place(browser, live_server):
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    offered_lead([ann], delivery="claim")
    route(first_name="Sam", last_name="Seller", email="sam@example.org", phone="")
    driver = browser()
    log_in(driver, live_server, "ann@example.com")
    driver.get(live_server.url + "/notifications/")
    assert driver.find_element(By.ID, "bell-count").text == "2"
    driver.execute_script("window.samePage = true")
    driver.find_elements(By.CSS_SELECTOR, "form.inline button")[0].click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "bell-count").text == "1")
    assert driver.find_element(By.ID, "bell").get_attribute("aria-label") == (
        "Notifications, 1 unread")
    assert len(driver.find_elements(By.CSS_SELECTOR, "li.note.unread")) == 1
    driver.find_element(By.CSS_SELECTOR, "form.inline button").click()
    WebDriverWait(driver, WAIT).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".unread"))
    assert "Mark all read" not in driver.find_element(By.ID, "notifications-head").text
    assert driver.execute_script("return window.samePage === true")  # htmx, no page load
    assert not Notification.objects.filter(recipient=ann, read_at__isnull=True).exists()
