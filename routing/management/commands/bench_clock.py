"""Benchmark the clock: a burst of offers falling due in the same minute, worked off live.

Runs in a throw-away database (a temporary SQLite file, or ``<name>_bench_clock`` on
PostgreSQL), so the product's own data is never touched. Leads are routed for real (a claim
rule over a roster, by ``ingest_leads`` from a CSV file); their offers' deadlines are then
moved to a moment a few seconds ahead, and one or more clock loops in threads, each doing what
the clock's process does (take the lease, run a pass, sleep until the next deadline), work them
off in real time. With ``--cluster`` the processes of production do the work instead, on the
same throw-away database: the clock's own process (``manage.py run_clock --loop``) beside a
real task cluster (``manage.py qcluster``) that works off the notification and webhook tasks
the expiries queue. It checks that each offer expired once, that nobody was offered a lead
twice and that the round robin gave every agent as many turns as the others, and compares the
clock's speed with ``ingest_leads`` routing as many new leads right after, on the same database
with the same processes running.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember
from config.text import plural
from leads.management.commands.bench_api import database_url
from leads.models import Activity, Lead
from notifications.models import Delivery, Notification
from routing import clock
from routing.management.commands.serve import stop_process
from routing.models import Brokerage, Clock, Offer, Rule
from routing.selectors import _cache
from routing.signals import bump_config_token

LEAD_TIME = timedelta(seconds=3)  # from the end of the setup to the deadlines
CLUSTER_START_LIMIT = 60  # seconds for the clock's process to take its lease
WATCH_SECONDS = 0.05  # how often the watcher looks for batches the clock committed


class Command(BaseCommand):
    first_offers: Counter[int]  # the arrivals' offers, by agent
    clock_rate: float = 0.0  # offers moved on per second

    help = ("Print clock figures: time to move on a burst of due offers, lateness against the "
            "deadlines, offers per second (in a throw-away database).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--offers", type=int, default=10_000,
                            help="Offers falling due together (default 10,000).")
        parser.add_argument("--agents", type=int, default=50, help="Roster size (default 50).")
        parser.add_argument("--workers", type=int, default=1,
                            help="Clock loops running at once, each in its own thread and "
                            "database connection (they share the lease).")
        parser.add_argument("--spread", type=float, default=0.0,
                            help="Seconds over which the deadlines are spread (at most 59; "
                            "default 0: all at the same instant).")
        parser.add_argument("--no-lease", action="store_true",
                            help="Workers run their passes at once, ignoring the lease (each "
                            "offer must still move on exactly once).")
        parser.add_argument("--limit", type=float, default=600.0,
                            help="Give up after this many seconds past the deadlines.")
        parser.add_argument("--cluster", action="store_true",
                            help="Let the production processes work the burst off (the "
                            "clock's run_clock --loop beside a real qcluster), instead of "
                            "clock loops in threads.")

    def handle(self, *args: Any, offers: int, agents: int, workers: int, spread: float,
               limit: float, no_lease: bool, cluster: bool, **options: Any) -> None:
        if offers < 1 or agents < 2 or workers < 1 or not 0 <= spread < 60:
            raise CommandError("need --offers >= 1, --agents >= 2, --workers >= 1, "
                               "0 <= --spread < 60")
        vendor = connection.vendor
        test_settings = connection.settings_dict.setdefault("TEST", {})
        if vendor == "sqlite":  # a file, shared by the workers' connections, as in production
            test_settings["NAME"] = str(Path(tempfile.mkdtemp()) / "bench_clock.sqlite3")
        else:  # never the product's nor the test suite's database
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_clock"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        try:
            who = ("the clock process beside a real task cluster" if cluster
                   else plural(workers, "clock worker") + (", no lease" if no_lease else ""))
            self.stdout.write(f"Database: {vendor}; {offers:,} offers, {agents} agents, {who}; "
                              f"load {_load()}")
            self.route_burst(offers, agents)
            if cluster:
                processes = self.start_processes()
                try:
                    self.wait_for_arrival_notices()
                    deadlines = self.place_deadlines(spread)
                    self.watch(deadlines, limit, processes[1].pid)
                    self.wait_for_burst_notices(deadlines[0], limit)
                    self.compare_with_intake(offers)
                finally:
                    for process in processes:
                        stop_process(process, group=True)
            else:
                self.run(self.place_deadlines(spread), workers, limit, lease=not no_lease)
                self.compare_with_intake(offers)
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    # --- the burst ------------------------------------------------------------------------------

    def route_burst(self, count: int, size: int) -> None:
        """Route ``count`` leads to claim offers (their deadlines an hour away for now)."""
        started = time.perf_counter()
        _cache.clear()
        brokerage = Brokerage.load()
        brokerage.actionable_window = []  # the clock always runs: figures whatever the hour
        brokerage.save()
        team = Agent.objects.bulk_create(
            [Agent(name=f"Agent {i}", email=f"agent{i}@example.com") for i in range(size)])
        roster = Roster.objects.create(name="Everyone")
        RosterMember.objects.bulk_create(
            [RosterMember(roster=roster, agent=a, position=i) for i, a in enumerate(team)])
        # A long timeout: the next agents' offers never fall due (nor remind) during the run.
        Rule.objects.create(name="Everything else", is_catch_all=True, roster=roster,
                            delivery=Rule.Delivery.CLAIM, claim_timeout_minutes=60)
        bump_config_token()  # bulk_create sends no signals
        took = self.ingest(0, count)  # the burst's leads come in as a CSV file
        if Lead.objects.filter(status=Lead.Status.OFFERED).count() != count:
            raise CommandError("setup: a lead was not offered")
        self.first_offers = Counter(Offer.objects.values_list("agent_id", flat=True))
        self.stdout.write(f"  setup: {count:,} leads routed to offers by ingest_leads in "
                          f"{took:.1f} s ({count / took:,.0f} routed leads/s; "
                          f"{time.perf_counter() - started:.1f} s in all)")

    def ingest(self, first: int, count: int) -> float:
        """Seconds ``ingest_leads`` takes to route ``count`` new leads from a CSV file."""
        csv_file = Path(tempfile.mkdtemp()) / "leads.csv"
        with csv_file.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["first_name", "last_name", "email"])
            writer.writerows(["Pat", f"Buyer{i}", f"buyer{i}@example.org"]
                             for i in range(first, first + count))
        started = time.perf_counter()
        call_command("ingest_leads", str(csv_file), stdout=io.StringIO())
        return time.perf_counter() - started

    def compare_with_intake(self, count: int) -> None:
        """The clock must move offers on at least as fast as intake routes leads: after the
        burst, with the same processes running, ``ingest_leads`` routes as many new leads."""
        rate = count / self.ingest(count, count)
        self.stdout.write(f"  clock moves/s against ingest_leads' routed leads/s ({count:,} "
                          f"new leads, after the burst, same database and processes): "
                          f"{self.clock_rate:,.0f} / {rate:,.0f} = {self.clock_rate / rate:.2f}"
                          f" (goal >= 1)")

    def place_deadlines(self, spread: float) -> tuple[datetime, datetime]:
        """Move the burst's deadlines just ahead of now, over ``spread`` seconds."""
        first = timezone.now() + LEAD_TIME
        burst = list(Offer.objects.only("pk").order_by("pk"))
        step = timedelta(seconds=spread) / max(1, len(burst) - 1) if spread else timedelta(0)
        for index, offer in enumerate(burst):
            offer.deadline = first + index * step
            offer.remind_at = None
        Offer.objects.bulk_update(burst, ["deadline", "remind_at"], batch_size=1000)
        last = first + (len(burst) - 1) * step
        self.stdout.write(f"  deadlines from {_hms(first)} to {_hms(last)} UTC")
        return first, last

    # --- the production processes --------------------------------------------------------------

    def start_processes(self) -> list[subprocess.Popen]:
        """``qcluster`` and ``run_clock --loop`` on the benchmark's database; back once the
        clock holds its lease."""
        env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
               "Q_BROKER": "orm", "Q_SYNC": "false",
               "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
               "SMS_BACKEND": "notifications.sms.LocmemSmsBackend"}
        logs = Path(tempfile.mkdtemp())
        processes = []
        for name, command in (("qcluster", ["qcluster"]), ("clock", ["run_clock", "--loop"])):
            with open(logs / f"{name}.log", "w") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "manage.py", *command], env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
        started = time.monotonic()
        while time.monotonic() - started < CLUSTER_START_LIMIT:
            if any(process.poll() is not None for process in processes):
                break
            if Clock.objects.filter(pk=1, lease_until__gt=timezone.now()).exists():
                self.stdout.write(f"  task cluster and clock process up, the clock holding its "
                                  f"lease after {time.monotonic() - started:.1f} s "
                                  f"(logs: {logs})")
                return processes
            time.sleep(0.2)
        for process in processes:
            stop_process(process, group=True)
        raise CommandError(f"the clock did not start within {CLUSTER_START_LIMIT} s, or a "
                           f"process stopped; see {logs}")

    def wait_for_arrival_notices(self) -> None:
        """Let the task cluster send the notices of the burst's arrivals first: they went out
        when the leads came in (the night before, in the morning burst), so the burst meets a
        cluster with only its own notices to send."""
        started = time.monotonic()
        waiting = Notification.objects.filter(dispatched_at__isnull=True)
        while waiting.exists():
            if time.monotonic() - started > CLUSTER_START_LIMIT * 3:
                raise CommandError("the task cluster did not send the arrivals' notices")
            time.sleep(0.5)
        self.stdout.write(f"  the cluster sent the arrivals' notices in "
                          f"{time.monotonic() - started:.1f} s (before the deadlines)")

    def watch(self, deadlines: tuple[datetime, datetime], limit: float, clock_pid: int
              ) -> None:
        """Wait while the clock works. An offer counts as moved on when the transaction that
        expired it (and made its lead's next offer) has committed: the watcher looks every
        ``WATCH_SECONDS`` and notes when each batch (one expiry time) first shows up."""
        first, last = deadlines
        give_up = time.monotonic() + (first - timezone.now()).total_seconds() + limit
        burst = Offer.objects.filter(deadline__lte=last)
        seen: dict[datetime, datetime] = {}  # a batch's expiry time: when it was seen committed
        complete = False
        cpu_before = process_cpu(clock_pid)
        while time.monotonic() < give_up:
            newer = {"responded_at__gt": max(seen)} if seen else {}  # the batches not seen yet
            for moment in (burst.filter(status=Offer.Status.EXPIRED, **newer).order_by()
                           .values_list("responded_at", flat=True).distinct()):
                seen.setdefault(moment, timezone.now())
            if not burst.filter(status=Offer.Status.OFFERED).exists():
                complete = True
                break
            time.sleep(WATCH_SECONDS)
        for moment in (burst.filter(status=Offer.Status.EXPIRED).order_by()
                       .values_list("responded_at", flat=True).distinct()):
            seen.setdefault(moment, timezone.now())
        rows = list(burst.filter(status=Offer.Status.EXPIRED)
                    .values_list("deadline", "responded_at"))
        lateness = [(seen[answered] - due).total_seconds() for due, answered in rows]
        cpu = process_cpu(clock_pid)
        self.report(first, last, lateness, list(seen.values()), [], complete=complete,
                    clock_cpu=cpu - cpu_before if cpu is not None and cpu_before is not None
                    else None)

    def wait_for_burst_notices(self, first: datetime, limit: float) -> None:
        """What the agents see: the cluster's sending of the burst's "lead offered" notices
        (one per move, by email here), when each went out against the first deadline."""
        made = Delivery.objects.filter(notification__created_at__gte=first)
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up and (
            Notification.objects.filter(created_at__gte=first, dispatched_at__isnull=True)
            .exists() or made.exclude(status=Delivery.Status.SENT).exists()):
            time.sleep(WATCH_SECONDS * 4)
        sent = sorted((moment - first).total_seconds() for moment in made.filter(
            status=Delivery.Status.SENT).values_list("sent_at", flat=True))
        if not sent:
            self.stdout.write("  the burst's notices: none sent")
            return
        self.stdout.write(f"  the burst's notices: {len(sent):,} sent (of {made.count():,}), "
                          f"after the first deadline p50 {sent[len(sent) // 2]:.3f} s, "
                          f"p99 {sent[min(len(sent) - 1, int(0.99 * len(sent)))]:.3f} s, "
                          f"last {sent[-1]:.3f} s")

    # --- the clock loops ------------------------------------------------------------------------

    def run(self, deadlines: tuple[datetime, datetime], workers: int, limit: float, *,
            lease: bool) -> None:
        first, last = deadlines
        stop = threading.Event()
        give_up = time.monotonic() + (first - timezone.now()).total_seconds() + limit
        lateness: list[float] = []
        finished: list[datetime] = []  # when each pass that expired something ended
        stats: list[Counter] = [Counter() for _ in range(workers)]
        errors: list[BaseException] = []
        cpu_spent: list[float] = []  # the clock's CPU seconds in each pass that moved offers on
        lock = threading.Lock()

        def loop(index: int) -> None:
            holder = uuid.uuid4()
            try:
                while not stop.is_set() and time.monotonic() < give_up:
                    cpu = time.thread_time()
                    if not lease:
                        done = clock.run_clock()
                    elif clock._take_lease(holder, timezone.now()):  # as clock.run_loop does
                        done = clock.run_clock(keep_going=clock.lease_keeper(holder, give_up))
                    else:
                        done = None
                    spent = time.thread_time() - cpu
                    if done is not None:
                        ended = timezone.now()
                        Clock.objects.filter(pk=1, holder=holder).update(last_pass_at=ended)
                        with lock:
                            stats[index]["passes"] += 1
                            stats[index]["expired"] += done.expired
                            if done.expired:
                                cpu_spent.append(spent)
                            lateness.extend(done.lateness)
                            if done.expired:
                                finished.append(ended)
                        if ended >= last and not Offer.objects.filter(
                            status=Offer.Status.OFFERED, deadline__lte=last
                        ).exists():
                            stop.set()
                        pause = clock._sleep_for(timezone.now(), idle=not done.expired)
                    else:
                        stats[index]["lease refused"] += 1
                        pause = clock.MAX_SLEEP
                    stop.wait(pause)
                Clock.objects.filter(pk=1, holder=holder).update(lease_until=None)
            except BaseException as exc:  # reported below
                errors.append(exc)
                stop.set()
            finally:
                connection.close()

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise CommandError(f"a clock worker failed: {errors[0]!r}") from errors[0]
        self.report(first, last, lateness, finished, stats, complete=stop.is_set(),
                    clock_cpu=sum(cpu_spent))

    def report(self, first: datetime, last: datetime, lateness: list[float],
               finished: list[datetime], stats: list[Counter], *, complete: bool,
               clock_cpu: float | None = None) -> None:
        burst = Offer.objects.filter(deadline__lte=last)
        count = burst.count()
        expired = burst.filter(status=Offer.Status.EXPIRED).count()
        if not complete:
            self.stdout.write(f"  GAVE UP: {expired:,} of {count:,} offers moved on in time")
        took = (max(finished) - first).total_seconds() if finished else 0.0
        ordered = sorted(lateness)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

        spread = (last - first).total_seconds()
        self.stdout.write(f"  all {expired:,} offers moved on {took:.2f} s after the first "
                          f"deadline (deadlines spread over {spread:.1f} s)")
        self.stdout.write(f"  lateness against the deadline: p50 {pct(0.5):.3f} s, "
                          f"p99 {pct(0.99):.3f} s, max {(ordered or [0.0])[-1]:.3f} s")
        self.stdout.write(f"  throughput: {expired / took if took else 0:,.0f} offers moved on/s")
        if clock_cpu is not None and expired:
            per_move = clock_cpu / expired * 1000
            self.stdout.write(f"  the clock's CPU: {clock_cpu:.2f} s, {per_move:.3f} ms per "
                              f"offer moved on (load {_load()})")
        for index, worker in enumerate(stats, start=1):
            self.stdout.write(f"  worker {index}: {worker['passes']} passes, "
                              f"{worker['expired']:,} offers expired, "
                              f"{worker['lease refused']} times the lease was held by another")
        # Each offer expired exactly once, and nobody was offered the same lead twice.
        events = Activity.objects.filter(kind=Activity.Kind.EXPIRED).count()
        twice = (Offer.objects.values("lead_id", "agent_id").annotate(n=Count("id"))
                 .filter(n__gt=1).count())
        next_offers = Offer.objects.filter(deadline__gt=last, status=Offer.Status.OFFERED)
        moved = next_offers.count()
        by_workers = sum(w["expired"] for w in stats) if stats else expired
        expired_twice = (Activity.objects.filter(kind=Activity.Kind.EXPIRED)
                         .values("lead_id").annotate(n=Count("id")).filter(n__gt=1).count())
        ok = events == expired == by_workers == moved and not twice and not expired_twice
        self.stdout.write(f"  check: {events:,} expiries recorded, {expired_twice} leads with "
                          f"an offer expired twice, {moved:,} next offers made, {twice} agents "
                          f"offered a lead twice: {'OK' if ok else 'MISMATCH'}")
        # Round robin over the whole roster, arrivals then moves: everyone got as many offers
        # as everyone else (one apart at most), so no turn was lost or given twice.
        turns = self.first_offers + Counter(next_offers.values_list("agent_id", flat=True))
        fair = max(turns.values()) - min(turns.values()) <= 1 and sum(turns.values()) == (
            sum(self.first_offers.values()) + moved)
        self.stdout.write(f"  rotation: each of {len(turns)} agents offered {min(turns.values())}"
                          f" to {max(turns.values())} leads (arrivals and moves): "
                          f"{'OK' if fair else 'MISMATCH'}")
        self.clock_rate = expired / took if took else 0.0



def process_cpu(pid: int) -> float | None:
    """CPU seconds (user and system) a process has used so far (Linux; None elsewhere): the
    clock's cost per move, which the machine's other work moves least."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def _hms(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3]
