"""Managers move between the agent pages and the admin in one tap, both ways."""

from __future__ import annotations

import pytest

from agents.models import Agent
from tests.factories import AgentFactory, LeadFactory
from tests.test_rule_admin import managers_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    manager = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    manager.user.is_staff = True
    manager.user.save()
    manager.user.groups.add(managers_group())
    client.force_login(manager.user)
    return client


def test_managers_get_an_admin_tab_agents_do_not(client, manager_client):
    page = manager_client.get("/offers/").content.decode()
    assert '<a href="/admin/">Admin</a>' in page
    agent = AgentFactory(name="Ann Lee")
    client.force_login(agent.user)
    assert ">Admin</a>" not in client.get("/offers/").content.decode()


def test_the_admin_leads_back_to_the_agent_pages_and_to_a_leads_page(manager_client):
    index = manager_client.get("/admin/").content.decode()
    assert '<a href="/">Agent pages</a>' in index
    assert "favicon.svg" in index and "admin/leadrouter.css" in index
    lead = LeadFactory()
    page = manager_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert f'href="/leads/{lead.pk}/" id="agent-page-link">Open the lead&#x27;s page' in page \
        or f'href="/leads/{lead.pk}/" id="agent-page-link">Open the lead\'s page' in page
    assert manager_client.get(f"/leads/{lead.pk}/").status_code == 200  # managers see it
