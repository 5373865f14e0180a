"""Speed to lead: how long leads waited for a claim and for the first contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet
from django.db.models.functions import ExtractHour

from agents.models import Agent
from leads.models import Lead
from routing.models import Rule
from routing.reports.common import (
    Chart,
    Filters,
    Period,
    Report,
    Table,
    count_column,
    duration,
    duration_column,
    grouped,
    names_of,
    text_column,
    with_report_settings,
)

GROUPINGS = {"agent": "owner_id", "isa": "isa_id", "source": "source", "rule": "rule_id",
             "hour": "hour"}
FRACTIONS = {"median": 0.5, "p90": 0.9}
NEVER_CONTACTED_SHOWN = 50


def leads_in(period: Period, filters: Filters) -> QuerySet[Lead]:
    """The leads that arrived in the period, narrowed by the filters."""
    return Lead.objects.filter(received_at__gte=period.since, received_at__lt=period.until,
                               **filters.leads())


def speed_to_lead(period: Period, filters: Filters, *, by: str) -> list[dict[str, Any]]:
    """Per agent (the lead's owner), ISA, source, rule or hour of arrival (brokerage time):
    leads, how many were claimed and contacted, and the median and 90th percentile of the
    time from arrival to the claim (``assigned_at``: when the current owner claimed it or got
    it) and to the first contact (``first_contact_at``). One grouped query on PostgreSQL."""
    key = GROUPINGS[by]
    leads = leads_in(period, filters)
    if by == "hour":
        leads = leads.annotate(hour=ExtractHour("received_at", tzinfo=ZoneInfo(period.tz_name)))
    if by == "isa":
        leads = leads.filter(isa__isnull=False)
    found = grouped(
        leads, key, {"leads": Count("id"), "claimed": Count("assigned_at"),
                     "contacted": Count("first_contact_at")},
        {"claim": duration("assigned_at", "received_at"),
         "contact": duration("first_contact_at", "received_at")}, FRACTIONS)
    rows = [{**row, "key": k, "never_contacted": row["leads"] - row["contacted"]}
            for k, row in found.items()]
    _name_rows(rows, by)
    if by == "hour":
        found = {r["key"]: r for r in rows}
        rows = [found.get(h) or _empty_hour(h) for h in range(24)]
    else:
        rows.sort(key=lambda r: (-r["leads"], r["name"].lower()))
    return rows


def _empty_hour(hour: int) -> dict[str, Any]:
    return {"key": hour, "name": f"{hour:02d}:00", "leads": 0, "claimed": 0, "contacted": 0,
            "never_contacted": 0, "claim_median": None, "claim_p90": None,
            "contact_median": None, "contact_p90": None}


def _name_rows(rows: list[dict[str, Any]], by: str) -> None:
    keys = [r["key"] for r in rows]
    if by in ("agent", "isa"):
        names = names_of(Agent, keys)
        nobody = "Nobody (pond or offered)" if by == "agent" else "No ISA"
        for r in rows:
            r["name"] = names.get(r["key"], nobody)
    elif by == "rule":
        names = names_of(Rule, keys)
        for r in rows:
            r["name"] = names.get(r["key"], "Special routing (no rule)")
    elif by == "source":
        for r in rows:
            r["name"] = r["key"] or "No source"
    else:
        for r in rows:
            r["name"] = f"{r['key']:02d}:00"


def never_contacted(period: Period, filters: Filters, *, limit: int = NEVER_CONTACTED_SHOWN
                    ) -> tuple[int, list[dict[str, Any]]]:
    """How many leads of the period have no first contact, and the oldest ``limit`` of them
    (closed and dead leads aside)."""
    waiting = leads_in(period, filters).filter(first_contact_at__isnull=True).exclude(
        status__in=(Lead.Status.CLOSED, Lead.Status.DEAD))
    total = waiting.count()
    rows = []
    for lead in (waiting.select_related("owner").order_by("received_at", "id")
                 .only("id", "first_name", "last_name", "lead_type", "neighborhood", "city",
                       "zip_code", "source", "status", "received_at", "owner__name")[:limit]):
        rows.append({"lead": lead.title, "id": lead.pk, "source": lead.source,
                     "status": lead.get_status_display(),
                     "owner": lead.owner.name if lead.owner else "",
                     "received": lead.received_at.astimezone(ZoneInfo(period.tz_name))
                     .strftime("%a %b %d %H:%M")})
    return total, rows


SPEED_COLUMNS = [
    count_column("leads", "Leads"), count_column("claimed", "Claimed"),
    duration_column("claim_median", "To claim, median"),
    duration_column("claim_p90", "To claim, 90% within"),
    count_column("contacted", "Contacted"),
    duration_column("contact_median", "To first contact, median"),
    duration_column("contact_p90", "To first contact, 90% within"),
    count_column("never_contacted", "Never contacted"),
]

TITLES = {"agent": ("Agent", "By agent"), "isa": ("ISA", "By ISA"),
          "source": ("Source", "By source"), "rule": ("Rule", "By rule"),
          "hour": ("Hour", "By hour of arrival")}


def speed_table(period: Period, filters: Filters, by: str, *, slug: str | None = None,
                title: str | None = None) -> Table:
    first, default_title = TITLES[by]
    chart = (Chart("line", ("contact_median", "claim_median")) if by == "hour" else
             Chart("bar", ("claim_median", "contact_median"), horizontal=True))
    return Table(slug or by, title or default_title,
                 [text_column("name", first), *SPEED_COLUMNS],
                 speed_to_lead(period, filters, by=by), chart=chart)


@with_report_settings
def report(period: Period, filters: Filters, now: datetime) -> Report:
    tables = [speed_table(period, filters, by) for by in ("agent", "isa", "source", "rule",
                                                           "hour")]
    total, rows = never_contacted(period, filters)
    tables.append(Table(
        "never_contacted", "Never contacted", [
            text_column("received", "Arrived"), text_column("lead", "Lead"),
            text_column("source", "Source"), text_column("status", "Status"),
            text_column("owner", "Owner")],
        rows, help="Open leads of the period with no call, text, email or meeting logged yet.",
        empty="Every lead of the period has been contacted.",
        note=(f"The {len(rows)} oldest of {total:,}." if total > len(rows) else "")))
    return Report("speed", "Speed to lead", (
        "How long leads waited: from arrival to the claim (when their agent claimed them or "
        "got them) and to the first logged call, text, email or meeting. Half the leads "
        "waited less than the median; nine in ten waited less than the “90% within” time."),
        tables)
