"""The ISA pages through the Django test client: queue, lead, hand-off, handed off, figures."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa import queue as isa_service
from leads.isa.handoffs import hand_off
from leads.models import Activity, Lead, Qualification
from leads.services import log_activity
from routing.models import Brokerage, Handoff, HandoffTarget
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
_n = count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team():
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    ivy = AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    ian = AgentFactory(name="Ian Isa", email="ian@example.com", role=Agent.Role.ISA)
    ann = AgentFactory(name="Ann Lee", email="ann@example.com", zip_codes=["60601"])
    bob = AgentFactory(name="Bob Ray", email="bob@example.com", zip_codes=["60602"])
    boss = AgentFactory(name="Max Boss", email="max@example.com", role=Agent.Role.MANAGER)
    RuleFactory(name="ISA team", is_catch_all=True,
                roster=RosterFactory.with_members([ivy, ian], name="ISAs"))
    target = HandoffTarget.objects.create(
        name="Downtown", roster=RosterFactory.with_members([ann, bob], name="Closers"),
        selection="territory")
    return type("Team", (), {"ivy": ivy, "ian": ian, "ann": ann, "bob": bob, "boss": boss,
                             "target": target})


def as_agent(client, agent: Agent):
    client.force_login(agent.user)
    return client


def route(at=None, **fields) -> Lead:
    n = next(_n)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            "phone": f"+131255501{n % 100:02d}", "source": "Zillow", "zip_code": "60601",
            "message": "Two bedrooms near the lake", **fields}
    result = receive_lead(data, channel="api", received_at=at or timezone.now())
    return Lead.objects.get(pk=result.lead.pk)


def test_only_isas_and_managers(client, team):
    assert client.get(reverse("isa-queue")).status_code == 302  # to the login page
    response = as_agent(client, team.ann).get(reverse("isa-queue"))
    assert response.status_code == 403
    assert reverse("isa-queue") not in as_agent(client, team.ann).get(
        reverse("offers")).content.decode()
    page = as_agent(client, team.ivy).get(reverse("offers")).content.decode()
    assert f'href="{reverse("isa-queue")}"' in page
    assert as_agent(client, team.boss).get(reverse("isa-queue")).status_code == 200


def test_queue_new_first_with_age_then_due_follow_ups(client, team):
    now = timezone.now()
    old = route(at=now - timedelta(hours=3), first_name="Olga")
    fresh = route(at=now - timedelta(minutes=5), first_name="Fred")  # Ian's (rotation)
    mine_new = route(at=now - timedelta(minutes=20), first_name="Nina")
    due = route(at=now - timedelta(days=4), first_name="Dora")
    Lead.objects.filter(pk=due.pk).update(owner=team.ivy, isa_stage="nurturing",
                                          follow_up_on=timezone.localdate(), temperature="hot")
    assert (old.owner, fresh.owner, mine_new.owner) == (team.ivy, team.ian, team.ivy)

    page = as_agent(client, team.ivy).get(reverse("isa-queue")).content.decode()
    assert page.index("Olga") < page.index("Nina") < page.index("Dora")
    assert "Fred" not in page
    assert "waiting 3 h" in page and "waiting 20 min" in page
    assert page.index(">New<") < page.index("Follow-ups due") < page.index("Dora")
    filtered = client.get(reverse("isa-queue"), {"temperature": "hot"}).content.decode()
    assert "Dora" in filtered and "Olga" not in filtered
    filtered = client.get(reverse("isa-queue"), {"stage": "new", "source": "Zillow"})
    assert "Nina" in filtered.content.decode() and "Dora" not in filtered.content.decode()

    every = as_agent(client, team.boss).get(reverse("isa-queue")).content.decode()
    assert "Every ISA&#x27;s queue" in every and "Fred" in every and "Ian Isa" in every
    ians = client.get(reverse("isa-queue"), {"isa": team.ian.pk}).content.decode()
    assert "Fred" in ians and "Olga" not in ians


def test_lead_page_log_a_call_and_set_the_status(client, team):
    lead = route()
    as_agent(client, team.ivy)
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    assert "Two bedrooms near the lake" in page and f"tel:{lead.phone.as_e164}" in page
    assert 'id="isa-stage">New<' in page

    response = client.post(reverse("isa-lead-log", args=[lead.pk]),
                           {"kind": "call", "body": "Wants to see condos"}, follow=True)
    assert "Call logged. Speed to lead:" in response.content.decode()
    lead.refresh_from_db()
    assert lead.isa_stage == "contacted" and lead.first_contact_at is not None

    response = client.post(reverse("isa-lead-card", args=[lead.pk]),
                           {"stage": "dead", "dead_reason": "", "temperature": ""})
    assert response.status_code == 400
    assert "Say why the lead is dead." in response.content.decode()
    response = client.post(reverse("isa-lead-card", args=[lead.pk]), {
        "stage": "nurturing", "temperature": "warm", "follow_up_on": "2030-01-15"}, follow=True)
    assert "Saved: Stage: Contacted -&gt; Nurturing; Temperature: Warm; Follow up on Tue Jan 15, " \
           "2030." in response.content.decode()
    lead.refresh_from_db()
    assert (lead.isa_stage, lead.temperature, lead.follow_up_on) == (
        "nurturing", "warm", date(2030, 1, 15))


def test_qualification_form(client, team):
    lead = route()
    as_agent(client, team.ivy).post(reverse("isa-lead-qualify", args=[lead.pk]), {
        "timeframe": "1-3", "pre_approved": "yes", "budget": "650000", "areas": "Loop",
        "side": "buyer"})
    q = Qualification.objects.get(lead=lead)
    assert (q.timeframe, q.pre_approved, q.budget, q.areas, q.side) == (
        "1-3", True, 650000, "Loop", "buyer")
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    assert "Pre-approved: yes" in page and "Budget: $650,000" in page
    bad = client.post(reverse("isa-lead-qualify", args=[lead.pk]), {"budget": "-5"})
    assert bad.status_code == 400


def test_status_and_qualification_are_one_form_and_one_save_keeps_both(client, team):
    """Pressing Save after filling in the qualification keeps the qualification (issue: it was
    a separate form, and "Save status" threw what was typed there away)."""
    lead = route()
    as_agent(client, team.ivy)
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    card_form = page.split('id="card-form"')[1].split("</form>")[0]
    for name in ("stage", "temperature", "follow_up_on", "timeframe", "pre_approved", "budget",
                 "areas", "side"):
        assert f'name="{name}"' in card_form
    assert card_form.count('type="submit"') == 1

    response = client.post(reverse("isa-lead-card", args=[lead.pk]), {
        "stage": "qualified", "temperature": "hot", "timeframe": "1-3", "pre_approved": "yes",
        "budget": "650000", "areas": "Loop", "side": "buyer"}, follow=True)
    assert "Saved: Stage: New -&gt; Qualified; Temperature: Hot; Qualification updated." in \
        response.content.decode()
    lead.refresh_from_db()
    q = Qualification.objects.get(lead=lead)
    assert (lead.isa_stage, lead.temperature) == ("qualified", "hot")
    assert (q.timeframe, q.pre_approved, q.budget, q.areas, q.side) == (
        "1-3", True, 650000, "Loop", "buyer")


def test_each_section_posted_alone_keeps_the_others(client, team):
    lead = route()
    as_agent(client, team.ivy)
    client.post(reverse("isa-lead-card", args=[lead.pk]), {
        "stage": "nurturing", "temperature": "warm", "follow_up_on": "2030-01-15",
        "timeframe": "1-3", "pre_approved": "yes", "budget": "650000", "areas": "Loop",
        "side": "buyer"})

    # The status alone (an older page, a script): the qualification stays.
    client.post(reverse("isa-lead-card", args=[lead.pk]),
                {"stage": "qualified", "temperature": "hot", "follow_up_on": "2030-01-15"})
    # One qualification field alone: the other facts and the card stay.
    client.post(reverse("isa-lead-qualify", args=[lead.pk]), {"budget": "700000"})

    lead.refresh_from_db()
    q = Qualification.objects.get(lead=lead)
    assert (lead.isa_stage, lead.temperature, lead.follow_up_on) == (
        "qualified", "hot", date(2030, 1, 15))
    assert (q.timeframe, q.pre_approved, q.budget, q.areas, q.side) == (
        "1-3", True, 700000, "Loop", "buyer")


def test_a_refused_save_keeps_what_was_typed_in_every_section(client, team):
    lead = route()
    as_agent(client, team.ivy)
    response = client.post(reverse("isa-lead-card", args=[lead.pk]), {
        "stage": "dead", "dead_reason": "", "areas": "Lincoln Park", "budget": "480000"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Say why the lead is dead." in text
    assert 'value="Lincoln Park"' in text and 'value="480000"' in text
    assert not Qualification.objects.filter(lead=lead).exists()


def test_someone_elses_lead_is_404_and_an_agent_cannot_change_it(client, team):
    lead = route()  # Ivy's
    assert as_agent(client, team.ian).get(reverse("isa-lead", args=[lead.pk])).status_code == 404
    assert client.post(reverse("isa-lead-card", args=[lead.pk]),
                       {"stage": "nurturing"}).status_code == 404
    assert as_agent(client, team.boss).get(
        reverse("isa-lead", args=[lead.pk])).status_code == 200


def test_hand_off_preview_then_confirm_and_the_agent_gets_the_note(client, team):
    lead = route(zip_code="60602")
    as_agent(client, team.ivy)
    client.post(reverse("isa-lead-card", args=[lead.pk]),
                {"stage": "qualified", "temperature": "hot"})
    data = {"to": f"t{team.target.pk}", "note": "Pre-approved, call after 5", "preview": "1"}

    preview = client.post(reverse("isa-lead-handoff", args=[lead.pk]), data)
    text = preview.content.decode()
    assert preview.status_code == 200
    assert "<strong>Bob Ray</strong> gets it at once." in text
    assert "Temperature: Hot" in text and "Pre-approved, call after 5" in text
    lead.refresh_from_db()
    assert lead.owner == team.ivy and not Handoff.objects.exists()  # nothing changed yet

    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]),
                           {**data, "confirm": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("isa-handed-off")
    text = response.content.decode()
    assert "handed off to Bob Ray" in text
    assert "Waiting for the first contact" in text and "Contact due by" in text
    lead.refresh_from_db()
    assert lead.owner == team.bob and lead.isa == team.ivy

    # The agent sees the lead with the ISA's note on their own pages.
    as_agent(client, team.bob)
    mine = client.get(reverse("my-leads")).content.decode()
    assert lead.full_name in mine
    detail = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Note: Pre-approved, call after 5" in detail and "From ISA Ivy Isa." in detail
    client.post(reverse("lead-log", args=[lead.pk]), {"kind": "call", "body": "Booked"})

    as_agent(client, team.ivy)
    handed = client.get(reverse("isa-handed-off")).content.decode()
    assert "Contacted by the agent" in handed and "in time" in handed
    # Still visible to the ISA (second contact), read-only apart from logging.
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    assert 'id="handoff-form"' not in page and 'id="log-form"' in page
    assert "Handed off" in page


def test_the_agent_sees_their_own_first_contact_deadline_and_speed_after_a_hand_off(
        client, team):
    """The ISA's speed to lead is the ISA's: the agent who got the lead sees their own deadline
    (the hand-off's) and, once they called, their own speed, from the hand-off."""
    from django.utils.dateformat import format as date_format

    lead = route()
    isa_service.log_contact(lead, team.ivy, "call", "Wants a condo",
                            now=lead.received_at + timedelta(seconds=44))
    handoff = hand_off(lead.pk, isa=team.ivy, agent=team.bob.pk, note="Call after 5",
                       now=lead.received_at + timedelta(minutes=2))
    assert handoff.contact_due_at is not None
    due = date_format(timezone.localtime(handoff.contact_due_at), "D H:i")

    as_agent(client, team.bob)
    page = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert f"First contact due by {due}." in page
    assert 'id="speed-to-lead"' not in page  # nothing green: Bob has not called yet
    assert "Ivy Isa (ISA) first reached them in 44 s, before the hand-off." in page

    # Once the hand-off's deadline has passed, the lead page and the list say it is overdue.
    Handoff.objects.filter(pk=handoff.pk).update(
        contact_due_at=timezone.now() - timedelta(minutes=1))
    assert "First contact overdue: it was due by" in client.get(
        reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "First contact overdue" in client.get(reverse("my-leads")).content.decode()

    log_activity(lead, team.bob, "call", "Booked a showing",
                 now=handoff.created_at + timedelta(minutes=3))
    page = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Your speed to lead: <strong id=\"speed-to-lead\">3 min</strong>" in page
    assert "from the hand-off" in page and "First contact due" not in page
    assert "Ivy Isa (ISA) first reached them in 44 s" in page

    as_agent(client, team.boss)  # a manager reads whose figure it is
    page = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Bob Ray&#x27;s speed to lead: <strong id=\"speed-to-lead\">3 min</strong>" in page


def test_nobody_covers_the_zip_is_said_before_anything_changes(client, team):
    lead = route(zip_code="99999")
    as_agent(client, team.ivy)
    data = {"to": f"t{team.target.pk}", "note": "n", "preview": "1"}
    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]), data)
    text = response.content.decode()
    assert "Nobody can take it" in text
    assert escape("Nobody on 'Downtown' covers the lead's zip code (99999)") in text
    assert 'name="confirm"' not in text
    # Confirming anyway (a stale page) is refused with the same reason; nothing changes.
    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]), {**data, "confirm": "1"})
    assert response.status_code == 409
    assert escape("covers the lead's zip code (99999)") in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).owner == team.ivy
    # Another receiver: an agent by name.
    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]),
                           {"to": f"a{team.ann.pk}", "note": "n", "preview": "1"})
    assert "<strong>Ann Lee</strong> gets it at once." in response.content.decode()


