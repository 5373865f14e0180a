"""The commands people run: ingest_leads, route_lead (real and dry run) and show_lead."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leads.models import Activity, Lead, Submission
from routing.engine import step_text
from routing.models import Brokerage, RotationState, RoutingRecord
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NOW_ARG = "2026-11-20T10:00:00"
NOW_UTC = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 in New York
KEYS = ["line", "lead", "status", "agent", "rule", "lender", "errors"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team():
    """Ann takes Zillow luxury buyers; Bob and Cy share everything else in turn."""
    ann = AgentFactory(name="Ann", email="ann@example.com")
    bob = AgentFactory(name="Bob", email="bob@example.com")
    cy = AgentFactory(name="Cy", email="cy@example.com")
    luxury = RuleFactory(
        name="Zillow luxury buyers", roster=RosterFactory.with_members([ann]),
        criteria={"source": ["Zillow"], "tag": ["luxury"], "lead_type": ["buyer"]},
    )
    rest = RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members([bob, cy]))
    return {"ann": ann, "bob": bob, "cy": cy, "luxury": luxury, "rest": rest}


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def ingest(path, now: str = NOW_ARG) -> list[dict]:
    lines = run("ingest_leads", str(path), "--now", now)
    answers = [json.loads(line) for line in lines]
    assert all(list(answer) == KEYS for answer in answers)
    return answers


def write_jsonl(path, lines: list) -> None:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )


# --- ingest_leads -----------------------------------------------------------------------------


def test_ingest_json_lines(team, tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [
        {"first_name": "Lux", "email": "lux@example.org", "source": "Zillow",
         "tags": ["luxury"], "lead_type": "buyer", "price": 2500000},
        {"first_name": "Fay", "email": "fay@example.org", "source": "Facebook"},
        '{"first_name": "Broken", "email": ',
        {"first_name": "Lux again", "email": "LUX@Example.org", "source": "Realtor.com"},
        "",
        {"first_name": "Bad", "email": "not-an-email"},
        {"first_name": "Gus", "phone": "(212) 555-0101", "source": "Website"},
    ])

    answers = ingest(path)

    lux = Lead.objects.get(email="lux@example.org")
    fay = Lead.objects.get(email="fay@example.org")
    gus = Lead.objects.get(first_name="Gus")
    assert answers[0] == {"line": 1, "lead": lux.pk, "status": "assigned",
                          "agent": "ann@example.com", "rule": "Zillow luxury buyers",
                          "lender": None, "errors": None}
    assert answers[1] == {"line": 2, "lead": fay.pk, "status": "assigned",
                          "agent": "bob@example.com", "rule": "Everything else",
                          "lender": None, "errors": None}
    assert answers[2]["line"] == 3
    assert (answers[2]["lead"], answers[2]["status"]) == (None, "rejected")
    assert answers[2]["errors"]["line"].startswith("Not valid JSON")
    assert answers[3] == {"line": 4, "lead": lux.pk, "status": "existing",
                          "agent": "ann@example.com", "rule": None, "lender": None,
                          "errors": None}
    assert answers[4]["line"] == 6  # the blank line 5 is no lead
    assert answers[4]["status"] == "rejected" and "email" in answers[4]["errors"]
    assert answers[5] == {"line": 7, "lead": gus.pk, "status": "assigned",
                          "agent": "cy@example.com", "rule": "Everything else",
                          "lender": None, "errors": None}
    assert len(answers) == 6

    assert Lead.objects.count() == 3
    assert lux.received_at == NOW_UTC
    assert lux.owner == team["ann"] and lux.price == 2500000
    assert Activity.objects.get(kind="registered_again").lead == lux
    rejected = Submission.objects.filter(outcome="rejected")
    assert sorted(s.channel for s in rejected) == ["file", "file"]
    assert all(s.received_at == NOW_UTC and s.lead is None for s in rejected)
    broken = rejected.get(payload__raw='{"first_name": "Broken", "email": ')
    assert broken.errors == answers[2]["errors"]
    bad = rejected.get(payload__first_name="Bad")
    assert bad.payload == {"first_name": "Bad", "email": "not-an-email"}
    assert bad.errors == answers[4]["errors"]


def test_ingest_prints_exact_json(team, tmp_path):
    path = tmp_path / "one.jsonl"
    write_jsonl(path, [{"first_name": "Lux", "email": "lux@example.org", "source": "Zillow",
                        "tags": ["luxury"], "lead_type": "buyer"}])

    lines = run("ingest_leads", str(path), "--now", NOW_ARG)

    lead = Lead.objects.get()
    assert lines == [
        f'{{"line": 1, "lead": {lead.pk}, "status": "assigned", "agent": "ann@example.com", '
        f'"rule": "Zillow luxury buyers", "lender": null, "errors": null}}'
    ]


def test_one_file_moves_the_rotation_lead_by_lead(tmp_path):
    a, b, c = (AgentFactory(name=n, email=f"{n.lower()}@example.com") for n in "ABC")
    rule = RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members([a, b, c], [2, 1, 1]))
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Pat", "email": f"pat{n}@example.org"} for n in range(8)])

    answers = ingest(path)

    assert [x["agent"][0] for x in answers] == ["a", "a", "b", "c", "a", "a", "b", "c"]
    state = RotationState.objects.get(rule=rule)
    assert (state.agent_id, state.given) == (c.pk, 1)
    write_jsonl(path, [{"first_name": "Next", "email": "next@example.org"}])
    assert ingest(path)[0]["agent"] == "a@example.com"


def test_one_file_honours_caps_lead_by_lead(tmp_path):
    a = AgentFactory(name="A", email="a@example.com", max_open_leads=3)
    b = AgentFactory(name="B", email="b@example.com", max_leads_per_day=2)
    c = AgentFactory(name="C", email="c@example.com")
    RuleFactory(name="Everything else", is_catch_all=True, selection="first_in_roster",
                roster=RosterFactory.with_members([a, b, c]))
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Pat", "email": f"pat{n}@example.org"} for n in range(7)])

    answers = ingest(path)

    assert [x["agent"][0] for x in answers] == ["a", "a", "a", "b", "b", "c", "c"]
    assert Lead.objects.filter(owner=a).count() == 3


def test_ingest_csv(team, tmp_path):
    path = tmp_path / "leads.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["first_name", "email", "phone", "source", "tags", "lead_type", "price"])
        writer.writerow(["Lux", "lux@example.org", "", "Zillow", "luxury,vip", "Buyer",
                         "1200000"])
        writer.writerow(["Fay", "fay@example.org", "+12125550101", "Facebook", "", "", ""])
        writer.writerow(["Cheap", "cheap@example.org", "", "Zillow", "", "buyer", "lots"])
        writer.writerow(["Fay again", "", "(212) 555-0101", "Website", "", "", ""])

    answers = ingest(path)

    lux = Lead.objects.get(email="lux@example.org")
    fay = Lead.objects.get(email="fay@example.org")
    assert [a["line"] for a in answers] == [1, 2, 3, 4]
    assert answers[0] == {"line": 1, "lead": lux.pk, "status": "assigned",
                          "agent": "ann@example.com", "rule": "Zillow luxury buyers",
                          "lender": None, "errors": None}
    assert lux.tags == ["luxury", "vip"]
    assert lux.lead_type == "buyer" and lux.price == 1200000
    assert answers[1]["agent"] == "bob@example.com" and answers[1]["lead"] == fay.pk
    assert answers[2]["status"] == "rejected" and "price" in answers[2]["errors"]
    assert answers[3]["status"] == "existing" and answers[3]["lead"] == fay.pk
    assert Lead.objects.count() == 2
    submission = Submission.objects.get(outcome="rejected")
    assert submission.payload["first_name"] == "Cheap" and "price" in submission.errors


def test_ingest_now_is_brokerage_time(team, tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Ny", "email": "ny@example.org"}])
    ingest(path)
    assert Lead.objects.get(email="ny@example.org").received_at == NOW_UTC

    brokerage = Brokerage.load()
    brokerage.timezone = "America/Los_Angeles"
    brokerage.save()
    write_jsonl(path, [{"first_name": "La", "email": "la@example.org"}])
    ingest(path)
    assert Lead.objects.get(email="la@example.org").received_at == datetime(
        2026, 11, 20, 18, 0, tzinfo=UTC)

    write_jsonl(path, [{"first_name": "Utc", "email": "utc@example.org"}])
    ingest(path, now="2026-11-20T10:00:00+00:00")
    lead = Lead.objects.get(email="utc@example.org")
    assert lead.received_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert lead.assigned_at == lead.received_at


def test_ingest_rejects_a_bad_now_and_a_missing_file(tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Pat"}])
    with pytest.raises(CommandError, match="ISO-8601"):
        run("ingest_leads", str(path), "--now", "yesterday")
    with pytest.raises(CommandError, match="no such file"):
        run("ingest_leads", str(tmp_path / "missing.jsonl"))
    assert not Lead.objects.exists() and not Submission.objects.exists()


# --- route_lead -------------------------------------------------------------------------------


def _lead_file(tmp_path, **fields):
    data = {"first_name": "Fay", "email": "fay@example.org", "source": "Facebook", **fields}
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _rows() -> tuple:
    return (
        Lead.objects.count(), RoutingRecord.objects.count(), Submission.objects.count(),
        Activity.objects.count(),
        list(RotationState.objects.values_list("rule_id", "kind", "agent_id", "given")),
    )


def test_route_lead_dry_run_explains_and_saves_nothing(team, tmp_path):
    ingest_path = tmp_path / "first.jsonl"
    write_jsonl(ingest_path, [{"first_name": "Early", "email": "early@example.org"}])
    ingest(ingest_path)  # Bob had his turn
    before = _rows()
    path = _lead_file(tmp_path)

    lines = run("route_lead", "--dry-run", str(path), "--now", NOW_ARG)

    assert lines[0] == "Decision: Rule 'Everything else' -> Cy (dry run, nothing saved)"
    text = "\n".join(lines)
    assert "Rule 'Zillow luxury buyers': no match" in text
    assert "Rule 'Everything else': matched" in text
    assert "Cy's turn" in text
    assert "Assigned to Cy <cy@example.com> by rule 'Everything else'" in text
    assert "Arrived Fri 2026-11-20 10:00 (America/New_York)" in text
    assert _rows() == before
    # The same lead for real goes where the dry run said.
    real = json.loads(run("route_lead", str(path), "--now", NOW_ARG)[0])
    assert (real["status"], real["agent"]) == ("assigned", "cy@example.com")


def test_route_lead_dry_run_json(team, tmp_path):
    path = _lead_file(tmp_path, source="Zillow", tags="luxury", lead_type="buyer")

    lines = run("route_lead", "--dry-run", str(path), "--now", NOW_ARG, "--json")

    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert answer["status"] == "assigned"
    assert answer["reason"] == "rule"
    assert answer["agent_id"] == team["ann"].pk
    assert answer["rule"] == "Zillow luxury buyers"
    assert answer["lender_id"] is None
    assert answer["summary"] == "Rule 'Zillow luxury buyers' -> Ann"
    assert answer["trace"][-1]["stage"] == "result"
    assert not Lead.objects.exists() and not RotationState.objects.exclude(
        agent=None).exists()


def test_route_lead_dry_run_of_invalid_lead(team, tmp_path):
    path = _lead_file(tmp_path, email="nope", price="cheap")
    out = StringIO()
    with pytest.raises(CommandError, match="rejected"):
        call_command("route_lead", "--dry-run", str(path), stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["status"] == "rejected"
    assert set(answer["errors"]) == {"email", "price"}
    assert not Submission.objects.exists()


def test_route_lead_for_real(team, tmp_path):
    path = _lead_file(tmp_path)

    answer = json.loads(run("route_lead", str(path), "--now", NOW_ARG)[0])

    lead = Lead.objects.get()
    assert answer == {"lead": lead.pk, "status": "assigned", "agent": "bob@example.com",
                      "rule": "Everything else", "lender": None, "errors": None}
    assert lead.received_at == NOW_UTC
    assert RoutingRecord.objects.filter(lead=lead).count() == 1


# --- show_lead --------------------------------------------------------------------------------


def test_show_lead_prints_owner_and_trace(team, tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [
        {"first_name": "Lux", "last_name": "Buyer", "email": "lux@example.org",
         "source": "Zillow", "tags": ["luxury"], "lead_type": "buyer"},
        {"first_name": "Lux", "email": "LUX@example.org", "message": "Call me"},
    ])
    lead_id = ingest(path)[0]["lead"]

    lines = run("show_lead", str(lead_id))

    text = "\n".join(lines)
    assert lines[0].startswith(f"Lead #{lead_id}: Lux Buyer (lux@example.org")
    assert "Owner: Ann <ann@example.com>" in text
    # Times in brokerage time (10:00 in New York), as the trace says.
    assert "Received 2026-11-20 10:00 EST; status Assigned" in text
    assert "Routing 2026-11-20 10:00: Rule 'Zillow luxury buyers' -> Ann" in text
    assert "Arrived Fri 2026-11-20 10:00 (America/New_York)" in text
    assert "Rule 'Zillow luxury buyers': matched" in text
    assert "Assigned to Ann <ann@example.com> by rule 'Zillow luxury buyers'" in text
    assert "2026-11-20 10:00 Registered again: From an unknown source: Call me" in text


def test_show_lead_json(team, tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Fay", "email": "fay@example.org", "source": "Facebook"}])
    lead_id = ingest(path)[0]["lead"]

    document = json.loads("\n".join(run("show_lead", str(lead_id), "--json")))

    assert document["id"] == lead_id
    assert document["owner"] == "bob@example.com"
    assert document["status"] == "assigned"
    assert document["rule"] == "Everything else"
    assert len(document["routing"]) == 1
    routing = document["routing"][0]
    assert routing["agent"] == "bob@example.com"
    assert routing["summary"] == "Rule 'Everything else' -> Bob"
    # The trace as stored, every step with its sentence (a member's written from its data).
    stored = RoutingRecord.objects.get(lead_id=lead_id).trace
    assert routing["trace"] == [{**step, "text": step_text(step)} for step in stored]
    assert all(step["text"] for step in routing["trace"])
    assert routing["trace"][-1]["agent"] == "bob@example.com"


def test_show_lead_unknown_id():
    with pytest.raises(CommandError, match="No lead with id 999"):
        run("show_lead", "999")


def test_ingest_csv_reads_another_crms_column_names(team, tmp_path):
    """``First Name, Last Name, Phone`` are read as the lead's fields, not rejected."""
    path = tmp_path / "other-crm.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First Name", "Last Name", "email", "Phone", " lead_type ", "Shoe"])
        writer.writerow(["Pat", "Lee", "", "(212) 555-0101", "buyer", "9"])
        writer.writerow(["Sam", "Roe", "sam@example.org", "", "seller", ""])
    err = StringIO()
    out = StringIO()
    call_command("ingest_leads", str(path), "--now", NOW_ARG, stdout=out, stderr=err)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["status"] for a in answers] == ["assigned", "assigned"]
    assert Lead.objects.get(first_name="Pat").last_name == "Lee"
    assert "Shoe: 9" in Lead.objects.get(first_name="Pat").message
    assert "Mapping: plain" in err.getvalue() and "Unknown columns" in err.getvalue()


