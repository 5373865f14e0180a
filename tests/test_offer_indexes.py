"""An offer's indexes: every offer written or expired keeps each, so none is kept twice."""

from __future__ import annotations

import pytest
from django.db import connection

from routing.models import Offer

pytestmark = pytest.mark.django_db


def test_reads_by_lead_use_the_unique_lead_agent_round_index_alone():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Offer._meta.db_table)
    by_columns = [tuple(c["columns"]) for c in found.values() if c["index"] or c["unique"]]
    assert ("lead_id", "agent_id", "round") in by_columns
    assert ("lead_id",) not in by_columns
