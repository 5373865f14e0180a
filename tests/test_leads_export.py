"""Leads export (CSV): the admin's selected or filtered leads, and ``manage.py export_leads``;
one set of columns, local times, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from agents.models import Agent
from agents.services import sync_access
from leads import export
from leads.admin import LeadAdmin
from leads.models import Lead
from routing.models import Brokerage
from tests.factories import AgentFactory, LeadFactory

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture(autouse=True)
def _brokerage():
    brokerage = Brokerage.load()
    brokerage.timezone = "America/Chicago"
    brokerage.save()


@pytest.fixture
def mc(manager_client):
    """The manager's client (tests/conftest.py), by a short name."""
    return manager_client


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=CHICAGO)


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_leads", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_exports_the_leads_of_a_status_source_and_period(tmp_path):
    ann = AgentFactory(name="Ann Agent", email="ann@example.com")
    wanted = LeadFactory(first_name="Dana", last_name="Reyes", email="dana@example.org",
                         phone="+13125550142", source="Zillow", status=Lead.Status.ASSIGNED,
                         owner=ann, price=Decimal("450000"), tags=["hot", "buyer"],
                         received_at=at(10), assigned_at=at(10, 11))
    LeadFactory(source="Zillow", status=Lead.Status.ASSIGNED, received_at=at(12))  # after
    LeadFactory(source="Realtor.com", status=Lead.Status.ASSIGNED, received_at=at(10))
    LeadFactory(source="Zillow", status=Lead.Status.UNASSIGNED, received_at=at(10))
    target = tmp_path / "leads.csv"

    out, err = run("--status", "assigned", "--source", "Zillow", "--since", "2026-11-01",
                   "--until", "2026-11-11", "--output", str(target))

    assert out == "" and err.strip() == f"Exported 1 lead to {target}."
    [row] = table(target.read_text(encoding="utf-8"))
    assert row["ID"] == str(wanted.pk)
    assert (row["First Name"], row["Last Name"], row["Email"], row["Phone"]) == (
        "Dana", "Reyes", "dana@example.org", "+13125550142")
    assert (row["Source"], row["Status"], row["Agent"], row["Agent Email"]) == (
        "Zillow", "Assigned", "Ann Agent", "ann@example.com")
    assert (row["Price"], row["Tags"]) == ("450000", "hot, buyer")
    assert row["Received At"] == "2026-11-10T10:00:00-06:00"  # the brokerage's local time
    assert row["Assigned At"] == "2026-11-10T11:00:00-06:00"


def test_the_command_writes_to_standard_output_and_counts_in_plain_words():
    LeadFactory(received_at=at(3))
    LeadFactory(received_at=at(4))

    out, err = run()

    rows = table(out)
    assert len(rows) == 2 and list(rows[0])[:6] == [
        "ID", "Received At", "First Name", "Last Name", "Email", "Phone"]
    assert err.strip() == "Exported 2 leads to standard output."
    assert run("--since", "2026-11-04T00:00")[1].strip() == "Exported 1 lead to standard output."


def test_the_command_says_what_is_wrong_with_a_date():
    with pytest.raises(CommandError, match="--since: 'last week' is not a date"):
        run("--since", "last week")
    with pytest.raises(CommandError, match="--since must come before --until"):
        run("--since", "2026-11-05", "--until", "2026-11-04")
    with pytest.raises(CommandError, match="--until: 2026-11-01T01:30 happens twice"):
        run("--until", "2026-11-01T01:30")  # the hour the clocks go back in Chicago


def test_cells_that_would_run_as_formulas_are_written_as_text():
    LeadFactory(first_name="=HYPERLINK(\"http://evil.example\",\"Click\")", last_name="+1",
                message="@SUM(A1:A9)", city="-2+3", source="\tZillow", zip_code="\r=1",
                tags=["=cmd"], phone="+13125550142", received_at=at(2))

    [row] = table("".join(export.csv_lines(Lead.objects.all())))

    assert row["First Name"] == "'=HYPERLINK(\"http://evil.example\",\"Click\")"
    assert (row["Last Name"], row["Message"], row["City"]) == ("'+1", "'@SUM(A1:A9)", "'-2+3")
    assert (row["Source"], row["Zip"], row["Tags"]) == ("'\tZillow", "'\r=1", "'=cmd")
    assert row["Phone"] == "+13125550142"  # formatted here, a number: left as it is
    assert export.guard("Pat") == "Pat"


