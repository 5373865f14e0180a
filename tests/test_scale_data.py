"""The scale data builder (``build_scale_data``): a small build on PostgreSQL, and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from agents.models import Agent, Pause
from leads.models import Activity, Lead, Submission
from notifications.models import Delivery, Notification
from routing import scale_data
from routing.models import Handoff, Offer, RoutingRecord, Rule
from tests.factories import AgentFactory

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def unmarked_database():
    """Each test starts from a database no build has marked, and leaves it so."""

    def forget() -> None:
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        with connection.cursor() as cursor:
            cursor.execute(f"COMMENT ON DATABASE {name} IS NULL")

    forget()
    yield
    forget()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_builds_a_brokerage_with_a_year_of_routed_leads(unmarked_database):
    report = scale_data.build(leads=200, activities=700, using="default", now=NOW)

    assert report.leads == Lead.objects.count() == 200
    assert report.activities == Activity.objects.count() == 700
    assert 55 <= Agent.objects.count() <= 65
    assert Rule.objects.count() == 15
    assert Rule.objects.filter(is_catch_all=True).count() == 1
    assert set(Rule.objects.values_list("selection", flat=True)) == set(Rule.Selection)
    assert set(Rule.objects.values_list("delivery", flat=True)) >= {"assign", "claim",
                                                                     "first_to_claim"}
    # Spread over twelve months up to now: 30 days hold about a twelfth.
    last_month = Lead.objects.filter(received_at__gte=NOW - timedelta(days=30)).count()
    assert 8 <= last_month <= 30
    assert Lead.objects.filter(received_at__gt=NOW).count() == 0
    assert len(set(Lead.objects.values_list("source", flat=True))) >= 5
    # Every lead has its routing record; owners got their leads by the rule's roster.
    assert not Lead.objects.filter(routing_records__isnull=True).exists()
    for lead in Lead.objects.filter(owner__isnull=False, isa__isnull=True,
                                    rule__delivery=Rule.Delivery.CLAIM,
                                    routing_round=1).exclude(owner__role="manager"):
        assert lead.offers.filter(status=Offer.Status.CLAIMED, agent=lead.owner).exists()
    statuses = set(Offer.objects.values_list("status", flat=True))
    assert {"claimed", "declined", "expired"} <= statuses
    assert RoutingRecord.objects.filter(reason="escalated").exists()
    assert Submission.objects.filter(outcome=Submission.Outcome.REJECTED).exists()
    assert Handoff.objects.exists()
    assert Pause.objects.filter(ended_at__isnull=True).exists()
    assert RoutingRecord.objects.filter(reason="handoff", handoff_target__isnull=False).exists()
    assert RoutingRecord.objects.exclude(skipped_turns=[]).exists()
    assert Notification.objects.filter(event=Notification.Event.LEAD_OFFERED).exists()
    assert Delivery.objects.filter(status=Delivery.Status.FAILED).exists()
    assert Lead.objects.filter(first_contact_at__isnull=False).count() > 100
    assert scale_data.built_size("default") == (200, 700)

    # The database it built, it builds again: from nothing, not on top.
    again = scale_data.build(leads=100, using="default", now=NOW)
    assert again.leads == Lead.objects.count() == 100
    assert Activity.objects.count() == 300  # three per lead by default
    assert Agent.objects.count() < 70


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refuses_a_database_holding_data_it_did_not_write(unmarked_database):
    AgentFactory(name="Real agent", email="real@example.com")

    with pytest.raises(CommandError, match="did not write"):
        call_command("build_scale_data", "--leads", "10", stdout=StringIO())

    assert list(Agent.objects.values_list("email", flat=True)) == ["real@example.com"]


def test_refuses_sqlite(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")

    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("build_scale_data", "--leads", "10", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_pages_answers_every_page_and_leaves_no_login_behind(unmarked_database):
    scale_data.build(leads=200, activities=600, using="default", now=NOW)
    out = StringIO()
    call_command("bench_pages", "--runs", "1", stdout=out)
    printed = out.getvalue()
    for page in ("Offers", "My leads", "Admin lead list, search by phone", "Admin lead page",
                 "Manager API leads, status and source"):
        assert page in printed
    assert "NO (" not in printed  # every page answered 200
    assert not get_user_model().objects.exists()
