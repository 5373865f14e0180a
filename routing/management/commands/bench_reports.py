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

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from routing import scale_data
from routing.management.commands.build_scale_data import database_alias

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
        parser.add_argument("--explain", action="store_true",
                            help="Print EXPLAIN ANALYZE of the slowest query of each report.")

    def handle(self, *args: Any, leads: int, activities: int | None, days: int, runs: int,
               database_url: str | None, explain: bool, **options: Any) -> None:
        using = database_alias(database_url)
        if using != "default":  # the reports read the default connection
            connections.databases["default"] = connections.databases[using]
            connections["default"].close()
            using = "default"
        try:
            scale_data.check_database(using)
        except scale_data.ScaleDataRefused as refused:
            raise CommandError(str(refused)) from refused
        built = scale_data.built_size(using)
        if built is None or built[0] != leads or (activities is not None
                                                   and built[1] != activities):
            self.stdout.write(f"Building {leads:,} leads (once; kept for the next runs):")
            report = scale_data.build(leads=leads, activities=activities, using=using,
                                      progress=lambda line: self.stdout.write(f"  {line}"))
            self.stdout.write(f"Built in {report.seconds:.0f} s.")
        counts = scale_data.stored_counts(using)
        until = scale_data.built_at(using) or timezone.now()
        since = until - timedelta(days=days)
        self.stdout.write(
            f"\nReports for {days} days ({since:%Y-%m-%d} to {until:%Y-%m-%d}) with "
            f"{counts['leads_lead']:,} leads, {counts['leads_activity']:,} timeline entries, "
            f"{counts['routing_offer']:,} offers stored; {runs} runs each after one warm-up:")
        self.stdout.write(f"  {'report':<34} {'rows':>8} {'median ms':>10} {'max ms':>8}  "
                          f"≤ {GOAL_MS / 1000:.0f} s")
        results = []
        for name, run in reports():
            timed = time_report(name, run, since, until, runs=runs)
            results.append(timed)
            self.stdout.write(f"  {timed.name:<34} {timed.rows:>8,} {timed.median_ms:>10.0f} "
                              f"{timed.max_ms:>8.0f}  {'yes' if timed.ok else 'NO'}")
        slow = [t.name for t in results if not t.ok]
        self.stdout.write("\nEvery report answers within 1 s." if not slow
                          else f"\nSlower than 1 s: {', '.join(slow)}.")


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


def reports() -> Sequence[tuple[str, Report]]:
    """Every report the managers open, by the queries their pages run."""
    return STAND_INS


# --- Stand-ins: the queries the report pages will run ----------------------------------------


def _sql(query: str, params: Sequence[Any]) -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(query, params)
        return len(cursor.fetchall())


def _speed(since: datetime, until: datetime) -> int:
    """Speed to lead: arrival to claim and to first contact, median and p90, by agent, source,
    rule and hour of day, and the leads never contacted."""
    rows = 0
    for group in ("l.owner_id", "l.source", "l.rule_id",
                  "extract(hour FROM l.received_at AT TIME ZONE 'America/New_York')"):
        rows += _sql(f"""
            SELECT {group}, count(*),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY l.first_contact_at - l.received_at),
                percentile_cont(0.9) WITHIN GROUP (ORDER BY l.first_contact_at - l.received_at),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY l.assigned_at - l.received_at),
                count(*) FILTER (WHERE l.first_contact_at IS NULL)
            FROM leads_lead l WHERE l.received_at >= %s AND l.received_at < %s
            GROUP BY 1""", [since, until])
    return rows


def _offers(since: datetime, until: datetime) -> int:
    """Offers: offered, claimed, declined, expired per agent and rule; escalations per rule."""
    rows = _sql("""
        SELECT agent_id, rule_id, count(*),
            count(*) FILTER (WHERE status = 'claimed'),
            count(*) FILTER (WHERE status = 'declined'),
            count(*) FILTER (WHERE status = 'expired')
        FROM routing_offer WHERE offered_at >= %s AND offered_at < %s GROUP BY 1, 2""",
        [since, until])
    return rows + _sql("""
        SELECT rule_id, count(*) FROM routing_routingrecord
        WHERE reason = 'escalated' AND created_at >= %s AND created_at < %s GROUP BY 1""",
        [since, until])


