"""Benchmark speed to lead: from a lead's arrival to each channel handing its message over.

Runs in a throw-away database (a temporary SQLite file, or ``<name>_bench_alerts`` on
PostgreSQL) with the production task cluster (``manage.py qcluster`` in its own process, the
ORM broker): leads arrive one by one through the intake service at a steady rate, routing
assigns each to an agent who wants email and texts and has turned phone alerts on (one push
subscription each), and the lead's rule has an auto-response (an email and a text). Every
provider is a local server on 127.0.0.1 run by this command. Measured per message, from just
before the lead is received:

- push (agent's notice): until the local push service has received the POST (it answers 201),
  through the production ``WebPushBackend`` (pywebpush: aes128gcm for the subscription's real
  P-256 key and auth secret, VAPID-signed with a fresh key pair; ``WEBPUSH_ENDPOINT_HOSTS``
  allows the service's origin); the payload is decrypted afterwards to match it to its lead;
- email (agent's notice, lead's auto-reply): until the local SMTP server has accepted the
  message (the end of SMTP ``DATA``), through Django's SMTP backend, as with a real mail
  provider;
- text (agent's notice, lead's auto-reply): until a local fake of Twilio's Messages API has
  received the request (it answers 201 with the message's JSON and ``sid``), through
  ``TwilioSmsBackend`` and the official ``twilio`` client (``TWILIO_API_BASE``).
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
import uuid
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember
from leads.intake import receive_lead
from leads.management.commands.bench_api import database_url
from leads.models import AutoResponse
from notifications import push
from notifications.models import Preference, PushSubscription
from routing.management.commands.serve import stop_process
from routing.models import Brokerage, Rule
from routing.selectors import _cache
from routing.signals import bump_config_token

GOAL_P99 = 2.0  # seconds
START_LIMIT = 90.0  # seconds for the cluster to deliver the warm-up lead's messages
LEAD_NUMBER = re.compile(r"Buyer(\d{5})")
CHANNELS = ("agent push", "agent email", "agent text", "lead email", "lead text")
HOW = {"push": "push service", "email": "SMTP", "text": "Twilio API"}
TWILIO_SID = "AC" + "b" * 32
TWILIO_TOKEN = "bench-auth-token"
TWILIO_FROM = "+12015550100"


class _Capture:
    """What the local SMTP server accepted: (time, recipients, message), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[float, list[str], bytes]] = []

    def add(self, at: float, recipients: list[str], data: bytes) -> None:
        with self.lock:
            self.received.append((at, recipients, data))


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


