"""Time the pages people open most on the scale data (``build_scale_data``): p50 and p95 each.

Builds the data first when the database holds none (as ``bench_reports`` does), then logs in
with Django's test client as the agent with the most open leads and as a manager and asks
for each page ``--runs`` times after one warm-up. Everything runs in one transaction that is
rolled back: the two logins it gives (and their sessions) are all it writes, and they go too.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.test import Client

from agents.models import Agent
from agents.services import ensure_login
from leads.models import Activity, Lead
from routing import scale_data
from routing.management.commands.build_scale_data import ready_scale_data

#: The speed goal of every page, with 1,000,000 leads and 5,000,000 timeline entries stored.
GOAL_MS = 300.0


@dataclass(frozen=True)
class Timed:
    page: str
    status: int
    p50_ms: float
    p95_ms: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.p95_ms <= GOAL_MS


class Rollback(Exception):
    """Raised at the end to undo the logins."""


class Command(BaseCommand):
    help = ("Print p50 and p95 of the agent's pages, the admin's lead list and lead page and "
            "the manager API's lead list on the scale data, against the 300 ms goal.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=1_000_000,
                            help="Leads stored (built first when the database has none).")
        parser.add_argument("--runs", type=int, default=20)
        parser.add_argument("--database-url", default=None)

    def handle(self, *args: Any, leads: int, runs: int, database_url: str | None,
               **options: Any) -> None:
        using = ready_scale_data(self, database_url, leads=leads)
        if "testserver" not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        counts = scale_data.stored_counts(using)
        self.stdout.write(
            f"Pages with {counts['leads_lead']:,} leads and {counts['leads_activity']:,} "
            f"timeline entries stored; {runs} runs each after one warm-up:")
        self.stdout.write(f"  {'page':<44} {'p50 ms':>7} {'p95 ms':>7}  ≤ {GOAL_MS:.0f} ms")
        results: list[Timed] = []
        try:
            with transaction.atomic():
                for page, client, url in self.pages():
                    timed = time_page(page, client, url, runs=runs)
                    results.append(timed)
                    verdict = "yes" if timed.ok else ("NO" if timed.status == 200
                                                      else f"NO ({timed.status})")
                    self.stdout.write(f"  {page:<44} {timed.p50_ms:>7.0f} {timed.p95_ms:>7.0f}"
                                      f"  {verdict}")
                raise Rollback
        except Rollback:
            pass
        slow = [t.page for t in results if not t.ok]
        self.stdout.write("\nEvery page answers within 300 ms." if not slow
                          else f"\nOver 300 ms: {', '.join(slow)}.")

    def pages(self) -> list[tuple[str, Client, str]]:
        """Each page with the client that asks for it: the busiest agent's, then a manager's."""
        agent = (Agent.objects.filter(role=Agent.Role.AGENT, leads__status__in=Lead.OPEN_STATUSES)
                 .annotate(open_n=Count("leads")).order_by("-open_n").first())
        manager = Agent.objects.filter(role=Agent.Role.MANAGER).order_by("pk").first()
        if agent is None or manager is None:
            raise CommandError("The data has no agent with open leads, or no manager.")
        their_lead = (Activity.objects.filter(lead__owner=agent).values("lead_id")
                      .annotate(n=Count("id")).order_by("-n").values_list("lead_id", flat=True)
                      .first())
        some = Lead.objects.exclude(email="").exclude(phone="").order_by("-pk").first()
        assert some is not None
        as_agent, as_manager = Client(), Client()
        for person, client in ((agent, as_agent), (manager, as_manager)):
            ensure_login(person)
            person.refresh_from_db()
            client.force_login(person.user)
        source = some.source or "Zillow"
        admin = "/admin/leads/lead/"
        api = "/api/v1/manager/leads/"
        return [
            ("Offers", as_agent, "/offers/"),
            ("My leads", as_agent, "/leads/"),
            ("Lead page (their busiest lead)", as_agent, f"/leads/{their_lead}/"),
            ("Admin lead list", as_manager, admin),
            ("Admin lead list, status filter", as_manager, f"{admin}?status__exact=assigned"),
            ("Admin lead list, source filter", as_manager, f"{admin}?source__exact={source}"),
            ("Admin lead list, search by name", as_manager, f"{admin}?q={some.last_name}"),
            ("Admin lead list, search by email", as_manager, f"{admin}?q={some.email}"),
            ("Admin lead list, search by phone", as_manager,
             f"{admin}?q={str(some.phone)[-10:]}"),
            ("Admin lead page", as_manager, f"{admin}{their_lead}/change/"),
            ("Manager API leads", as_manager, api),
            ("Manager API leads, status and source", as_manager,
             f"{api}?status=assigned&source={source}"),
            ("Manager API leads, search by name", as_manager, f"{api}?search={some.last_name}"),
        ]


def time_page(page: str, client: Client, url: str, *, runs: int) -> Timed:
    """One warm-up (the page cache), then ``runs`` timed requests."""
    response = client.get(url)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Timed(page, response.status_code, statistics.median(times), p95)
