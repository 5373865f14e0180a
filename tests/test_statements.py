"""Rows that belong together in one statement (``routing.statements``): sent apart from their
parameters on PostgreSQL, still counted as every other statement is, the same rows written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import cursors
from leads.intake import receive_lead
from leads.models import Lead
from routing.models import Offer, RotationState, RoutingRecord
from tests.factories import AgentFactory, RosterFactory, RuleFactory


def test_placeholders_are_numbered_and_escaped_percents_kept():
    assert cursors.numbered("SELECT %s, %s WHERE x LIKE 'a%%' AND y = %s") == (
        "SELECT $1, $2 WHERE x LIKE 'a%' AND y = $3")
    assert cursors.numbered("SELECT 1") == "SELECT 1"


@pytest.fixture
def team():
    agents = [AgentFactory(user=None) for _ in range(3)]
    RuleFactory(name="Zillow claims", roster=RosterFactory.with_members(agents),
                delivery="claim", criteria={"source": ["Zillow"]})
    RuleFactory(name="Everyone else", is_catch_all=True,
                roster=RosterFactory.with_members([AgentFactory(user=None)]))
    return agents


def lead(n: int, **more) -> dict:
    return {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            "phone": f"+1646555{n:04d}", "city": "Queens", "price": 450000,
            "external_id": f"vendor-{n}", "source": "Zillow", **more}


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_routed_lead_is_one_counted_statement_with_its_values_sent_apart(team):
    receive_lead(lead(1), channel="file", received_at=timezone.now())  # reads the config
    with CaptureQueriesContext(connection) as captured:
        result = receive_lead(lead(2), channel="file", received_at=timezone.now())
    together = [q["sql"] for q in captured if q["sql"].startswith("WITH made_lead")]
    assert len(together) == 1
    assert "%s" in together[0]  # as written: the values go apart
    assert result.status == "offered"


@pytest.mark.django_db
@pytest.mark.postgres
def test_rows_written_together_read_back_as_given(team):
    """JSON, numbers, dates, empty values and the returned ids survive being sent apart."""
    received = timezone.now()
    result = receive_lead(lead(3, tags=["vip", "spanish"], price=Decimal("450000.50"),
                               message=""), channel="file", received_at=received)
    stored = Lead.objects.get(pk=result.lead.pk)
    assert (stored.tags, stored.price, stored.received_at) == (
        ["vip", "spanish"], Decimal("450000.50"), received)
    assert stored.message == "" and stored.owner_id is None
    record = RoutingRecord.objects.get(lead=stored)
    assert record.outcome == "offered" and record.trace
    offers = list(Offer.objects.filter(lead=stored))
    assert offers and {o.agent_id for o in offers} <= {a.pk for a in team}
    assert all(o.status == Offer.Status.OFFERED and o.deadline > received for o in offers)
    assert RotationState.objects.filter(given__gt=0).exists()


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_statement_run_again_on_a_connection_is_prepared(team):
    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold")
    if threshold is None:
        pytest.skip("prepared statements are off (CONN_MAX_AGE=0)")
    for n in range(threshold + 2):
        receive_lead(lead(10 + n), channel="file", received_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements "
                       "WHERE statement LIKE 'WITH made_lead%%'")
        assert cursor.fetchone()[0] >= 1


@pytest.mark.django_db
@pytest.mark.postgres
def test_errors_are_djangos():
    with pytest.raises(DatabaseError), transaction.atomic(), cursors.bound_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])


@pytest.mark.django_db
def test_a_bound_cursor_takes_djangos_placeholders_on_every_database():
    with CaptureQueriesContext(connection) as captured, cursors.bound_cursor() as cursor:
        cursor.execute("SELECT %s, %s", ["50%", 7])
        assert tuple(cursor.fetchone()) == ("50%", 7)
    assert [q["sql"] for q in captured][-1].startswith("SELECT")
