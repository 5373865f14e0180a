"""``field__any=[...]`` (``config.lookups``): the rows of ``__in``, one array on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Activity, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_any_finds_the_rows_in_finds():
    leads = LeadFactory.create_batch(4)
    entries = [Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, body="seen",
                                       created_at=lead.received_at) for lead in leads]
    wanted = [leads[0].pk, leads[2].pk, leads[2].pk, None]
    assert (sorted(Lead.objects.filter(pk__any=wanted).values_list("pk", flat=True))
            == sorted(Lead.objects.filter(pk__in=wanted).values_list("pk", flat=True))
            == [leads[0].pk, leads[2].pk])
    assert sorted(Activity.objects.filter(lead_id__any=wanted).values_list("pk", flat=True)) == [
        entries[0].pk, entries[2].pk]
    assert list(Lead.objects.filter(pk__any=[])) == []
    assert Activity.objects.filter(pk__any=[entries[1].pk]).update(body="read") == 1


def test_a_long_list_is_one_parameter_on_postgresql():
    ids = list(range(1, 501))
    with CaptureQueriesContext(connection) as queries:
        list(Lead.objects.filter(pk__any=ids))
    sql = queries.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and sql.count(",") < 550
    else:
        assert " IN (" in sql
