"""The managers' reports: numbers a manager can check by hand, CSV downloads, who may open them."""

from __future__ import annotations

import csv
import io
import types
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Agent
from agents.services import sync_access
from leads.models import Lead, Submission
from notifications.models import Notification
from routing.models import Offer, RoutingRecord
from routing.reports import accountability, common, offers, sources, speed
from routing.reports import fairness as report_fairness
from routing.reports.common import Filters, Period, percentile, period_of
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

NY = "America/New_York"
# Tuesday 2026-11-10, 10:00 in New York: the leads of these tests arrive then.
ARRIVAL = datetime(2026, 11, 10, 10, 0, tzinfo=ZoneInfo(NY))
WEEK = period_of("custom", now=ARRIVAL, tz_name=NY, start=date(2026, 11, 9),
                 end=date(2026, 11, 15))
NOW = ARRIVAL + timedelta(days=2)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def manager() -> Agent:
    agent = AgentFactory(role=Agent.Role.MANAGER, name="Mia Manager")
    sync_access(agent)
    agent.user.refresh_from_db()
    return agent


@pytest.fixture
def team():
    """Ann and Bob on one rule with a 30-minute first-contact deadline."""
    ann, bob = AgentFactory(name="Ann Lee"), AgentFactory(name="Bob Stone")
    rule = RuleFactory(name="Zillow buyers", roster=RosterFactory.with_members([ann, bob]),
                       first_contact_minutes=30, delivery="claim")
    return types.SimpleNamespace(ann=ann, bob=bob, rule=rule)


def lead(owner=None, *, source="Zillow", claim=None, contact=None, rule=None, at=ARRIVAL,
         **fields) -> Lead:
    return LeadFactory(
        source=source, owner=owner, rule=rule, received_at=at,
        status=(Lead.Status.CONTACTED if contact is not None else
                Lead.Status.ASSIGNED if owner else Lead.Status.UNASSIGNED),
        assigned_at=at + minutes(claim) if claim is not None else None,
        first_contact_at=at + minutes(contact) if contact is not None else None, **fields)


@pytest.fixture
def speed_data(team):
    """Ann's three Zillow leads: claimed after 2, 4 and 6 minutes, contacted after 10 and 20
    minutes (the third never). Bob's Website lead: claimed after 1 minute, never contacted."""
    lead(team.ann, claim=2, contact=10, rule=team.rule)
    lead(team.ann, claim=4, contact=20, rule=team.rule)
    lead(team.ann, claim=6, rule=team.rule)
    lead(team.bob, source="Website", claim=1, at=ARRIVAL + timedelta(hours=5))
    lead(team.ann, at=ARRIVAL + timedelta(days=10))  # after the week: not counted
    return team


# --- the shared parts -----------------------------------------------------------------------


def test_periods_are_whole_days_of_brokerage_time():
    now = datetime(2026, 11, 10, 3, 0, tzinfo=ZoneInfo("UTC"))  # still Nov 9 in New York
    today = period_of("today", now=now, tz_name=NY)
    assert today.since == datetime(2026, 11, 9, tzinfo=ZoneInfo(NY))
    assert today.until == datetime(2026, 11, 10, tzinfo=ZoneInfo(NY))
    week = period_of("7d", now=now, tz_name=NY)
    assert week.since == datetime(2026, 11, 3, tzinfo=ZoneInfo(NY)) and week.days == 7
    assert period_of("30d", now=now, tz_name=NY).days == 30
    assert period_of("nonsense", now=now, tz_name=NY).preset == "7d"
    custom = period_of("custom", now=now, tz_name=NY, start=date(2026, 11, 5),
                       end=date(2026, 11, 1))
    assert (custom.since.day, custom.until.day) == (1, 6)
    assert custom.label == "Nov 1, 2026 to Nov 5, 2026"


def test_percentiles_interpolate_like_postgresql():
    values = [minutes(2), minutes(4), minutes(6)]
    assert percentile(values, 0.5) == minutes(4)
    assert percentile(values, 0.9) == minutes(5.6)
    assert percentile([], 0.5) is None
    assert common.duration_text(minutes(75)) == "1 h 15 min"
    assert common.duration_text(timedelta(seconds=40)) == "40 s"


# --- speed to lead ----------------------------------------------------------------------------


