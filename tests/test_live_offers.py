"""An open offers page learns of a new offer within a second or two: it polls its list with the
list's ETag and gets an empty 304 while nothing changed."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.intake import receive_lead
from notifications.models import Notification
from notifications.services import notify
from routing.models import Brokerage
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]
HX = {"HX-Request": "true"}


def set_up_claim_rule(agents) -> None:
    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    RuleFactory(name="Everyone", is_catch_all=True, delivery="claim",
                roster=RosterFactory.with_members(agents))


def route(**fields):
    data = {"first_name": "Pat", "last_name": "Buyer", "email": "pat@example.org",
            "phone": "+13125550199", "source": "Zillow", "lead_type": "buyer",
            "price": "450000", "city": "Hoboken", **fields}
    result = receive_lead(data, channel="api", received_at=timezone.now())
    assert result.status == "offered", result.as_dict()
    return result.lead


def poll(client, etag: str):
    return client.get(reverse("offers"), headers={**HX, "If-None-Match": etag})


def test_an_unchanged_list_is_an_empty_304_and_a_new_offer_or_notice_is_not(client):
    ann = AgentFactory(name="Ann Lee")
    set_up_claim_rule([ann])
    route()
    client.force_login(ann.user)
    page = client.get(reverse("offers"))
    assert page.status_code == 200
    etag = page["ETag"]
    assert f'data-etag="{etag}"' in page.text.replace("&quot;", '"')
    assert "<title>(1) Offers" in page.text
    assert "HX-Request" in page["Vary"] and "no-cache" in page["Cache-Control"]

    # Nothing changed: an empty 304, cheap. (Measured over 50 polls.)
    poll(client, etag)  # warm
    started = time.perf_counter()
    for _ in range(50):
        unchanged = poll(client, etag)
    per_poll_ms = (time.perf_counter() - started) * 1000 / 50
    with CaptureQueriesContext(connection) as queries:
        unchanged = poll(client, etag)
    print(f"\n304 answer: {per_poll_ms:.2f} ms, {len(queries)} queries")
    assert unchanged.status_code == 304 and unchanged.content == b""
    # The login's own (brokerage time zone, session, user, agent) and the ETag's two.
    assert len(queries) <= 6

    # A new offer: the list, with both offers and the new count for the title.
    route(first_name="Sam", last_name="Seller", email="sam@example.org", phone="")
    changed = poll(client, etag)
    assert changed.status_code == 200
    assert "Sam Seller" in changed.text and 'data-offers="2"' in changed.text
    assert changed["ETag"] != etag

    # A new notice only: the list again (the bell's count moves).
    etag = changed["ETag"]
    assert poll(client, etag).status_code == 304
    notify([ann.pk], Notification.Event.LEAD_ESCALATED, "Escalated", now=timezone.now())
    bell = poll(client, etag)
    assert bell.status_code == 200 and 'data-unread="3"' in bell.text


def test_an_ended_offer_changes_the_list(client):
    ann = AgentFactory()
    set_up_claim_rule([ann])
    lead = route()
    client.force_login(ann.user)
    etag = client.get(reverse("offers"))["ETag"]
    offer = lead.offers.get()
    client.post(reverse("offer-decline", args=[offer.pk]))
    after = poll(client, etag)
    assert after.status_code == 200 and 'data-offers="0"' in after.text
    assert "No offers right now" in after.text
