"""An agent's day on a phone (the system Chromium, 375 px wide), in order: claim an offer, log
the call, move the lead on a stage at a time with one tap, set a follow-up, book an
appointment, find both on the Today list, find the lead in My leads by its phone written
another way and by its stage, then set time off and see the next lead go to a colleague. A
manager then finds the day in the admin at 1,366 px.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots (phone, desktop and admin).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from agents.models import TimeOff
from leads.intake import receive_lead
from leads.models import Activity, Appointment, Lead
from routing.models import Brokerage, Offer
from tests.browser import (
    BROWSER_TEST,
    DESKTOP,
    WAIT,
    By,
    Select,
    WebDriverWait,
    ec,
    fits_the_phone,
    log_in,
    log_in_to_admin,
    screenshot,
    start_chrome,
    wait_for_text,
)
from tests.factories import (
    ALL_WEEK,
    AgentFactory,
    LeadFactory,
    RosterFactory,
    RuleFactory,
    default_stages,
)
from tests.test_rule_admin import manager_user

pytestmark = BROWSER_TEST

LAPTOP = (1366, 768)


def midday_zone() -> str:
    """A fixed-offset zone where it is about noon now, so that "later today" and an appointment
    two hours on are still today whenever the test runs."""
    offset = max(-12, min(14, 12 - timezone.now().hour))
    # The Etc zones count the other way: Etc/GMT-3 is three hours ahead of UTC.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def arrives(first_name: str, last_name: str, phone: str) -> Lead:
    result = receive_lead({
        "first_name": first_name, "last_name": last_name,
        "email": f"{first_name.lower()}@example.org", "phone": phone, "source": "Zillow",
        "lead_type": "buyer", "price": "640000", "city": "Hoboken", "zip_code": "07030"},
        channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return result.lead


def a_brokerage_offering_to(*agents) -> None:
    """Every lead offered to these agents at once, the first to claim wins; noon now."""
    default_stages()
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.timezone = midday_zone()
    brokerage.save()
    RuleFactory(name="Everyone", is_catch_all=True, delivery="first_to_claim",
                roster=RosterFactory.with_members(list(agents)))


def set_local(driver, field_id: str, value) -> None:
    """A datetime-local field, as the phone's picker fills it."""
    driver.execute_script("arguments[0].value = arguments[1]",
                          driver.find_element(By.ID, field_id), value.strftime("%Y-%m-%dT%H:%M"))


def open_tab(driver, name: str, then: str) -> None:
    driver.execute_script("window.scrollTo(0, 0)")
    driver.find_element(By.LINK_TEXT, name).click()
    wait_for_text(driver, then)


def stage_tap(driver, key: str, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"button[name=stage][value={key}]").click()
    wait_for_text(driver, f"Stage: {name}.")
    assert driver.find_element(By.CSS_SELECTOR, "#stage .button.current").text == name


