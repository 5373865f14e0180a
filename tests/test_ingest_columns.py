"""Another CRM's CSV export is read through its column names instead of rejected."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from agents.directory import AgentDirectory
from leads.intake.columns import build_map, detect_format, map_row
from leads.intake.mapping import plain_price
from leads.models import Lead
from tests.factories import AgentFactory

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def test_plain_headers_case_and_space_insensitive_with_full_name_split():
    columns = build_map(["full name", " EMAIL ", "Phone Number"])
    assert columns.fmt == "plain" and not columns.unknown
    record = map_row({"full name": "Ann Lee Ray", " EMAIL ": "a@x.com", "Phone Number": "1"},
                     build_map(["full name", " EMAIL ", "Phone Number"]))
    assert record["first_name"] == "Ann" and record["last_name"] == "Lee Ray"


def test_fub_detected_and_extra_emails_unknown_columns_kept_in_the_note():
    header = (FIXTURES / "fub.csv").read_text().splitlines()[0].split(",")
    assert detect_format(header) == "fub"
    columns = build_map(header)
    assert columns.unknown == ["Favorite Color"]


def test_map_file_wins_over_the_built_ins(tmp_path):
    columns = build_map(["Email", "Ignore Me"], overrides={"Email": None, "Ignore Me": "city"})
    assert columns.fields == {"Email": None, "Ignore Me": "city"}


@pytest.mark.django_db
def test_fub_export_routes_with_its_fields():
    AgentFactory(name="Bob", email="bob@example.com")
    out, err = StringIO(), StringIO()
    call_command("ingest_leads", str(FIXTURES / "fub.csv"), stdout=out, stderr=err)
    assert "Mapping: fub" in err.getvalue()
    assert json.loads(out.getvalue())["agent"] == "bob@example.com"
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email, lead.source) == ("Jane", "jane@example.com", "Zillow")
    assert "jane.work@example.com" in lead.message and "Favorite Color: blue" in lead.message


def test_agent_column_names_an_agent_by_name_or_email_or_says_why_not():
    class A:
        name, email = "Bob Stone", "bob@example.com"

    agents = AgentDirectory.of([A()])
    columns = build_map(["Email", "Assigned To"], "fub")
    for value in ("bob stone", "BOB@example.com"):
        record = map_row({"Email": "a@x.com", "Assigned To": value}, columns, agents)
        assert record["assigned_to"] == "bob@example.com"
    record = map_row({"Email": "a@x.com", "Assigned To": "zed@example.com"}, columns, agents)
    assert "assigned_to" not in record  # routed by the rules, not rejected
    assert record["message"] == "Assigned To: zed@example.com. No agent with email zed@example.com."


@pytest.mark.django_db
def test_dry_run_routes_nothing():
    out = StringIO()
    call_command("ingest_leads", str(FIXTURES / "fub.csv"), "--dry-run", stdout=out,
                 stderr=StringIO())
    assert json.loads(out.getvalue().splitlines()[0])["fields"]["email"] == "jane@example.com"
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_a_kvcore_export_with_prices_written_as_money_routes(tmp_path):
    AgentFactory(name="Olivia Bennett", email="olivia@example.com")
    export = tmp_path / "kvcore.csv"
    export.write_text(
        "First Name,Last Name,Primary Email,Cell Phone,Hashtags,Assigned Agent,Lead Source,"
        "Avg Price,Status\n"
        'Kim,Lau,kim.lau@example.org,212-555-0177,"investor,condo",Olivia Bennett,Realtor.com,'
        '"$1,250,000",Active\n', encoding="utf-8")
    out = StringIO()
    call_command("ingest_leads", str(export), stdout=out, stderr=StringIO())
    answer = json.loads(out.getvalue().splitlines()[0])
    assert answer["errors"] is None, answer
    lead = Lead.objects.get()
    assert (lead.price, lead.source, lead.owner.email) == (1250000, "Realtor.com",
                                                         "olivia@example.com")


def test_prices_as_people_write_them_are_read_as_numbers():
    assert [plain_price(p) for p in ("$1,250,000", "1 250 000 USD", "450000", " $549,000.50 ")] \
        == ["1250000", "1250000", "450000", "549000.50"]
