"""Benchmark the lead intake API over HTTP: gunicorn, concurrent clients, throughput, latency.

The server runs on 127.0.0.1 (a free port) against a throw-away database (``test_<name>``
beside whatever ``DATABASE_URL`` selects, or a temporary SQLite file), so the product's own data
is never touched. The same run measures a bare DRF create of the same payload on the same
server (validate with a model serializer, save, no routing: mounted only with
``LEADROUTER_BENCH=1``), and prints the ratio.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from agents.models import Agent, Roster, RosterMember
from leads.intake.bench import CPU_HEADER, QUERIES_HEADER
from leads.intake.keys import create_key
from leads.models import Lead
from routing.management.commands.serve import stop_process
from routing.models import Rule, RuleCriterion
from routing.signals import bump_config_token

ROUTED_PATH = "/api/v1/leads/"
BARE_PATH = "/api/v1/bench/leads/"
# source -> the rule its leads meet (the others fall through to the catch-all)
SOURCES = ["Zillow", "Realtor.com", "Facebook", "Website", "Homes.com"]
ZIPS = [f"100{n:02d}" for n in range(1, 13)]
CITIES = ["Brooklyn", "Queens", "Manhattan", "Bronx", "Hoboken"]
PHONE_BLOCKS = {"r": 2_000_000, "b": 3_000_000, "wr": 4_000_000, "wb": 5_000_000}


class Command(BaseCommand):
    help = ("Post leads to the intake API on a local gunicorn from concurrent clients; print "
            "throughput and latency, and the same for a bare DRF create (no routing).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=5000, help="Leads per endpoint.")
        parser.add_argument("--clients", type=int, default=16, help="Concurrent clients.")
        parser.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
        parser.add_argument("--timeout", type=float, default=900,
                            help="Seconds for the whole run; what is done by then is reported.")

    def handle(self, *args: Any, leads: int, clients: int, workers: int, timeout: float,
               **options: Any) -> None:
        if leads < 1 or clients < 1 or workers < 1:
            raise CommandError("--leads, --clients and --workers must be positive.")
        deadline = time.monotonic() + timeout
        load_at_start = os.getloadavg()[0]
        vendor = connection.vendor
        test_settings = connection.settings_dict.setdefault("TEST", {})
        scratch = Path(tempfile.mkdtemp(prefix="bench_api_"))  # the server's log, SQLite's file
        if vendor == "sqlite":  # a file, as in production: in-memory would flatter the figures
            test_settings["NAME"] = str(scratch / "bench_api.sqlite3")
        else:  # never the product's database, nor the test suite's
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_apibench"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False,
                                           serialize=False)
        server, finished = None, False
        try:
            keys = _build_brokerage()
            url = database_url(connection.settings_dict)
            connection.close()
            server, base = _start_server(url, workers, deadline, scratch)
            self.stdout.write(
                f"Database: {vendor}; gunicorn on {base}, {workers} sync workers x 1 thread; "
                f"{clients} concurrent clients; {leads:,} leads per endpoint.")
            self.stdout.write("Rules: rotation (Zillow), claim (Realtor.com), first to claim "
                              "(Facebook), territory (Website), catch-all rotation (the rest).\n")
            routed_payloads = [_payload(i, "r") for i in range(leads)]
            bare_payloads = [_payload(i, "b") for i in range(leads)]
            warm = max(2 * workers, 20)
            _run(base, ROUTED_PATH, [_payload(i, "wr") for i in range(warm)], keys, clients,
                 deadline)
            _run(base, BARE_PATH, [_payload(i, "wb") for i in range(warm)], None, clients,
                 deadline)
            self.stdout.write(f"  {'endpoint':<54} {'leads/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                              f"{'done':>7} {'errors':>7}")
            routed = _run(base, ROUTED_PATH, routed_payloads, keys, clients, deadline, server)
            self._line("POST /api/v1/leads/ (key, log, exactly once, routed)", routed, leads)
            bare = _run(base, BARE_PATH, bare_payloads, None, clients, deadline, server)
            self._line("bare DRF create (ModelSerializer, save, no routing)", bare, leads)
            if routed.rate and bare.rate:
                self.stdout.write(f"  ratio routed/bare throughput: {routed.rate / bare.rate:.2f}"
                                  f"; p50 latency: {routed.p(50) / max(bare.p(50), 1e-9):.1f}x")
            self.stdout.write(f"\n  {'per request':<54} {'routed':>8} {'bare':>8} {'ratio':>7}")
            for label, of in (("SQL statements (BEGIN and COMMIT included)", _Result.queries),
                              ("server CPU ms (gunicorn workers, /proc)", _Result.cpu_ms),
                              ("  of which inside Django (process_time)", _Result.django_ms)):
                mine, theirs = of(routed), of(bare)
                self.stdout.write(f"  {label:<54} {mine:8.1f} {theirs:8.1f} "
                                  f"{mine / theirs if theirs else 0:7.2f}")
            statuses = Counter(routed.statuses)
            self.stdout.write("  routed outcomes: " + ", ".join(
                f"{status} {count:,}" for status, count in sorted(statuses.items())))
            stored = Lead.objects.filter(external_id__startswith="bench-r-").count()
            self.stdout.write(f"  routed leads stored: {stored:,} of {routed.done:,} answered "
                              f"(exactly once per external id)")
            self.stdout.write(f"  load average (1 min) at the start and the end: "
                              f"{load_at_start:.1f}, "
                              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            if time.monotonic() > deadline:
                self.stdout.write(self.style.WARNING("Stopped at --timeout: partial figures."))
            finished = True
        finally:
            if server is not None:
                stop_process(server, group=True)
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
            if finished:  # otherwise the server's log stays there to read
                shutil.rmtree(scratch, ignore_errors=True)

    def _line(self, label: str, result: _Result, wanted: int) -> None:
        self.stdout.write(f"  {label:<54} {result.rate:8.0f} {result.p(50):8.1f} "
                          f"{result.p(99):8.1f} {result.done:7,} {result.errors:7,}")
        if result.failures:
            self.stdout.write(f"    first failures: {result.failures[:3]}")


# --- the brokerage ----------------------------------------------------------------------------

def _build_brokerage() -> dict[str, str]:
    """Agents, rules of every kind, and one key per source: {source: key}."""
    agents = Agent.objects.bulk_create([
        Agent(name=f"Agent {i}", email=f"agent{i}@example.com", zip_codes=[ZIPS[i % 12]],
              max_open_leads=100_000 if i % 4 == 0 else None)
        for i in range(16)
    ])

    def roster(name: str, members: list[Agent]) -> Roster:
        made = Roster.objects.create(name=name)
        RosterMember.objects.bulk_create([
            RosterMember(roster=made, agent=a, position=i, leads_per_round=1 + i % 2)
            for i, a in enumerate(members)])
        return made

    rules = [
        ("Zillow rotation", "Zillow", roster("Zillow team", agents[0:4]),
         Rule.Selection.ROTATION, Rule.Delivery.ASSIGN),
        ("Realtor.com claim", "Realtor.com", roster("Claim team", agents[4:8]),
         Rule.Selection.ROTATION, Rule.Delivery.CLAIM),
        ("Facebook first to claim", "Facebook", roster("Shark tank", agents[8:12]),
         Rule.Selection.ROTATION, Rule.Delivery.FIRST_TO_CLAIM),
        ("Website territory", "Website", roster("Territories", agents[0:12]),
         Rule.Selection.TERRITORY, Rule.Delivery.ASSIGN),
    ]
    for priority, (name, source, members, selection, delivery) in enumerate(rules):
        rule = Rule.objects.create(name=name, priority=priority, roster=members,
                                   selection=selection, delivery=delivery)
        RuleCriterion.objects.create(rule=rule, field="source", value=source)
    Rule.objects.create(name="Everyone else", priority=100, is_catch_all=True,
                        roster=roster("Everyone", agents[12:16]))
    bump_config_token()  # bulk_create sends no signals
    return {source: create_key(source, label="bench")[1] for source in SOURCES}


def _payload(i: int, phase: str) -> dict[str, Any]:
    rng = random.Random(f"{phase}{i}")
    return {
        "first_name": "Pat", "last_name": f"Buyer{i}", "email": f"{phase}{i}@example.org",
        "phone": f"+1646{PHONE_BLOCKS[phase] + i % 1_000_000:07d}",  # nobody registers twice
        "source": SOURCES[i % len(SOURCES)], "city": rng.choice(CITIES),
        "lead_type": rng.choice(["buyer", "seller"]), "price": rng.randrange(100, 3000) * 1000,
        "zip_code": rng.choice(ZIPS), "tags": ["web"], "message": "Is it still available?",
        "external_id": f"bench-{phase}-{i}",
    }


# --- the server -------------------------------------------------------------------------------

def database_url(db: dict[str, Any]) -> str:
    """The URL of a benchmark's own database, for the processes it starts."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(db['NAME'], safe='')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, workers: int, deadline: float,
                  scratch: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "LEADROUTER_BENCH": "1", "DEBUG": "0",
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "INTAKE_RATE_PER_MINUTE": str(10**9),
           "Q_SYNC": "0"}
    log_name = scratch / "gunicorn.log"
    with log_name.open("wb") as log:  # the server keeps its own copy of the descriptor
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "1",
             "--worker-class", "sync", "--timeout", "120", "--log-level", "warning"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    ready_by = min(deadline, time.monotonic() + 60)
    try:
        while time.monotonic() < ready_by:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited: see {log_name}")
            try:
                requests.get(base + ROUTED_PATH, timeout=5)
                return server, base
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise CommandError(f"gunicorn did not start in time: see {log_name}")
    except BaseException:
        stop_process(server, group=True)
        raise



