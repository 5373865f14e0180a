"""The demo brokerage that `make run` loads: every kind of rule, and logins that work."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from agents.models import Agent
from leads.models import Lead
from routing.models import Rule

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def test_demo_brokerage_has_people_of_every_role_and_rules_of_every_kind(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    seed()
    roles = set(Agent.objects.values_list("role", flat=True))
    assert {"agent", "isa", "lender", "manager"} <= roles
    assert Agent.objects.filter(role="agent").count() >= 10
    assert Agent.objects.filter(role="isa").count() == 2
    selections = set(Rule.objects.values_list("selection", flat=True))
    deliveries = set(Rule.objects.values_list("delivery", flat=True))
    assert {"rotation", "on_duty", "territory"} <= selections
    assert {"assign", "claim", "first_to_claim"} <= deliveries
    assert Rule.objects.filter(is_catch_all=True).count() == 1
    assert Lead.objects.count() == 24 + 12  # and the ISAs' queues: 2 ISAs, 6 stages


def test_demo_prints_logins_that_work_and_loads_only_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    text = seed()
    assert "manager@example.com" in text and "demo-pass-2026" in text
    isa = Agent.objects.filter(role="isa").order_by("id").first()
    assert isa.email in text
    user = authenticate(username="manager@example.com", password="demo-pass-2026")
    assert user is not None and user.is_staff
    again = seed()
    assert "manager@example.com" in again
    assert Lead.objects.count() == 24 + 12  # a second run changes nothing


def test_the_agents_demo_leads_are_worked_to_realistic_stages(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    text = seed()
    assert "Agents' leads: " in text
    worked = Lead.objects.filter(owner__role="agent", stage__isnull=False)
    keys = set(worked.values_list("stage__key", flat=True))
    assert {"attempting", "contacted"} <= keys, text
    for lead in worked.filter(stage__outcome="lost"):
        assert lead.status == Lead.Status.DEAD and lead.lost_reason
    assert all(lead.first_contact_at for lead in worked)