class _HttpCapture:
    """A local HTTP server on 127.0.0.1 recording each POST (time, path, body), thread-safe;
    ``answer(path, body)`` gives the status and JSON body of the reply (None: no body)."""

    def __init__(self, answer) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[float, str, bytes]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real providers

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                with capture.lock:
                    capture.received.append((at, self.path, body))
                status, payload = answer(self.path, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _push_answer(path: str, body: bytes) -> tuple[int, dict | None]:
    return 201, None


def _twilio_answer(path: str, body: bytes) -> tuple[int, dict | None]:
    """What Twilio's Messages API answers (tests/twilio_messages_fake.py)."""
    if path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
        return 404, {"code": 20404, "message": "Not found", "status": 404}
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return 201, {"sid": "SM" + uuid.uuid4().hex, "account_sid": TWILIO_SID,
                 "to": form.get("To"), "from": form.get("From"), "body": form.get("Body"),
                 "status": "queued", "num_segments": "1", "direction": "outbound-api"}


class _Phone:
    """The devices' side of the subscriptions: a P-256 key pair and a 16-byte auth secret (as a
    browser makes), so the payloads can be decrypted afterwards."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.p256dh = push.b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def decrypt(self, body: bytes) -> dict[str, Any]:
        import http_ece

        return json.loads(http_ece.decrypt(body, private_key=self.private_key,
                                           auth_secret=self.auth, version="aes128gcm"))


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
        pushes, texts = _HttpCapture(_push_answer), _HttpCapture(_twilio_answer)
        public, private = push.generate_vapid_keys()
        vapid = {"WEBPUSH_VAPID_PUBLIC_KEY": public, "WEBPUSH_VAPID_PRIVATE_KEY": private,
                 "WEBPUSH_VAPID_SUBJECT": "mailto:ops@example.com",
                 "WEBPUSH_ENDPOINT_HOSTS": pushes.origin}
        phone = _Phone()
        work = Path(tempfile.mkdtemp())
        process = None
        # This process writes the notices: it must see push on, as the cluster does.
        in_process = override_settings(**{**vapid, "WEBPUSH_ENDPOINT_HOSTS": [pushes.origin]})
        in_process.enable()
        try:
            self.stdout.write(f"Database: {vendor}; {leads} leads at {rate:g} a second, "
                              f"{agents} agents; a real task cluster (qcluster, {workers} "
                              "workers, ORM broker)")
            self.set_up(agents, pushes.origin, phone)
            process = self.start_cluster(work, server.server_address[1], texts.origin, vapid,
                                         workers)
            self.warm_up(capture, pushes, texts)
            arrivals = self.arrive(leads, rate)
            self.wait(capture, pushes, texts, arrivals, limit)
            self.report(self.latencies(capture, pushes, texts, phone, arrivals), leads)
        finally:
            if process is not None:
                stop_process(process, group=True)
            in_process.disable()
            for running in (pushes, texts):
                running.close()
            server.shutdown()
            server.server_close()
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    def set_up(self, size: int, push_origin: str, phone: _Phone) -> None:
        """Agents who want email and texts, each with one device on the local push service, a
        catch-all rule assigning in rotation, and its auto-response; the actionable window
        always open (figures whatever the hour)."""
        _cache.clear()
        brokerage = Brokerage.load()
        brokerage.actionable_window = []
        brokerage.name = "Harbor Realty"
        brokerage.save()
        team = Agent.objects.bulk_create(
            [Agent(name=f"Agent {i}", email=f"agent{i}@example.com", phone=f"+1312555{i:04d}")
             for i in range(size)])
        Preference.objects.bulk_create([Preference(agent=a, email=True, sms=True) for a in team])
        PushSubscription.objects.bulk_create(
            [PushSubscription(agent=a, endpoint=f"{push_origin}/push/agent{i}",
                              p256dh=phone.p256dh, auth=push.b64url(phone.auth),
                              device="bench phone") for i, a in enumerate(team)])
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

    def start_cluster(self, work: Path, smtp_port: int, twilio_base: str,
                      vapid: dict[str, str], workers: int) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
               "Q_BROKER": "orm", "Q_SYNC": "false", "Q_WORKERS": str(workers),
               "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
               "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_port),
               "EMAIL_USE_TLS": "false", "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "",
               "SMS_BACKEND": "notifications.sms.TwilioSmsBackend",
               "TWILIO_API_BASE": twilio_base, "TWILIO_ACCOUNT_SID": TWILIO_SID,
               "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SMS_FROM": TWILIO_FROM,
               "WEBPUSH_BACKEND": "notifications.push.WebPushBackend", **vapid}
        log = open(work / "qcluster.log", "w")  # noqa: SIM115 (open while the cluster runs)
        self.stdout.write(f"  cluster log: {work / 'qcluster.log'}")
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def warm_up(self, capture: _Capture, pushes: _HttpCapture, texts: _HttpCapture) -> None:
        """One lead, not counted, until its five messages are out: the cluster is up."""
        started = time.monotonic()
        receive_lead(self.payload(0), channel="api", received_at=timezone.now())
        while time.monotonic() - started < START_LIMIT:
            if len(capture.received) >= 2 and texts.count() >= 2 and pushes.count() >= 1:
                self.stdout.write(f"  cluster up, warm-up lead delivered after "
                                  f"{time.monotonic() - started:.1f} s")
                with capture.lock:
                    capture.received.clear()
                pushes.clear()
                texts.clear()
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
        moment each arrived (epoch seconds, just before it was received), by lead number
        (``self.lead_numbers``: the number of each lead's id)."""
        arrivals: dict[int, float] = {}
        self.lead_numbers: dict[int, int] = {}
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
            self.lead_numbers[result.lead.pk] = index
        return arrivals

    def wait(self, capture: _Capture, pushes: _HttpCapture, texts: _HttpCapture,
             arrivals: dict[int, float], limit: float) -> None:
        expected = 2 * len(arrivals)
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            if (len(capture.received) >= expected and texts.count() >= expected
                    and pushes.count() >= len(arrivals)):
                return
            time.sleep(0.2)
        self.stdout.write(f"  GAVE UP after {limit:.0f} s: {pushes.count()} of "
                          f"{len(arrivals)} pushes, {len(capture.received)} of {expected} "
                          f"emails, {texts.count()} of {expected} texts")

    def latencies(self, capture: _Capture, pushes: _HttpCapture, texts: _HttpCapture,
                  phone: _Phone, arrivals: dict[int, float]) -> dict[str, list[float]]:
        figures: dict[str, list[float]] = {name: [] for name in CHANNELS}
        lead_by_email = {f"buyer{i}@example.org": i for i in arrivals}
        lead_by_phone = {f"+1201555{i:04d}": i for i in arrivals}
        for at, recipients, data in capture.received:
            index = lead_by_email.get(recipients[0]) if recipients else None
            if index is not None:
                figures["lead email"].append(at - arrivals[index])
            elif (found := LEAD_NUMBER.search(_text_of(data))) and int(found[1]) in arrivals:
                figures["agent email"].append(at - arrivals[int(found[1])])
        for at, _path, body in texts.received:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            index = lead_by_phone.get(form.get("To", ""))
            if index is not None:
                figures["lead text"].append(at - arrivals[index])
            elif ((found := LEAD_NUMBER.search(form.get("Body", "")))
                  and int(found[1]) in arrivals):
                figures["agent text"].append(at - arrivals[int(found[1])])
        for at, _path, body in pushes.received:
            number = self.lead_numbers.get(phone.decrypt(body).get("lead_id"))
            if number is not None:
                figures["agent push"].append(at - arrivals[number])
        return figures

    def report(self, figures: dict[str, list[float]], count: int) -> None:
        worst = 0.0
        for name in CHANNELS:
            values = sorted(figures[name])
            if not values:
                self.stdout.write(f"  {name:<11} nothing delivered")
                worst = float("inf")
                continue
            p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
            worst = max(worst, p99)
            how = HOW[name.split()[1]]
            self.stdout.write(f"  {name:<11} ({how:<12}) {len(values):>4} of {count}: "
                              f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {values[-1]:.3f} s")
        verdict = "met" if worst <= GOAL_P99 else "MISSED"
        self.stdout.write(f"  goal p99 <= {GOAL_P99:g} s on every channel: {verdict} "
                          f"(worst p99 {worst:.3f} s)")


def _text_of(data: bytes) -> str:
    """An email's subject and text parts, decoded (the agent's notice names the lead there)."""
    message = message_from_bytes(data)
    parts = [str(make_header(decode_header(message.get("Subject", ""))))]
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]