# --- the clients ------------------------------------------------------------------------------

class _Result:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: list[str] = []
        self.errors = 0
        self.failures: list[str] = []
        self.elapsed = 0.0
        self.statements: list[int] = []  # per answered request, from the server's meter
        self.django_us: list[int] = []
        self.worker_seconds = 0.0  # CPU of the gunicorn workers over the run

    def queries(self) -> float:
        return sum(self.statements) / len(self.statements) if self.statements else 0.0

    def cpu_ms(self) -> float:
        return self.worker_seconds * 1000 / self.done if self.done else 0.0

    def django_ms(self) -> float:
        return sum(self.django_us) / 1000 / len(self.django_us) if self.django_us else 0.0

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def p(self, percent: float) -> float:
        """A latency percentile, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))] * 1000


def worker_cpu_seconds(master: subprocess.Popen) -> float:
    """User and system CPU time of the server's workers (the master's children), from /proc;
    0 where there is no /proc."""
    total, tick = 0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == master.pid:  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _run(base: str, path: str, payloads: list[dict[str, Any]], keys: dict[str, str] | None,
         clients: int, deadline: float, server: subprocess.Popen | None = None) -> _Result:
    """Post every payload from ``clients`` threads at once (each with its own session)."""
    result = _Result()
    cpu_before = worker_cpu_seconds(server) if server is not None else 0.0
    lock = threading.Lock()
    next_index = iter(range(len(payloads)))

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            payload = payloads[index]
            headers = {"Authorization": f"Api-Key {keys[payload['source']]}"} if keys else {}
            start = time.perf_counter()
            try:
                response = session.post(base + path, json=payload, headers=headers, timeout=60)
                ok = response.status_code in (200, 201)
                status = response.json().get("status", "created") if ok else ""
                problem = "" if ok else f"{response.status_code}: {response.text[:200]}"
            except (requests.RequestException, ValueError) as exc:
                ok, status, problem = False, "", repr(exc)
            took = time.perf_counter() - start
            with lock:
                if ok:
                    result.latencies.append(took)
                    result.statuses.append(status)
                    if QUERIES_HEADER in response.headers:
                        result.statements.append(int(response.headers[QUERIES_HEADER]))
                        result.django_us.append(int(response.headers[CPU_HEADER]))
                else:
                    result.errors += 1
                    result.failures.append(problem)
        session.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - start
    if server is not None:
        result.worker_seconds = worker_cpu_seconds(server) - cpu_before
    return result
