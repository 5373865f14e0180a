"""The reports' admin pages: the period and filters form, the tables, their charts and CSV.

Registered on the admin site (``config.admin.LeadrouterAdminSite.get_urls``), so only managers
and superusers reach them (``admin_site.admin_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from routing.models import Brokerage
from routing.reports import accountability, dashboard, fairness, offers, sources, speed
from routing.reports.common import Filters, Period, Report, ReportForm, Table, csv_response

Builder = Callable[[Period, Filters, datetime], Report]

#: slug -> (title, what builds it), in the order the pages link to each other.
REPORTS: dict[str, tuple[str, Builder]] = {
    "speed": ("Speed to lead", speed.report),
    "offers": ("Offers", offers.report),
    "accountability": ("Accountability", accountability.report),
    "fairness": ("Fairness", fairness.report),
    "sources": ("Sources", sources.report),
}


def report_links() -> list[tuple[str, str]]:
    """(slug, title) of every report, for the dashboard and each report's menu."""
    return [(slug, title) for slug, (title, _) in REPORTS.items()]


def csv_link(request: HttpRequest, table_slug: str) -> str:
    params = request.GET.copy()
    params["format"], params["table"] = "csv", table_slug
    return f"?{params.urlencode()}"


def table_item(table: Table, csv: str) -> dict[str, Any]:
    """What ``admin/reports/_table.html`` shows of a table."""
    return {"table": table, "rows": table.shown_rows(), "chart": table.chart_data(),
            "chart_id": f"chart-{table.slug}", "csv": csv}


def dashboard_sources(*, now: datetime, tz_name: str) -> list[dict[str, Any]]:
    """The dashboard's leads by source, today and this week, each downloadable from the speed
    report."""
    base = reverse("admin:report", args=["speed"])
    items = []
    for preset, table in dashboard.leads_by_source(now=now, tz_name=tz_name):
        query = urlencode({"period": preset, "format": "csv", "table": "source"})
        items.append(table_item(table, f"{base}?{query}"))
    return items


def report_view(request: HttpRequest, slug: str, *, admin_site: Any) -> HttpResponse:
    """One report: ``?period=7d&agent=..`` for the page, ``&format=csv&table=..`` for a CSV."""
    if slug not in REPORTS:
        raise Http404("No such report")
    title, build = REPORTS[slug]
    form = ReportForm(request.GET or None)
    now = timezone.now()
    period, filters = form.period_and_filters(now=now, tz_name=Brokerage.load().tz_name)
    report = build(period, filters, now)
    if request.GET.get("format") == "csv":
        table = report.table(request.GET.get("table", ""))
        if table is None:
            raise Http404("No such table")
        return csv_response(table, f"{slug}-{table.slug}-{period.first_day:%Y-%m-%d}"
                                   f"-{period.last_day:%Y-%m-%d}")
    tables = [table_item(t, csv_link(request, t.slug)) for t in report.tables]
    context = {**admin_site.each_context(request), "title": title, "report": report,
               "form": form, "period": period, "tables": tables, "reports": report_links(),
               "current": slug}
    return TemplateResponse(request, "admin/reports/report.html", context)