def test_speed_to_lead_per_agent_median_and_p90(speed_data):
    rows = {r["name"]: r for r in speed.speed_to_lead(WEEK, Filters(), by="agent")}
    ann, bob = rows["Ann Lee"], rows["Bob Stone"]
    assert (ann["leads"], ann["claimed"], ann["contacted"], ann["never_contacted"]) == (3, 3, 2, 1)
    assert ann["claim_median"] == minutes(4) and ann["claim_p90"] == minutes(5.6)
    assert ann["contact_median"] == minutes(15) and ann["contact_p90"] == minutes(19)
    assert bob["claim_median"] == minutes(1) and bob["contact_median"] is None


def test_speed_to_lead_per_source_rule_and_hour(speed_data):
    by_source = {r["name"]: r for r in speed.speed_to_lead(WEEK, Filters(), by="source")}
    assert by_source["Zillow"]["leads"] == 3 and by_source["Website"]["leads"] == 1
    by_rule = {r["name"]: r["leads"] for r in speed.speed_to_lead(WEEK, Filters(), by="rule")}
    assert by_rule == {"Zillow buyers": 3, "Special routing (no rule)": 1}
    hours = speed.speed_to_lead(WEEK, Filters(), by="hour")
    assert len(hours) == 24 and hours[10]["leads"] == 3 and hours[15]["leads"] == 1
    assert hours[10]["name"] == "10:00" and hours[9]["leads"] == 0


def test_speed_filters_and_never_contacted_list(speed_data):
    only_ann = speed.speed_to_lead(WEEK, Filters(agent_id=speed_data.ann.pk), by="source")
    assert [(r["name"], r["leads"]) for r in only_ann] == [("Zillow", 3)]
    total, rows = speed.never_contacted(WEEK, Filters())
    assert total == 2 and {r["owner"] for r in rows} == {"Ann Lee", "Bob Stone"}


# --- offers -----------------------------------------------------------------------------------


def offer(agent, the_lead, status, rule=None) -> Offer:
    return Offer.objects.create(lead=the_lead, agent=agent, rule=rule, status=status,
                                offered_at=ARRIVAL, clock_starts_at=ARRIVAL,
                                deadline=ARRIVAL + minutes(5), round=the_lead.pk)


def test_offers_per_agent_and_rule_with_claim_rate(team):
    leads = [lead(at=ARRIVAL) for _ in range(4)]
    for the_lead, status in zip(leads, ["claimed", "claimed", "declined", "expired"],
                                strict=True):
        offer(team.ann, the_lead, status, team.rule)
    offer(team.bob, leads[0], "withdrawn", team.rule)
    offer(team.bob, leads[1], "offered", team.rule)
    RoutingRecord.objects.create(lead=leads[3], created_at=ARRIVAL + minutes(6),
                                 outcome="unassigned", reason="escalated", rule=team.rule,
                                 summary="Nobody claimed it")
    rows = {r["name"]: r for r in offers.offer_counts(WEEK, Filters(), by="agent")}
    ann, bob = rows["Ann Lee"], rows["Bob Stone"]
    assert (ann["offered"], ann["claimed"], ann["declined"], ann["expired"]) == (4, 2, 1, 1)
    assert ann["claim_rate"] == 50.0
    assert (bob["withdrawn"], bob["open"], bob["claim_rate"]) == (1, 1, None)
    by_rule = offers.offer_counts(WEEK, Filters(), by="rule")
    assert [(r["name"], r["offered"], r["escalated"]) for r in by_rule] == [
        ("Zillow buyers", 6, 1)]


# --- accountability ---------------------------------------------------------------------------


