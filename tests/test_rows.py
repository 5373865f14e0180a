"""Many new rows from plain values (``config.rows``): ``COPY`` on PostgreSQL, ``bulk_create``
elsewhere, the same rows stored either way."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config.rows import COPY_FROM, insert_instances
from leads.models import Activity
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_burst_of_entries_is_stored_as_given_each_with_its_id():
    lead = LeadFactory()
    now = timezone.now()
    shared = {"agent": "ann@example.com", "eligible": True}  # one step in many documents
    entries = [Activity(lead=lead, kind=Activity.Kind.EXPIRED, created_at=now,
                        body=f"Offer {i} expired", data=[shared, {"n": i}])
               for i in range(COPY_FROM + 5)]
    insert_instances(entries)
    assert all(entry.pk for entry in entries)
    assert len({entry.pk for entry in entries}) == len(entries)
    stored = {a.pk: a for a in Activity.objects.filter(lead=lead)}
    for i, entry in enumerate(entries):
        row = stored[entry.pk]
        assert (row.kind, row.body, row.created_at) == ("expired", f"Offer {i} expired", now)
        assert row.data == [shared, {"n": i}]


def test_a_few_rows_go_in_as_ever():
    lead = LeadFactory()
    entries = [Activity(lead=lead, kind=Activity.Kind.NOTE, created_at=timezone.now(),
                        body="a note")]
    insert_instances(entries)
    assert Activity.objects.get(pk=entries[0].pk).body == "a note"
