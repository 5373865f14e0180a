"""Time off on a phone (the system Chromium, 375 px wide): the agent sets a vacation ahead,
sees it on their availability page, and cancels it.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from agents.models import TimeOff
from routing.models import Brokerage
from tests.browser import BROWSER_TEST, By, fits_the_phone, log_in, screenshot, wait_for_text
from tests.factories import AgentFactory

pytestmark = BROWSER_TEST


def test_an_agent_adds_time_off_sees_it_and_cancels_it(browser, live_server):
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    zone = ZoneInfo(Brokerage.load().tz_name)
    starts = (timezone.now() + timedelta(days=3)).astimezone(zone).replace(
        hour=9, minute=0, second=0, microsecond=0)
    ends = starts + timedelta(days=4, hours=3)

    phone = browser()
    log_in(phone, live_server, "ann@example.com")
    phone.get(f"{live_server.url}/availability/")
    wait_for_text(phone, "No time off ahead.")
    for field, value in (("time-off-starts_at", starts), ("time-off-ends_at", ends)):
        phone.execute_script("arguments[0].value = arguments[1]",
                             phone.find_element(By.ID, field), value.strftime("%Y-%m-%dT%H:%M"))
    phone.find_element(By.ID, "time-off-note").send_keys("vacation")
    phone.find_element(By.XPATH, "//button[normalize-space()='Add time off']").click()
    wait_for_text(phone, "Time off set: you get leads again from")

    added = TimeOff.objects.get(agent=ann)
    assert (added.starts_at, added.ends_at, added.note, added.source) == (
        starts, ends, "vacation", TimeOff.Source.AGENT)
    item = phone.find_element(By.CSS_SELECTOR, "li.time-off-item")
    assert "vacation" in item.text and f"{starts:%a} {starts.day} {starts:%b} 09:00" in item.text
    for button in phone.find_elements(By.CSS_SELECTOR, "section.time-off button, "
                                                       "section.time-off input:not([type=hidden])"):
        assert button.size["height"] >= 44, button.get_attribute("outerHTML")
    assert fits_the_phone(phone)
    screenshot(phone, "time-off-added")

    item.find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    wait_for_text(phone, "Time off cancelled.")
    wait_for_text(phone, "No time off ahead.")
    assert not TimeOff.objects.filter(agent=ann).exists()
    screenshot(phone, "time-off-cancelled")

    # Away now (set by a manager): the page says until when, and ends it in one tap.
    TimeOff.objects.create(agent=ann, starts_at=timezone.now() - timedelta(hours=1),
                           ends_at=ends, note="vacation", source=TimeOff.Source.MANAGER)
    phone.get(f"{live_server.url}/availability/")
    wait_for_text(phone, f"You are away until {ends:%a} {ends.day} {ends:%b} 12:00 (vacation): "
                         "no new leads meanwhile.")
    assert "set by a manager" in phone.find_element(By.CSS_SELECTOR, "li.time-off-item").text
    assert "You are away until" in phone.find_element(By.CSS_SELECTOR, ".card.state").text
    assert fits_the_phone(phone)
    screenshot(phone, "time-off-away-now")
    phone.find_element(By.XPATH, "//button[normalize-space()='End now']").click()
    wait_for_text(phone, "Time off ended: you receive leads again.")
    assert TimeOff.objects.get(agent=ann).ends_at <= timezone.now()
