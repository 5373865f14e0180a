"""Where people land: an ISA on their queue, everyone else on their offers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.models import Agent
from agents.services import sync_access
from tests.factories import AgentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def log_in(client, email: str):
    return client.post(reverse("login"), {"username": email, "password": "pass-12345"},
                       follow=True)


def test_an_isa_who_logs_in_lands_on_their_queue(client):
    AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    response = log_in(client, "ivy@example.com")
    assert response.redirect_chain[-1][0] == reverse("isa-queue")
    assert "My queue" in response.content.decode()


def test_an_agent_who_logs_in_still_lands_on_their_offers(client):
    AgentFactory(name="Ann Lee", email="ann@example.com")
    response = log_in(client, "ann@example.com")
    assert response.redirect_chain[-1][0] == reverse("offers")
    assert "No offers right now." in response.content.decode()


def test_a_manager_lands_on_the_offers(client):
    boss = AgentFactory(name="Max Boss", email="max@example.com", role=Agent.Role.MANAGER)
    sync_access(boss)
    response = log_in(client, "max@example.com")
    assert response.redirect_chain[-1][0] == reverse("offers")


def test_opening_the_site_logged_out_comes_back_to_the_right_page(client):
    """The home page sends a visitor to log in and back home, not to the offers, so an ISA
    who opens the site's address ends on the queue."""
    AgentFactory(name="Ivy Isa", email="ivy@example.com", role=Agent.Role.ISA)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("login") + "?next=/"
    response = client.post(response.url, {"username": "ivy@example.com",
                                          "password": "pass-12345"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("isa-queue")


def test_the_home_page_and_the_brand_link_go_by_role(client):
    ivy = AgentFactory(name="Ivy Isa", role=Agent.Role.ISA)
    client.force_login(ivy.user)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("isa-queue")
    ann = AgentFactory(name="Ann Lee")
    client.force_login(ann.user)
    assert client.get("/").url == reverse("offers")
