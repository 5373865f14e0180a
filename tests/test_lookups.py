"""``__in_ids``: a batch's ids written into the statement, the same rows as ``__in``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Activity, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_the_same_rows_as_in_with_the_ids_in_the_statement():
    leads = LeadFactory.create_batch(60)
    wanted = [lead.pk for lead in leads[::2]]
    with CaptureQueriesContext(connection) as queries:
        found = sorted(Lead.objects.filter(pk__in_ids=wanted).values_list("pk", flat=True))
    assert found == sorted(Lead.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == sorted(wanted)
    assert f"IN ({', '.join(map(str, sorted(wanted)))})" in queries[0]["sql"]


def test_foreign_keys_updates_sets_and_repeats():
    first, second = LeadFactory.create_batch(2)
    Activity.objects.record(lead=first, kind=Activity.Kind.NOTE, body="one",
                            created_at=timezone.now())
    Activity.objects.record(lead=second, kind=Activity.Kind.NOTE, body="two",
                            created_at=timezone.now())
    assert set(Activity.objects.filter(lead_id__in_ids={first.pk, first.pk})
               .values_list("body", flat=True)) == {"one"}
    assert Lead.objects.filter(pk__in_ids=iter([second.pk])).update(city="Hoboken") == 1
    assert Lead.objects.get(pk=second.pk).city == "Hoboken"


def test_nothing_matches_no_ids_and_only_integers_go_in():
    LeadFactory()
    assert list(Lead.objects.filter(pk__in_ids=[])) == []
    with pytest.raises(ValueError):
        list(Lead.objects.filter(pk__in_ids=["1) OR (1=1"]))