# --- A returning person (routed again) ----------------------------------------------------------


def test_ingest_routes_a_returning_person_again_when_their_agent_has_left(team, tmp_path):
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Fay", "email": "fay@example.org"}])
    first = ingest(path)[0]
    assert (first["status"], first["agent"]) == ("assigned", "bob@example.com")
    bob = team["bob"]
    bob.is_active = False
    bob.save()
    write_jsonl(path, [{"first_name": "Fay", "email": "FAY@example.org", "source": "Zillow"}])

    again = ingest(path)[0]

    assert again == {"line": 1, "lead": first["lead"], "status": "assigned",
                     "agent": "cy@example.com", "rule": "Everything else", "lender": None,
                     "errors": None}
    lead = Lead.objects.get()
    assert (lead.owner.email, lead.routing_round) == ("cy@example.com", 2)
    out = "\n".join(run("show_lead", str(lead.pk)))
    assert "Registered again: From Zillow, no message" in out
    assert "routed again through the rules as the same lead" in out


# --- A local time that does not exist, or happens twice -----------------------------------------


def _los_angeles() -> None:
    brokerage = Brokerage.load()
    brokerage.timezone = "America/Los_Angeles"
    brokerage.save()


def test_a_now_in_the_spring_forward_gap_is_refused_naming_the_gap(team, tmp_path):
    _los_angeles()
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Pat", "email": "pat@example.org"}])
    gap = ("--now: 2026-03-08T02:30 does not exist in America/Los_Angeles: the clocks jump "
           "from 02:00 to 03:00 that day")
    for command in (("ingest_leads", str(path)), ("route_lead", str(_lead_file(tmp_path)))):
        with pytest.raises(CommandError, match=gap):
            run(*command, "--now", "2026-03-08T02:30")
    assert not Lead.objects.exists() and not Submission.objects.exists()
    # With an offset, or outside the gap, it is read as given.
    assert ingest(path, now="2026-03-08T03:30")[0]["status"] == "assigned"
    assert Lead.objects.get().received_at == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)


def test_a_now_in_the_fall_back_hour_is_refused_asking_for_the_offset(team, tmp_path):
    import re

    _los_angeles()
    path = tmp_path / "leads.jsonl"
    write_jsonl(path, [{"first_name": "Pat", "email": "pat@example.org"}])
    twice = ("--now: 2026-11-01T01:30 happens twice in America/Los_Angeles (the clocks go back "
             "from 02:00 to 01:00 that day): give the offset, 2026-11-01T01:30-07:00 for the "
             "first time or 2026-11-01T01:30-08:00 for the second")
    with pytest.raises(CommandError, match=re.escape(twice)):
        run("ingest_leads", str(path), "--now", "2026-11-01T01:30")
    assert not Lead.objects.exists()
    ingest(path, now="2026-11-01T01:30-08:00")
    assert Lead.objects.get().received_at == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
