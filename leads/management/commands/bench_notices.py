"""Benchmark what the task cluster spends per email notice: a burst's "lead offered" notices
sent in-process, as the cluster's ``send_notifications`` task sends them.

Runs in a throw-away database (a temporary SQLite file, or ``<name>_bench_notices`` on
PostgreSQL), with the locmem email backend, so that only the worker's own work is measured
(rendering, building the message, the statements), not a mail server. Each round makes fresh
notices (each of ``--leads`` leads offered to every agent) and sends them; it prints per
notice: the worker's CPU (``time.process_time``) and the time it took, the statements, and
the CPU of the database server's backend process (PostgreSQL on this machine: /proc).
``--profile`` prints cProfile's most costly functions (by CPU) of the last round.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

from django.core import mail
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from agents.models import Agent
from leads.models import Lead
from notifications.models import Notification
from notifications.services import Message, notify_many
from notifications.tasks import send_notifications
from routing.management.commands.bench_clock import process_cpu
from routing.models import Offer


class Command(BaseCommand):
    help = ("Print the task cluster's cost per email notice (worker CPU, statements, database "
            "CPU) for a burst of \"lead offered\" notices (in a throw-away database).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--agents", type=int, default=50, help="Agents (default 50).")
        parser.add_argument("--leads", type=int, default=10,
                            help="Leads, each offered to every agent (default 10: 500 notices).")
        parser.add_argument("--rounds", type=int, default=5, help="Rounds (default 5).")
        parser.add_argument("--profile", action="store_true",
                            help="Print cProfile's costliest functions of the last round.")
        parser.add_argument("--sort", default="tottime",
                            help="How --profile sorts (pstats: tottime, cumulative...).")

    def handle(self, *args: Any, agents: int, leads: int, rounds: int, profile: bool,
               sort: str, **options: Any) -> None:
        self.sort = sort
        if agents < 1 or leads < 1 or rounds < 1:
            raise CommandError("need --agents, --leads and --rounds >= 1")
        test_settings = connection.settings_dict.setdefault("TEST", {})
        if connection.vendor == "sqlite":
            test_settings["NAME"] = str(Path(tempfile.mkdtemp()) / "bench_notices.sqlite3")
        else:
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_notices"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        try:
            with override_settings(
                    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                    SITE_URL="https://leads.example.com"):
                self.run_rounds(agents, leads, rounds, profile)
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    def run_rounds(self, agents: int, leads: int, rounds: int, profile: bool) -> None:
        team = Agent.objects.bulk_create([
            Agent(name=f"Agent {n}", email=f"agent{n}@example.com") for n in range(agents)])
        self.stdout.write(f"Database: {connection.vendor}; {agents * leads} email notices a "
                          f"round ({leads} leads offered to {agents} agents), {rounds} rounds")
        worker, wall, statements, database = [], [], [], []
        for index in range(rounds):
            ids = self.offered(team, leads)
            mail.outbox = []
            count = [0]

            def counted(execute, sql, params, many, context, count=count):
                count[0] += 1
                return execute(sql, params, many, context)

            # Queueing the notices' task (the ORM broker) closed the connection: this one's.
            server = self.server_pid()
            profiler = (cProfile.Profile(time.process_time) if profile and index == rounds - 1
                        else None)
            server_before = process_cpu(server) if server else None
            with connection.execute_wrapper(counted):
                started, started_wall = time.process_time(), time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                sent = send_notifications(ids)
                if profiler is not None:
                    profiler.disable()
                took = time.process_time() - started
                took_wall = time.perf_counter() - started_wall
            server_after = process_cpu(server) if server else None
            if sent != len(ids) or len(mail.outbox) != len(ids):
                raise CommandError(f"sent {sent} of {len(ids)} notices")
            worker.append(took * 1000 / sent)
            wall.append(took_wall * 1000 / sent)
            statements.append(count[0] / sent)
            if server_before is not None and server_after is not None:
                database.append((server_after - server_before) * 1000 / sent)
            self.stdout.write(f"  round {index + 1}: worker {worker[-1]:.2f} ms CPU "
                              f"({wall[-1]:.2f} ms elapsed), {statements[-1]:.3f} statements"
                              + (f", database {database[-1]:.2f} ms" if database else "")
                              + " per notice")
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(self.sort).print_stats(40)
                self.stdout.write(out.getvalue())
        self.stdout.write(f"Median per notice: worker {median(worker):.2f} ms CPU "
                          f"({median(wall):.2f} ms elapsed), "
                          f"{median(statements):.3f} statements"
                          + (f", database {median(database):.2f} ms CPU" if database else ""))

    @staticmethod
    def server_pid() -> int | None:
        """The database server's process serving this connection, when it runs here."""
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        return pid if process_cpu(pid) is not None else None

    @staticmethod
    def offered(team: list[Agent], leads: int) -> list[int]:
        """Each of ``leads`` new leads offered to every agent: their notices, not yet sent."""
        now = timezone.now()
        made = Lead.objects.bulk_create([
            Lead(first_name=f"Buyer {n}", lead_type="buyer", price=450000, city="Hoboken",
                 status=Lead.Status.OFFERED, received_at=now) for n in range(leads)])
        Offer.objects.bulk_create([
            Offer(lead=lead, agent=agent, offered_at=now, clock_starts_at=now,
                  deadline=now + timedelta(minutes=5)) for lead in made for agent in team])
        notices = notify_many([
            Message([a.pk for a in team], Notification.Event.LEAD_OFFERED,
                    f"New lead: {lead.title}", "Claim it by 10:05.", lead.pk) for lead in made],
            now=now)
        return [n.pk for n in notices]