def test_hand_off_form_errors_and_refusals(client, team):
    lead = route()
    as_agent(client, team.ivy)
    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]), {"to": "", "note": ""})
    assert response.status_code == 400
    assert "Write a note for the agent." in response.content.decode()
    response = client.post(reverse("isa-lead-handoff", args=[lead.pk]),
                           {"to": f"a{team.ivy.pk}", "note": "n"})
    assert response.status_code == 400  # ISAs are not offered as receivers
    assert client.get(reverse("isa-lead-handoff", args=[lead.pk])).status_code == 405


def test_figures_for_managers_only(client, team):
    lead = route()
    log_activity(lead, team.ivy, "call", "", now=lead.received_at + timedelta(minutes=3))
    assert as_agent(client, team.ivy).get(reverse("isa-figures")).status_code == 403
    page = as_agent(client, team.boss).get(reverse("isa-figures")).content.decode()
    assert "Ivy Isa" in page and "Ian Isa" in page
    ivy = page[page.index(f'id="isa-{team.ivy.pk}"'):]
    assert '<dd class="received">1</dd>' in ivy and '<dd class="median">3 min</dd>' in ivy
    assert client.get(reverse("isa-figures"), {"days": "0"}).status_code == 200


def test_activity_kinds_show_in_the_timeline(client, team):
    lead = route()
    as_agent(client, team.ivy).post(reverse("isa-lead-card", args=[lead.pk]),
                                    {"stage": "nurturing"})
    assert Activity.objects.filter(lead=lead, kind=Activity.Kind.ISA_UPDATE).exists()
    assert "ISA update" in client.get(reverse("isa-lead", args=[lead.pk])).content.decode()


def test_hand_off_targets_in_the_admin(admin_client, team):
    assert admin_client.get("/admin/routing/handofftarget/").status_code == 200
    assert admin_client.get("/admin/routing/handofftarget/add/").status_code == 200
    page = admin_client.get(f"/admin/routing/handofftarget/{team.target.pk}/change/")
    assert page.status_code == 200 and "Downtown" in page.content.decode()
    response = admin_client.post("/admin/routing/handofftarget/add/", {
        "name": "Luxury", "is_active": "on", "roster": team.target.roster_id,
        "selection": "specialty", "delivery": "first_to_claim", "claim_timeout_minutes": "5",
        "first_contact_minutes": "20", "escalate_to": team.boss.pk,
        "rotation-TOTAL_FORMS": "0", "rotation-INITIAL_FORMS": "0",
        "rotation-MIN_NUM_FORMS": "0", "rotation-MAX_NUM_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert HandoffTarget.objects.get(name="Luxury").escalate_to == team.boss
    assert admin_client.get("/admin/routing/handoff/").status_code == 200
