"""Past one machine, on PostgreSQL and Redis: two gunicorn servers, two task clusters
(``qcluster``, the Redis broker) and two clocks (``run_clock --loop``) on one database. A burst
of leads through both servers, claims from both at once, offers left to expire, the working
clock killed: every lead stored once, every offer claimed or expired once, every message sent
once. Small (a few dozen leads); every process is stopped, by its own id, whatever happens."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from leads.management.commands.bench_api import _free_port, database_url
from routing.management.commands.bench_scaleout import (
    build_brokerage,
    prove,
    redis_available,
    running,
)
from routing.models import Offer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/7"


@pytest.fixture
def deployment(transactional_db, tmp_path):
    """The six processes on the test database, a queue of their own on Redis; stopped (and
    the queue removed) when the test ends, passed or failed. Their logs stay in tmp_path."""
    pytest.importorskip("gunicorn")
    if not redis_available(REDIS_URL):
        pytest.skip(f"needs Redis at {REDIS_URL} (set REDIS_URL)")
    with running(database=database_url(connection.settings_dict), redis_url=REDIS_URL,
                 ports=(_free_port(), _free_port()), web_workers=1, q_workers=2,
                 work=tmp_path) as started:
        yield started


def test_two_servers_two_clusters_and_two_clocks_do_everything_once(deployment):
    team = build_brokerage(agents=4, push_origin=deployment.sinks.pushes.origin)
    figures = prove(deployment, team, leads=24, retried=4, claims=8, clients=6, limit=60)

    assert figures.problems() == []
    assert figures.duplicates == 0
    # A vendor's retry sent to both servers at once: one lead, the same answer from both.
    assert figures.leads_stored == 24
    assert figures.burst.retries_one_lead == 4
    # The same offer claimed through both servers at once: one 200, one 409, every time.
    assert dict(figures.claims.answers) == {(200, 409): 8}
    # 16 offers expired, then their 16 successors, each by one clock: the standby took the
    # lease over once the first one was killed, so the second wave is all its own (on a slow
    # machine it may also have taken part of the first); 16 offers to third agents still open.
    assert figures.offers[Offer.Status.CLAIMED] == 8
    assert sum(figures.expired_by_clock.values()) == 32
    assert figures.expired_by_clock.get("clock2", 0) >= 16
    assert figures.offers[Offer.Status.OFFERED] == 16
    assert figures.failover_seconds is not None
    # One offered notice per offer (24 + 16 + 16), each by email, text and push, sent once.
    for channel in ("email", "sms", "push"):
        assert figures.sent(channel) == figures.delivered[channel] == 56
