"""An agent who leaves: deactivation ends their access, moves their leads on, keeps history."""

from __future__ import annotations

import time
from itertools import count
from types import SimpleNamespace

import pytest
from django.contrib.sessions.models import Session
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent
from agents.services import sync_access
from leads.intake import receive_lead
from leads.models import Activity, Lead
from notifications.models import Notification
from routing.claims import ClaimRefused, claim_from_pond, claim_offer
from routing.config_file import apply_routing_file, load_routing_file
from routing.models import Brokerage, Offer, Rule
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory
from tests.threads import together

pytestmark = pytest.mark.django_db

AGENTS_URL = "/admin/agents/agent/"
ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
INACTIVE = "Your agent profile is inactive: you no longer receive or claim leads."
_n = count(1)


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()


def person(name: str, **kw) -> Agent:
    agent = AgentFactory(name=name, email=f"{name.split()[0].lower()}@example.com", **kw)
    sync_access(agent)
    return agent


@pytest.fixture
def mia() -> Agent:
    return person("Mia Manager", role=Agent.Role.MANAGER)


@pytest.fixture
def mc(mia) -> Client:
    client = Client()
    client.force_login(mia.user)
    return client


def receive() -> Lead:
    n = next(_n)
    result = receive_lead({"first_name": "Pat", "last_name": f"Buyer{n}",
                           "email": f"pat{n}@example.org", "phone": f"+1312555{n:04d}"},
                          channel="api", received_at=timezone.now())
    return Lead.objects.get(pk=result.lead.pk)


def catch_all(members: list[Agent], delivery: str = Rule.Delivery.CLAIM) -> Rule:
    return RuleFactory(name="Everything else", is_catch_all=True, delivery=delivery,
                       roster=RosterFactory.with_members(members))


def owned(agent: Agent) -> Lead:
    return LeadFactory(owner=agent, status=Lead.Status.ASSIGNED, assigned_at=timezone.now())


def deactivate_in_admin(mc: Client, agent: Agent, release: str, to: Agent | None = None):
    data = {"release": release, "to_agent": to.pk if to else ""}
    return mc.post(f"{AGENTS_URL}{agent.pk}/deactivate/", data)


def timeline(lead: Lead) -> list[str]:
    return list(Activity.objects.filter(lead=lead).order_by("id").values_list("body", flat=True))


# --- an inactive agent is refused everywhere ------------------------------------------------


def test_an_inactive_agent_cannot_claim_an_offer_or_a_pond_lead():
    ann = person("Ann Lee")
    catch_all([ann])
    lead = receive()
    offer = Offer.objects.get(lead=lead, agent=ann)
    pond = LeadFactory(status=Lead.Status.UNASSIGNED)
    Agent.objects.filter(pk=ann.pk).update(is_active=False)  # e.g. saved inactive long ago
    ann.refresh_from_db()

    with pytest.raises(ClaimRefused, match=INACTIVE):
        claim_offer(offer.pk, ann, now=timezone.now())
    with pytest.raises(ClaimRefused, match=INACTIVE):
        claim_from_pond(pond.pk, ann, now=timezone.now())
    assert Lead.objects.get(pk=lead.pk).owner_id is None
    assert Lead.objects.get(pk=pond.pk).owner_id is None


def test_an_inactive_agent_gets_the_no_agent_page_and_the_api_refuses_them():
    ann = person("Ann Lee")
    Agent.objects.filter(pk=ann.pk).update(is_active=False)
    client = Client()
    client.force_login(ann.user)
    page = client.get(reverse("offers"))
    assert page.status_code == 403
    token = Token.objects.create(user=ann.user)
    api = Client(headers={"Authorization": f"Token {token.key}"}).get("/api/v1/agent/offers/")
    assert api.status_code == 403
    assert api.json()["errors"] == {"permission": INACTIVE}


# --- deactivating in the admin --------------------------------------------------------------


