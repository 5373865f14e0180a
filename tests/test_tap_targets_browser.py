"""Every link and button an agent or an ISA taps on a phone is at least 44 px tall (and wide
enough to hit): offers, my leads, a lead, notifications, the ISA's queue and lead, the login.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from django.utils import timezone

from agents.models import Agent
from leads.intake import receive_lead
from notifications.models import Notification
from routing.models import Brokerage
from tests.browser import BROWSER_TEST, By, fits_the_phone, log_in, screenshot, wait_for_text
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = BROWSER_TEST

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
MIN_TAP = 44

# Visible links, buttons and disclosure summaries under the minimum: (text, height, width).
SMALL_TARGETS_JS = """
const min = arguments[0];
return [...document.querySelectorAll(
    'a[href], button, summary, input[type=submit], input[type=button]')]
  .filter(e => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.closest('.sr-only');
  })
  .map(e => {
    const r = e.getBoundingClientRect();
    return [(e.innerText || e.value || e.getAttribute('aria-label') || e.tagName).trim()
              .slice(0, 40), Math.round(r.height), Math.round(r.width)];
  })
  .filter(([, h, w]) => h < min || w < min);
"""


def small_targets(driver) -> list:
    return driver.execute_script(SMALL_TARGETS_JS, MIN_TAP)


def lead_data(**fields) -> dict:
    return {"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
            "phone": "+13125550199", "source": "Zillow", "lead_type": "buyer",
            "price": "1250000", "city": "Chicago", "zip_code": "60601",
            "message": "Can we see it on Saturday morning?", **fields}


def open_everywhere() -> None:
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()


def test_every_tap_target_on_the_agents_pages_is_44_px(browser, live_server):
    open_everywhere()
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    RuleFactory(name="Everyone", is_catch_all=True, delivery="first_to_claim",
                roster=RosterFactory.with_members([ann]))
    receive_lead(lead_data(), channel="api", received_at=timezone.now())
    claimed = receive_lead(lead_data(first_name="Sam", email="sam@example.org",
                                     phone="+13125550123"),
                           channel="api", received_at=timezone.now()).lead
    claimed.offers.update(status="claimed")
    claimed.owner, claimed.status = ann, "assigned"
    claimed.assigned_at = timezone.now()
    claimed.save(update_fields=["owner", "status", "assigned_at"])
    assert Notification.objects.filter(recipient=ann).exists()

    phone = browser()
    phone.get(live_server.url + "/accounts/login/")
    wait_for_text(phone, "Forgot password?")
    assert small_targets(phone) == []
    screenshot(phone, "tap-login")
    log_in(phone, live_server, "ann@example.com")
    pages = [("offers", "/offers/", "Pat Buyer"), ("my-leads", "/leads/", "Sam Buyer"),
             ("lead", f"/leads/{claimed.pk}/", "sam@example.org"),
             ("notifications", "/notifications/", "Pat")]
    for name, url, text in pages:
        phone.get(live_server.url + url)
        wait_for_text(phone, text)
        assert small_targets(phone) == [], name
        assert fits_the_phone(phone), name
        screenshot(phone, f"tap-{name}")


def test_every_tap_target_on_the_isa_pages_is_44_px(browser, live_server):
    open_everywhere()
    ivy = AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    RuleFactory(name="ISA team", is_catch_all=True, roster=RosterFactory.with_members([ivy]))
    lead = receive_lead(lead_data(), channel="api", received_at=timezone.now()).lead
    assert lead.owner == ivy

    phone = browser()
    log_in(phone, live_server, "ivy@example.com")
    for name, url, text in [("isa-queue", "/isa/", "Pat Buyer"),
                            ("isa-lead", f"/isa/leads/{lead.pk}/", "Saturday morning")]:
        phone.get(live_server.url + url)
        wait_for_text(phone, text)
        assert small_targets(phone) == [], name
        assert fits_the_phone(phone), name
        screenshot(phone, f"tap-{name}")
    assert phone.find_elements(By.CSS_SELECTOR, "nav.tabs a")
