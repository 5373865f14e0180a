"""The managers' admin for people: agents, rosters and their rotation, shifts and who is on duty."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.forms import PasswordResetForm
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.admin import on_duty_at
from agents.models import Agent, RosterMember, Shift
from agents.services import sync_access
from leads.models import Lead
from routing.models import Brokerage, RotationState, Rule
from tests.factories import (
    AgentFactory,
    LeadFactory,
    RosterFactory,
    RuleFactory,
    ShiftFactory,
)
from tests.test_admin_permissions import admin_form_data

pytestmark = pytest.mark.django_db

AGENTS_URL = "/admin/agents/agent/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager():
    agent = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(agent)
    return agent


@pytest.fixture
def mc(client, manager):
    """The admin client, logged in as a manager."""
    client.force_login(manager.user)
    return client


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com", max_open_leads=5,
                        max_leads_per_day=3, zip_codes=["60601", "60602"],
                        specialties=["luxury", "condo"])


@pytest.fixture
def bob():
    return AgentFactory(name="Bob Ray", email="bob@example.com", accepting_leads=False)


@pytest.fixture
def cy():
    return AgentFactory(name="Cy Fox", email="cy@example.com", role=Agent.Role.ISA)


def text(response) -> str:
    return response.content.decode()


def give(agent: Agent, status: str, assigned_at: datetime) -> Lead:
    return LeadFactory(owner=agent, status=status, assigned_at=assigned_at)


# --- Agents -----------------------------------------------------------------------------------


def test_agent_list_shows_availability_caps_territory_and_loads(mc, ann, bob):
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    give(ann, Lead.Status.ASSIGNED, now)
    give(ann, Lead.Status.CONTACTED, now)
    give(ann, Lead.Status.ASSIGNED, yesterday)
    give(ann, Lead.Status.CLOSED, yesterday)
    give(bob, Lead.Status.CLOSED, now)

    response = mc.get(AGENTS_URL)
    assert response.status_code == 200
    rows = {a.name: a for a in response.context["cl"].result_list}
    assert (rows["Ann Lee"].open_count, rows["Ann Lee"].today_count) == (3, 2)
    assert (rows["Bob Ray"].open_count, rows["Bob Ray"].today_count) == (0, 1)
    page = text(response)
    for heading in ("Name", "Email", "Role", "Availability", "Caps", "Territory",
                    "Specialties", "Open leads", "Leads today"):
        assert f">{heading}<" in page, heading
    assert "⏸ Paused" in page and "✔ Accepting" in page
    assert "5 open · 3/day" in page
    assert "60601, 60602" in page and "luxury, condo" in page


def test_agent_list_counts_in_one_query_whatever_the_number_of_agents(mc, ann):
    give(ann, Lead.Status.ASSIGNED, timezone.now())
    with CaptureQueriesContext(connection) as few:
        assert mc.get(AGENTS_URL).status_code == 200
    for _ in range(6):
        agent = AgentFactory()
        give(agent, Lead.Status.ASSIGNED, timezone.now())
    with CaptureQueriesContext(connection) as many:
        assert mc.get(AGENTS_URL).status_code == 200
    assert len(many) == len(few)


def test_leads_today_is_the_brokerage_day(mc, ann):
    brokerage = Brokerage.load()
    brokerage.timezone = "Pacific/Kiritimati"  # UTC+14: its day starts well before UTC's
    brokerage.save()
    local_midnight = timezone.now().astimezone(ZoneInfo("Pacific/Kiritimati")).replace(
        hour=0, minute=0, second=0, microsecond=0)
    give(ann, Lead.Status.ASSIGNED, local_midnight + timedelta(minutes=1))
    give(ann, Lead.Status.ASSIGNED, local_midnight - timedelta(minutes=1))
    rows = {a.name: a for a in mc.get(AGENTS_URL).context["cl"].result_list}
    assert rows["Ann Lee"].today_count == 1


def test_filters_by_role_activity_and_pause(mc, ann, bob, cy):
    def names(query: str) -> set[str]:
        return {a.name for a in mc.get(AGENTS_URL + query).context["cl"].result_list}

    assert names("?availability=paused") == {"Bob Ray"}
    assert names("?role__exact=isa") == {"Cy Fox"}
    Agent.objects.filter(pk=cy.pk).update(is_active=False)
    assert names("?is_active__exact=0") == {"Cy Fox"}
    assert "Ann Lee" in names("?availability=accepting")


def test_pause_and_resume_actions(mc, ann, bob):
    response = mc.post(AGENTS_URL, {"action": "pause", "_selected_action": [ann.pk, bob.pk]},
                       follow=True)
    assert "Paused: Ann Lee." in text(response)
    ann.refresh_from_db()
    assert not ann.accepting_leads
    mc.post(AGENTS_URL, {"action": "resume", "_selected_action": [ann.pk, bob.pk]})
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert ann.accepting_leads and bob.accepting_leads


def _new_agent_data(**fields) -> dict:
    data = {
        "name": "Dee Park", "email": "Dee@Example.com", "phone": "", "role": "agent",
        "is_active": "on", "accepting_leads": "on", "max_open_leads": "",
        "max_leads_per_day": "4", "zip_codes": "60601, 60602 60603",
        "specialties": "Luxury, condo", "password": "",
        "shifts-TOTAL_FORMS": "1", "shifts-INITIAL_FORMS": "0",
        "shifts-MIN_NUM_FORMS": "0", "shifts-MAX_NUM_FORMS": "1000",
        "shifts-0-days": ["mon", "tue", "fri"], "shifts-0-start": "08:00",
        "shifts-0-end": "17:00", "time_off-TOTAL_FORMS": "0", "time_off-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    data.update(fields)
    return data


def test_creating_an_agent_creates_their_login_in_their_group(mc):
    response = mc.post(AGENTS_URL + "add/", _new_agent_data(password="a-long-pass-phrase-9"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    dee = Agent.objects.get(email="dee@example.com")
    assert dee.user is not None and dee.user.username == "dee@example.com"
    assert list(dee.user.groups.values_list("name", flat=True)) == ["Agents"]
    assert not dee.user.is_staff
    assert dee.user.check_password("a-long-pass-phrase-9")
    assert dee.zip_codes == ["60601", "60602", "60603"]
    assert dee.specialties == ["luxury", "condo"]
    assert list(dee.shifts.values_list("days", flat=True)) == [["mon", "tue", "fri"]]


def test_an_agent_added_without_password_cannot_log_in_until_they_set_one(mc):
    mc.post(AGENTS_URL + "add/", _new_agent_data(role="isa"))
    dee = Agent.objects.get(email="dee@example.com")
    assert list(dee.user.groups.values_list("name", flat=True)) == ["ISAs"]
    assert not dee.user.check_password("") and not dee.user.check_password("pass-12345")
    # "Forgot password" on the login page lets them choose one.
    assert list(PasswordResetForm().get_users("dee@example.com")) == [dee.user]


def test_a_manager_added_in_the_admin_reaches_the_admin(mc):
    mc.post(AGENTS_URL + "add/", _new_agent_data(role="manager",
                                                  password="a-long-pass-phrase-9"))
    dee = Agent.objects.get(email="dee@example.com")
    assert dee.user.is_staff
    assert list(dee.user.groups.values_list("name", flat=True)) == ["Managers"]


def test_a_weak_password_or_a_taken_login_is_refused(mc, ann):
    response = mc.post(AGENTS_URL + "add/", _new_agent_data(password="short"))
    assert response.status_code == 200
    assert "password" in response.context["adminform"].form.errors
    response = mc.post(AGENTS_URL + "add/", _new_agent_data(email="ANN@example.com"))
    assert "email" in response.context["adminform"].form.errors
    assert not Agent.objects.filter(name="Dee Park").exists()


def test_changing_the_role_moves_the_login_to_the_new_group(mc, ann):
    sync_access(ann)
    page = mc.get(f"{AGENTS_URL}{ann.pk}/change/")
    assert "ann@example.com (Agents)" in text(page)
    data = admin_form_data(page)
    data.update({"role": "manager", "_save": "Save"})
    assert mc.post(f"{AGENTS_URL}{ann.pk}/change/", data).status_code == 302
    ann.user.refresh_from_db()
    assert ann.user.is_staff
    assert list(ann.user.groups.values_list("name", flat=True)) == ["Managers"]


# --- Rosters ----------------------------------------------------------------------------------


@pytest.fixture
def roster(ann, bob, cy):
    return RosterFactory.with_members([ann, bob, cy], weights=[2, 1, 1], name="Buyers")


def roster_page(mc, roster) -> str:
    response = mc.get(f"/admin/agents/roster/{roster.pk}/change/")
    assert response.status_code == 200
    return text(response)


def test_roster_page_shows_whose_turn_it_is_and_who_is_next(mc, roster, ann, bob, cy):
    rule = RuleFactory(name="Buyer leads", roster=roster)
    RotationState.objects.create(rule=rule, kind="agent", agent=ann, position=0, given=1)
    page = roster_page(mc, roster)
    assert "Buyer leads" in page
    assert "Ann Lee&#x27;s turn: 1 of 2 leads given" in page
    assert "<strong>Ann Lee (position 1), lead 2 of 2 in the turn</strong>" in page

    # Ann's turn is used up; Bob is paused, so the next lead skips his turn to Cy.
    RotationState.objects.filter(rule=rule).update(given=2)
    page = roster_page(mc, roster)
    assert "skipped: paused (not accepting leads)" in page
    assert "<strong>Cy Fox (position 3), lead 1 of 1 in the turn</strong>" in page


def test_roster_page_counts_caps_and_says_when_nobody_can_receive(mc, roster, ann, bob, cy):
    rule = RuleFactory(name="Buyer leads", roster=roster)
    RotationState.objects.create(rule=rule, kind="agent", agent=cy, position=2, given=1)
    for _ in range(3):
        give(ann, Lead.Status.ASSIGNED, timezone.now())  # Ann's daily cap is 3
    Agent.objects.filter(pk=cy.pk).update(is_active=False)
    page = roster_page(mc, roster)
    assert "at daily cap: 3 of 3 leads today" in page
    assert "skipped: inactive" in page
    assert "Nobody on the roster can receive a lead now" in page


def test_roster_page_without_rules_and_before_any_lead(mc, roster):
    assert "No rule uses this roster." in roster_page(mc, roster)
    RuleFactory(name="Fresh rule", roster=roster)
    page = roster_page(mc, roster)
    assert "Not started" in page
    assert "<strong>Ann Lee (position 1), lead 1 of 2 in the turn</strong>" in page


def test_first_to_claim_rule_offers_everyone_who_can_receive(mc, roster):
    RuleFactory(name="Hot leads", roster=roster, delivery=Rule.Delivery.FIRST_TO_CLAIM)
    page = roster_page(mc, roster)
    assert "first to claim wins: Ann Lee, Cy Fox" in page


def test_roster_members_are_reordered_by_drag_and_drop(mc, roster, ann, bob, cy):
    page = mc.get(f"/admin/agents/roster/{roster.pk}/change/")
    assert "sortable" in text(page)  # sortable2 makes the inline draggable
    data = admin_form_data(page)
    positions = {}
    for i in range(3):
        member = RosterMember.objects.get(pk=data[f"members-{i}-id"])
        positions[member.agent_id] = f"members-{i}-position"
    data.update({positions[cy.pk]: "1", positions[ann.pk]: "2", positions[bob.pk]: "3",
                 "_save": "Save"})
    response = mc.post(f"/admin/agents/roster/{roster.pk}/change/", data)
    assert response.status_code == 302
    order = list(roster.members.order_by("position").values_list("agent__name", flat=True))
    assert order == ["Cy Fox", "Ann Lee", "Bob Ray"]
    assert roster.history.exists() or RosterMember.history.exists()


def test_roster_list_counts_members_and_rules(mc, roster):
    RuleFactory(roster=roster)
    response = mc.get("/admin/agents/roster/")
    row = next(r for r in response.context["cl"].result_list if r.pk == roster.pk)
    assert (row.members_n, row.rules_n) == (3, 1)


# --- Shifts -----------------------------------------------------------------------------------


@pytest.fixture
def shifts(ann, bob, cy):
    ShiftFactory(agent=ann, days=["mon", "tue", "wed", "thu", "fri"], start=time(8),
                 end=time(17))
    ShiftFactory(agent=bob, days=["Saturday", "sun"], start=time(10), end=time(18))
    ShiftFactory(agent=cy, days=["fri"], start=time(22), end=time(6))  # overnight


def test_shift_list_filters_by_weekday_and_agent(mc, shifts, bob):
    def agents(query: str) -> list[str]:
        response = mc.get("/admin/agents/shift/" + query)
        return sorted(s.agent.name for s in response.context["cl"].result_list)

    assert agents("") == ["Ann Lee", "Bob Ray", "Cy Fox"]
    assert agents("?weekday=sat") == ["Bob Ray"]
    assert agents("?weekday=fri") == ["Ann Lee", "Cy Fox"]
    assert agents(f"?agent__id__exact={bob.pk}") == ["Bob Ray"]
    page = text(mc.get("/admin/agents/shift/"))
    assert "Sat, Sun" in page and "Mon-Fri" in page
    assert reverse("admin:agents_shift_on_duty") in page  # linked from the object tools


def test_adding_a_shift_with_day_checkboxes(mc, ann):
    response = mc.post("/admin/agents/shift/add/", {
        "agent": ann.pk, "days": ["wed", "mon"], "start": "09:00", "end": "13:00",
        "_save": "Save"})
    assert response.status_code == 302
    assert Shift.objects.get().days == ["mon", "wed"]


def test_on_duty_page_lists_who_works_at_the_chosen_moment(mc, shifts):
    url = reverse("admin:agents_shift_on_duty")
    friday_morning = text(mc.get(url, {"at": "2025-03-14T09:30"}))
    assert "Ann Lee" in friday_morning and "Mon-Fri 08:00-17:00" in friday_morning
    assert "Bob Ray" not in friday_morning and "Cy Fox" not in friday_morning
    saturday_night = text(mc.get(url, {"at": "2025-03-15T03:00"}))
    assert "Cy Fox" in saturday_night  # Friday's overnight shift
    assert "Ann Lee" not in saturday_night and "Bob Ray" not in saturday_night
    sunday_noon = text(mc.get(url, {"at": "2025-03-16T12:00"}))
    assert "Bob Ray" in sunday_noon and "⏸ Paused" in sunday_noon
    assert "Nobody is on duty" in text(mc.get(url, {"at": "2025-03-12T20:00"}))
    assert "Enter a date and time" in text(mc.get(url, {"at": "soon"}))


def test_on_duty_page_defaults_to_now_in_brokerage_time(mc, shifts):
    brokerage = Brokerage.load()
    brokerage.timezone = "America/Los_Angeles"
    brokerage.save()
    response = mc.get(reverse("admin:agents_shift_on_duty"))
    assert response.status_code == 200
    now = timezone.now().astimezone(ZoneInfo("America/Los_Angeles"))
    page = text(response)
    assert 'type="datetime-local"' in page
    assert f'value="{now:%Y-%m-%dT%H:}' in page
    assert "On duty now" in page and "America/Los_Angeles" in page


def test_on_duty_reads_the_moment_in_the_brokerage_time_zone(shifts):
    moment = datetime(2025, 3, 14, 14, 30, tzinfo=UTC)  # 10:30 in New York, 07:30 in LA
    assert [row.agent.name for row in on_duty_at(moment)] == ["Ann Lee"]
    brokerage = Brokerage.load()
    brokerage.timezone = "America/Los_Angeles"
    brokerage.save()
    assert on_duty_at(moment) == []

