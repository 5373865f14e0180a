"""The dashboard and every report in a real browser (the system Chromium), on a phone and a
desktop, over the demo brokerage with a morning of claims and first contacts.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.models import Agent
from leads.models import Lead
from leads.services import log_activity
from routing.claims import claim_offer
from routing.models import Offer
from tests.browser import (
    BROWSER_TEST,
    DESKTOP,
    PASSWORD,
    PHONE,
    WAIT,
    WebDriverException,
    WebDriverWait,
    fits_the_phone,
    log_in_to_admin,
    screenshot,
    start_chrome,
)

pytestmark = BROWSER_TEST

REPORTS = ("speed", "offers", "accountability", "fairness", "sources")
CHARTED = {"speed", "offers", "accountability", "sources", "fairness"}

DRAWN = """
const canvases = Array.from(document.querySelectorAll('canvas[data-chart]'));
return canvases.map(c => {
  if (!window.Chart || !Chart.getChart(c) || c.width === 0 || c.height === 0) return false;
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
  return false;
});
"""


@pytest.fixture
def demo_morning(settings):
    """``seed_demo``'s brokerage and leads; then agents claim their offers and call some."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("seed_demo", stdout=StringIO())
    manager = Agent.objects.get(email="manager@example.com")
    manager.user.set_password(PASSWORD)
    manager.user.save(update_fields=["password"])
    now = timezone.now()
    for i, offer in enumerate(Offer.objects.filter(status=Offer.Status.OFFERED)
                              .select_related("agent").order_by("id")[:8]):
        try:
            claim_offer(offer.pk, offer.agent, now=now + timedelta(seconds=30 + 20 * i))
        except Exception:  # noqa: BLE001  first to claim: a colleague already won it
            continue
    for i, lead in enumerate(Lead.objects.filter(owner__isnull=False).select_related("owner")
                             .order_by("id")[:10]):
        log_activity(lead, lead.owner, "call", "Left a voicemail",
                     now=now + timedelta(minutes=2 + 3 * i))
    return manager


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_dashboard_and_every_report_on_phone_and_desktop(live_server, demo_morning, size):
    width, height = PHONE if size == "phone" else DESKTOP
    driver = start_chrome(width=width, height=height, phone=size == "phone")
    try:
        log_in_to_admin(driver, live_server, "manager@example.com", "/admin/")
        text = driver.find_element("tag name", "body").text
        assert "Needs attention now" in text and "Today's leads by source" in text
        assert size == "desktop" or fits_the_phone(driver)
        screenshot(driver, f"dashboard-{size}")
        for slug in REPORTS:
            driver.get(f"{live_server.url}/admin/reports/{slug}/?period=today")
            WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
                lambda d: d.execute_script("return document.readyState") == "complete")
            if slug in CHARTED:
                WebDriverWait(driver, WAIT).until(
                    lambda d: (lambda drawn: bool(drawn) and all(drawn))(d.execute_script(DRAWN)),
                    message=f"{slug}: a chart did not draw")
            assert "Download CSV" in driver.page_source or slug == "fairness"
            if size == "phone":
                assert fits_the_phone(driver), f"{slug} sticks out sideways on a phone"
            screenshot(driver, f"{slug}-{size}")
            if slug in CHARTED:  # and the first chart, scrolled into view
                driver.execute_script(
                    "document.querySelector('canvas[data-chart]').scrollIntoView()")
                screenshot(driver, f"{slug}-{size}-chart")
    finally:
        driver.quit()
