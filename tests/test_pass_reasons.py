"""Passing on an offer with a reason: asked on the offer card and by the API, kept on the offer
and the timeline, counted per agent in the offers report (page and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from leads.intake import receive_lead
from leads.models import Activity, Lead
from routing.claims import PassRefused, decline_offer, pass_reason
from routing.models import Brokerage, Offer
from routing.reports import offers
from routing.reports.common import Filters, period_of
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
NY = "America/New_York"
ARRIVAL = datetime(2026, 11, 10, 10, 0, tzinfo=ZoneInfo(NY))
WEEK = period_of("custom", now=ARRIVAL, tz_name=NY, start=date(2026, 11, 9),
                 end=date(2026, 11, 15))
_n = count(1)


@pytest.fixture(autouse=True)
def brokerage():
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    return b


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee")


@pytest.fixture
def bob():
    return AgentFactory(name="Bob Ray")


def route(agents: list[Agent]) -> Lead:
    n = next(_n)
    RuleFactory(name=f"Rule {n}", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members(agents))
    result = receive_lead({"first_name": "Pat", "last_name": f"Buyer{n}",
                           "email": f"pat{n}@example.org", "source": "Zillow",
                           "lead_type": "buyer", "city": "Chicago"},
                          channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return Lead.objects.get(pk=result.lead.pk)


def first_offer(lead: Lead) -> Offer:
    return Offer.objects.get(lead=lead, status=Offer.Status.OFFERED)


# --- the offer card ---------------------------------------------------------------------------


def test_the_offer_card_asks_why_with_one_tap_per_reason(client, ann):
    lead = route([ann])
    client.force_login(ann.user)
    html = client.get(reverse("offers")).content.decode()
    offer = first_offer(lead)
    assert f'id="pass-{offer.pk}"' in html and "Why do you pass?" in html
    for value, label in (("not_interested", "Not interested"), ("too_busy", "Too busy"),
                         ("out_of_area", "Out of my area"),
                         ("price_range", "I don&#x27;t work this price range"),
                         ("other", "Pass")):
        assert f'name="reason" value="{value}">{label}</button>' in html
    assert 'name="note"' in html and 'placeholder="Other reason…"' in html
    # The list does not refresh under an open sheet.
    assert "details[open]" in html


def test_a_pass_keeps_its_reason_on_the_offer_and_the_timeline(client, ann, bob):
    lead = route([ann, bob])
    offer = first_offer(lead)
    client.force_login(offer.agent.user)
    response = client.post(reverse("offer-decline", args=[offer.pk]),
                           {"reason": "out_of_area", "note": "ignored"}, follow=True)
    assert "You passed on this lead" in response.content.decode()
    offer.refresh_from_db()
    assert (offer.status, offer.pass_reason, offer.pass_note) == ("declined", "out_of_area", "")
    entry = lead.activities.get(kind=Activity.Kind.DECLINED)
    assert entry.body == f"Declined by {offer.agent.name}: Out of my area"
    assert entry.data == {"reason": "out_of_area", "note": ""}
    assert first_offer(lead).agent != offer.agent  # moved on to the other agent


def test_other_needs_words_and_keeps_them(client, ann, bob):
    lead = route([ann, bob])
    offer = first_offer(lead)
    client.force_login(offer.agent.user)
    response = client.post(reverse("offer-decline", args=[offer.pk]),
                           {"reason": "other", "note": "  "}, follow=True)
    assert "Say in a few words why you pass." in response.content.decode()
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OFFERED  # nothing lost: the offer is still open
    client.post(reverse("offer-decline", args=[offer.pk]),
                {"reason": "other", "note": "Family   friend, conflict"})
    offer.refresh_from_db()
    assert (offer.pass_reason, offer.pass_note) == ("other", "Family friend, conflict")
    assert lead.activities.get(kind="declined").body.endswith(": Family friend, conflict")


def test_an_unknown_reason_is_refused_and_the_offer_stays(client, ann):
    lead = route([ann])
    offer = first_offer(lead)
    client.force_login(ann.user)
    response = client.post(reverse("offer-decline", args=[offer.pk]), {"reason": "bored"},
                           follow=True)
    assert "Choose why you pass" in response.content.decode()
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.OFFERED


def test_reasons_are_checked_before_anything_is_saved():
    assert pass_reason("", "") == ("", "")  # an instant call's "press 2", an older app
    assert pass_reason("too_busy", "at a showing") == ("too_busy", "")
    with pytest.raises(PassRefused):
        pass_reason("other", "x" * 201)


# --- the agent API ----------------------------------------------------------------------------


def api(agent: Agent) -> Client:
    token, _ = Token.objects.get_or_create(user=agent.user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def test_the_api_decline_takes_a_reason(ann, bob):
    lead = route([ann, bob])
    offer = first_offer(lead)
    response = api(offer.agent).post(f"/api/v1/agent/offers/{offer.pk}/decline/",
                                     {"reason": "price_range"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["reason"] == "price_range"
    assert Offer.objects.get(pk=offer.pk).pass_reason == "price_range"


def test_the_api_says_which_field_is_wrong(ann):
    lead = route([ann])
    offer = first_offer(lead)
    client = api(ann)
    url = f"/api/v1/agent/offers/{offer.pk}/decline/"
    response = client.post(url, {"reason": "other"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"note": "Say in a few words why you pass."}
    response = client.post(url, {"reason": "bored"}, content_type="application/json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.OFFERED


# --- the offers report ------------------------------------------------------------------------


def passed(agent: Agent, reason: str, note: str = "") -> Offer:
    lead = LeadFactory(received_at=ARRIVAL)
    return Offer.objects.create(lead=lead, agent=agent, status=Offer.Status.DECLINED,
                                offered_at=ARRIVAL, clock_starts_at=ARRIVAL,
                                deadline=ARRIVAL + timedelta(minutes=5),
                                responded_at=ARRIVAL + timedelta(minutes=1),
                                pass_reason=reason, pass_note=note)


@pytest.fixture
def passes(ann, bob):
    for reason in ("too_busy", "too_busy", "out_of_area", ""):
        passed(ann, reason)
    passed(bob, "other", "Conflict of interest")
    passed(bob, "price_range")
    late = passed(bob, "too_busy")  # a week later: not counted
    Offer.objects.filter(pk=late.pk).update(offered_at=ARRIVAL + timedelta(days=8))


def test_passes_are_counted_per_agent_by_reason(ann, bob, passes):
    rows = {r["name"]: r for r in offers.pass_counts(WEEK, Filters())}
    assert [r["name"] for r in offers.pass_counts(WEEK, Filters())] == ["Ann Lee", "Bob Ray"]
    a, b = rows["Ann Lee"], rows["Bob Ray"]
    assert (a["passes"], a["reason_too_busy"], a["reason_out_of_area"], a["reason_"]) == (
        4, 2, 1, 1)
    assert (b["passes"], b["reason_other"], b["reason_price_range"], b["reason_too_busy"]) == (
        2, 1, 1, 0)
    only_bob = offers.pass_counts(WEEK, Filters(agent_id=bob.pk))
    assert [r["name"] for r in only_bob] == ["Bob Ray"]
    total, words = offers.other_reasons(WEEK, Filters())
    assert total == 1 and words[0]["agent"] == "Bob Ray"
    assert words[0]["note"] == "Conflict of interest"


@pytest.fixture
def manager_client(client):
    agent = AgentFactory(role=Agent.Role.MANAGER, name="Mia Manager")
    sync_access(agent)
    client.force_login(agent.user)
    return client


def test_the_offers_report_shows_and_downloads_the_passes(manager_client, passes):
    url = "/admin/reports/offers/?period=custom&start=2026-11-09&end=2026-11-15"
    html = manager_client.get(url).content.decode()
    assert "Passes by reason" in html and "Out of area" in html and "Price range" in html
    assert "Conflict of interest" in html
    response = manager_client.get(url + "&format=csv&table=passes")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Agent", "Passes", "Not interested", "Too busy", "Out of area",
                       "Price range", "Other", "No reason given"]
    assert rows[1] == ["Ann Lee", "4", "0", "2", "1", "0", "0", "1"]
    assert rows[2] == ["Bob Ray", "2", "0", "0", "0", "1", "1", "0"]


def test_a_pass_by_the_service_without_a_reason_still_counts(ann, bob):
    lead = route([ann, bob])
    offer = first_offer(lead)
    decline_offer(offer.pk, offer.agent, now=timezone.now())
    assert lead.activities.get(kind="declined").body == f"Declined by {offer.agent.name}"
    now = timezone.now()
    week = period_of("7d", now=now, tz_name=NY)
    rows = offers.pass_counts(week, Filters())
    assert [(r["name"], r["passes"], r["reason_"]) for r in rows] == [(offer.agent.name, 1, 1)]


# --- fairness ---------------------------------------------------------------------------------


def test_a_missed_turn_for_a_pass_says_why_and_still_counts_as_declined(ann, bob):
    from routing.fairness import rotation_fairness

    lead = route([ann, bob])
    offer = first_offer(lead)
    decline_offer(offer.pk, offer.agent, now=timezone.now(), reason="too_busy")
    now = timezone.now()
    [rotation] = rotation_fairness(now - timedelta(hours=1), now + timedelta(hours=1))
    member = next(m for m in rotation.members if m.agent_id == offer.agent_id)
    assert [(t.code, t.reason) for t in member.missed] == [("declined", "declined (too busy)")]
    assert member.missed_counts == {"declined": 1}
    [mine] = rotation_fairness(now - timedelta(hours=1), now + timedelta(hours=1),
                               agent_id=offer.agent_id, for_agent=True)
    assert [t.reason for t in mine.members[0].missed] == ["you declined (too busy)"]


# --- what managers see ------------------------------------------------------------------------


def test_managers_see_the_reason_in_the_admin_and_the_manager_api(manager_client, ann, bob):
    lead = route([ann, bob])
    offer = first_offer(lead)
    decline_offer(offer.pk, offer.agent, now=timezone.now(), reason="other",
                  note="Knows the seller")
    html = manager_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "Declined: Knows the seller" in html
    body = manager_client.get(f"/api/v1/manager/leads/{lead.pk}/").json()
    passed_offer = next(o for o in body["offers"] if o["id"] == offer.pk)
    assert (passed_offer["pass_reason"], passed_offer["pass_note"]) == ("other",
                                                                         "Knows the seller")
