"""The rule editor in a real browser (the system Chromium): drag a rule, route the next lead.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import OperationalError

from leads.intake import receive_lead
from routing.models import Brokerage, Rule
from tests.browser import (
    BROWSER_TEST,
    WAIT,
    By,
    Select,
    WebDriverException,
    WebDriverWait,
    ec,
    log_in_to_admin,
    screenshot,
)
from tests.factories import AgentFactory, RosterFactory, RuleFactory
from tests.test_rule_admin import manager_user

pytestmark = BROWSER_TEST

WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("America/New_York"))


def rule_row(driver, name: str):
    return driver.find_element(
        By.XPATH, f"//table[@id='result_list']//tr[.//a[normalize-space(text())='{name}']]")


def names_on_page(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#result_list tbody th a'),"
        " a => a.firstChild.textContent.trim())")


def saved_order() -> list[str] | None:
    try:
        return list(Rule.objects.values_list("name", flat=True))
    except OperationalError:  # SQLite: the server thread is writing right now
        return None


def wait_for_order(names: list[str]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if saved_order() == names:
            time.sleep(0.3)  # let the server finish its request before the test goes on
            return
        time.sleep(0.1)
    raise AssertionError(f"order is {saved_order()}")


def center(driver, element) -> tuple[float, float]:
    return tuple(driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2,"
        " r.y + r.height / 2];", element))


def drag(driver, handle, target, *, below: bool = False) -> None:
    """A person's drag of a handle onto the upper (or lower) half of the target row.

    sortable2 (SortableJS) uses the browser's native drag and drop, which WebDriver's
    ActionChains cannot start in headless Chromium: the mouse goes through the DevTools
    protocol instead, with drags intercepted and delivered as real drag events.
    """
    x, y = center(driver, handle)
    tx, ty = center(driver, target)
    ty += target.size["height"] / 4 * (1 if below else -1)

    def mouse(kind: str, px: float, py: float) -> None:
        driver.execute_cdp_cmd("Input.dispatchMouseEvent", {
            "type": kind, "x": px, "y": py, "button": "left", "clickCount": 1})

    def drag_event(kind: str, px: float, py: float) -> None:
        driver.execute_cdp_cmd("Input.dispatchDragEvent", {
            "type": kind, "x": px, "y": py,
            "data": {"items": [{"mimeType": "text/plain", "data": ""}],
                     "dragOperationsMask": 1}})

    driver.execute_cdp_cmd("Input.setInterceptDrags", {"enabled": True})
    try:
        mouse("mousePressed", x, y)
        for step in range(1, 4):
            mouse("mouseMoved", x, y - 4 * step)
            time.sleep(0.05)
        drag_event("dragEnter", tx, ty)
        for step in range(6):
            drag_event("dragOver", tx, ty + (step if below else -step))
            time.sleep(0.05)
        drag_event("drop", tx, ty)
        mouse("mouseReleased", tx, ty)
    finally:
        driver.execute_cdp_cmd("Input.setInterceptDrags", {"enabled": False})


def test_a_manager_drags_a_rule_above_another_and_routing_follows(driver, live_server):
    Brokerage.load()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    cat = AgentFactory(name="Cat Diaz", email="cat@example.com")
    RuleFactory(name="Zillow", priority=1, criteria={"source": ["Zillow"]},
                roster=RosterFactory.with_members([ann], name="Downtown"))
    RuleFactory(name="Luxury buyers", priority=2,
                criteria={"lead_type": ["buyer"], "price_min": 1000000},
                windows=[(["mon", "tue", "wed", "thu", "fri"], "08:00", "21:00")],
                roster=RosterFactory.with_members([bob], name="Luxury team"))
    RuleFactory(name="Everyone else", priority=3, is_catch_all=True,
                roster=RosterFactory.with_members([cat], name="Office"))
    manager_user()

    log_in_to_admin(driver, live_server, "manager@example.com", "/admin/routing/rule/")
    assert names_on_page(driver) == ["Zillow", "Luxury buyers", "Everyone else"]
    table = driver.find_element(By.ID, "result_list").text
    assert "Source is Zillow" in table and "Buyer · Price ≥ $1,000,000" in table
    assert "Mon-Fri 08:00-21:00" in table
    screenshot(driver, "rule_list")

    handle = rule_row(driver, "Luxury buyers").find_element(By.CSS_SELECTOR, ".drag.handle")
    drag(driver, handle, rule_row(driver, "Zillow"))
    WebDriverWait(driver, WAIT).until(
        lambda d: names_on_page(d)[:2] == ["Luxury buyers", "Zillow"])
    wait_for_order(["Luxury buyers", "Zillow", "Everyone else"])

    # The next lead follows the new order.
    result = receive_lead({"first_name": "Pat", "email": "pat@example.org", "source": "Zillow",
                           "lead_type": "buyer", "price": "1500000"},
                          channel="api", received_at=WEDNESDAY)
    assert result.as_dict()["rule"] == "Luxury buyers" and result.routing.agent.pk == bob.pk

    # The catch-all's handle is locked: dragging it does nothing.
    lock = rule_row(driver, "Everyone else").find_element(By.CSS_SELECTOR, ".drag.handle")
    assert "catch-all-handle" in lock.get_attribute("class")
    with contextlib.suppress(WebDriverException):  # the pointer may not even press on it
        drag(driver, lock, rule_row(driver, "Luxury buyers"))
    time.sleep(0.5)
    assert names_on_page(driver)[-1] == "Everyone else"
    assert list(Rule.objects.values_list("name", flat=True))[-1] == "Everyone else"

    # A rule dropped below the catch-all: the catch-all goes straight back to the bottom.
    drag(driver, rule_row(driver, "Luxury buyers").find_element(By.CSS_SELECTOR, ".handle"),
         rule_row(driver, "Everyone else"), below=True)
    WebDriverWait(driver, WAIT).until(
        lambda d: names_on_page(d) == ["Zillow", "Luxury buyers", "Everyone else"])
    assert driver.find_element(By.ID, "catch-all-notice").is_displayed()
    wait_for_order(["Zillow", "Luxury buyers", "Everyone else"])

    # A reload shows the order that was saved.
    driver.refresh()
    assert names_on_page(driver) == ["Zillow", "Luxury buyers", "Everyone else"]
    screenshot(driver, "rule_list_after_drag")


def test_a_manager_tests_a_lead_and_sees_the_trace(driver, live_server):
    Brokerage.load()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    RuleFactory(name="Zillow", priority=1, criteria={"source": ["Zillow"]},
                roster=RosterFactory.with_members([ann], name="Downtown"))
    RuleFactory(name="Everyone else", priority=2, is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(name="Cat Diaz")],
                                                  name="Office"))
    manager_user()

    log_in_to_admin(driver, live_server, "manager@example.com", "/admin/routing/rule/")
    driver.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/test-lead/']").click()
    WebDriverWait(driver, WAIT).until(ec.url_contains("/test-lead/"))
    driver.find_element(By.NAME, "first_name").send_keys("Pat")
    driver.find_element(By.NAME, "source").send_keys("Zillow")
    Select(driver.find_element(By.NAME, "lead_type")).select_by_value("buyer")
    driver.find_element(By.NAME, "price").send_keys("1250000")
    driver.find_element(By.NAME, "run").click()
    result = WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located((By.ID, "test-result")))
    assert "Would be assigned to Ann Lee <ann@example.com>" in result.text
    assert "Rule 'Zillow': matched" in result.text
    screenshot(driver, "test_a_lead")

    # The rule form hides the claim settings until a claim delivery is chosen.
    zillow = Rule.objects.get(name="Zillow")
    driver.get(f"{live_server.url}/admin/routing/rule/{zillow.pk}/change/")
    screenshot(driver, "rule_form")
    claim = driver.find_element(By.CSS_SELECTOR, "fieldset.claim-settings")
    assert not claim.is_displayed()
    Select(driver.find_element(By.ID, "id_delivery")).select_by_value("claim")
    assert claim.is_displayed()
    screenshot(driver, "rule_form_claim")
    # Days are ticked, not typed; saving keeps a version in the history.
    driver.find_element(By.ID, "windows-group").find_element(
        By.CSS_SELECTOR, ".add-row a").click()
    for day in ("sat", "sun"):
        driver.find_element(By.CSS_SELECTOR, f"input[name='windows-0-days'][value='{day}']") \
            .click()
    driver.find_element(By.NAME, "windows-0-start").send_keys("0900AM")
    driver.find_element(By.NAME, "windows-0-end").send_keys("0500PM")
    driver.find_element(By.NAME, "_continue").click()
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".messagelist .success")))
    window = zillow.windows.get()
    assert (window.days, f"{window.start:%H:%M}", f"{window.end:%H:%M}") == (
        ["sat", "sun"], "09:00", "17:00")
    driver.get(f"{live_server.url}/admin/routing/rule/{zillow.pk}/history/")
    assert "Sat, Sun 09:00-17:00" in driver.find_element(By.ID, "change-history").text
    screenshot(driver, "rule_history")
    driver.get(f"{live_server.url}/admin/routing/rule/changes/")
    assert "Added" in driver.find_element(By.ID, "routing-changes").text
    screenshot(driver, "routing_changes")
    driver.get(f"{live_server.url}/admin/routing/brokerage/")
    assert "Every day 08:00-21:00" in driver.find_element(By.ID, "content").text
    screenshot(driver, "brokerage")