def test_deadlines_met_and_missed_and_the_leaderboard(team):
    mia = manager()
    lead(team.ann, claim=1, contact=10, rule=team.rule)
    lead(team.ann, claim=1, contact=25, rule=team.rule)
    lead(team.ann, claim=1, rule=team.rule, first_contact_due_at=ARRIVAL + minutes(31))
    taken = lead(team.ann, claim=3, rule=team.rule)  # Bob had it first and stayed silent
    when = ARRIVAL + minutes(32)
    for recipient in (team.bob, mia):  # the clock tells the silent owner first, then managers
        Notification.objects.create(recipient=recipient, lead=taken, title="Reassigned",
                                    event=Notification.Event.IDLE_REASSIGNED, created_at=when)
    rows = accountability.accountability(WEEK, Filters(), now=NOW)
    assert [(r["rank"], r["name"], r["met"], r["missed"], r["met_share"]) for r in rows] == [
        (1, "Ann Lee", 2, 1, 66.7), (2, "Bob Stone", 0, 1, 0.0)]
    assert rows[0]["overdue"] == 1 and rows[1]["lost"] == 1
    total, lost = accountability.lost_leads(WEEK, Filters())
    assert total == 1 and lost[0]["agent"] == "Bob Stone"
    chart = accountability.report(WEEK, Filters(), NOW).table("leaderboard").chart_data()
    assert chart["labels"] == ["Ann Lee", "Bob Stone"]
    assert [d["data"] for d in chart["datasets"]] == [[2, 0], [1, 1]]


def test_isa_hand_offs_count_towards_the_deadlines(team):
    from routing.models import Handoff

    isa = AgentFactory(role=Agent.Role.ISA, name="Ida Isa")
    due = ARRIVAL + minutes(30)
    for contacted, status in ((minutes(10), "contacted"), (minutes(45), "contacted"),
                              (None, "escalated")):
        Handoff.objects.create(lead=lead(team.bob), isa=isa, agent=team.bob, status=status,
                               created_at=ARRIVAL, contact_due_at=due,
                               contacted_at=ARRIVAL + contacted if contacted else None)
    rows = {r["name"]: r for r in accountability.accountability(WEEK, Filters(), now=NOW)}
    assert (rows["Bob Stone"]["met"], rows["Bob Stone"]["missed"]) == (1, 2)
    assert accountability.accountability(WEEK, Filters(rule_id=team.rule.pk), now=NOW) == []


# --- sources ----------------------------------------------------------------------------------


def test_sources_leads_contacted_claimed_pond_and_rejected(team):
    lead(team.ann, claim=1, contact=5)
    lead(team.ann, claim=2)
    pond = lead()
    RoutingRecord.objects.create(lead=pond, created_at=ARRIVAL, outcome="unassigned",
                                 reason="rule", summary="Nobody could take it")
    lead(team.bob, source="Website", claim=1)
    Submission.objects.create(channel="api", source="Zillow", received_at=ARRIVAL,
                              outcome=Submission.Outcome.REJECTED)
    Submission.objects.create(channel="form", source="Homes.com", received_at=ARRIVAL,
                              outcome=Submission.Outcome.SPAM)
    rows = {r["name"]: r for r in sources.source_counts(WEEK, Filters())}
    zillow = rows["Zillow"]
    assert (zillow["leads"], zillow["contacted"], zillow["claimed"], zillow["pond"]) == (3, 1, 2, 1)
    assert zillow["pond_rate"] == 33.3 and zillow["rejected"] == 1
    assert rows["Homes.com"]["leads"] == 0 and rows["Homes.com"]["rejected"] == 1
    assert rows["Website"]["claimed_share"] == 100.0


# --- the pages --------------------------------------------------------------------------------


@pytest.fixture
def manager_client(client):
    client.force_login(manager().user)
    return client


@pytest.mark.parametrize("slug", ["speed", "offers", "accountability", "fairness", "sources"])
def test_every_report_page_opens_with_its_form_and_tables(manager_client, speed_data, slug):
    response = manager_client.get(f"/admin/reports/{slug}/?period=30d")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'name="period"' in text and "Last 30 days" in text
    for other in ("Speed to lead", "Offers", "Accountability", "Fairness", "Sources"):
        assert other in text  # the reports' menu


def test_speed_page_shows_the_numbers_and_a_chart(manager_client, speed_data):
    start, end = WEEK.since.date().isoformat(), (WEEK.until.date() - timedelta(days=1)).isoformat()
    response = manager_client.get(f"/admin/reports/speed/?period=custom&start={start}&end={end}")
    text = response.content.decode()
    assert "Ann Lee" in text and "4 min" in text and "15 min" in text
    assert 'data-chart="chart-agent"' in text and 'id="chart-agent"' in text
    assert "chart.umd.min.js" in text and "routing/reports.js" in text