def _accountability(since: datetime, until: datetime) -> int:
    """First contacts in time or late per agent; leads lost to idle reassignment."""
    rows = _sql("""
        SELECT l.owner_id,
            count(*) FILTER (WHERE l.first_contact_at <= l.assigned_at
                                   + r.first_contact_minutes * interval '1 minute'),
            count(*) FILTER (WHERE l.first_contact_at IS NULL OR l.first_contact_at
                             > l.assigned_at + r.first_contact_minutes * interval '1 minute')
        FROM leads_lead l JOIN routing_rule r ON r.id = l.rule_id
        WHERE l.assigned_at >= %s AND l.assigned_at < %s
            AND r.first_contact_minutes IS NOT NULL
        GROUP BY 1""", [since, until])
    return rows + _sql("""
        SELECT actor_id, count(*) FROM leads_activity
        WHERE kind = 'reassigned' AND created_at >= %s AND created_at < %s GROUP BY 1""",
        [since, until])


def _fairness(since: datetime, until: datetime) -> int:
    """Each rotation's leads per member, and every turn missed with its reason (read from the
    routing records' traces)."""
    from routing.models import RoutingRecord

    missed = 0
    given: dict[tuple[int, int], int] = {}
    for rule_id, agent_id, trace in (
            RoutingRecord.objects.filter(created_at__gte=since, created_at__lt=until,
                                         rule_id__isnull=False)
            .values_list("rule_id", "agent_id", "trace").iterator(chunk_size=5000)):
        given[(rule_id, agent_id)] = given.get((rule_id, agent_id), 0) + 1
        missed += sum(1 for step in trace if step.get("eligible") is False)
    return len(given)


def _sources(since: datetime, until: datetime) -> int:
    """Per source: leads, contacted, claimed within the window, pond rate, rejected."""
    rows = _sql("""
        SELECT l.source, count(*), count(l.first_contact_at),
            count(*) FILTER (WHERE l.status = 'unassigned'),
            count(c.lead_id)
        FROM leads_lead l LEFT JOIN (
            SELECT DISTINCT lead_id FROM routing_offer
            WHERE offered_at >= %s AND offered_at < %s AND status = 'claimed'
                AND responded_at <= deadline) c ON c.lead_id = l.id
        WHERE l.received_at >= %s AND l.received_at < %s
        GROUP BY 1""", [since, until, since, until])
    return rows + _sql("""
        SELECT source, count(*) FROM leads_submission
        WHERE outcome = 'rejected' AND received_at >= %s AND received_at < %s GROUP BY 1""",
        [since, until])


def _dashboard(since: datetime, until: datetime) -> int:
    """What needs attention now, and today's and this week's leads by source."""
    now = until
    week = now - timedelta(days=7)
    queries = [
        ("SELECT count(*), min(received_at) FROM leads_lead WHERE status = 'unassigned'", []),
        ("SELECT count(*) FROM routing_offer WHERE status = 'offered' AND deadline < %s",
         [now + timedelta(minutes=2)]),
        ("SELECT count(*) FROM leads_lead WHERE first_contact_due_at < %s "
         "AND first_contact_at IS NULL", [now]),
        ("SELECT count(*) FROM routing_routingrecord WHERE reason = 'escalated' "
         "AND created_at >= %s", [now - timedelta(days=1)]),
        ("SELECT count(*) FROM agents_agent WHERE NOT accepting_leads", []),
        ("SELECT count(*) FROM notifications_delivery WHERE status = 'failed'", []),
        ("SELECT count(*) FROM notifications_webhookdelivery WHERE status = 'failed'", []),
        ("""SELECT source, count(*), percentile_cont(0.5) WITHIN GROUP
                (ORDER BY first_contact_at - received_at)
            FROM leads_lead WHERE received_at >= %s GROUP BY 1""", [week]),
    ]
    return sum(_sql(query, params) for query, params in queries)


STAND_INS: Sequence[tuple[str, Report]] = (
    ("Speed to lead", _speed),
    ("Offers", _offers),
    ("Accountability", _accountability),
    ("Fairness", _fairness),
    ("Sources", _sources),
    ("Dashboard (needs attention, this week)", _dashboard),
)
