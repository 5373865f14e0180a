"""Benchmark speed to lead: from a lead's arrival to each channel handing its message over.

Runs in a throw-away database (a temporary SQLite file, or ``<name>_bench_alerts`` on
PostgreSQL) with the production task cluster (``manage.py qcluster`` in its own process, the
ORM broker): leads arrive one by one through the intake service at a steady rate, routing
assigns each to an agent who wants email and texts, and the lead's rule has an auto-response
(an email and a text). Measured per message, from just before the lead is received:

- email (agent's notice, lead's auto-reply): until a local SMTP server on 127.0.0.1, run by
  this command, has accepted the message (the end of SMTP ``DATA``), through Django's SMTP
  backend, as with a real mail provider;
- text (agent's notice, lead's auto-reply): until the SMS backend has handed it over (the
  file backend's timestamp; a provider's backend returns at the same point).

Web push is not part of this build; it has no figure here.
"""

from __future__ import annotations

import json
import os
import re
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember
from leads.intake import receive_lead
from leads.management.commands.bench_api import database_url
from leads.models import AutoResponse
from notifications.models import Preference
from routing.management.commands.serve import stop_process
from routing.models import Brokerage, Rule
from routing.selectors import _cache
from routing.signals import bump_config_token

GOAL_P99 = 2.0  # seconds
START_LIMIT = 90.0  # seconds for the cluster to deliver the warm-up lead's messages
LEAD_NUMBER = re.compile(r"Buyer(\d{5})")
CHANNELS = ("agent email", "agent text", "lead email", "lead text")