def test_every_table_downloads_as_csv(manager_client, speed_data):
    start, end = WEEK.since.date().isoformat(), (WEEK.until.date() - timedelta(days=1)).isoformat()
    response = manager_client.get(f"/admin/reports/speed/?period=custom&start={start}&end={end}"
                                  "&format=csv&table=agent")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        'attachment; filename="speed-agent-2026-11-09-2026-11-15.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["Agent", "Leads", "Claimed"]
    assert "To claim, median (minutes)" in rows[0]
    ann = next(r for r in rows if r[0] == "Ann Lee")
    assert ann[1] == "3" and ann[rows[0].index("To claim, median (minutes)")] == "4.0"
    page = manager_client.get(f"/admin/reports/speed/?period=custom&start={start}&end={end}")
    for table in ("agent", "isa", "source", "rule", "hour", "never_contacted"):
        assert f"table={table}" in page.content.decode()
    assert manager_client.get("/admin/reports/speed/?format=csv&table=nope").status_code == 404


def test_filters_narrow_the_page(manager_client, speed_data):
    response = manager_client.get("/admin/reports/sources/?period=custom&start=2026-11-09"
                                  "&end=2026-11-15&source=Website")
    text = response.content.decode()
    assert "Website" in text and "<td>Zillow</td>" not in text


def test_an_unknown_report_is_not_found(manager_client):
    assert manager_client.get("/admin/reports/nope/").status_code == 404


