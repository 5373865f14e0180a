"""Benchmark routing: queries per lead at any scale, and routed vs bare-insert throughput.

Runs in a throw-away database (``test_<name>``) on whatever ``DATABASE_URL`` selects, so the
product's own data is never touched.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember
from leads.intake import BATCH_SIZE, build_lead, receive_lead, receive_leads, validate_lead
from leads.models import Lead, Submission
from routing.models import RotationState, Rule, RuleCriterion
from routing.selectors import _cache
from routing.signals import bump_config_token

SOURCES = ["Zillow", "Realtor.com", "Facebook", "Website", "Homes.com"]
CITIES = ["Brooklyn", "Queens", "Manhattan", "Bronx", "Hoboken"]
SELECTIONS = ["rotation", "first_in_roster", "least_loaded", "territory", "rotation"]


class Command(BaseCommand):
    help = "Print routing figures: SQL queries per lead at scale, and ingestion throughput."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=2000, help="Leads per throughput run.")
        parser.add_argument("--stored", type=int, default=100_000,
                            help="Stored leads for the query-count check.")
        parser.add_argument("--only", choices=["scale", "throughput", "batches"],
                            help="Only the query counts at scale, only the throughput, or only "
                                 "its batches (bare and routed, back to back).")

    def handle(self, *args: Any, leads: int, stored: int, only: str | None = None,
               **options: Any) -> None:
        vendor = connection.vendor
        test_settings = connection.settings_dict.setdefault("TEST", {})
        if vendor == "sqlite":  # a file, as in production: in-memory would flatter the figures
            test_settings["NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
        else:  # never the test suite's database
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        try:
            self.stdout.write(f"Database: {vendor}")
            load_at_start = os.getloadavg()[0]
            if only in (None, "scale"):
                self.query_counts(stored)
            if only != "scale":
                self.throughput(leads, batches_only=only == "batches")
            self.stdout.write(f"  load average (1 min) at the start and the end: "
                              f"{load_at_start:.1f}, {os.getloadavg()[0]:.1f} on "
                              f"{os.cpu_count()} CPUs")
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    # --- queries per lead ---------------------------------------------------------------------

    def query_counts(self, stored: int) -> None:
        self.stdout.write("\nSQL queries to route one lead (constant whatever the scale):")
        self.stdout.write(f"  {'rules':>6} {'members':>8} {'stored leads':>13} {'queries':>8}")
        for rules, members, leads in ((10, 5, 0), (1000, 5, 0), (10, 500, 0), (1000, 500, 0),
                                      (10, 5, stored), (1000, 500, stored)):
            _reset()
            _build_brokerage(rules=rules, members=members, stored=leads)
            _route_one(0)  # the first lead after a change loads the configuration once
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as captured:
                _route_one(1)
            self.stdout.write(f"  {rules:>6} {members:>8} {leads:>13,} {len(captured):>8}")

    # --- throughput ---------------------------------------------------------------------------

    def throughput(self, count: int, *, batches_only: bool = False) -> None:
        _reset()
        _build_brokerage(rules=12, members=12, stored=0)
        payloads = [_payload(i) for i in range(count)]
        now = timezone.now()
        self.stdout.write(f"\nIngestion of {count:,} leads (validated, 12 rules, 12 agents):")

        def timed(label: str, ingest: Any) -> float:
            _reset_leads()
            start, cpu = time.perf_counter(), time.process_time()
            ingest()
            rate = count / (time.perf_counter() - start)
            cpu_us = (time.process_time() - cpu) / count * 1e6
            self.stdout.write(f"  {label:<44} {rate:8.0f} leads/s  ({cpu_us:4.0f} µs of CPU "
                              f"a lead)")
            return rate

        def bare_each() -> None:
            for data in payloads:
                cleaned, _ = validate_lead(data)
                build_lead(cleaned, received_at=now).save()

        def bare_batches() -> None:
            for start in range(0, count, BATCH_SIZE):
                with transaction.atomic():
                    Lead.objects.bulk_create([
                        build_lead(validate_lead(d)[0], received_at=now)
                        for d in payloads[start:start + BATCH_SIZE]
                    ])

        def routed_each() -> None:
            for data in payloads:
                receive_lead(data, channel=Submission.Channel.API, received_at=now)

        def routed_batches() -> None:
            for start in range(0, count, BATCH_SIZE):
                receive_leads(payloads[start:start + BATCH_SIZE],
                              channel=Submission.Channel.FILE, received_at=now)

        if not batches_only:
            bare_one = timed("bare insert, one transaction per lead", bare_each)
            routed_one = timed("routed, one transaction per lead (API)", routed_each)
        bare_many = timed(f"bare insert, batches of {BATCH_SIZE}", bare_batches)
        routed_many = timed(f"routed, batches of {BATCH_SIZE} (ingest_leads)", routed_batches)
        assigned = Lead.objects.filter(owner__isnull=False).count()
        self.stdout.write(f"  ({assigned:,} of {count:,} assigned in the last run)")
        self.stdout.write(f"  ratio routed/bare, batches of {BATCH_SIZE}: "
                          f"{routed_many / bare_many:.2f}")
        if batches_only:
            return
        self.stdout.write(f"  ratio routed/bare, one per transaction: {routed_one / bare_one:.2f}")
        self.stdout.write(f"  ratio ingest_leads / bare insert one by one: "
                          f"{routed_many / bare_one:.2f}")


def _reset_leads() -> None:
    for model in (Lead, Submission, RotationState):
        model.objects.all().delete()
    _cache.clear()


def _reset() -> None:
    _cache.clear()
    for model in (Lead, Submission, Rule, RosterMember, Roster, Agent):
        model.objects.all().delete()


def _payload(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    return {
        "first_name": "Pat", "last_name": f"Buyer{i}", "email": f"buyer{i}@example.org",
        "phone": f"+1212555{i % 10000:04d}" if i < 10000 else "",
        "source": rng.choice(SOURCES), "city": rng.choice(CITIES),
        "lead_type": rng.choice(["buyer", "seller"]), "price": rng.randrange(100, 3000) * 1000,
        "zip_code": f"100{rng.randrange(1, 40):02d}", "tags": ["web"],
    }


def _route_one(i: int) -> None:
    receive_lead(_payload(900_000 + i), channel=Submission.Channel.FILE,
                 received_at=timezone.now())


def _build_brokerage(*, rules: int, members: int, stored: int) -> None:
    agents = Agent.objects.bulk_create(
        [Agent(name=f"Agent {i}", email=f"agent{i}@example.com",
               zip_codes=[f"100{i % 40:02d}"], max_open_leads=10_000 if i % 3 == 0 else None)
         for i in range(members)]
    )
    roster = Roster.objects.create(name="Everyone")
    RosterMember.objects.bulk_create(
        [RosterMember(roster=roster, agent=a, position=i, leads_per_round=1 + i % 2)
         for i, a in enumerate(agents)]
    )
    made = Rule.objects.bulk_create(
        [Rule(name=f"Rule {i}", priority=i, roster=roster, selection=SELECTIONS[i % 5])
         for i in range(rules - 1)]
        + [Rule(name="Everyone else", priority=rules, roster=roster, is_catch_all=True)]
    )
    criteria = []
    for i, rule in enumerate(made[:-1]):
        # Most rules are narrow (a rare source); a few take real traffic.
        source = SOURCES[i % len(SOURCES)] if i < 8 else f"Vendor {i}"
        criteria.append(RuleCriterion(rule=rule, field="source", value=source))
        criteria.append(RuleCriterion(rule=rule, field="city", value=CITIES[i % len(CITIES)]))
        if i % 2:
            criteria.append(RuleCriterion(rule=rule, field="price_min", value="500000"))
    RuleCriterion.objects.bulk_create(criteria)
    if stored:
        past = timezone.now() - timedelta(days=30)
        batch = [
            Lead(first_name="Old", last_name=str(i), email=f"old{i}@example.org",
                 email_normalized=f"old{i}@example.org", received_at=past, source="Zillow",
                 owner=agents[i % len(agents)], status=Lead.Status.ASSIGNED, assigned_at=past)
            for i in range(stored)
        ]
        Lead.objects.bulk_create(batch, batch_size=5000)
    bump_config_token()  # bulk_create sends no signals
