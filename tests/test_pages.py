"""The agent's pages, through the Django test client: who sees what, claims, logs, the bell."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agents.models import Agent
from leads.intake import receive_lead
from leads.models import Activity, Lead
from notifications.models import Notification
from routing.engine import render_trace
from routing.models import Brokerage, Offer, RoutingRecord
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
_n = count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def brokerage():
    """Claim clocks run all week, so offers made now are actionable now."""
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    return b


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def bob():
    return AgentFactory(name="Bob Ray", email="bob@example.com")


def as_agent(client, agent: Agent):
    client.force_login(agent.user)
    return client


def lead_data(**fields) -> dict:
    n = next(_n)
    data = {
        "first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
        "phone": "+13125550199", "source": "Zillow", "lead_type": "buyer",
        "price": "1250000", "city": "Chicago", "zip_code": "60601",
        "neighborhood": "Loop", "message": "Can I see it on Saturday?", "tags": ["luxury"],
    }
    data.update(fields)
    return data


def route(agents: list[Agent], delivery: str = "claim", **fields) -> Lead:
    """Route a new lead through a catch-all rule with this delivery; the lead as stored."""
    roster = RosterFactory.with_members(agents)
    RuleFactory(name=f"Rule for {next(_n)}", is_catch_all=True, roster=roster, delivery=delivery)
    result = receive_lead(lead_data(**fields), channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return Lead.objects.get(pk=result.lead.pk)


def offer_of(lead: Lead, agent: Agent) -> Offer:
    return Offer.objects.get(lead=lead, agent=agent)


def page(response) -> str:
    return response.content.decode()


# --- Logging in -----------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(client):
    for name in ("offers", "my-leads", "pond", "availability", "notifications"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_agent_logs_in_with_email_and_lands_on_offers(client, ann):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in page(response)
    response = client.post(reverse("login"),
                           {"username": "ann@example.com", "password": "pass-12345"},
                           follow=True)
    assert response.redirect_chain[-1][0] == reverse("offers")
    assert "No offers right now." in page(response)


def test_wrong_password_is_said_plainly(client, ann):
    response = client.post(reverse("login"), {"username": "ann@example.com", "password": "no"})
    assert "didn't match" in page(response)


def test_home_redirects_to_offers(client, ann):
    response = as_agent(client, ann).get("/")
    assert response.status_code == 302 and response.url == reverse("offers")


def test_log_out(client, ann):
    as_agent(client, ann)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("offers")).status_code == 302


def test_user_without_an_agent_gets_a_plain_403(client):
    user = get_user_model().objects.create_user("office@example.com", password="pass-12345")
    client.force_login(user)
    for name in ("offers", "my-leads", "pond", "availability", "notifications"):
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert "not linked to an agent" in page(response)


# --- Offers ---------------------------------------------------------------------------------


def test_offers_page_shows_the_lead_essentials_and_a_countdown(client, ann):
    lead = route([ann])
    response = as_agent(client, ann).get(reverse("offers"))
    html = page(response)
    assert response.status_code == 200
    assert lead.full_name in html
    assert "$1,250,000" in html
    assert "Loop, Chicago, 60601" in html
    assert "Zillow" in html and "Buyer" in html
    assert "Can I see it on Saturday?" in html
    assert 'class="countdown' in html and "data-segments=" in html
    assert re.search(r">(5:00|4:[0-5]\d) left<", html)
    offer = offer_of(lead, ann)
    assert reverse("offer-claim", args=[offer.pk]) in html
    assert reverse("offer-decline", args=[offer.pk]) in html
    # Contact details stay hidden until claimed (the brokerage's default).
    assert lead.email not in html
    assert "5550199" not in html and "555-0199" not in html
    assert "appear once you claim" in html


def test_contact_details_shown_on_offers_when_the_brokerage_allows(client, ann, brokerage):
    brokerage.hide_contact_until_claimed = False
    brokerage.save()
    lead = route([ann])
    html = page(as_agent(client, ann).get(reverse("offers")))
    assert lead.email in html


def test_countdown_outside_the_actionable_window_says_until_when(client, ann, brokerage):
    tomorrow = timezone.localtime() + timedelta(days=1)
    day = tomorrow.strftime("%a").lower()
    brokerage.actionable_window = [{"days": [day], "start": "08:00", "end": "09:00"}]
    brokerage.save()
    route([ann])
    html = page(as_agent(client, ann).get(reverse("offers")))
    assert f"5:00 left · paused until {tomorrow:%a} 8:00" in html


def test_offers_list_fragment_for_the_refresh(client, ann):
    lead = route([ann])
    response = as_agent(client, ann).get(reverse("offers"), headers={"HX-Request": "true"})
    html = page(response)
    assert lead.full_name in html
    assert "<html" not in html and 'data-unread="1"' in html


def test_claim_goes_to_the_lead_with_its_contact_details(client, ann):
    lead = route([ann])
    response = as_agent(client, ann).post(reverse("offer-claim", args=[offer_of(lead, ann).pk]))
    assert response.status_code == 302
    assert response.url == reverse("lead-detail", args=[lead.pk])
    lead.refresh_from_db()
    assert (lead.owner, lead.status) == (ann, Lead.Status.ASSIGNED)
    html = page(client.get(response.url))
    assert lead.email in html and "tel:+13125550199" in html
    assert "You claimed" in html


def test_second_claim_on_a_first_to_claim_lead_is_refused_plainly(client, ann, bob):
    lead = route([ann, bob], delivery="first_to_claim")
    assert {o.agent for o in Offer.objects.filter(lead=lead)} == {ann, bob}
    as_agent(client, ann).post(reverse("offer-claim", args=[offer_of(lead, ann).pk]))
    client.logout()
    response = as_agent(client, bob).post(
        reverse("offer-claim", args=[offer_of(lead, bob).pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("offers")
    assert "Another agent claimed this lead first." in page(response)
    lead.refresh_from_db()
    assert lead.owner == ann


def test_claim_after_the_deadline_is_refused_plainly(client, ann):
    lead = route([ann])
    Offer.objects.filter(lead=lead).update(deadline=timezone.now() - timedelta(seconds=1))
    response = as_agent(client, ann).post(
        reverse("offer-claim", args=[offer_of(lead, ann).pk]), follow=True)
    assert "Too late: the claim window for this lead has closed." in page(response)


def test_decline_passes_the_lead_on(client, ann, bob):
    lead = route([ann, bob])
    first = Offer.objects.get(lead=lead)
    other = bob if first.agent == ann else ann
    response = as_agent(client, first.agent).post(reverse("offer-decline", args=[first.pk]),
                                                  follow=True)
    assert "You passed on this lead" in page(response)
    assert Offer.objects.get(lead=lead, agent=other).status == Offer.Status.OFFERED


def test_someone_elses_offer_is_404(client, ann, bob):
    lead = route([ann])
    offer = offer_of(lead, ann)
    as_agent(client, bob)
    assert client.post(reverse("offer-claim", args=[offer.pk])).status_code == 404
    assert client.post(reverse("offer-decline", args=[offer.pk])).status_code == 404
    assert lead.full_name not in page(client.get(reverse("offers")))
    assert offer_of(lead, ann).status == Offer.Status.OFFERED


def test_claim_needs_a_post(client, ann):
    lead = route([ann])
    response = as_agent(client, ann).get(reverse("offer-claim", args=[offer_of(lead, ann).pk]))
    assert response.status_code == 405


# --- My leads and the lead ------------------------------------------------------------------


def owned(agent: Agent, **fields) -> Lead:
    fields.setdefault("status", Lead.Status.ASSIGNED)
    fields.setdefault("assigned_at", timezone.now())
    return LeadFactory(owner=agent, **fields)


def test_my_leads_lists_only_mine_newest_first_with_age_and_overdue_flag(client, ann, bob):
    now = timezone.now()
    old = owned(ann, last_name="Older", received_at=now - timedelta(hours=3),
                first_contact_due_at=now - timedelta(minutes=5))
    new = owned(ann, last_name="Newer", received_at=now - timedelta(minutes=12),
                first_contact_due_at=now + timedelta(minutes=5))
    owned(bob, last_name="Bobs")
    html = page(as_agent(client, ann).get(reverse("my-leads")))
    assert html.index(new.full_name) < html.index(old.full_name)
    assert "Bobs" not in html
    assert "3 h" in html and "12 min" in html
    assert html.count("First contact overdue") == 1


def test_my_leads_filter_by_status(client, ann):
    owned(ann, last_name="Waiting")
    owned(ann, last_name="Called", status=Lead.Status.CONTACTED)
    html = page(as_agent(client, ann).get(reverse("my-leads"), {"status": "contacted"}))
    assert "Called" in html and "Waiting" not in html
    html = page(client.get(reverse("my-leads"), {"status": "bogus"}))
    assert "Called" in html and "Waiting" in html


def test_lead_detail_shows_contact_timeline_and_why(client, ann):
    lead = route([ann])
    as_agent(client, ann).post(reverse("offer-claim", args=[offer_of(lead, ann).pk]))
    html = page(client.get(reverse("lead-detail", args=[lead.pk])))
    assert lead.email in html
    assert "Can I see it on Saturday?" in html and "luxury" in html
    assert "Claimed by Ann Lee" in html
    assert "Why did I get this lead?" in html
    why = html[html.index("Why did I get this lead?"):]
    rule = lead.rule.name
    assert escape(f"The “{rule}” rule took it.") in why
    assert escape(f"It was your turn in the “{rule}” rotation.") in why
    assert "It was offered to you to claim." in why and "You claimed it." in why
    record = RoutingRecord.objects.filter(lead=lead).first()
    assert not any(escape(line) in why for line in render_trace(record.trace)[:3])
    assert "@" not in why  # the engine's trace (with emails) stays in the admin


def test_someone_elses_lead_is_404(client, ann, bob):
    lead = owned(bob)
    as_agent(client, ann)
    assert client.get(reverse("lead-detail", args=[lead.pk])).status_code == 404
    response = client.post(reverse("lead-log", args=[lead.pk]), {"kind": "call"})
    assert response.status_code == 404
    assert not Activity.objects.filter(lead=lead).exists()


def test_manager_sees_every_lead(client, ann):
    boss = AgentFactory(name="Meg Boss", role=Agent.Role.MANAGER)
    lead = owned(ann, last_name="Annslead")
    as_agent(client, boss)
    assert client.get(reverse("lead-detail", args=[lead.pk])).status_code == 200
    html = page(client.get(reverse("my-leads")))
    assert "Annslead" in html and "All leads" in html and "Ann Lee" in html
    assert "Annslead" not in page(client.get(reverse("my-leads"), {"mine": "1"}))


def test_superuser_without_an_agent_may_read_leads(client, ann):
    lead = owned(ann)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pass-12345")
    client.force_login(admin)
    assert client.get(reverse("lead-detail", args=[lead.pk])).status_code == 200
    assert client.get(reverse("my-leads")).status_code == 200
    assert client.get(reverse("offers")).status_code == 403


def test_logging_a_call_sets_first_contact_and_shows_speed_to_lead(client, ann):
    lead = owned(ann, received_at=timezone.now() - timedelta(minutes=7),
                 first_contact_due_at=timezone.now() + timedelta(minutes=3))
    as_agent(client, ann)
    response = client.post(reverse("lead-log", args=[lead.pk]),
                           {"kind": "call", "body": "Left a voicemail"}, follow=True)
    lead.refresh_from_db()
    assert lead.first_contact_at is not None
    assert lead.first_contact_due_at is None
    assert lead.status == Lead.Status.CONTACTED
    html = page(response)
    assert "Call logged. Speed to lead: 7 min." in html
    assert 'id="speed-to-lead">7 min<' in html
    assert "Left a voicemail" in html


def test_a_note_is_not_a_first_contact_and_needs_words(client, ann):
    lead = owned(ann)
    as_agent(client, ann)
    response = client.post(reverse("lead-log", args=[lead.pk]), {"kind": "note", "body": ""})
    assert response.status_code == 400 and "Write the note." in page(response)
    client.post(reverse("lead-log", args=[lead.pk]), {"kind": "note", "body": "Prefers texts"})
    lead.refresh_from_db()
    assert lead.first_contact_at is None
    assert Activity.objects.filter(lead=lead, kind="note", body="Prefers texts").exists()
    response = client.post(reverse("lead-log", args=[lead.pk]), {"kind": "dance"})
    assert response.status_code == 400


# --- The pond -------------------------------------------------------------------------------


def test_pond_lists_oldest_first_and_first_claim_wins(client, ann, bob):
    now = timezone.now()
    newer = LeadFactory(last_name="Newer", received_at=now - timedelta(hours=1))
    older = LeadFactory(last_name="Older", received_at=now - timedelta(days=2))
    owned(bob, last_name="Taken")
    html = page(as_agent(client, ann).get(reverse("pond")))
    assert html.index("Older") < html.index("Newer") and "Taken" not in html
    assert "2 d" in html and "1 h" in html
    response = client.post(reverse("pond-claim", args=[older.pk]))
    assert response.url == reverse("lead-detail", args=[older.pk])
    client.logout()
    response = as_agent(client, bob).post(reverse("pond-claim", args=[older.pk]), follow=True)
    assert "Another agent claimed this lead first." in page(response)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.owner == ann and newer.owner is None
    assert client.post(reverse("pond-claim", args=[999999])).status_code == 404


# --- Availability ---------------------------------------------------------------------------


def test_pause_and_resume(client, ann):
    as_agent(client, ann)
    assert "You are receiving new leads." in page(client.get(reverse("availability")))
    html = page(client.post(reverse("availability"), {"accepting": "0"}, follow=True))
    ann.refresh_from_db()
    assert ann.accepting_leads is False
    assert "You are paused" in html
    client.post(reverse("availability"), {"accepting": "1"})
    ann.refresh_from_db()
    assert ann.accepting_leads is True


# --- Notifications --------------------------------------------------------------------------


def notification(agent: Agent, title: str, **kw) -> Notification:
    return Notification.objects.create(recipient=agent, event="lead_assigned", title=title,
                                       created_at=timezone.now(), **kw)


def test_bell_counts_unread_and_notifications_can_be_marked_read(client, ann, bob):
    first = notification(ann, "New lead: Pat")
    notification(ann, "New lead: Sam")
    notification(ann, "Old news", read_at=timezone.now())
    notification(bob, "Not for Ann")
    as_agent(client, ann)
    html = page(client.get(reverse("my-leads")))
    assert 'aria-label="Notifications, 2 unread"' in html
    html = page(client.get(reverse("notifications")))
    assert "New lead: Pat" in html and "Old news" in html and "Not for Ann" not in html
    client.post(reverse("notifications-read"), {"notification": first.pk})
    html = page(client.get(reverse("pond")))
    assert 'aria-label="Notifications, 1 unread"' in html
    client.post(reverse("notifications-read"))
    html = page(client.get(reverse("availability")))
    assert 'aria-label="Notifications, 0 unread"' in html
    assert not Notification.objects.filter(recipient=ann, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=bob, read_at__isnull=True).count() == 1


def test_an_offer_rings_the_bell(client, ann):
    route([ann])
    html = page(as_agent(client, ann).get(reverse("offers")))
    assert 'aria-label="Notifications, 1 unread"' in html
    assert "Lead offered" in page(client.get(reverse("notifications")))
