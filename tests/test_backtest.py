"""Back-testing a routing change: the replay, the command, and that nothing is written."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.intake import receive_lead
from leads.models import Activity, Lead
from notifications.models import Notification, WebhookDelivery
from routing.backtest import Availability, Replay, StoredLead, availability_in, backtest, between
from routing.config_file import export_routing, file_as_config, load_routing_file
from routing.models import Brokerage, Offer, RotationState, RoutingRecord
from routing.selectors import routing_config
from tests.factories import AgentFactory, RosterFactory, RuleFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
FRIDAY = datetime(2026, 11, 20, 9, 0, tzinfo=NY)
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_counter = iter(range(1, 1_000_000))


def arrive(at: datetime, **fields) -> Lead:
    n = next(_counter)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            **fields}
    return receive_lead(data, channel="api", received_at=at).lead


@pytest.fixture
def office():
    """Two rules on the Office roster (Ann, Ben); a Zillow team (Cara, Dan) takes nothing yet.

    Six leads arrive on a Friday morning; Ben is paused for the second Zillow lead.
    """
    brokerage = Brokerage.load()
    brokerage.timezone = "America/New_York"
    brokerage.save()
    ann, ben, cara, dan = (AgentFactory(name=n, email=f"{n.lower()}@example.com")
                           for n in ("Ann", "Ben", "Cara", "Dan"))
    office = RosterFactory.with_members([ann, ben], name="Office")
    RosterFactory.with_members([cara, dan], name="Zillow team")
    RuleFactory(name="Zillow buyers", roster=office, criteria={"source": ["Zillow"]})
    RuleFactory(name="Everyone else", roster=office, is_catch_all=True)
    minutes = iter(range(0, 600, 10))

    def at() -> datetime:
        return FRIDAY + timedelta(minutes=next(minutes))

    arrive(at(), source="Zillow")
    arrive(at(), source="Website")
    ben.accepting_leads = False
    ben.save()
    arrive(at(), source="Zillow")  # Ben paused: Ann again
    ben.accepting_leads = True
    ben.save()
    arrive(at(), source="Zillow")
    arrive(at(), source="Website")
    arrive(at(), source="Zillow")
    return {"ann": ann, "ben": ben, "cara": cara, "dan": dan}


def proposal(change=None) -> str:
    """Today's routing file, changed by ``change(doc)``."""
    doc = yaml.safe_load(export_routing())
    if change is not None:
        change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def zillow_to_the_team(doc: dict) -> None:
    rule = next(r for r in doc["rules"] if r["name"] == "Zillow buyers")
    rule["roster"] = "Zillow team"


def run(text: str, since: datetime = FRIDAY - timedelta(hours=1),
        until: datetime = FRIDAY + timedelta(days=1)):
    today = routing_config()
    return backtest(file_as_config(load_routing_file(text), today), since=since, until=until,
                    today=today)


def by_email(result) -> dict[str, tuple[int, int]]:
    return {row.email: (row.actual, row.proposed) for row in result.agents}


def test_moving_a_source_to_another_roster_moves_its_leads(office):
    result = run(proposal(zillow_to_the_team))

    assert result.leads == 6
    # What a manager counts by hand: the leads each agent really got...
    real = {email: Lead.objects.filter(owner__email=email).count()
            for email in ("ann@example.com", "ben@example.com")}
    assert real == {"ann@example.com": 4, "ben@example.com": 2}
    # ...is what today's rules give them in the replay (Ben paused, as recorded, for one),
    # and the proposal sends the four Zillow leads to the Zillow team in turn.
    assert by_email(result) == {"ann@example.com": (4, 1), "ben@example.com": (2, 1),
                                "cara@example.com": (0, 2), "dan@example.com": (0, 2)}
    rules = {row.name: (row.actual, row.proposed, row.difference) for row in result.rules}
    assert rules == {"Zillow buyers": (4, 4, 0), "Everyone else": (2, 2, 0)}
    assert result.changed_hands == 4
    assert [(c.actual, c.proposed) for c in result.sample] == [
        ("Ann", "Cara"), ("Ann", "Dan"), ("Ben", "Cara"), ("Ann", "Dan")]
    assert (result.pond.actual, result.pond.proposed) == (0, 0)


def test_the_unchanged_export_shows_no_difference(office):
    result = run(proposal())

    assert not result.changes_anything
    assert result.changed_hands == 0
    assert all(row.difference == 0 for row in (*result.rules, *result.agents))
    assert by_email(result)["ann@example.com"] == (4, 4)


def test_a_paused_roster_leaves_leads_in_the_pond(office):
    def pause_everyone(doc: dict) -> None:
        for agent in doc["agents"]:
            agent["accepting_leads"] = False

    result = run(proposal(pause_everyone))

    assert (result.pond.actual, result.pond.proposed) == (0, 6)
    assert {c.proposed for c in result.sample} == {"the pond"}


