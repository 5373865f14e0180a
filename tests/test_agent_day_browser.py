"""An agent's day on a phone (the system Chromium, 375 px wide): claim an offer, log the call,
set a follow-up with one tap, book an appointment, and find both on the Today list.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots (phone, and the desktop at the end).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from leads.intake import receive_lead
from leads.models import Activity, Appointment, Lead
from routing.models import Brokerage
from tests.browser import (
    BROWSER_TEST,
    DESKTOP,
    WAIT,
    By,
    WebDriverWait,
    ec,
    fits_the_phone,
    log_in,
    screenshot,
    start_chrome,
    wait_for_text,
)
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = BROWSER_TEST

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]


def midday_zone() -> str:
    """A fixed-offset zone where it is about noon now, so that "later today" and an appointment
    two hours on are still today whenever the test runs."""
    offset = max(-12, min(14, 12 - timezone.now().hour))
    # The Etc zones count the other way: Etc/GMT-3 is three hours ahead of UTC.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def offered_lead(agent) -> Lead:
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.timezone = midday_zone()
    brokerage.save()
    RuleFactory(name="Everyone", is_catch_all=True, delivery="first_to_claim",
                roster=RosterFactory.with_members([agent]))
    result = receive_lead({
        "first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
        "phone": "+13125550199", "source": "Zillow", "lead_type": "buyer",
        "price": "640000", "city": "Hoboken", "zip_code": "07030"},
        channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return result.lead


def test_an_agents_day_claim_call_follow_up_appointment_today(browser, live_server):
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    lead = offered_lead(ann)
    zone = ZoneInfo(Brokerage.load().tz_name)

    phone = browser()
    log_in(phone, live_server, "ann@example.com")
    phone.find_element(By.LINK_TEXT, "Today").click()
    wait_for_text(phone, "Nothing to do today")
    screenshot(phone, "agent-day-today-empty")
    phone.find_element(By.LINK_TEXT, "Offers").click()
    phone.find_element(By.NAME, "claim").click()
    WebDriverWait(phone, WAIT).until(ec.url_contains(f"/leads/{lead.pk}/"))

    phone.find_element(By.CSS_SELECTOR, "input[name=kind][value=call]").click()
    phone.find_element(By.NAME, "body").send_keys("Talked: wants to see 12 Elm St")
    phone.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(phone, "Speed to lead")

    # A follow-up in one tap, with a note.
    phone.find_element(By.ID, "follow-up-note").send_keys("Send the comps")
    phone.find_element(By.CSS_SELECTOR, "button[name=pick][value=later_today]").click()
    wait_for_text(phone, "Follow up today")
    lead.refresh_from_db()
    assert lead.follow_up_at is not None and lead.follow_up_note == "Send the comps"

    # An appointment two hours on, at the listing.
    phone.find_element(By.CSS_SELECTOR, "details.book summary").click()
    starts = (timezone.now() + timedelta(hours=2)).astimezone(zone).replace(second=0,
                                                                              microsecond=0)
    field = phone.find_element(By.ID, "appointment-starts_at")
    phone.execute_script("arguments[0].value = arguments[1]", field,
                         starts.strftime("%Y-%m-%dT%H:%M"))
    phone.find_element(By.ID, "appointment-location").send_keys("12 Elm St, Hoboken")
    phone.find_element(By.ID, "appointment-with_whom").send_keys("Pat and Sam")
    phone.find_element(By.CSS_SELECTOR, "#appointment-form button[type=submit]").click()
    wait_for_text(phone, "Appointment booked for today")
    assert Appointment.objects.get(lead=lead).starts_at == starts
    assert fits_the_phone(phone)
    timeline = phone.find_element(By.CSS_SELECTOR, "ol.timeline").text
    assert "Follow-up set" in timeline and "Appointment booked" in timeline
    screenshot(phone, "agent-day-lead")
    phone.execute_script("document.getElementById('follow-up').scrollIntoView()")
    screenshot(phone, "agent-day-lead-follow-up")

    # Both on the Today list, the appointment first (it comes sooner).
    phone.execute_script("window.scrollTo(0, 0)")
    phone.find_element(By.LINK_TEXT, "Today").click()
    wait_for_text(phone, "12 Elm St, Hoboken")
    lines = phone.find_elements(By.CSS_SELECTOR, "#today-later li.day-line")
    assert [line.find_element(By.CSS_SELECTOR, ".small.muted").text for line in lines] == [
        "Appointment", "Follow-up"]
    assert "Send the comps" in lines[1].text
    for button in phone.find_elements(By.CSS_SELECTOR, "#today-later .button"):
        assert button.size["height"] >= 44, button.text
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-today")

    # Done from the list: logged on the lead, and off the list.
    lines[1].find_element(By.XPATH, ".//button[normalize-space()='Done']").click()
    wait_for_text(phone, "Follow-up with Pat Buyer done.")
    assert len(phone.find_elements(By.CSS_SELECTOR, "#today-later li.day-line")) == 1
    assert lead.activities.filter(kind=Activity.Kind.FOLLOW_UP_DONE).exists()

    # The desktop, for the record.
    desk = start_chrome(width=DESKTOP[0], height=DESKTOP[1])
    try:
        log_in(desk, live_server, "ann@example.com")
        desk.get(f"{live_server.url}/today/")
        wait_for_text(desk, "12 Elm St, Hoboken")
        screenshot(desk, "agent-day-today-desktop")
        desk.get(f"{live_server.url}/leads/{lead.pk}/")
        wait_for_text(desk, "Next follow-up")
        screenshot(desk, "agent-day-lead-desktop")
    finally:
        desk.quit()
