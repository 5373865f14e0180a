"""The agent's "My turn" page and ``GET /api/v1/agent/fairness/``: their standing and missed
turns, never another lead's contact details or a colleague's email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from leads.intake import receive_lead
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db
_n = iter(range(1, 1_000_000))


@pytest.fixture(autouse=True)
def _fast_passwords(fast_passwords):
    """Every test here logs in: the suite's fast hasher."""


@pytest.fixture
def team():
    """Ann, Bob and Cat on the Buyers rotation; Bob was paused for two leads this morning."""
    ann = AgentFactory(name="Ann Lee", email="ann@example.com")
    bob = AgentFactory(name="Bob Ray", email="bob@example.com")
    cat = AgentFactory(name="Cat Cho", email="cat@example.com")
    RuleFactory(name="Buyers", is_catch_all=True,
                roster=RosterFactory.with_members([ann, bob, cat]))
    now = timezone.now()
    arrive(now - timedelta(minutes=30))  # Ann
    bob.accepting_leads = False
    bob.save()
    arrive(now - timedelta(minutes=20))  # Cat, Bob passed over
    arrive(now - timedelta(minutes=10))  # Ann
    bob.accepting_leads = True
    bob.save()
    return type("Team", (), {"ann": ann, "bob": bob, "cat": cat})


def arrive(at):
    n = next(_n)
    return receive_lead({"first_name": "Pat", "last_name": f"Zzlead{n}",
                         "email": f"pat{n}@example.org", "phone": f"+1312555{n:04d}"},
                        channel="api", received_at=at)


def no_other_lead_or_colleague_email(text: str) -> None:
    assert "@example.org" not in text and "+1312555" not in text and "Zzlead" not in text
    assert "ann@example.com" not in text and "cat@example.com" not in text


def test_my_turn_page_shows_the_standing_and_the_missed_turns(client, team):
    client.force_login(team.bob.user)
    response = client.get(reverse("my-turn"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/my-turn/" aria-current="page">My turn</a>' in html
    assert "Buyers" in html
    assert "The next lead is yours." in html  # after Ann, Bob is next
    assert "You got 0 of its 3 leads; your share is 1." in html
    assert "paused" in html
    no_other_lead_or_colleague_email(html)


def test_my_turn_page_for_an_agent_waiting_names_the_next_by_first_name(client, team):
    client.force_login(team.cat.user)
    html = client.get(reverse("my-turn")).content.decode()
    assert "Bob is next; your turn comes after 1 more lead." in html
    assert "Bob Ray" not in html
    assert "You missed no turn this week." in html
    no_other_lead_or_colleague_email(html)


def test_my_turn_page_without_rotations(client):
    loner = AgentFactory(name="Lone Agent")
    client.force_login(loner.user)
    html = client.get(reverse("my-turn")).content.decode()
    assert "You are not in any rotation yet." in html


def test_agent_fairness_api(team):
    token, _ = Token.objects.get_or_create(user=team.bob.user)
    api = Client(headers={"Authorization": f"Token {token.key}"})
    response = api.get("/api/v1/agent/fairness/")
    assert response.status_code == 200
    body = response.json()
    [buyers] = body["rotations"]
    assert (buyers["kind"], buyers["name"], buyers["next"], buyers["turns_before"]) == (
        "rule", "Buyers", "you", 0)
    assert (buyers["received"], buyers["leads"], buyers["expected"]) == (0, 3, 1.0)
    assert [m["reason"] for m in buyers["missed"]] == ["paused"]
    assert set(buyers["missed"][0]) == {"at", "reason"}  # no lead id
    no_other_lead_or_colleague_email(response.content.decode())
    assert Client().get("/api/v1/agent/fairness/").status_code == 401
