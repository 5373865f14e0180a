"""A new offer shows on an open offers page without a reload, within 2 s (Chromium)."""

from __future__ import annotations

import time

from tests.browser import BROWSER_TEST, By, WebDriverWait, log_in
from tests.factories import AgentFactory
from tests.test_live_offers import route, set_up_claim_rule

pytestmark = BROWSER_TEST


def test_a_new_offer_appears_within_two_seconds_with_title_and_bell(browser, live_server):
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    set_up_claim_rule([ann])
    route()
    driver = browser()
    log_in(driver, live_server, "ann@example.com")
    assert len(driver.find_elements(By.CSS_SELECTOR, "article.offer")) == 1
    assert driver.title.startswith("(1) Offers")
    driver.execute_script(  # window.__samePage is gone if the page reloads
        "window.__samePage = true; window.__statuses = [];"
        "document.addEventListener('htmx:afterRequest',"
        " e => window.__statuses.push(e.detail.xhr.status));")
    time.sleep(2.5)  # a few empty 304 polls: the list stays as it is
    statuses = driver.execute_script("return window.__statuses;")
    assert len(statuses) >= 2 and set(statuses) == {304}, statuses
    assert len(driver.find_elements(By.CSS_SELECTOR, "article.offer")) == 1

    route(first_name="Sam", last_name="Seller", email="sam@example.org", phone="")
    routed = time.monotonic()
    WebDriverWait(driver, 2, poll_frequency=0.05).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.offer")) == 2)
    shown = time.monotonic() - routed
    print(f"\nnew offer shown {shown:.2f} s after it was made")
    assert shown < 2
    assert "Sam Seller" in driver.find_element(By.ID, "offer-list").text
    assert driver.execute_script("return window.__samePage === true;")
    WebDriverWait(driver, 2).until(lambda d: d.title.startswith("(2) Offers"))
    WebDriverWait(driver, 2).until(lambda d: d.find_element(By.ID, "bell-count").text == "2")
