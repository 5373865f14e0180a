"""The managers' lead admin: filters, search, the routing story of a lead, and moving leads."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agents.models import Agent
from agents.services import sync_access
from leads.intake import receive_lead
from leads.models import Activity, Lead
from notifications.models import Delivery, Notification
from routing.engine import render_trace
from routing.models import Brokerage, Offer, RoutingRecord, Rule
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory
from tests.test_admin_permissions import admin_form_data

pytestmark = pytest.mark.django_db

LEADS_URL = "/admin/leads/lead/"
ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
_n = count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def brokerage():
    b = Brokerage.load()
    b.actionable_window = ALL_WEEK
    b.save()
    return b


@pytest.fixture
def manager():
    agent = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(agent)
    return agent


@pytest.fixture
def mc(client, manager):
    client.force_login(manager.user)
    return client


@pytest.fixture
def ann():
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def bob():
    return AgentFactory(name="Bob Ray", email="bob@example.com")


def text(response) -> str:
    return response.content.decode()


def lead_data(**fields) -> dict:
    n = next(_n)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            "phone": f"+1312555{n:04d}", "source": "Zillow", "lead_type": "buyer",
            "price": "450000", "city": "Chicago", "zip_code": "60601"}
    data.update(fields)
    return data


def routed(agents: list[Agent], delivery: str = "assign", **fields) -> Lead:
    """A lead routed for real through a catch-all rule over these agents."""
    if not Rule.objects.filter(is_catch_all=True).exists():
        RuleFactory(name="Everything", is_catch_all=True, delivery=delivery,
                    roster=RosterFactory.with_members(agents))
    result = receive_lead(lead_data(**fields), channel="api", received_at=timezone.now())
    return Lead.objects.get(pk=result.lead.pk)


def listed(mc, query: str) -> set[int]:
    response = mc.get(LEADS_URL + query)
    assert response.status_code == 200
    return {lead.pk for lead in response.context["cl"].result_list}


# --- Finding leads ----------------------------------------------------------------------------


def test_pond_filter_lists_unassigned_leads_without_owner(mc, ann):
    pond = LeadFactory(status=Lead.Status.UNASSIGNED)
    LeadFactory(status=Lead.Status.ASSIGNED, owner=ann)
    LeadFactory(status=Lead.Status.OFFERED)
    assert listed(mc, "?pond=yes") == {pond.pk}
    assert pond.pk not in listed(mc, "?pond=no")


def test_overdue_filter_lists_leads_past_their_first_contact_deadline(mc, ann):
    now = timezone.now()
    overdue = LeadFactory(status=Lead.Status.ASSIGNED, owner=ann,
                          first_contact_due_at=now - timedelta(minutes=5))
    LeadFactory(status=Lead.Status.CONTACTED, owner=ann,
                first_contact_due_at=now - timedelta(minutes=5), first_contact_at=now)
    LeadFactory(status=Lead.Status.ASSIGNED, owner=ann,
                first_contact_due_at=now + timedelta(minutes=5))
    assert listed(mc, "?first_contact=overdue") == {overdue.pk}
    assert "⚠ overdue since" in text(mc.get(LEADS_URL + "?first_contact=overdue"))


def test_status_owner_and_source_filters(mc, ann, bob):
    mine = LeadFactory(status=Lead.Status.ASSIGNED, owner=ann, source="Zillow")
    LeadFactory(status=Lead.Status.ASSIGNED, owner=bob, source="Realtor")
    assert listed(mc, f"?owner__id__exact={ann.pk}") == {mine.pk}
    assert listed(mc, "?source=Zillow") == {mine.pk}
    assert mine.pk in listed(mc, "?status__exact=assigned")


@pytest.mark.parametrize("written", ["(312) 555-0199", "312.555.0199", "+1 312 555 0199",
                                     "1-312-555-0199", "5550199"])
def test_search_finds_a_phone_however_it_is_written(mc, written):
    lead = LeadFactory(phone="+13125550199", phone_normalized="+13125550199")
    LeadFactory(phone="+13125550100", phone_normalized="+13125550100")
    assert listed(mc, "?" + f"q={written}".replace("+", "%2B").replace(" ", "+")) == {lead.pk}


def test_search_by_name_and_email(mc):
    lead = LeadFactory(first_name="Jordan", last_name="Smith", email="jordan@example.org")
    LeadFactory(first_name="Pat", last_name="Jones")
    assert listed(mc, "?q=jordan+smith") == {lead.pk}
    assert listed(mc, "?q=JORDAN%40Example.org") == {lead.pk}


def test_filters_offer_only_the_owners_and_sources_leads_have(mc, ann):
    AgentFactory(name="Cy Idle", email="cy@example.com")
    LeadFactory(status=Lead.Status.ASSIGNED, owner=ann, source="Realtor")
    page = text(mc.get(LEADS_URL))
    assert "Ann Lee" in page and "Realtor" in page
    assert "Cy Idle" not in page


def test_the_date_drill_down_steps_aside_while_searching(mc):
    LeadFactory(first_name="Jordan")
    assert mc.get(LEADS_URL).context["cl"].date_hierarchy == "received_at"
    searching = mc.get(LEADS_URL + "?q=jordan")
    assert searching.context["cl"].date_hierarchy is None
    assert len(searching.context["cl"].result_list) == 1


def test_the_lead_list_counts_a_small_table_exactly(mc):
    LeadFactory.create_batch(3)
    assert "3 leads" in text(mc.get(LEADS_URL))


# --- A lead's page ----------------------------------------------------------------------------


def test_lead_page_shows_the_trace_offers_timeline_and_notifications(mc, ann, bob):
    lead = routed([ann, bob], delivery="claim")
    offer = Offer.objects.get(lead=lead)
    notification = Notification.objects.get(lead=lead, recipient=offer.agent)
    Delivery.objects.create(notification=notification, channel="email", status="sent",
                            attempts=1)
    Delivery.objects.create(notification=notification, channel="sms", status="failed",
                            attempts=2, last_error="Unreachable number")

    response = mc.get(f"{LEADS_URL}{lead.pk}/change/")
    assert response.status_code == 200
    page = text(response)
    record = RoutingRecord.objects.get(lead=lead)
    assert escape(record.summary) in page
    for line in render_trace(record.trace):
        assert escape(line.strip()) in page
    assert "Offered" in page and offer.agent.name in page  # the offers table
    assert "Email: Sent" in page and "SMS: Failed (2 attempts) — Unreachable number" in page
    assert "Lead offered" in page
    assert "timeline" in page.lower()
    assert reverse("admin:leads_lead_routing_actions", args=[lead.pk]) in page


def test_routing_records_are_listed_oldest_first(mc, ann):
    lead = LeadFactory()
    now = timezone.now()
    for minutes, summary in ((1, "Second decision"), (0, "First decision")):
        RoutingRecord.objects.create(lead=lead, created_at=now + timedelta(minutes=minutes),
                                     outcome="assigned", reason="rule", summary=summary,
                                     trace=[{"stage": "rule", "text": summary}])
    page = text(mc.get(f"{LEADS_URL}{lead.pk}/change/"))
    assert page.index("First decision") < page.index("Second decision")


def test_editing_a_lead_keeps_its_normalised_contact_and_never_its_owner(mc, ann, bob):
    lead = routed([ann])
    page = mc.get(f"{LEADS_URL}{lead.pk}/change/")
    data = admin_form_data(page)
    data.update({"phone": "(312) 555-0111", "email": "New.Address@Example.org",
                 "owner": bob.pk, "status": "dead", "_save": "Save"})
    response = mc.post(f"{LEADS_URL}{lead.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.phone_normalized == "+13125550111"
    assert lead.email == lead.email_normalized == "new.address@example.org"
    assert (lead.owner_id, lead.status) == (ann.pk, Lead.Status.ASSIGNED)


def test_managers_neither_add_nor_delete_leads_superusers_may_delete(client, mc, ann):
    lead = LeadFactory()
    assert mc.get(LEADS_URL + "add/").status_code == 403
    assert mc.get(f"{LEADS_URL}{lead.pk}/delete/").status_code == 403
    mc.post(f"{LEADS_URL}{lead.pk}/delete/", {"post": "yes"})
    mc.post(LEADS_URL, {"action": "delete_selected", "post": "yes",
                        "_selected_action": [lead.pk]})
    assert Lead.objects.filter(pk=lead.pk).exists()
    root = get_user_model().objects.create_superuser("root@example.com", "root@example.com",
                                                     "pass-12345")
    client.force_login(root)
    assert client.get(LEADS_URL + "add/").status_code == 403
    assert client.post(f"{LEADS_URL}{lead.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Lead.objects.filter(pk=lead.pk).exists()


# --- Moving leads -----------------------------------------------------------------------------


def latest_entry(lead: Lead) -> Activity:
    return lead.activities.order_by("-created_at", "-id").first()


def test_reassign_action_asks_for_the_agent_then_assigns(mc, manager, ann, bob):
    lead = routed([ann])
    other = LeadFactory(status=Lead.Status.UNASSIGNED)
    selected = {"action": "reassign", "_selected_action": [lead.pk, other.pk]}
    page = mc.post(LEADS_URL, selected)
    assert page.status_code == 200
    assert "Reassign leads" in text(page) and "Bob Ray" in text(page)

    response = mc.post(LEADS_URL, {**selected, "apply": "1", "agent": bob.pk}, follow=True)
    assert "2 leads assigned to Bob Ray." in text(response)
    for item in (lead, other):
        item.refresh_from_db()
        assert (item.owner_id, item.status) == (bob.pk, Lead.Status.ASSIGNED)
        entry = latest_entry(item)
        assert entry.kind == Activity.Kind.REASSIGNED and entry.actor == manager
        assert entry.body == "Assigned to Bob Ray by Mia Manager"
    assert Notification.objects.filter(lead=lead, recipient=bob).exists()


def test_reassign_needs_an_agent(mc, ann):
    lead = routed([ann])
    page = mc.post(LEADS_URL, {"action": "reassign", "_selected_action": [lead.pk],
                               "apply": "1", "agent": ""})
    assert page.status_code == 200 and "This field is required" in text(page)
    lead.refresh_from_db()
    assert lead.owner == ann


def test_return_to_routing_action_routes_the_lead_again(mc, manager, ann, bob):
    lead = routed([ann, bob])
    assert lead.owner == ann
    response = mc.post(LEADS_URL, {"action": "return_to_routing_action",
                                   "_selected_action": [lead.pk]}, follow=True)
    assert "returned to routing" in text(response)
    lead.refresh_from_db()
    assert (lead.owner, lead.routing_round) == (bob, 2)  # the rotation's next turn
    entry = latest_entry(lead)
    assert entry.actor == manager
    assert entry.body.startswith("Returned to routing by Mia Manager")
    assert RoutingRecord.objects.filter(lead=lead).count() == 2


def test_move_to_pond_action(mc, manager, ann):
    lead = routed([ann])
    response = mc.post(LEADS_URL, {"action": "move_to_pond_action",
                                   "_selected_action": [lead.pk]}, follow=True)
    assert "1 lead moved to the pond." in text(response)
    lead.refresh_from_db()
    assert (lead.owner, lead.status) == (None, Lead.Status.UNASSIGNED)
    entry = latest_entry(lead)
    assert (entry.kind, entry.actor, entry.body) == (
        Activity.Kind.POND, manager, "Moved to the pond by Mia Manager")
    assert lead.pk in listed(mc, "?pond=yes")


def test_the_lead_page_moves_one_lead(mc, manager, ann, bob):
    lead = routed([ann])
    url = reverse("admin:leads_lead_routing_actions", args=[lead.pk])
    page = mc.get(url)
    assert page.status_code == 200 and "Return to routing" in text(page)
    change_url = f"{LEADS_URL}{lead.pk}/change/"

    response = mc.post(url, {"do": "pond"})
    assert response.status_code == 302 and response.url == change_url
    lead.refresh_from_db()
    assert lead.status == Lead.Status.UNASSIGNED

    assert mc.post(url, {"do": "reassign", "agent": bob.pk}).url == change_url
    lead.refresh_from_db()
    assert lead.owner == bob
    timeline = text(mc.get(change_url))
    assert "Moved to the pond by Mia Manager" in timeline
    assert "Assigned to Bob Ray by Mia Manager" in timeline

    assert mc.post(url, {"do": "return"}).url == change_url
    assert latest_entry(lead).body.startswith("Returned to routing by Mia Manager")


def test_a_superuser_without_an_agent_moves_leads_too(client, ann):
    lead = routed([ann])
    root = get_user_model().objects.create_superuser("root@example.com", "root@example.com",
                                                     "pass-12345")
    client.force_login(root)
    client.post(LEADS_URL, {"action": "move_to_pond_action", "_selected_action": [lead.pk]})
    entry = latest_entry(lead)
    assert (entry.kind, entry.actor, entry.body) == (Activity.Kind.POND, None,
                                                     "Moved to the pond")
