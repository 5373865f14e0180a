"""My leads: a phone found however it is written, the stage, source, status and "needs
attention" filters, the three sorts, pages that keep the search, and a page's cost."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from leads.models import Activity, Lead, LeadSource
from leads.search import search_leads
from leads.services import log_activity, set_stage
from tests.factories import AgentFactory, LeadFactory, default_stages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ann() -> Agent:
    return AgentFactory(name="Ann Lee", email="ann@example.com")


@pytest.fixture
def signed_in(client, ann):
    client.force_login(ann.user)
    return client


def owned(agent: Agent, **fields) -> Lead:
    fields.setdefault("status", Lead.Status.ASSIGNED)
    return LeadFactory(owner=agent, assigned_at=timezone.now(), **fields)


def names(client, **params) -> list[str]:
    """The leads the list shows, in order (by last name)."""
    html = client.get(reverse("my-leads"), params).content.decode()
    return re.findall(r"<strong>Pat (\w+)</strong>", html)


@pytest.mark.parametrize("written", ["(555) 123-4567", "+15551234567", "555.123.4567",
                                     "555 123 4567", "1-555-123-4567", "1234567"])
def test_a_phone_is_found_however_it_is_written(signed_in, ann, written):
    owned(ann, last_name="Phoned", phone="+15551234567", phone_normalized="+15551234567")
    owned(ann, last_name="Other", phone="+15559876543", phone_normalized="+15559876543")
    assert names(signed_in, q=written) == ["Phoned"]


def test_names_and_emails_in_any_case_every_word(signed_in, ann):
    owned(ann, last_name="Reyes", email="dana.reyes@example.org")
    owned(ann, last_name="Cohen", email="eli@example.org")
    assert names(signed_in, q="REYES") == ["Reyes"]
    assert names(signed_in, q="pat dana.reyes@EXAMPLE") == ["Reyes"]
    assert names(signed_in, q="pat nobody") == []


def test_only_my_leads_are_searched(signed_in, ann):
    owned(AgentFactory(), last_name="Theirs")
    owned(ann, last_name="Mine")
    assert names(signed_in, q="pat") == ["Mine"]


def test_one_search_for_the_admin_the_apis_and_my_leads():
    lead = LeadFactory(first_name="Jordan", phone="+13125550199", phone_normalized="+13125550199")
    LeadFactory(first_name="Sam")
    leads = Lead.objects.all()
    assert list(search_leads(leads, "(312) 555-0199")) == [lead]
    assert list(search_leads(leads, '"jordan"')) == [lead]
    assert search_leads(leads, "  ").count() == 2


def test_filters_stage_source_status(signed_in, ann):
    stages = default_stages()
    LeadSource.objects.create(name="Zillow")
    fresh = owned(ann, last_name="Fresh", source="Zillow")
    met = owned(ann, last_name="Met", source="Website")
    log_activity(met, ann, "call", "", now=timezone.now())
    set_stage(met, stages["met"], ann)
    closed = owned(ann, last_name="Closed", source="Zillow")
    log_activity(closed, ann, "call", "", now=timezone.now())
    set_stage(closed, stages["closed"], ann)
    assert names(signed_in, stage="new") == [fresh.last_name]  # never moved: New
    assert names(signed_in, stage="met") == ["Met"]
    assert names(signed_in, source="zillow") == ["Closed", "Fresh"]
    assert names(signed_in, status="closed") == ["Closed"]
    assert names(signed_in, source="Zillow", stage="closed") == ["Closed"]
    assert sorted(names(signed_in, stage="bogus", status="bogus")) == ["Closed", "Fresh", "Met"]
    html = signed_in.get(reverse("my-leads"), {"stage": "met"}).content.decode()
    assert '<option value="met" selected>' in html and '<option value="Zillow">' in html


def test_needs_attention_overdue_follow_up_or_quiet_for_days(signed_in, ann, settings):
    settings.LEADS_QUIET_DAYS = 7
    now = timezone.now()
    busy = owned(ann, last_name="Busy")
    quiet = owned(ann, last_name="Quiet", received_at=now - timedelta(days=20))
    late = owned(ann, last_name="Late", follow_up_at=now - timedelta(hours=2))
    done = owned(ann, last_name="Done", status=Lead.Status.CLOSED)
    for lead, days in ((busy, 1), (quiet, 9), (late, 1), (done, 30)):
        Activity.objects.create(lead=lead, kind=Activity.Kind.CALL, actor=ann,
                                created_at=now - timedelta(days=days))
    assert sorted(names(signed_in, attention="1")) == ["Late", "Quiet"]
    html = signed_in.get(reverse("my-leads"), {"attention": "1"}).content.decode()
    assert "Follow-up overdue" in html and "Quiet for 7+ days" in html


def test_sorts_newest_next_follow_up_last_activity(signed_in, ann):
    now = timezone.now()
    a = owned(ann, last_name="A", received_at=now - timedelta(days=3),
              follow_up_at=now + timedelta(hours=5))
    b = owned(ann, last_name="B", received_at=now - timedelta(days=2))
    c = owned(ann, last_name="C", received_at=now - timedelta(days=1),
              follow_up_at=now + timedelta(hours=1))
    for lead, hours in ((a, 1), (b, 30), (c, 10)):
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, actor=ann,
                                created_at=now - timedelta(hours=hours))
    assert names(signed_in) == ["C", "B", "A"]
    assert names(signed_in, sort="follow_up") == ["C", "A", "B"]  # none set: last
    assert names(signed_in, sort="activity") == ["A", "C", "B"]
    assert names(signed_in, sort="bogus") == ["C", "B", "A"]


def test_pages_keep_the_search_filters_and_sort(signed_in, ann, monkeypatch):
    monkeypatch.setattr("leads.views.LEADS_PER_PAGE", 2)
    for n in range(5):
        owned(ann, last_name=f"Z{n}", source="Zillow",
              received_at=timezone.now() - timedelta(hours=n))
    owned(ann, last_name="Elsewhere", source="Website")
    html = signed_in.get(reverse("my-leads"),
                         {"q": "pat", "source": "Zillow", "sort": "newest"}).content.decode()
    assert "5 leads found" in html and "Page 1 of 3" in html
    link = re.search(r'href="(\?[^"]*page=2[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "q=pat" in link and "source=Zillow" in link and "sort=newest" in link
    second = signed_in.get(reverse("my-leads") + link).content.decode()
    assert re.findall(r"<strong>Pat (\w+)</strong>", second) == ["Z2", "Z3"]
    assert "Elsewhere" not in second


def test_a_page_costs_the_same_queries_for_3_leads_or_30(signed_in, ann):
    stages = default_stages()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = signed_in.get(reverse("my-leads"), {"attention": "1", "sort": "activity"})
        assert response.status_code == 200
        return len(captured)

    def more(n: int) -> None:
        for _ in range(n):
            lead = owned(ann)
            log_activity(lead, ann, "call", "", now=timezone.now())
            set_stage(lead, stages["contacted"], ann)
            Activity.objects.filter(lead=lead).update(
                created_at=timezone.now() - timedelta(days=30))

    more(3)
    queries()  # the routing snapshot and the session, read once
    few = queries()
    more(27)
    assert queries() == few
