"""The agent's stages: who may set them, what the timeline says, closed and lost leads (first
contact first, a reason for lost, the follow-up and coming appointments ended), a reassigned
lead's follow-up, the lead page's one tap, the agent API, and the managers' admin."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from leads import followups
from leads.models import Activity, Appointment, Lead, Stage
from leads.services import NotYourLead, StageRefused, log_activity, set_stage
from routing.claims import assign_lead, move_to_pond
from tests.factories import AgentFactory, LeadFactory, default_stages
from tests.threads import failures, together

pytestmark = pytest.mark.django_db

API = "/api/v1/agent"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def stages() -> dict[str, Stage]:
    return default_stages()


@pytest.fixture
def ann() -> Agent:
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def bob() -> Agent:
    return AgentFactory(name="Bob Ray", email="bob@example.com")


@pytest.fixture
def meg() -> Agent:
    agent = AgentFactory(name="Meg Boss", email="meg@example.com", role=Agent.Role.MANAGER)
    sync_access(agent)
    return agent


def owned(agent: Agent, *, contacted: bool = False, **fields) -> Lead:
    lead = LeadFactory(owner=agent, status=Lead.Status.ASSIGNED, assigned_at=timezone.now(),
                       **fields)
    if contacted:
        log_activity(lead, agent, "call", "Talked", now=timezone.now())
    return lead


def timeline(lead: Lead) -> list[str]:
    """The stage changes as the timeline shows them (its own order: by time)."""
    return list(lead.activities.filter(kind=Activity.Kind.STAGE).values_list("body", flat=True))


def api(agent: Agent) -> Client:
    token, _ = Token.objects.get_or_create(user=agent.user)
    return Client(headers={"Authorization": f"Token {token.key}"})


# --- the defaults -------------------------------------------------------------------------------


def test_a_brokerage_starts_with_the_nine_stages_in_order(stages):
    assert [s.name for s in Stage.objects.all()] == [
        "New", "Attempting contact", "Contacted", "Appointment set", "Met", "Under contract",
        "Closed", "Nurture", "Lost"]
    assert {s.key: s.outcome for s in stages.values() if s.outcome != "open"} == {
        "closed": "won", "lost": "lost"}


# --- the service --------------------------------------------------------------------------------


def test_the_owner_moves_a_lead_and_the_timeline_says_from_what_to_what(ann, stages):
    lead = owned(ann)
    change = set_stage(lead, stages["attempting"], ann)
    assert change.changed and change.message == "Stage: Attempting contact."
    set_stage(lead, stages["contacted"], ann)
    lead.refresh_from_db()
    assert lead.stage == stages["contacted"] and lead.status == Lead.Status.ASSIGNED
    assert timeline(lead) == ["Stage: New → Attempting contact",
                              "Stage: Attempting contact → Contacted"]
    entry = lead.activities.get(kind=Activity.Kind.STAGE, body__endswith="Contacted")
    assert entry.actor == ann and entry.data["from"] == "attempting"


def test_the_same_stage_again_changes_nothing(ann, stages):
    lead = owned(ann)
    assert not set_stage(lead, stages["new"], ann).changed  # a new lead is in New already
    set_stage(lead, stages["met"], ann)
    assert not set_stage(lead, stages["met"], ann).changed
    assert timeline(lead) == ["Stage: New → Met"]


def test_another_agent_may_not_but_a_manager_may(ann, bob, meg, stages):
    lead = owned(ann)
    with pytest.raises(NotYourLead, match="Only the lead's agent or a manager"):
        set_stage(lead, stages["met"], bob)
    set_stage(lead, stages["met"], meg)
    lead.refresh_from_db()
    assert lead.stage == stages["met"]
    assert lead.activities.get(kind=Activity.Kind.STAGE).actor == meg


def test_a_lead_nobody_has_gets_no_stage(meg, stages):
    lead = LeadFactory()
    with pytest.raises(StageRefused, match="no agent yet"):
        set_stage(lead, stages["contacted"], meg)


@pytest.mark.parametrize("key", ["closed", "lost"])
def test_closed_or_lost_waits_for_the_first_contact(ann, stages, key):
    lead = owned(ann)
    with pytest.raises(StageRefused, match="Log your first contact"):
        set_stage(lead, stages[key], ann, "Never answered")
    lead.refresh_from_db()
    assert lead.stage is None and lead.status == Lead.Status.ASSIGNED
    assert timeline(lead) == []


def test_closed_closes_the_lead(ann, stages):
    lead = owned(ann, contacted=True)
    set_stage(lead, stages["closed"], ann)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CLOSED and lead.stage.key == "closed"


def test_lost_asks_why_and_keeps_the_reason(ann, stages):
    lead = owned(ann, contacted=True)
    with pytest.raises(StageRefused, match="Say why") as refused:
        set_stage(lead, stages["lost"], ann, "   ")
    assert refused.value.extra == {"field": "lost_reason"}
    set_stage(lead, stages["lost"], ann, "  Went with   another agent ")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DEAD and lead.lost_reason == "Went with another agent"
    assert timeline(lead) == ["Stage: New → Lost: Went with another agent"]


def test_an_open_stage_reopens_a_lost_or_closed_lead(ann, stages):
    lead = owned(ann, contacted=True)
    set_stage(lead, stages["lost"], ann, "Not ready to move")
    set_stage(lead, stages["nurture"], ann)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED and lead.lost_reason == ""
    set_stage(lead, stages["closed"], ann)
    set_stage(lead, stages["under_contract"], ann)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED


@pytest.mark.parametrize("key", ["closed", "lost"])
def test_a_closed_or_lost_lead_drops_its_follow_up_and_coming_appointments(ann, stages, key):
    now = timezone.now()
    lead = owned(ann, contacted=True)
    followups.set_follow_up(lead, ann, now + timedelta(days=1), note="Send comps", now=now)
    coming = followups.book_appointment(
        lead, ann, followups.AppointmentFields(starts_at=now + timedelta(days=2)), now=now)
    past = Appointment.objects.create(
        lead=lead, agent=ann, starts_at=now - timedelta(days=1),
        ends_at=now - timedelta(days=1) + timedelta(hours=1), created_at=now, updated_at=now)
    change = set_stage(lead, stages[key], ann, "Never answered", now=now)
    assert change.follow_up_cleared and change.appointments_cancelled == 1
    assert "Its follow-up is removed. 1 appointment cancelled." in change.message
    lead.refresh_from_db()
    assert lead.follow_up_at is None and lead.follow_up_note == ""
    coming.refresh_from_db()
    past.refresh_from_db()
    assert coming.cancelled_at == now and past.cancelled_at is None
    _, overdue, later = followups.agent_day(ann, now)
    assert overdue == [] and later == []  # off the Today list
    feed = followups.feed_ics(ann, now).decode()  # and off the calendar; the past one stays
    assert f"appointment-{coming.pk}@" not in feed and f"appointment-{past.pk}@" in feed
    assert "follow-up-" not in feed
    assert timeline(lead)[0].endswith(". Follow-up removed")
    assert lead.activities.filter(kind=Activity.Kind.APPOINTMENT_CANCEL).count() == 1


def test_an_open_stage_keeps_the_follow_up(ann, stages):
    now = timezone.now()
    lead = owned(ann, contacted=True)
    followups.set_follow_up(lead, ann, now + timedelta(days=1), now=now)
    set_stage(lead, stages["appointment"], ann, now=now)
    lead.refresh_from_db()
    assert lead.follow_up_at is not None


# --- reassignment ---------------------------------------------------------------------------------


def test_a_lead_given_to_another_agent_leaves_the_follow_up_behind(ann, bob, meg):
    now = timezone.now()
    lead = owned(ann, contacted=True)
    followups.set_follow_up(lead, ann, now + timedelta(hours=3), note="Call back", now=now)
    assign_lead(lead.pk, ann, by=meg, now=now)  # the same agent again: kept
    lead.refresh_from_db()
    assert lead.follow_up_note == "Call back"
    assign_lead(lead.pk, bob, by=meg, now=now)
    lead.refresh_from_db()
    assert lead.owner == bob and lead.follow_up_at is None and lead.follow_up_note == ""
    assert followups.agent_day(ann, now + timedelta(hours=4))[1] == []


def test_a_lead_moved_to_the_pond_leaves_the_follow_up_behind(ann, meg):
    now = timezone.now()
    lead = owned(ann)
    followups.set_follow_up(lead, ann, now + timedelta(hours=3), now=now)
    move_to_pond(lead.pk, by=meg, now=now)
    lead.refresh_from_db()
    assert lead.owner is None and lead.follow_up_at is None


# --- the lead page ------------------------------------------------------------------------------


def test_the_lead_page_shows_every_stage_the_current_one_pressed(client, ann, stages):
    lead = owned(ann)
    client.force_login(ann.user)
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert 'id="stage"' in html and "Under contract" in html
    assert 'value="new" class="button stage-choice current" aria-pressed="true"' in html
    assert 'id="lost-lost"' in html and "Went with another agent" in html


def test_a_tap_with_htmx_swaps_the_stage_card_and_what_it_changed(client, ann, stages):
    lead = owned(ann, contacted=True)
    client.force_login(ann.user)
    response = client.post(reverse("lead-stage", args=[lead.pk]),
                           {"stage": "lost", "lost_reason": "Never answered"},
                           headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="stage-now">Lost' in html and "(Never answered)" in html
    for oob in ("lead-status", "follow-up", "appointments", "timeline"):
        assert f'id="{oob}" hx-swap-oob="true"' in html
    assert "Stage: New → Lost: Never answered" in html


def test_a_refused_tap_says_why_in_the_card(client, ann, stages):
    lead = owned(ann)
    client.force_login(ann.user)
    html = client.post(reverse("lead-stage", args=[lead.pk]), {"stage": "closed"},
                       headers={"HX-Request": "true"}).content.decode()
    assert 'role="alert">Log your first contact' in html


def test_without_script_the_page_comes_back_with_the_outcome(client, ann, stages):
    lead = owned(ann)
    client.force_login(ann.user)
    response = client.post(reverse("lead-stage", args=[lead.pk]), {"stage": "met"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("lead-detail", args=[lead.pk])
    assert "Stage: Met." in response.content.decode()


def test_another_agents_lead_is_not_found(client, ann, bob, stages):
    lead = owned(ann)
    client.force_login(bob.user)
    assert client.post(reverse("lead-stage", args=[lead.pk]),
                       {"stage": "met"}).status_code == 404


# --- the agent API ------------------------------------------------------------------------------


def test_the_api_sets_a_stage_and_answers_the_lead(ann, stages):
    lead = owned(ann, contacted=True)
    response = api(ann).post(f"{API}/leads/{lead.pk}/stage/",
                             {"stage": "lost", "lost_reason": "Outside our area"},
                             content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == {"key": "lost", "name": "Lost", "outcome": "lost"}
    assert body["status"] == "dead" and body["lost_reason"] == "Outside our area"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"stage": "visit"}, "stage", "Unknown stage visit"),
    ({"stage": "lost"}, "lost_reason", "Say why"),
    ({"stage": "closed"}, "stage", "Log your first contact"),
])
def test_the_api_says_which_field_is_wrong(ann, stages, body, field, words):
    lead = owned(ann)
    response = api(ann).post(f"{API}/leads/{lead.pk}/stage/", body,
                             content_type="application/json")
    assert response.status_code == 400
    assert words in response.json()["errors"][field]


def test_the_api_hides_another_agents_lead(ann, bob, stages):
    lead = owned(ann)
    response = api(bob).post(f"{API}/leads/{lead.pk}/stage/", {"stage": "met"},
                             content_type="application/json")
    assert response.status_code == 404


def test_the_api_lists_leads_by_stage_and_search(ann, stages):
    fresh = owned(ann, first_name="Nia", phone="+15551234567", phone_normalized="+15551234567")
    met = owned(ann, first_name="Omar")
    set_stage(met, stages["met"], ann)

    def ids(**params) -> set[int]:
        response = api(ann).get(f"{API}/leads/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(stage="new") == {fresh.pk}  # never moved: in the first stage
    assert ids(stage="met") == {met.pk}
    assert ids(q="555.123.4567") == {fresh.pk}
    assert ids(q="omar") == {met.pk}
    assert api(ann).get(f"{API}/leads/", {"stage": "visit"}).status_code == 400
    row = api(ann).get(f"{API}/leads/", {"stage": "met"}).json()["results"][0]
    assert row["stage"]["name"] == "Met"


# --- the admin ----------------------------------------------------------------------------------


def test_managers_rename_stages_and_the_key_stays(client, meg, stages):
    client.force_login(meg.user)
    listing = client.get(reverse("admin:leads_stage_changelist"))
    assert listing.status_code == 200 and "Attempting contact" in listing.content.decode()
    stage = stages["attempting"]
    response = client.post(reverse("admin:leads_stage_change", args=[stage.pk]), {
        "name": "Trying to reach", "position": stage.position, "outcome": "open"})
    assert response.status_code == 302, response.content.decode()[:2000]
    stage.refresh_from_db()
    assert stage.name == "Trying to reach" and stage.key == "attempting"


def test_managers_drag_stages_into_their_order_and_the_lead_page_follows(client, meg, ann,
                                                                         stages):
    client.force_login(meg.user)
    # What sortable2's script posts after a drop: Nurture dragged up to second place.
    moved = [(stages["nurture"], 2), (stages["attempting"], 3), (stages["contacted"], 4),
             (stages["appointment"], 5), (stages["met"], 6), (stages["under_contract"], 7),
             (stages["closed"], 8)]
    response = client.post(reverse("admin:leads_stage_sortable_update"),
                           json.dumps({"updatedItems": [[str(s.pk), n] for s, n in moved]}),
                           content_type="application/json")
    assert response.status_code == 200, response.content
    assert [s.key for s in Stage.objects.all()][:3] == ["new", "nurture", "attempting"]
    lead = owned(ann)
    client.force_login(ann.user)
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert html.index(">Nurture<") < html.index(">Attempting contact<")


def test_a_stage_leads_are_in_cannot_be_deleted(client, meg, ann, stages):
    lead = owned(ann)
    set_stage(lead, stages["met"], ann)
    client.force_login(meg.user)
    page = client.post(reverse("admin:leads_stage_delete", args=[stages["met"].pk]),
                       {"post": "yes"})
    assert Stage.objects.filter(key="met").exists()
    assert page.status_code == 200


# --- two taps at once -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_taps_at_once_are_told_one_after_the_other():
    stages = default_stages()
    ann = AgentFactory()
    lead = owned(ann)
    results = together([lambda: set_stage(Lead.objects.get(pk=lead.pk), stages["met"], ann),
                        lambda: set_stage(Lead.objects.get(pk=lead.pk), stages["nurture"], ann)])
    assert not failures(results), failures(results)
    first, second = timeline(lead)
    assert first.startswith("Stage: New → ")
    assert second == f"Stage: {first.split(' → ')[1]} → " + (
        "Nurture" if first.endswith("Met") else "Met")


def test_managers_filter_the_admin_lead_list_by_stage(client, meg, ann, stages):
    met, other = owned(ann, first_name="Mia"), owned(ann, first_name="Otto")
    set_stage(met, stages["met"], ann)
    client.force_login(meg.user)
    page = client.get(reverse("admin:leads_lead_changelist"),
                      {"stage__id__exact": stages["met"].pk}).content.decode()
    assert "By stage" in page
    assert "Mia" in page and "Otto" not in page
    assert other.stage_id is None
