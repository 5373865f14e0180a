"""Bulk inserts through ``COPY`` (``config.bulk``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.bulk import COPY_FROM, copy_insert
from leads.models import Activity
from tests.factories import LeadFactory

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, COPY_FROM + 5])
def test_rows_are_saved_with_their_ids_as_from_bulk_create(count):
    """A burst's timeline entries are written at once and come back saved, each with its id
    (what the notices and hand-offs that follow read), few or many."""
    lead = LeadFactory()
    made = copy_insert([Activity(lead=lead, kind=Activity.Kind.EXPIRED, created_at=AT,
                                 body=f"Agent {i} did not claim it in time") for i in range(count)])
    stored = {a.pk: a.body for a in Activity.objects.filter(lead=lead, created_at=AT)}
    assert {a.pk: a.body for a in made} == stored and len(stored) == count
    assert all(not a._state.adding for a in made)
    later = Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, created_at=AT)
    assert later.pk > max(stored)  # the ids came from the table's own sequence


@pytest.mark.django_db
def test_nothing_to_insert():
    assert copy_insert([]) == []
