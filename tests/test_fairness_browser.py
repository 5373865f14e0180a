"""On a phone, an agent opens "My turn" and a lead's "Why did I get this lead?" (Chromium)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agents.services import set_accepting_leads
from leads.intake import receive_lead
from leads.models import Lead
from tests.browser import (
    BROWSER_TEST,
    DESKTOP,
    By,
    fits_the_phone,
    log_in,
    screenshot,
    start_chrome,
    wait_for_text,
)
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = BROWSER_TEST
_n = iter(range(1, 1_000_000))


def arrive(at) -> Lead:
    n = next(_n)
    result = receive_lead({"first_name": "Pat", "last_name": f"Buyer{n}",
                           "email": f"pat{n}@example.org", "phone": f"+1312555{n:04d}"},
                          channel="api", received_at=at)
    return Lead.objects.get(pk=result.lead.pk)


def set_availability(agent, accepting: bool, at) -> None:
    set_accepting_leads(agent, accepting, now=at)


def buyers_team():
    """Bob missed a turn while paused; later Ann was paused and her turn came to him."""
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    cat = AgentFactory(name="Cat Cho", email="cat@example.com")
    RuleFactory(name="Buyers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    now = timezone.now()
    arrive(now - timedelta(minutes=60))  # Ann
    set_availability(bob, False, now - timedelta(minutes=55))
    arrive(now - timedelta(minutes=50))  # Cat: Bob's turn passed over
    arrive(now - timedelta(minutes=40))  # Ann
    set_availability(bob, True, now - timedelta(minutes=35))
    arrive(now - timedelta(minutes=30))  # Bob
    arrive(now - timedelta(minutes=20))  # Cat
    set_availability(ann, False, now - timedelta(minutes=15))
    lead = arrive(now - timedelta(minutes=10))  # Ann's turn, Ann paused: Bob
    assert lead.owner == bob
    return bob, lead


def check_pages(driver, live_server, lead, name: str) -> None:
    log_in(driver, live_server, "bob@example.com")
    driver.find_element(By.LINK_TEXT, "My turn").click()
    wait_for_text(driver, "Where you stand")
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "Buyers" in text and "You got 2 of its 6 leads; your share is 2." in text
    assert "paused " in text and "@" not in text  # "paused 21:50-22:10": the pause's span
    assert fits_the_phone(driver)
    screenshot(driver, f"{name}-my-turn")

    driver.get(f"{live_server.url}/leads/{lead.pk}/")
    driver.find_element(By.XPATH, "//summary[contains(., 'Why did I get this lead?')]").click()
    wait_for_text(driver, "Ann was paused, so it came to you")
    why = driver.find_element(By.CSS_SELECTOR, "details.why").text
    assert "It was your turn in the “Buyers” rotation; Ann was paused, so it came to you." in why
    assert "@" not in why and "Ann Lee" not in why and "position" not in why
    assert len(why.splitlines()) <= 6
    assert fits_the_phone(driver)
    summary = driver.find_element(By.CSS_SELECTOR, "details.why summary")
    assert summary.size["height"] >= 44
    driver.execute_script("arguments[0].scrollIntoView()", summary)
    screenshot(driver, f"{name}-why")


def test_agent_reads_their_turn_and_why_they_got_a_lead_on_a_phone(browser, live_server):
    _, lead = buyers_team()
    check_pages(browser(), live_server, lead, "phone")


def test_the_same_pages_on_a_desktop(live_server):
    _, lead = buyers_team()
    driver = start_chrome(width=DESKTOP[0], height=DESKTOP[1])
    try:
        check_pages(driver, live_server, lead, "desktop")
    finally:
        driver.quit()