@pytest.mark.parametrize("role", [Agent.Role.AGENT, Agent.Role.ISA])
def test_agents_cannot_open_reports(client, role):
    agent = AgentFactory(role=role)
    sync_access(agent)
    client.force_login(agent.user)
    for url in ("/admin/reports/speed/", "/admin/reports/speed/?format=csv&table=agent"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_superusers_open_reports(client):
    root = get_user_model().objects.create_superuser("root@example.com", "root@example.com",
                                                     "pass-12345")
    client.force_login(root)
    assert client.get("/admin/reports/offers/").status_code == 200


# --- fairness (over routing.fairness.rotation_fairness) ---------------------------------------


@dataclass(frozen=True)
class FakeTurn:
    at: datetime
    reason: str
    lead_id: int | None


@dataclass(frozen=True)
class FakeMember:
    agent_id: int
    name: str
    weight: int
    entitled: float
    expected: float
    received: int
    missed: tuple = field(default_factory=tuple)

    @property
    def missed_counts(self) -> dict[str, int]:
        return Counter(t.reason for t in self.missed)

    @property
    def turns_missed(self) -> int:
        return len(self.missed)


@dataclass(frozen=True)
class FakeRotation:
    kind: str
    id: int
    name: str
    leads: int
    members: tuple


@pytest.fixture
def fairness_module(monkeypatch):
    """The fairness figures of one rotation, as ``routing.fairness`` gives them."""
    calls = []

    def rotation_fairness(since, until, *, rule_ids=None, agent_id=None, missed_shown=None):
        calls.append((since, until, rule_ids, agent_id))
        return [FakeRotation("rule", 7, "Zillow buyers", 9, (
            FakeMember(1, "Ann Lee", 2, 2 / 3, 6.0, 5,
                       (FakeTurn(ARRIVAL, "paused", 41),)),
            FakeMember(2, "Bob Stone", 1, 1 / 3, 3.0, 4)))]

    monkeypatch.setattr(report_fairness, "rotation_fairness", rotation_fairness)
    return calls


def test_fairness_page_shows_shares_and_missed_turns(manager_client, fairness_module):
    response = manager_client.get("/admin/reports/fairness/?period=7d")
    text = response.content.decode()
    assert "Rule: Zillow buyers" in text and "66.7%" in text and "−1" not in text
    assert "-1" in text and "+1" in text  # Ann one fewer than expected, Bob one more
    assert "paused" in text and 'data-chart="chart-rule-7"' in text
    since, until, rule_ids, agent_id = fairness_module[0]
    assert (until - since).days == 7 and rule_ids is None and agent_id is None
    missed = manager_client.get("/admin/reports/fairness/?period=7d&format=csv&table=missed")
    rows = list(csv.reader(io.StringIO(missed.content.decode())))
    assert rows[0] == ["When", "Rotation", "Member", "Why", "Lead"]
    assert rows[1][1:] == ["Zillow buyers", "Ann Lee", "paused", "#41"]


def test_fairness_over_real_routing(manager_client, team):
    """Six leads routed by the rule's rotation (Ann 2 per round, Bob 1): Ann 4, Bob 2."""
    from leads.intake import receive_leads

    team.rule.criteria.create(field="source", value="Zillow")
    member = team.rule.roster.members.get(agent=team.ann)
    member.leads_per_round = 2
    member.save()
    team.rule.delivery = "assign"
    team.rule.save()
    RuleFactory(name="Catch-all", is_catch_all=True, priority=99,
                roster=RosterFactory.with_members([team.bob]))
    receive_leads([{"first_name": "P", "last_name": str(i), "email": f"p{i}@example.org",
                    "source": "Zillow"} for i in range(6)], channel="file",
                  received_at=timezone.now())
    rows = {r["name"]: r for r in report_fairness.member_rows(next(
        r for r in report_fairness.rotations(period_of("today", now=timezone.now(),
                                                       tz_name=NY), Filters())
        if r.name == "Zillow buyers"))}
    assert (rows["Ann Lee"]["received"], rows["Ann Lee"]["entitled"]) == (4, 66.7)
    assert (rows["Bob Stone"]["received"], rows["Bob Stone"]["expected"]) == (2, 2.0)
    page = manager_client.get("/admin/reports/fairness/?period=today")
    assert "Rule: Zillow buyers" in page.content.decode()


def test_period_dataclass_is_plain():
    assert Period.__dataclass_fields__.keys() >= {"since", "until", "preset", "label"}


@pytest.mark.parametrize("slug", ["speed", "offers", "accountability", "sources"])
def test_report_queries_do_not_grow_with_the_leads(manager_client, speed_data, slug):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/admin/reports/{slug}/?period=custom&start=2026-11-09&end=2026-11-15"
    offer(speed_data.ann, Lead.objects.first(), "claimed", speed_data.rule)
    manager_client.get(url)  # the session and the brokerage are read once
    with CaptureQueriesContext(connection) as few:
        manager_client.get(url)
    for i in range(6):
        agent = AgentFactory(name=f"Extra {i}")
        the_lead = lead(agent, source=f"Source {i}", claim=i, contact=i + 5, rule=speed_data.rule)
        offer(agent, the_lead, "claimed", speed_data.rule)
        Notification.objects.create(recipient=agent, lead=the_lead, title="Reassigned",
                                    event=Notification.Event.IDLE_REASSIGNED, created_at=ARRIVAL)
    manager_client.get(url)  # the routing snapshot is read again after the agents changed
    with CaptureQueriesContext(connection) as many:
        manager_client.get(url)
    assert len(many) == len(few)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # SET LOCAL ends with the report's own transaction
def test_reports_run_without_jit_and_with_room_to_sort_on_postgresql():
    """The settings last as long as the report: the next query on the connection has the
    server's own again."""
    from django.db import connection

    def show(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute(f"SHOW {name}")
            return cursor.fetchone()[0]

    before = show("work_mem"), show("jit")
    with common.report_settings():
        assert (show("jit"), show("work_mem")) == ("off", "32MB")
    assert (show("work_mem"), show("jit")) == before


def test_fairness_page_shows_the_latest_missed_turns_and_the_csv_every_one(
        manager_client, team, monkeypatch):
    """More turns missed than the page shows: the page says how many it leaves out, the
    member's row counts every one with its reason, the CSV lists them all."""
    from leads.intake import receive_leads

    monkeypatch.setattr(report_fairness, "MISSED_SHOWN", 2)
    team.rule.criteria.create(field="source", value="Zillow")
    team.rule.delivery = "assign"
    team.rule.save()
    Agent.objects.filter(pk=team.bob.pk).update(accepting_leads=False)
    receive_leads([{"first_name": "P", "last_name": str(i), "email": f"p{i}@example.org",
                    "source": "Zillow"} for i in range(5)], channel="file",
                  received_at=timezone.now())
    text = manager_client.get("/admin/reports/fairness/?period=today").content.decode()
    # Ann's turn first, then Bob's four turns passed over while he is paused.
    assert "The latest 2 of 4 (the CSV has them all)." in text
    assert "4 paused" in text
    missed = manager_client.get("/admin/reports/fairness/?period=today&format=csv&table=missed")
    rows = list(csv.reader(io.StringIO(missed.content.decode())))
    assert len(rows) == 5 and {r[2:4] for r in map(tuple, rows[1:])} == {("Bob Stone", "paused")}
