"""Sources: what each lead source sent and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q

from leads.models import Submission
from routing.engine import Outcome, Reason
from routing.models import RoutingRecord
from routing.reports.common import (
    Chart,
    Filters,
    Period,
    Report,
    Table,
    count_column,
    percent_column,
    share,
    text_column,
    with_report_settings,
)
from routing.reports.speed import leads_in


def source_counts(period: Period, filters: Filters) -> list[dict[str, Any]]:
    """Per source: leads, contacted, claimed in time (an agent claimed it, or got it outright,
    with no escalation and no stay in the pond), leads that went to the pond and their share,
    and submissions rejected (invalid, spam). Two grouped queries."""
    records = RoutingRecord.objects.filter(lead_id=OuterRef("pk"))
    pond = Exists(records.filter(outcome=Outcome.UNASSIGNED))
    escalated = Exists(records.filter(reason=Reason.ESCALATED))
    rows = {r["source"]: r for r in leads_in(period, filters).values("source").annotate(
        leads=Count("id"), contacted=Count("first_contact_at"),
        claimed=Count("id", filter=Q(assigned_at__isnull=False) & ~pond & ~escalated),
        pond=Count("id", filter=pond)).order_by()}
    submissions = Submission.objects.filter(
        received_at__gte=period.since, received_at__lt=period.until,
        outcome__in=(Submission.Outcome.REJECTED, Submission.Outcome.SPAM))
    if filters.source:
        submissions = submissions.filter(source=filters.source)
    rejected = dict(submissions.values("source").annotate(n=Count("id")).order_by()
                    .values_list("source", "n"))
    result = []
    for source in set(rows) | set(rejected):
        row = rows.get(source, {"leads": 0, "contacted": 0, "claimed": 0, "pond": 0})
        result.append({"name": source or "No source", "leads": row["leads"],
                       "contacted": row["contacted"],
                       "contacted_share": share(row["contacted"], row["leads"]),
                       "claimed": row["claimed"],
                       "claimed_share": share(row["claimed"], row["leads"]),
                       "pond": row["pond"], "pond_rate": share(row["pond"], row["leads"]),
                       "rejected": rejected.get(source, 0)})
    result.sort(key=lambda r: (-r["leads"], r["name"].lower()))
    return result


@with_report_settings
def report(period: Period, filters: Filters, now: datetime) -> Report:
    return Report("sources", "Sources", (
        "What each source sent in the period and what became of it. Claimed in time: an agent "
        "claimed the lead (or got it outright) without an escalation or a stay in the pond. "
        "Rejected: submissions refused as invalid or spam, which never became leads."), [
        Table("sources", "By source", [
            text_column("name", "Source"), count_column("leads", "Leads"),
            count_column("contacted", "Contacted"),
            percent_column("contacted_share", "Contacted %"),
            count_column("claimed", "Claimed in time"),
            percent_column("claimed_share", "Claimed in time %"),
            count_column("pond", "Went to the pond"), percent_column("pond_rate", "Pond rate"),
            count_column("rejected", "Rejected submissions")],
            source_counts(period, filters),
            chart=Chart("bar", ("leads", "contacted", "pond"), horizontal=True)),
    ])