def test_a_backtest_writes_nothing(office):
    WebhookEndpointFactory()
    text = proposal(zillow_to_the_team)
    models = (Lead, RoutingRecord, RotationState, Offer, Activity, Notification, WebhookDelivery)
    before = [m.objects.count() for m in models]
    cursors = list(RotationState.objects.values_list("rule_id", "kind", "agent_id", "given"))
    routing_config()  # the snapshot read before, as a running site has it

    with CaptureQueriesContext(connection) as queries:
        result = run(text)
        call_command("backtest_routing", _file(text), "--since", "2026-11-20", "--until",
                     "2026-11-20", stdout=io.StringIO(), stderr=io.StringIO())

    assert result.changed_hands == 4
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert writes == []
    assert [m.objects.count() for m in models] == before
    assert list(RotationState.objects.values_list("rule_id", "kind", "agent_id",
                                                  "given")) == cursors


def test_leads_are_read_in_chunks(office, monkeypatch):
    import routing.backtest

    monkeypatch.setattr(routing.backtest, "CHUNK", 2)
    text = proposal(zillow_to_the_team)
    routing_config()
    with CaptureQueriesContext(connection) as few:
        result = run(text)
    assert result.changed_hands == 4
    # the snapshot's token, the count, the open leads, 3 chunks of leads and their records,
    # the empty last page, the sample's titles
    assert len(few) == 1 + 2 + 2 * 3 + 1 + 1, "\n".join(q["sql"][:120] for q in few)


def test_availability_is_read_from_the_trace():
    trace = [
        {"stage": "agent", "agent": "ann@example.com", "eligible": True, "why": None},
        {"stage": "agent", "agent": "ben@example.com", "eligible": False,
         "why": "paused (not accepting leads)"},
        {"stage": "lender", "agent": "lee@example.com", "eligible": False, "why": "inactive"},
        {"stage": "agent", "agent": "cy@example.com", "eligible": False, "why": "off duty"},
        {"stage": "rule", "rule": "Zillow buyers"},
    ]
    assert dict(availability_in(trace)) == {
        "ann@example.com": Availability.AVAILABLE, "ben@example.com": Availability.PAUSED,
        "lee@example.com": Availability.INACTIVE, "cy@example.com": Availability.AVAILABLE}


# --- The command ------------------------------------------------------------------------------


_files = iter(range(1, 1000))


def _file(text: str) -> str:
    from pathlib import Path
    from tempfile import gettempdir

    path = Path(gettempdir()) / f"backtest-proposal-{next(_files)}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backtest_routing", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_is_one_object_with_rules_and_agents(office):
    out, _ = command(_file(proposal(zillow_to_the_team)), "--since", "2026-11-20", "--until",
                     "2026-11-20", "--json")

    doc = json.loads(out)
    assert {"rules", "agents", "pond", "changed_hands"} <= set(doc)
    assert doc["rules"][0] == {"name": "Zillow buyers", "actual": 4, "proposed": 4,
                               "difference": 0}
    cara = next(a for a in doc["agents"] if a["email"] == "cara@example.com")
    assert cara == {"email": "cara@example.com", "name": "Cara", "actual": 0, "proposed": 2,
                    "difference": 2}
    assert doc["changed_hands"]["count"] == 4


def test_tables_for_people(office):
    out, _ = command(_file(proposal(zillow_to_the_team)), "--since", "2026-11-20")

    assert "6 leads received from 2026-11-20 00:00" in out
    assert "Leads per agent" in out
    assert "Cara" in out and "+2" in out
    assert "Change hands: 4 of 6." in out
    assert "Ann -> Cara" in out


def test_since_and_until_pick_the_days(office):
    arrive(FRIDAY + timedelta(days=3), source="Zillow")  # Monday
    text = _file(proposal())

    friday = json.loads(command(text, "--since", "2026-11-20", "--until", "2026-11-20",
                                "--json")[0])
    monday = json.loads(command(text, "--since", "2026-11-23", "--until", "2026-11-23",
                                "--json")[0])
    both = json.loads(command(text, "--since", "2026-11-20", "--until", "2026-11-23",
                              "--json")[0])
    assert (friday["leads"], monday["leads"], both["leads"]) == (6, 1, 7)
    assert monday["since"] == "2026-11-23T00:00:00-05:00"
    assert between(date(2026, 11, 23), date(2026, 11, 23), "America/New_York")[1] == datetime(
        2026, 11, 24, tzinfo=NY)


