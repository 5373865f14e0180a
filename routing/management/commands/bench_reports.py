"""Time every manager's report for a 30-day range on the scale data (``build_scale_data``).

Builds the data first when the database holds none of the size asked for (a database
that holds other data is refused, see ``routing.scale_data``), then runs each report a few
times and prints its median and slowest time against the 1 s goal.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing import scale_data
from routing.management.commands.build_scale_data import ready_scale_data
from routing.models import Brokerage
from routing.reports import dashboard
from routing.reports.common import Filters, Period, report_settings
from routing.reports.pages import REPORTS

#: The speed goal of every report, for a 30-day range with 1,000,000 leads stored.
GOAL_MS = 1000.0


@dataclass(frozen=True)
class Timed:
    name: str
    rows: int
    median_ms: float
    max_ms: float

    @property
    def ok(self) -> bool:
        return self.max_ms <= GOAL_MS


Report = Callable[[datetime, datetime], int]  # (since, until) -> rows it answered


class Command(BaseCommand):
    help = ("Print how long each manager's report (speed to lead, offers, accountability, "
            "fairness, sources) and the dashboard take for a 30-day range at scale.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=1_000_000,
                            help="Leads stored (built first when the database has another "
                            "number).")
        parser.add_argument("--activities", type=int, default=None)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--database-url", default=None)
        parser.add_argument("--queries", action="store_true",
                            help="Print each report's slowest SQL queries, with EXPLAIN "
                            "ANALYZE of the slowest.")

    def handle(self, *args: Any, leads: int, activities: int | None, days: int, runs: int,
               database_url: str | None, queries: bool, **options: Any) -> None:
        using = ready_scale_data(self, database_url, leads=leads, activities=activities,
                                 same_size=True)
        counts = scale_data.stored_counts(using)
        until = scale_data.built_at(using) or timezone.now()
        since = until - timedelta(days=days)
        self.stdout.write(
            f"\nReports for {days} days ({since:%Y-%m-%d} to {until:%Y-%m-%d}) with "
            f"{counts['leads_lead']:,} leads, {counts['leads_activity']:,} timeline entries, "
            f"{counts['routing_offer']:,} offers stored; {runs} runs each after one warm-up:")
        self.stdout.write(f"  {'report':<32} {'rows':>8} {'median ms':>10} {'max ms':>8}  "
                          f"≤ {GOAL_MS / 1000:.0f} s")
        results = []
        for name, run in reports(Brokerage.objects.using(using).get(pk=1).tz_name):
            timed = time_report(name, run, since, until, runs=runs)
            results.append(timed)
            self.stdout.write(f"  {timed.name:<32} {timed.rows:>8,} {timed.median_ms:>10.0f} "
                              f"{timed.max_ms:>8.0f}  {'yes' if timed.ok else 'NO'}")
            if queries:
                self.slowest_queries(run, since, until)
        slow = [t.name for t in results if not t.ok]
        self.stdout.write("\nEvery report answers within 1 s." if not slow
                          else f"\nSlower than 1 s: {', '.join(slow)}.")

    def slowest_queries(self, run: Report, since: datetime, until: datetime) -> None:
        """The report's queries, slowest first, and the plan of the slowest (with the
        settings the report runs with)."""
        connection = connections["default"]
        with CaptureQueriesContext(connection) as captured:
            run(since, until)
        ranked = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
        self.stdout.write(f"      {len(ranked)} queries; slowest:")
        for query in ranked[:3]:
            self.stdout.write(f"      {float(query['time']) * 1000:7.0f} ms  "
                              f"{' '.join(query['sql'].split())[:300]}")
        if ranked:
            with report_settings(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + ranked[0]["sql"])
                for (line,) in cursor.fetchall():
                    self.stdout.write(f"        {line}")


def time_report(name: str, run: Report, since: datetime, until: datetime, *,
                runs: int) -> Timed:
    """One warm-up (the page cache), then ``runs`` timed runs."""
    rows = run(since, until)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        rows = run(since, until)
        times.append((time.perf_counter() - began) * 1000)
    return Timed(name, rows, statistics.median(times), max(times))


def reports(tz_name: str) -> Sequence[tuple[str, Report]]:
    """Every report page the managers open, as the page builds it (all its tables), and the
    dashboard's counts; each answers the rows it shows."""
    def page(build: Callable[..., Any]) -> Report:
        def run(since: datetime, until: datetime) -> int:
            period = Period(since, until, "custom", "", tz_name)
            made = build(period, Filters(), until)
            return sum(len(table.rows) for table in made.tables)
        return run

    def needs_attention(since: datetime, until: datetime) -> int:
        return (len(dashboard.attention(now=until, tz_name=tz_name))
                + len(dashboard.unreachable_rules(now=until)))

    def by_source(since: datetime, until: datetime) -> int:
        return sum(len(table.rows)
                   for _, table in dashboard.leads_by_source(now=until, tz_name=tz_name))

    return [*((title, page(build)) for title, build in REPORTS.values()),
            ("Dashboard: needs attention", needs_attention),
            ("Dashboard: today and this week", by_source)]
