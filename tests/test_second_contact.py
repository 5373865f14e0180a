"""After a hand-off: the agent has the ISA as the lead's second contact (page and API), the ISA
follows the agent's progress, and the ISA's lead page tells the routing as agents read it."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa import queue as isa_service
from leads.isa.handoffs import hand_off
from leads.isa.progress import latest_steps, second_contact
from leads.models import Lead
from leads.services import log_activity, set_stage
from routing.models import Brokerage, Handoff, HandoffTarget
from tests.factories import AgentFactory, RosterFactory, RuleFactory, default_stages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
_n = count(1)


@pytest.fixture
def team():
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    ivy = AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA,
                       phone="+13125550142")
    ann = AgentFactory(name="Ann Lee", email="ann@example.com", zip_codes=["60601"])
    bob = AgentFactory(name="Bob Ray", email="bob@example.com", zip_codes=["60602"])
    RuleFactory(name="ISA team", is_catch_all=True,
                roster=RosterFactory.with_members([ivy], name="ISAs"))
    target = HandoffTarget.objects.create(
        name="Downtown", roster=RosterFactory.with_members([ann, bob], name="Closers"),
        selection="territory")
    return type("Team", (), {"ivy": ivy, "ann": ann, "bob": bob, "target": target})


def route(**fields) -> Lead:
    n = next(_n)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            "phone": f"+131255501{n % 100:02d}", "source": "Zillow", "zip_code": "60602",
            "message": "Two bedrooms near the lake", **fields}
    result = receive_lead(data, channel="api", received_at=timezone.now())
    return Lead.objects.get(pk=result.lead.pk)


def handed_to_bob(team, note="Pre-approved, call after 5") -> tuple[Lead, Handoff]:
    lead = route()
    isa_service.log_contact(lead, team.ivy, "call", "Wants a condo", now=timezone.now())
    handoff = hand_off(lead.pk, isa=team.ivy, agent=team.bob.pk, note=note, now=timezone.now())
    lead.refresh_from_db()
    assert lead.owner == team.bob
    return lead, handoff


def test_the_agent_sees_the_isa_as_second_contact_with_tap_to_call_and_text(client, team):
    lead, _ = handed_to_bob(team)
    client.force_login(team.bob.user)
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert 'id="second-contact"' in html and "Second contact" in html
    assert "<strong>Ivy Isa</strong>" in html and "Pre-approved, call after 5" in html
    assert 'href="tel:+13125550142"' in html and 'href="sms:+13125550142"' in html
    assert "Call Ivy Isa (312) 555-0142" in html
    assert 'href="mailto:ivy@example.com"' in html


def test_no_second_contact_on_a_lead_no_isa_handed_off(client, team):
    lead = route()
    Lead.objects.filter(pk=lead.pk).update(owner=team.ann, isa=None, status="assigned")
    client.force_login(team.ann.user)
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert 'id="second-contact"' not in html
    assert second_contact(Lead.objects.get(pk=lead.pk)) is None


def test_an_isa_without_a_phone_is_reached_by_email(client, team):
    Agent.objects.filter(pk=team.ivy.pk).update(phone="")
    lead, _ = handed_to_bob(team)
    client.force_login(team.bob.user)
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Second contact" in html and "tel:+1312555014" not in html.split("second-contact")[1]
    assert 'href="mailto:ivy@example.com"' in html


def test_a_claimed_target_hand_off_shows_the_isa_to_whoever_claimed(client, team):
    HandoffTarget.objects.filter(pk=team.target.pk).update(selection="rotation",
                                                           delivery="first_to_claim")
    lead = route()
    hand_off(lead.pk, isa=team.ivy, target=team.target.pk, note="Hot, call now",
             now=timezone.now())
    offer = lead.offers.filter(status="offered").first()
    assert offer is not None
    client.force_login(offer.agent.user)
    client.post(reverse("offer-claim", args=[offer.pk]))
    html = client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert "Second contact" in html and "Hot, call now" in html


def test_the_api_lead_detail_carries_the_second_contact(team):
    lead, handoff = handed_to_bob(team)
    token, _ = Token.objects.get_or_create(user=team.bob.user)
    api = Client(headers={"Authorization": f"Token {token.key}"})
    body = api.get(f"/api/v1/agent/leads/{lead.pk}/").json()
    assert body["second_contact"]["name"] == "Ivy Isa"
    assert body["second_contact"]["phone"] == "+13125550142"
    assert body["second_contact"]["email"] == "ivy@example.com"
    assert body["second_contact"]["note"] == "Pre-approved, call after 5"
    other = route()
    Lead.objects.filter(pk=other.pk).update(owner=team.bob, isa=None, status="assigned")
    assert api.get(f"/api/v1/agent/leads/{other.pk}/").json()["second_contact"] is None


def test_the_isa_sees_the_agents_progress(client, team):
    lead, handoff = handed_to_bob(team)
    log_activity(lead, team.bob, "call", "Booked a showing for Saturday",
                 now=timezone.now() + timedelta(minutes=1))
    log_activity(lead, team.bob, "note", "Wants a garage",
                 now=timezone.now() + timedelta(minutes=2))
    client.force_login(team.ivy.user)
    handed = client.get(reverse("isa-handed-off")).content.decode()
    assert "Contacted by the agent" in handed and "first contact" in handed
    assert "Latest: <strong>Note</strong>" in handed and "Wants a garage" in handed
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    progress = page.split(f'id="agent-progress-{handoff.pk}"')[1].split("</section>")[0]
    assert "The agent's progress" in page
    assert "Bob Ray" in progress and "Contacted" in progress
    assert "Booked a showing for Saturday" in progress and "Wants a garage" in progress
    assert progress.index("Wants a garage") < progress.index("Booked a showing")  # newest first
    assert "Not yet" not in progress  # the first contact is shown with its time


def test_progress_before_the_agent_did_anything(client, team):
    lead, handoff = handed_to_bob(team)
    client.force_login(team.ivy.user)
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    progress = page.split(f'id="agent-progress-{handoff.pk}"')[1].split("</section>")[0]
    assert "Not yet" in progress and "Bob Ray has logged nothing on it yet." in progress


def test_latest_steps_keep_to_the_agent_and_the_time_after_the_hand_off(team):
    lead, handoff = handed_to_bob(team)
    log_activity(lead, team.ann, "note", "Not Bob's", now=timezone.now())  # someone else
    for i in range(5):
        log_activity(lead, team.bob, "call", f"Call {i}",
                     now=timezone.now() + timedelta(minutes=i))
    steps = latest_steps([handoff])[handoff.pk]
    assert [s.text for s in steps] == ["Call 4", "Call 3", "Call 2"]
    assert "Wants a condo" not in [s.text for s in steps]  # the ISA's own call, before


def test_the_isa_lead_page_tells_the_routing_in_agents_words_without_emails(client, team):
    lead, _ = handed_to_bob(team)
    client.force_login(team.ivy.user)
    page = client.get(reverse("isa-lead", args=[lead.pk])).content.decode()
    decisions = page.split("Routing and hand-off decisions")[1]
    for email in ("ann@example.com", "bob@example.com", "ivy@example.com"):
        assert email not in decisions
    assert "The ISA handed it to Bob by name." in decisions
    assert "Bob Ray" not in decisions  # colleagues by first name only


def test_the_isa_sees_the_stage_the_agent_moved_the_lead_to(team):
    stages = default_stages()
    lead, handoff = handed_to_bob(team)
    set_stage(lead, stages["appointment"], team.bob, now=timezone.now() + timedelta(minutes=1))
    steps = latest_steps([handoff])[handoff.pk]
    assert [s.text for s in steps] == ["Stage: New → Appointment set"]
