"""Fixtures shared by the test suite."""

from __future__ import annotations

import pytest

from routing.selectors import _cache


@pytest.fixture(autouse=True)
def _fresh_routing_snapshot():
    """Each test reads the routing configuration it built, not a previous test's."""
    _cache.clear()
    yield
    _cache.clear()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need real row locks: they skip on SQLite."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