def test_deactivating_ends_logins_withdraws_offers_and_sends_open_leads_back_to_routing(mc, mia):
    ann, bob = person("Ann Lee"), person("Bob Ray")
    catch_all([ann, bob])
    offered = receive()  # the rotation offers it to Ann first
    assert Offer.objects.get(lead=offered, status=Offer.Status.OFFERED).agent == ann
    mine = owned(ann)
    token = Token.objects.create(user=ann.user)
    ann_client = Client()
    ann_client.force_login(ann.user)

    page = mc.get(f"{AGENTS_URL}{ann.pk}/deactivate/")
    assert page.status_code == 200
    assert b"1 live offer" in page.content and b"1 open lead" in page.content
    response = deactivate_in_admin(mc, ann, "routing")
    assert response.status_code == 302

    ann.refresh_from_db()
    ann.user.refresh_from_db()
    assert not ann.is_active and not ann.user.is_active
    assert not Token.objects.filter(pk=token.pk).exists()
    assert not [s for s in Session.objects.all()
                if s.get_decoded().get("_auth_user_id") == str(ann.user.pk)]
    assert ann_client.get(reverse("offers")).status_code == 302  # back to the login page
    # The live offer is withdrawn and the lead moved on to Bob at once, as an expiry would.
    assert Offer.objects.get(lead=offered, agent=ann).status == Offer.Status.WITHDRAWN
    assert Offer.objects.get(lead=offered, status=Offer.Status.OFFERED).agent == bob
    assert any("Ann Lee left" in body for body in timeline(offered))
    # The open lead went through the rules again: Bob (Ann is inactive) has its offer.
    mine.refresh_from_db()
    assert mine.owner_id is None and mine.status == Lead.Status.OFFERED
    assert Offer.objects.get(lead=mine, status=Offer.Status.OFFERED).agent == bob
    assert any(body.startswith("Returned to routing by Mia Manager") for body in timeline(mine))
    notice = Notification.objects.get(recipient=mia, event=Notification.Event.AGENT_DEACTIVATED)
    assert "Ann Lee" in notice.title
    assert "1 live offer withdrawn" in notice.body and "1 open lead back to routing" in notice.body


def test_deactivating_can_send_open_leads_to_the_pond_or_to_a_named_agent(mc):
    ann, bob, cy = person("Ann Lee"), person("Bob Ray"), person("Cy Lane")
    first, second = owned(ann), owned(bob)

    deactivate_in_admin(mc, ann, "pond")
    first.refresh_from_db()
    assert (first.owner_id, first.status) == (None, Lead.Status.UNASSIGNED)
    assert timeline(first)[-1] == "Moved to the pond by Mia Manager"

    deactivate_in_admin(mc, bob, "agent", to=cy)
    second.refresh_from_db()
    assert (second.owner_id, second.status) == (cy.pk, Lead.Status.ASSIGNED)
    assert timeline(second)[-1] == "Assigned to Cy Lane by Mia Manager"
    assert Notification.objects.filter(recipient=cy, lead=second,
                                       event=Notification.Event.LEAD_ASSIGNED).exists()


def test_a_named_agent_must_be_chosen_and_active(mc):
    ann, gone = person("Ann Lee"), person("Old Timer", is_active=False)
    lead = owned(ann)
    for target in (None, gone):
        response = deactivate_in_admin(mc, ann, "agent", to=target)
        assert response.status_code == 200  # the form again, with the error
    ann.refresh_from_db()
    lead.refresh_from_db()
    assert ann.is_active and lead.owner_id == ann.pk


def test_the_change_form_no_longer_deactivates_silently(mc):
    ann = person("Ann Lee")
    response = mc.get(f"{AGENTS_URL}{ann.pk}/change/")
    assert f"{AGENTS_URL}{ann.pk}/deactivate/".encode() in response.content
    assert b'name="is_active"' not in response.content