def test_an_agents_whole_day_on_the_phone(browser, live_server):
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    a_brokerage_offering_to(ann, bob)
    zone = ZoneInfo(Brokerage.load().tz_name)
    LeadFactory(first_name="Dana", last_name="Reyes", owner=ann, status=Lead.Status.ASSIGNED,
                assigned_at=timezone.now() - timedelta(days=2), phone="+15551234567",
                phone_normalized="+15551234567", source="Zillow")
    lead = arrives("Pat", "Buyer", "+13125550199")

    phone = browser()
    log_in(phone, live_server, "ann@example.com")
    open_tab(phone, "Today", "Nothing to do today")
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-today-empty")

    # Claim the offer, log the call.
    open_tab(phone, "Offers", "Pat Buyer")
    phone.find_element(By.NAME, "claim").click()
    WebDriverWait(phone, WAIT).until(ec.url_contains(f"/leads/{lead.pk}/"))
    phone.find_element(By.CSS_SELECTOR, "input[name=kind][value=call]").click()
    phone.find_element(By.NAME, "body").send_keys("Talked: wants to see 12 Elm St")
    phone.find_element(By.CSS_SELECTOR, "#log-form button[type=submit]").click()
    wait_for_text(phone, "Speed to lead")
    assert fits_the_phone(phone)

    # The stage, one tap at a time; each change on the timeline.
    phone.execute_script("document.getElementById('stage').scrollIntoView()")
    for button in phone.find_elements(By.CSS_SELECTOR, "#stage .button"):
        assert button.size["height"] >= 44, button.text
    stage_tap(phone, "contacted", "Contacted")
    stage_tap(phone, "appointment", "Appointment set")
    timeline = phone.find_element(By.ID, "timeline").text
    assert "Stage: New → Contacted" in timeline, timeline
    assert "Stage: Contacted → Appointment set" in timeline, timeline
    lead.refresh_from_db()
    assert lead.stage.key == "appointment"
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-stage")
    phone.find_element(By.CSS_SELECTOR, "#lost-lost summary").click()
    wait_for_text(phone, "Why is it lost?")
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-lost-sheet")
    phone.find_element(By.CSS_SELECTOR, "#lost-lost summary").click()  # not lost after all

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
    set_local(phone, "appointment-starts_at", starts)
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
    open_tab(phone, "Today", "12 Elm St, Hoboken")
    lines = phone.find_elements(By.CSS_SELECTOR, "#today-later li.day-line")
    assert [line.find_element(By.CSS_SELECTOR, ".small.muted").text for line in lines] == [
        "Appointment", "Follow-up"]
    assert "Pat Buyer" in lines[0].text and "Send the comps" in lines[1].text
    for button in phone.find_elements(By.CSS_SELECTOR, "#today-later .button"):
        assert button.size["height"] >= 44, button.text
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-today")

    # Done from the list: logged on the lead, and off the list.
    lines[1].find_element(By.XPATH, ".//button[normalize-space()='Done']").click()
    wait_for_text(phone, "Follow-up with Pat Buyer done.")
    assert len(phone.find_elements(By.CSS_SELECTOR, "#today-later li.day-line")) == 1
    assert lead.activities.filter(kind=Activity.Kind.FOLLOW_UP_DONE).exists()

    # My leads: the phone number written another way finds Pat, and so does the stage.
    open_tab(phone, "My leads", "2 leads")
    phone.find_element(By.ID, "q").send_keys("(312) 555-0199")
    phone.find_element(By.CSS_SELECTOR, "#lead-search button[type=submit]").click()
    wait_for_text(phone, "1 lead found")
    rows = phone.find_elements(By.CSS_SELECTOR, "ul.lead-list .lead-row")
    assert len(rows) == 1 and "Pat Buyer" in rows[0].text and "Appointment set" in rows[0].text
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-my-leads-search")
    phone.find_element(By.ID, "q").clear()
    Select(phone.find_element(By.ID, "stage")).select_by_visible_text("Appointment set")
    WebDriverWait(phone, WAIT).until(ec.url_contains("stage=appointment"))
    wait_for_text(phone, "1 lead found")
    rows = phone.find_elements(By.CSS_SELECTOR, "ul.lead-list .lead-row")
    assert len(rows) == 1 and "Pat Buyer" in rows[0].text and "Dana Reyes" not in rows[0].text
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-my-leads-stage")

    # Time off from now until tomorrow evening, on the availability page.
    open_tab(phone, "Available", "No time off ahead.")
    away_from = timezone.now().astimezone(zone).replace(second=0, microsecond=0)
    back = (away_from + timedelta(days=1)).replace(hour=18, minute=0)
    set_local(phone, "time-off-starts_at", away_from)
    set_local(phone, "time-off-ends_at", back)
    phone.find_element(By.ID, "time-off-note").send_keys("school play")
    phone.find_element(By.XPATH, "//button[normalize-space()='Add time off']").click()
    wait_for_text(phone, f"Time off set: you get leads again from {back:%a} {back.day} "
                         f"{back:%b} 18:00, in your usual place.")
    wait_for_text(phone, f"You are away until {back:%a} {back.day} {back:%b} 18:00 (school play)"
                         ": no new leads meanwhile.")
    assert TimeOff.objects.get(agent=ann).ends_at == back
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-time-off")

    # A lead arriving while she is away goes to Bob alone; Ann's offers stay empty, and her
    # turn page says why.
    later = arrives("Lee", "Seller", "+13125550111")
    assert list(Offer.objects.filter(lead=later).values_list("agent__name", flat=True)) == [
        "Bob Ray"]
    open_tab(phone, "Offers", "No offers right now.")
    assert "Lee Seller" not in phone.find_element(By.TAG_NAME, "body").text
    assert fits_the_phone(phone)
    open_tab(phone, "My turn", "Everyone")
    turn = phone.find_element(By.CSS_SELECTOR, "section.turn").text
    assert f"You are away until {back:%a}" in turn, turn
    assert fits_the_phone(phone)
    screenshot(phone, "agent-day-my-turn-away")

    colleague = browser()
    log_in(colleague, live_server, "bob@example.com")
    wait_for_text(colleague, "Lee Seller")
    assert "Pat Buyer" not in colleague.find_element(By.ID, "offer-list").text
    assert fits_the_phone(colleague)

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
        desk.get(f"{live_server.url}/leads/?q=%28312%29+555-0199")
        wait_for_text(desk, "1 lead found")
        screenshot(desk, "agent-day-my-leads-desktop")
        desk.get(f"{live_server.url}/availability/")
        wait_for_text(desk, "You are away until")
        screenshot(desk, "agent-day-time-off-desktop")
    finally:
        desk.quit()

    # The manager's admin on a 1,366 px laptop: the stages, Ann's time off, and the leads.
    manager_user()
    laptop = start_chrome(width=LAPTOP[0], height=LAPTOP[1])
    try:
        log_in_to_admin(laptop, live_server, "manager@example.com", "/admin/leads/stage/")
        wait_for_text(laptop, "Appointment set")
        screenshot(laptop, "admin-stage-list")
        laptop.get(f"{live_server.url}/admin/agents/timeoff/")
        wait_for_text(laptop, "school play")
        row = laptop.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
        assert f"{back:%a %Y-%m-%d} 18:00" in row, row  # brokerage time, as the lead list
        screenshot(laptop, "admin-time-off-list")
        laptop.get(f"{live_server.url}/admin/leads/lead/")
        wait_for_text(laptop, "Lee Seller")
        assert fits_the_phone(laptop)  # every column on the laptop's screen, no side scroll
        screenshot(laptop, "admin-lead-list-1366")
    finally:
        laptop.quit()
