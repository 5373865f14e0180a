"""The manager's dashboard (the admin's front page): what needs attention, each a link to the
list that shows it, and today's and this week's leads by source."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from agents.services import sync_access
from leads.models import Lead
from notifications.models import Delivery, Notification, WebhookDelivery
from routing.models import Offer, RoutingRecord
from routing.reports import dashboard
from tests.factories import (
    AgentFactory,
    LeadFactory,
    RosterFactory,
    RuleFactory,
    WebhookEndpointFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def manager_client(client):
    agent = AgentFactory(role=Agent.Role.MANAGER, name="Mia Manager")
    sync_access(agent)
    client.force_login(agent.user)
    return client


@pytest.fixture
def busy_day():
    """Two leads in the pond (the oldest 2 hours), an offer ending in 3 minutes and one in an
    hour, an overdue first contact, an escalation, a paused agent, a failed email and a failed
    webhook."""
    now = timezone.now()
    ann = AgentFactory(name="Ann Lee")
    paused = AgentFactory(name="Pat Paused", accepting_leads=False)
    RuleFactory(name="Catch-all", is_catch_all=True, priority=99,
                roster=RosterFactory.with_members([ann]))
    RuleFactory(name="Luxury", roster=RosterFactory.with_members([paused]))
    LeadFactory(source="Zillow", received_at=now - timedelta(hours=2))
    LeadFactory(source="Zillow", received_at=now - timedelta(minutes=10))
    offered = LeadFactory(source="Website", status=Lead.Status.OFFERED, received_at=now)
    for agent, minutes in ((ann, 3), (paused, 60)):
        Offer.objects.create(lead=offered, agent=agent, offered_at=now, clock_starts_at=now,
                             deadline=now + timedelta(minutes=minutes))
    late = LeadFactory(source="Zillow", owner=ann, status=Lead.Status.ASSIGNED,
                       received_at=now - timedelta(hours=1), assigned_at=now - timedelta(hours=1),
                       first_contact_due_at=now - timedelta(minutes=1))
    RoutingRecord.objects.create(lead=late, created_at=now, outcome="unassigned",
                                 reason="escalated", summary="Nobody claimed it")
    notice = Notification.objects.create(recipient=ann, event="lead_offered", title="New lead",
                                         created_at=now)
    Delivery.objects.create(notification=notice, channel="email", status="failed")
    Delivery.objects.create(notification=notice, channel="sms", status="sent")
    WebhookDelivery.objects.create(endpoint=WebhookEndpointFactory(), event="lead.created",
                                   event_id=uuid.uuid4(), payload={}, created_at=now,
                                   status="failed")
    return now


def test_attention_counts_what_waits(busy_day):
    items = {a.key: a for a in dashboard.attention(now=busy_day, tz_name="America/New_York")}
    assert items["pond"].count == 2 and items["pond"].detail == "oldest waiting 2 h"
    assert items["expiring"].count == 1
    assert items["overdue"].count == 1
    assert items["escalated"].count == 1
    assert items["paused"].count == 1
    assert items["failed"].count == 1 and items["webhooks"].count == 1


def test_rules_nobody_can_receive_from(busy_day):
    found = dashboard.unreachable_rules(now=busy_day)
    assert [(r.name, r.why) for r in found] == [("Luxury", "paused (not accepting leads)")]


def test_each_count_links_to_the_list_that_shows_it(manager_client, busy_day):
    expected = {"pond": 2, "expiring": 1, "overdue": 1, "escalated": 1, "paused": 1,
                "failed": 1, "webhooks": 1}
    for item in dashboard.attention(now=busy_day, tz_name="America/New_York"):
        response = manager_client.get(item.url)
        assert response.status_code == 200, item.url
        assert response.context["cl"].result_count == expected[item.key], item.key


def test_front_page_is_the_dashboard_above_the_app_list(manager_client, busy_day):
    response = manager_client.get("/admin/")
    text = response.content.decode()
    assert response.status_code == 200
    assert "Needs attention now" in text and "Leads in the pond" in text
    assert "oldest waiting 2 h" in text
    assert "Rules nobody can receive from now" in text and "Luxury" in text
    assert "Today&#x27;s leads by source" in text or "Today's leads by source" in text
    assert "This week" in text and "Zillow" in text
    for slug in ("speed", "offers", "accountability", "fairness", "sources"):
        assert f"/admin/reports/{slug}/" in text
    assert 'id="app-list"' in text or "app-leads" in text  # the app list stays below
    csv = manager_client.get("/admin/reports/speed/?period=today&format=csv&table=source")
    assert "Zillow" in csv.content.decode()


def test_dashboard_queries_do_not_grow_with_the_leads(manager_client, busy_day):
    manager_client.get("/admin/")  # the routing snapshot and the session are read once
    with CaptureQueriesContext(connection) as few:
        manager_client.get("/admin/")
    for _ in range(20):
        LeadFactory(source="Zillow", received_at=busy_day)
    with CaptureQueriesContext(connection) as many:
        manager_client.get("/admin/")
    assert len(many) == len(few)


def test_a_calm_day_shows_zeros(manager_client):
    response = manager_client.get("/admin/")
    assert response.status_code == 200
    assert "Needs attention now" in response.content.decode()