def test_the_routing_file_deactivates_missing_agents_and_sends_their_leads_back_to_routing():
    ann, bob = person("Ann Lee"), person("Bob Ray")
    catch_all([ann, bob])
    offered = receive()
    mine = owned(ann)
    text = """\
timezone: America/Chicago
agents:
  - {email: bob@example.com, name: Bob Ray}
rosters:
  - {name: Office, members: [bob@example.com]}
rules:
  - {name: Everything else, catch_all: true, roster: Office, delivery: claim}
"""
    summary = apply_routing_file(load_routing_file(text))

    assert summary.agents_deactivated == 1
    ann.refresh_from_db()
    ann.user.refresh_from_db()
    assert not ann.is_active and not ann.user.is_active
    assert Offer.objects.get(lead=offered, agent=ann).status == Offer.Status.WITHDRAWN
    assert Offer.objects.get(lead=offered, status=Offer.Status.OFFERED).agent == bob
    mine.refresh_from_db()
    assert mine.owner_id is None
    assert Offer.objects.get(lead=mine, status=Offer.Status.OFFERED).agent == bob


# --- agents with history are never deleted --------------------------------------------------


def test_an_agent_with_offers_cannot_be_deleted_and_no_lead_is_stranded():
    ann = person("Ann Lee")
    catch_all([ann])
    lead = receive()
    with pytest.raises(ProtectedError):
        ann.delete()
    assert Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).exists()


def test_the_admin_offers_deactivation_instead_of_deleting_an_agent_with_history(mc):
    ann = person("Ann Lee")
    catch_all([ann])
    receive()
    page = mc.get(f"{AGENTS_URL}{ann.pk}/delete/")
    assert page.status_code == 200
    assert b"deactivate" in page.content.lower()
    assert f"{AGENTS_URL}{ann.pk}/deactivate/".encode() in page.content
    mc.post(f"{AGENTS_URL}{ann.pk}/delete/", {"post": "yes"})
    bulk = mc.post(AGENTS_URL, {"action": "delete_selected", "_selected_action": [ann.pk],
                                "post": "yes"}, follow=True)
    assert b"has history" in bulk.content
    assert Agent.objects.filter(pk=ann.pk).exists()


def test_an_agent_without_history_may_still_be_deleted(mc):
    new = person("New Hire")
    response = mc.post(f"{AGENTS_URL}{new.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Agent.objects.filter(pk=new.pk).exists()


# --- a claim racing the deactivation (PostgreSQL row locks) ---------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_racing_the_deactivation_never_leaves_a_lead_with_an_inactive_owner(monkeypatch):
    """Each claim holds its transaction open a moment (a slow webhook queue) while the
    deactivation runs: the claim either finishes first and its lead is released with the
    others, or waits and is refused."""
    from notifications import webhooks
    from routing.departures import Release, deactivate_agent

    def slow_emit(*args, **kwargs):
        time.sleep(1.0 if kwargs["data"]["via"] == "pond" else 0.2)
        return webhooks.emit(*args, **kwargs)

    monkeypatch.setattr("routing.claims.webhooks", SimpleNamespace(emit=slow_emit))
    Brokerage.objects.update(actionable_window=ALL_WEEK)
    for round_ in range(3):
        ann = person(f"Ann{round_} Lee")
        bob = person(f"Bob{round_} Ray")
        Rule.objects.update(is_catch_all=False, is_active=False)  # the previous round's
        RuleFactory(name=f"Everything else {round_}", is_catch_all=True,
                    delivery=Rule.Delivery.FIRST_TO_CLAIM,
                    roster=RosterFactory.with_members([ann, bob]))
        leads = [receive() for _ in range(3)]
        ponds = [LeadFactory(status=Lead.Status.UNASSIGNED) for _ in range(3)]
        offers = list(Offer.objects.filter(lead__in=leads, agent=ann))
        now = timezone.now()

        def leave(ann=ann, now=now):
            time.sleep(0.1)  # the claims are under way
            return deactivate_agent(agent_id=ann.pk, release=Release.ROUTING, by=None, now=now)

        jobs = [lambda o=o, a=ann, t=now: claim_offer(o.pk, a, now=t) for o in offers]
        jobs += [lambda p=p, a=ann, t=now: claim_from_pond(p.pk, a, now=t) for p in ponds]
        jobs.append(leave)
        results = together(jobs)

        assert not any(isinstance(r, BaseException) and not isinstance(r, ClaimRefused)
                       for r in results), results
        assert not Lead.objects.filter(owner=ann, status__in=Lead.OPEN_STATUSES).exists()
        assert not Offer.objects.filter(agent=ann, status=Offer.Status.OFFERED).exists()