class _Capture:
    """What the local SMTP server accepted: (time, recipients, subject), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[float, list[str], str]] = []

    def add(self, at: float, recipients: list[str], data: bytes) -> None:
        subject = str(make_header(decode_header(message_from_bytes(data).get("Subject", ""))))
        with self.lock:
            self.received.append((at, recipients, subject))


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    capture: _Capture

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 bench-smtp ready")
        recipients: list[str] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250-bench-smtp\r\n250 8BITMIME\r\n")
                self.wfile.flush()
            elif verb == b"MAIL":
                recipients = []
                self.reply("250 OK")
            elif verb == b"RCPT":
                address = line.decode().split(":", 1)[1].strip().strip("<>").split(">")[0]
                recipients.append(address.lower())
                self.reply("250 OK")
            elif verb == b"DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while (part := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    chunks.append(part[1:] if part.startswith(b"..") else part)
                self.capture.add(time.time(), recipients, b"".join(chunks))
                self.reply("250 OK queued")
            elif verb == b"QUIT":
                self.reply("221 Bye")
                return
            elif verb in (b"RSET", b"NOOP"):
                self.reply("250 OK")
            else:
                self.reply("502 Command not implemented")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Command(BaseCommand):
    help = ("Print speed-to-lead figures: time from a lead's arrival to each channel handing "
            "its message to the provider, p50/p99, with a real task cluster (throw-away "
            "database).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=200, help="Leads (default 200).")
        parser.add_argument("--rate", type=float, default=5.0,
                            help="Leads arriving per second (default 5).")
        parser.add_argument("--agents", type=int, default=10, help="Agents (default 10).")
        parser.add_argument("--workers", type=int, default=4,
                            help="Task cluster workers (Q_WORKERS, default 4).")
        parser.add_argument("--limit", type=float, default=120.0,
                            help="Give up this many seconds after the last arrival.")

    def handle(self, *args: Any, leads: int, rate: float, agents: int, workers: int,
               limit: float, **options: Any) -> None:
        if not 1 <= leads <= 9_999 or rate <= 0 or agents < 1 or workers < 1:
            raise CommandError("need 1 <= --leads <= 9999, --rate > 0, --agents >= 1, "
                               "--workers >= 1")
        vendor = connection.vendor
        test_settings = connection.settings_dict.setdefault("TEST", {})
        if vendor == "sqlite":
            test_settings["NAME"] = str(Path(tempfile.mkdtemp()) / "bench_alerts.sqlite3")
        else:  # never the product's nor the test suite's database
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_alerts"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        capture = _Capture()
        handler = type("Handler", (_SmtpHandler,), {"capture": capture})
        server = _SmtpServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        work = Path(tempfile.mkdtemp())
        sms_file = work / "sms.jsonl"
        process = None
        try:
            self.stdout.write(f"Database: {vendor}; {leads} leads at {rate:g} a second, "
                              f"{agents} agents; a real task cluster (qcluster, {workers} "
                              "workers, ORM broker)")
            self.set_up(agents)
            process = self.start_cluster(work, server.server_address[1], sms_file, workers)
            self.warm_up(capture, sms_file)
            arrivals = self.arrive(leads, rate)
            self.wait(capture, sms_file, arrivals, limit)
            self.report(self.latencies(capture, sms_file, arrivals), leads)
        finally:
            if process is not None:
                stop_process(process, group=True)
            server.shutdown()
            server.server_close()
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    def set_up(self, size: int) -> None:
        """Agents who want email and texts, a catch-all rule assigning in rotation, and its
        auto-response; the actionable window always open (figures whatever the hour)."""
        _cache.clear()
        brokerage = Brokerage.load()
        brokerage.actionable_window = []
        brokerage.name = "Harbor Realty"
        brokerage.save()
        team = Agent.objects.bulk_create(
            [Agent(name=f"Agent {i}", email=f"agent{i}@example.com", phone=f"+1312555{i:04d}")
             for i in range(size)])
        Preference.objects.bulk_create([Preference(agent=a, email=True, sms=True) for a in team])
        roster = Roster.objects.create(name="Everyone")
        RosterMember.objects.bulk_create(
            [RosterMember(roster=roster, agent=a, position=i) for i, a in enumerate(team)])
        rule = Rule.objects.create(name="Everything else", is_catch_all=True, roster=roster,
                                   delivery=Rule.Delivery.ASSIGN)
        AutoResponse.objects.create(
            rule=rule, email_subject="Thanks {first_name}: {agent_name} will call you",
            email_body="Hi {first_name}, I am {agent_name} of {brokerage}: {agent_phone}.",
            sms_body="Hi {first_name}, {agent_name} of {brokerage} will call you shortly.")
        bump_config_token()  # bulk_create sends no signals

    def start_cluster(self, work: Path, smtp_port: int, sms_file: Path,
                      workers: int) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
               "Q_BROKER": "orm", "Q_SYNC": "false", "Q_WORKERS": str(workers),
               "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
               "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_port),
               "EMAIL_USE_TLS": "false", "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "",
               "SMS_BACKEND": "notifications.sms.FileSmsBackend",
               "SMS_FILE_PATH": str(sms_file)}
        log = open(work / "qcluster.log", "w")  # noqa: SIM115 (open while the cluster runs)
        self.stdout.write(f"  cluster log: {work / 'qcluster.log'}")
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def warm_up(self, capture: _Capture, sms_file: Path) -> None:
        """One lead, not counted, until its four messages are out: the cluster is up."""
        started = time.monotonic()
        receive_lead(self.payload(0), channel="api", received_at=timezone.now())
        while time.monotonic() - started < START_LIMIT:
            if len(capture.received) >= 2 and len(_sms_lines(sms_file)) >= 2:
                self.stdout.write(f"  cluster up, warm-up lead delivered after "
                                  f"{time.monotonic() - started:.1f} s")
                with capture.lock:
                    capture.received.clear()
                sms_file.write_text("")
                return
            time.sleep(0.1)
        raise CommandError(f"the task cluster delivered nothing within {START_LIMIT:.0f} s")

    @staticmethod
    def payload(index: int) -> dict[str, Any]:
        return {"first_name": "Pat", "last_name": f"Buyer{index:05d}", "lead_type": "buyer",
                "email": f"buyer{index}@example.org", "phone": f"+1201555{index:04d}",
                "city": "Hoboken", "price": 450000}

    def arrive(self, count: int, rate: float) -> dict[int, float]:
        """Leads through the intake service (as the API does), one every 1/rate seconds; the
        moment each arrived (epoch seconds, just before it was received)."""
        arrivals: dict[int, float] = {}
        step = 1.0 / rate
        start = time.monotonic()
        for index in range(1, count + 1):
            pause = start + (index - 1) * step - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            arrivals[index] = time.time()
            result = receive_lead(self.payload(index), channel="api",
                                  received_at=timezone.now())
            if result.status != "assigned":
                raise CommandError(f"lead {index} was not assigned: {result.status}")
        return arrivals

    def wait(self, capture: _Capture, sms_file: Path, arrivals: dict[int, float],
             limit: float) -> None:
        expected = 2 * len(arrivals)
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            if len(capture.received) >= expected and len(_sms_lines(sms_file)) >= expected:
                return
            time.sleep(0.2)
        self.stdout.write(f"  GAVE UP after {limit:.0f} s: {len(capture.received)} of "
                          f"{expected} emails, {len(_sms_lines(sms_file))} of {expected} texts")

    def latencies(self, capture: _Capture, sms_file: Path, arrivals: dict[int, float]
                  ) -> dict[str, list[float]]:
        figures: dict[str, list[float]] = {name: [] for name in CHANNELS}
        lead_by_email = {f"buyer{i}@example.org": i for i in arrivals}
        lead_by_phone = {f"+1201555{i:04d}": i for i in arrivals}
        for at, recipients, subject in capture.received:
            index = lead_by_email.get(recipients[0]) if recipients else None
            if index is not None:
                figures["lead email"].append(at - arrivals[index])
            elif (found := LEAD_NUMBER.search(subject)) and int(found[1]) in arrivals:
                figures["agent email"].append(at - arrivals[int(found[1])])
        for line in _sms_lines(sms_file):
            at = datetime.fromisoformat(line["at"]).timestamp()
            index = lead_by_phone.get(line["to"])
            if index is not None:
                figures["lead text"].append(at - arrivals[index])
            elif (found := LEAD_NUMBER.search(line["body"])) and int(found[1]) in arrivals:
                figures["agent text"].append(at - arrivals[int(found[1])])
        return figures

    def report(self, figures: dict[str, list[float]], count: int) -> None:
        worst = 0.0
        for name in CHANNELS:
            values = sorted(figures[name])
            if not values:
                self.stdout.write(f"  {name:<12} nothing delivered")
                worst = float("inf")
                continue
            p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
            worst = max(worst, p99)
            how = "SMTP" if "email" in name else "SMS backend"
            self.stdout.write(f"  {name:<12} ({how:<11}) {len(values):>4} of {count}: "
                              f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {values[-1]:.3f} s")
        verdict = "met" if worst <= GOAL_P99 else "MISSED"
        self.stdout.write(f"  goal p99 <= {GOAL_P99:g} s on every channel: {verdict} "
                          f"(worst p99 {worst:.3f} s)")


def _sms_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]
