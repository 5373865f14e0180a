"""The installable app in a real browser: the service worker controls the pages and the phone
alerts control is offered. (Headless Chromium cannot receive a push from a real push service,
so receiving is tested in test_push.py against a local push service, decrypting each payload.)
"""

from __future__ import annotations

from notifications import push
from tests.browser import BROWSER_TEST, WAIT, By, WebDriverWait, log_in, screenshot
from tests.factories import AgentFactory

pytestmark = BROWSER_TEST


def test_the_service_worker_controls_the_pages_and_alerts_can_be_turned_on(
        browser, live_server, settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = (
        push.generate_vapid_keys())
    AgentFactory(name="Ann", email="ann@example.com")
    driver = browser()
    log_in(driver, live_server, "ann@example.com")

    driver.get(live_server.url + "/notifications/")
    # The worker takes the open page over as soon as it is active (clients.claim()).
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(
        "return navigator.serviceWorker.controller !== null"))
    scope = driver.execute_async_script(
        "var done = arguments[0];"
        "navigator.serviceWorker.ready.then(function (r) { done(r.scope); });")
    assert scope == live_server.url + "/"
    button = driver.find_element(By.CSS_SELECTOR, "#phone-alerts [data-push-toggle]")
    WebDriverWait(driver, WAIT).until(lambda d: button.is_displayed())
    assert button.text == "Turn on phone alerts"
    assert button.get_attribute("aria-pressed") == "false"
    screenshot(driver, "phone-alerts")

    driver.get(live_server.url + "/offers/")
    banner = driver.find_element(By.CSS_SELECTOR, "[data-push-banner]")
    WebDriverWait(driver, WAIT).until(lambda d: banner.is_displayed())
    banner.find_element(By.CSS_SELECTOR, "[data-push-dismiss]").click()
    assert not banner.is_displayed()
    driver.refresh()
    banner = driver.find_element(By.CSS_SELECTOR, "[data-push-banner]")
    driver.execute_async_script(
        "var done = arguments[0]; navigator.serviceWorker.ready.then(function () {"
        " setTimeout(done, 300); });")
    assert not banner.is_displayed()  # "Not now" is remembered on this device