def test_days_counts_back_from_now(office):
    recent = arrive(datetime.now(NY) - timedelta(hours=2), source="Zillow")
    doc = json.loads(command(_file(proposal()), "--days", "1", "--json")[0])
    assert doc["leads"] == 1
    assert recent.owner is not None


def test_progress_goes_to_stderr(office, monkeypatch):
    import routing.management.commands.backtest_routing as cmd

    monkeypatch.setattr(cmd, "PROGRESS_EVERY", 4)
    out, err = command(_file(proposal()), "--since", "2026-11-20", "--json")
    json.loads(out)  # stdout stays one JSON object
    assert err.splitlines() == ["Replayed 4 of 6 leads (66%)", "Replayed 6 of 6 leads (100%)"]


def test_a_bad_file_names_the_field_and_fails(office):
    def unknown_roster(doc: dict) -> None:
        doc["rules"][0]["roster"] = "Nobody"

    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error, nothing back-tested"):
        call_command("backtest_routing", _file(proposal(unknown_roster)), stdout=io.StringIO(),
                     stderr=err)
    assert "rules[0].roster: unknown roster Nobody" in err.getvalue()


def test_a_yaml_error_names_the_line(office):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("backtest_routing", _file("rules:\n  - name: [oops\n"),
                     stdout=io.StringIO(), stderr=err)
    assert "line" in err.getvalue()


def test_days_and_since_together_are_refused(office):
    with pytest.raises(CommandError, match="either --days or --since"):
        command(_file(proposal()), "--days", "7", "--since", "2026-11-20")


# --- The replay, plain data (no database) -----------------------------------------------------


def _replay_config(*, delivery: str = "assign", selection: str = "rotation", **agent_fields):
    from routing.engine import Delivery, Selection
    from tests.engine_builders import agent, catch_all, config, roster, rule

    return config([rule(1, delivery=Delivery(delivery), selection=Selection(selection),
                        name="Main"), catch_all()],
                  [roster(1, "A", "B", name="Main team"), roster(2, "E")],
                  [agent("A", **agent_fields)])


def _stored(n: int, *, at=None, owner=None, worked=True, availability=()):
    from tests.engine_builders import MON_1000, lead

    return StoredLead(n, lead(at=at or MON_1000), owner, worked, tuple(availability))


def test_first_to_claim_counts_for_who_really_claimed_it():
    from tests.engine_builders import ID

    replay = Replay(_replay_config(delivery="first_to_claim"), {})
    assert replay.route(_stored(1, owner=ID["B"])) == (ID["A"], ID["B"])
    replay.route(_stored(2, owner=None))  # nobody claimed it (yet)
    assert (replay.by_agent[ID["B"]], replay.shared) == (1, 1)


def test_caps_count_the_leads_the_replay_gives_that_are_still_worked():
    from tests.engine_builders import ID

    def owners(worked: bool) -> list[int]:
        replay = Replay(_replay_config(selection="first_in_roster", max_open_leads=1), {})
        return [replay.route(_stored(n, worked=worked))[0] for n in (1, 2)]

    assert owners(worked=True) == [ID["A"], ID["B"]]  # Alice at her cap of one open lead
    assert owners(worked=False) == [ID["A"], ID["A"]]  # her first lead is closed today


def test_daily_caps_start_again_each_brokerage_day():
    from tests.engine_builders import ID, MON_1000, SAT_1000

    replay = Replay(_replay_config(selection="first_in_roster", max_leads_per_day=1), {})
    got = [replay.route(_stored(n, at=at, worked=False))[0]
           for n, at in ((1, SAT_1000), (2, SAT_1000), (3, MON_1000))]
    assert got == [ID["A"], ID["B"], ID["A"]]


def test_a_recorded_pause_holds_unless_the_proposal_changes_the_agent():
    from tests.engine_builders import ID, email

    paused = [(email("A"), Availability.PAUSED)]
    today = _replay_config(selection="first_in_roster")
    assert Replay(today, {}).route(_stored(1, availability=paused)) == (ID["B"],)
    # The proposal pauses Bob and keeps Alice as she is today: her recorded pause holds, and
    # the lead goes on to the catch-all (Erin).
    proposal = _replay_config(selection="first_in_roster")
    bob = replace(proposal.agents[ID["B"]], accepting_leads=False)
    proposal = replace(proposal, agents={**proposal.agents, ID["B"]: bob})
    assert Replay(proposal, {}, today=today).route(_stored(1, availability=paused)) == (
        ID["E"],)
    # Alice is paused today and the proposal has her accepting leads: the proposal wins.
    today_paused = replace(today, agents={**today.agents, ID["A"]: replace(
        today.agents[ID["A"]], accepting_leads=False)})
    assert Replay(today, {}, today=today_paused).route(
        _stored(1, availability=paused)) == (ID["A"],)
