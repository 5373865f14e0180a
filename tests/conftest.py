"""Fixtures shared by the test suite."""

from __future__ import annotations

import pytest

from routing import cap_locks
from routing.selectors import _cache
from tests.receivers import FakeFub, Receiver, serving


@pytest.fixture(autouse=True)
def _fresh_routing_snapshot():
    """Each test reads the routing configuration it built, not a previous test's, and locks
    capped agents as if it had never counted them."""
    _cache.clear()
    cap_locks.forget()
    yield
    _cache.clear()
    cap_locks.forget()


@pytest.fixture(autouse=True)
def _fresh_shared_cache(request, django_db_blocker):
    """Limits count in the shared cache, a database table: each test starts from zero, also
    after a transactional test (whose cache rows no rollback removes)."""
    yield
    if "_django_db_helper" in request.fixturenames:
        from django.core.cache import cache

        with django_db_blocker.unblock():
            cache.clear()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need real row locks: they skip on SQLite."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- Browser tests (tests/browser.py) ---------------------------------------------------------


@pytest.fixture
def fast_passwords(settings):
    """Logging in through the login page hashes the password: a fast hasher for the tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser():
    """Open as many separate phone-sized browsers (separate logins) as a test needs."""
    from tests.browser import PHONE, start_chrome  # selenium only for the browser tests

    drivers = []

    def open_browser():
        driver = start_chrome(width=PHONE[0], height=PHONE[1], phone=True)
        drivers.append(driver)
        return driver

    yield open_browser
    for driver in drivers:
        driver.quit()


@pytest.fixture
def driver():
    """One desktop-sized browser (the admin)."""
    from tests.browser import DESKTOP, start_chrome

    chrome = start_chrome(width=DESKTOP[0], height=DESKTOP[1])
    yield chrome
    chrome.quit()


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (tests/receivers.py): ``.url``, ``.requests``."""
    yield from serving(Receiver())


@pytest.fixture
def fub():
    """A fake Follow Up Boss on 127.0.0.1: ``.base_url``, ``.requests`` (JSON bodies)."""
    yield from serving(FakeFub())


@pytest.fixture
def manager_client(client):
    """The test client logged in as Mia, a manager (the Managers group's permissions)."""
    from agents.models import Agent
    from agents.services import sync_access
    from tests.factories import AgentFactory

    manager = AgentFactory(name="Mia Manager", email="mia@example.com", role=Agent.Role.MANAGER)
    sync_access(manager)
    client.force_login(manager.user)
    return client