def test_the_admin_exports_the_selected_leads(mc):
    first, second, _ = (LeadFactory(received_at=at(day)) for day in (3, 4, 5))

    response = mc.post(reverse("admin:leads_lead_changelist"), {
        "action": "export_csv", "_selected_action": [second.pk, first.pk]})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads accented names right
    assert [row["ID"] for row in table(text)] == [str(first.pk), str(second.pk)]


def test_the_admin_exports_every_filtered_lead_not_only_the_page(mc, monkeypatch):
    monkeypatch.setattr(LeadAdmin, "list_per_page", 2)
    zillow = [LeadFactory(source="Zillow", received_at=at(day), status=Lead.Status.ASSIGNED)
              for day in (3, 4, 5)]
    LeadFactory(source="Zillow", received_at=at(6), status=Lead.Status.UNASSIGNED)
    LeadFactory(source="Homes.com", received_at=at(6), status=Lead.Status.ASSIGNED)

    page = mc.get(reverse("admin:leads_lead_changelist"),
                  {"status": "assigned", "source": "Zillow", "p": "2"}).content.decode()
    export_url = reverse("admin:leads_lead_export")
    assert "Export the filtered leads (CSV)" in page
    link = page[page.index(f'href="{export_url}') + 6:].split('"', 1)[0].replace("&amp;", "&")
    assert "status=assigned" in link and "source=Zillow" in link

    response = mc.get(link)

    assert response.status_code == 200 and response.streaming
    rows = table(b"".join(response.streaming_content).decode("utf-8"))
    assert sorted(int(row["ID"]) for row in rows) == sorted(lead.pk for lead in zillow)

    found = mc.get(reverse("admin:leads_lead_export"), {"q": zillow[1].last_name})
    assert [row["ID"] for row in table(b"".join(found.streaming_content).decode("utf-8"))] == [
        str(zillow[1].pk)]  # a search, too


def test_only_people_who_may_see_leads_export_them(client):
    agent = AgentFactory(role=Agent.Role.AGENT)
    sync_access(agent)
    client.force_login(agent.user)
    response = client.get(reverse("admin:leads_lead_export"))
    assert response.status_code in (302, 403)


def test_an_exported_file_goes_back_in_through_ingest_leads(tmp_path):
    LeadFactory(first_name="Dana", last_name="Reyes", email="dana@example.org",
                phone="+13125550142", source="Zillow", city="Evanston", received_at=at(2))
    target = tmp_path / "leads.csv"
    run("--output", str(target))
    Lead.objects.all().delete()

    call_command("ingest_leads", str(target), stdout=io.StringIO(), stderr=io.StringIO())

    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.phone.as_e164, lead.source,
            lead.city) == ("Dana", "Reyes", "dana@example.org", "+13125550142", "Zillow",
                           "Evanston")


@pytest.mark.parametrize(("price", "written"), [
    (Decimal("2400000"), "2400000"), (Decimal("2400000.00"), "2400000"), (2400000.0, "2400000"),
    (Decimal("1250.5"), "1250.50"), (Decimal("999.99"), "999.99"), (None, "")])
def test_prices_are_written_without_a_trailing_zero_fraction(price, written):
    assert export.price_text(price) == written


def test_an_exported_price_reads_back_as_whole_dollars(tmp_path):
    LeadFactory(price=Decimal("2400000"), received_at=at(10))
    target = tmp_path / "leads.csv"
    run("--output", str(target))
    [row] = table(target.read_text(encoding="utf-8"))
    assert row["Price"] == "2400000"
