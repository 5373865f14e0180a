"""Past one machine: two web servers, two task clusters and two clocks on one PostgreSQL and Redis.

Runs in a throw-away PostgreSQL database (``<name>_bench_scaleout``) with a queue of its own on
Redis (``--redis``, a fresh ``Q_CLUSTER_NAME``; its keys are removed afterwards), so neither the
product's data nor its queue is touched. It starts what a deployment on two machines runs: two
gunicorn servers, two ``qcluster`` processes (``Q_BROKER=redis``) and two clocks
(``run_clock --loop``), every provider a local sink (emails as files, texts as JSON lines, web
push to a local push service through the real ``WebPushBackend``). Then:

1. a burst of leads goes to both servers at once through the intake API, a key per source; a few
   are sent to both servers at the same moment (a vendor's retry: one lead, one answer);
2. the offered agents claim some offers through both servers at the same moment (two phones of
   the same agent: exactly one claim wins);
3. the other offers expire (their deadlines moved a few seconds ahead) and the clock holding the
   lease moves them on; that clock is then killed (``kill -9``) and the time until the other
   holds the lease is measured; the next offers expire under the new clock;
4. once the task clusters have drained, every figure is checked: each lead stored once, each
   offer claimed or expired exactly once, nobody offered a lead twice in a round, each email,
   text and push sent exactly once, and the expiries the two clocks report add up.

``tests/test_scaleout.py`` runs the same proof, smaller.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.models import Agent, Roster, RosterMember
from config.text import plural
from leads.intake.keys import create_key
from leads.management.commands.bench_alerts import _HttpCapture, _Phone, _push_answer
from leads.management.commands.bench_api import database_url
from leads.models import Activity, Lead
from notifications import push
from notifications.models import Delivery, Notification, Preference, PushSubscription
from routing.models import Brokerage, Clock, Offer, Rule
from routing.selectors import _cache
from routing.signals import bump_config_token

SOURCES = ("Zillow", "Realtor.com", "Website")
START_LIMIT = 90.0  # seconds for a process to come up on a busy machine
EXPIRE_IN = timedelta(seconds=2)  # from placing the deadlines to the deadlines
MAIL_SEPARATOR = "-" * 79  # Django's file-based backend writes it after each message
STOP_GRACE = 3.0  # seconds for every process to stop on SIGTERM, together
EXPIRED_IN_LOG = re.compile(r"(\d[\d,]*) offers? expired")


# --- the production processes -----------------------------------------------------------------


@dataclass
class Sinks:
    """Where the providers' messages land, so that the run can count them."""

    mail_dir: Path
    sms_file: Path
    pushes: _HttpCapture

    def emails(self) -> int:
        return sum(path.read_text(errors="replace").splitlines().count(MAIL_SEPARATOR)
                   for path in self.mail_dir.glob("*") if path.is_file())

    def texts(self) -> int:
        if not self.sms_file.exists():
            return 0
        return sum(1 for line in self.sms_file.read_text().splitlines() if line.strip())

    def push_count(self) -> int:
        return self.pushes.count()


class Deployment:
    """Two web servers, two task clusters and two clocks on one database and one Redis queue,
    each in a process group of its own; ``stop()`` ends every one of them, by its id."""

    def __init__(self, *, database: str, redis_url: str, work: Path, ports: tuple[int, int],
                 web_workers: int = 2, q_workers: int = 2) -> None:
        self.work = work
        self.ports = ports
        self.web_workers = web_workers
        self.queue = f"leadrouter-scaleout-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.processes: dict[str, subprocess.Popen] = {}
        self.sinks = Sinks(work / "mail", work / "sms.jsonl", _HttpCapture(_push_answer))
        self.sinks.mail_dir.mkdir(parents=True, exist_ok=True)
        public, private = push.generate_vapid_keys()
        self.env = {
            **os.environ, "DATABASE_URL": database, "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "SITE_URL": f"http://127.0.0.1:{ports[0]}",
            "Q_BROKER": "redis", "REDIS_URL": redis_url, "Q_CLUSTER_NAME": self.queue,
            "Q_SYNC": "false", "Q_WORKERS": str(q_workers),
            "INTAKE_RATE_PER_MINUTE": str(10**9), "LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.sinks.mail_dir),
            "SMS_BACKEND": "notifications.sms.FileSmsBackend",
            "SMS_FILE_PATH": str(self.sinks.sms_file),
            "WEBPUSH_BACKEND": "notifications.push.WebPushBackend",
            "WEBPUSH_VAPID_PUBLIC_KEY": public, "WEBPUSH_VAPID_PRIVATE_KEY": private,
            "WEBPUSH_VAPID_SUBJECT": "mailto:ops@example.com",
            "WEBPUSH_ENDPOINT_HOSTS": self.sinks.pushes.origin,
        }
        self.clock_holders: dict[str, uuid.UUID] = {}

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        """Every process, back once each web server answers, each cluster runs and the first
        clock holds the lease (the second one then waits as a standby)."""
        for index, port in enumerate(self.ports, start=1):
            self._spawn(f"web{index}", [sys.executable, "-m", "gunicorn", "config.wsgi:application",
                                        "--bind", f"127.0.0.1:{port}", "--workers",
                                        str(self.web_workers), "--timeout", "60",
                                        "--log-level", "warning"])
        for index in (1, 2):
            self._spawn(f"worker{index}", [sys.executable, "manage.py", "qcluster"])
        self.start_clock("clock1")
        for base in self.bases:
            self._wait(lambda base=base: _answers(base), f"the web server on {base}")
        self._wait(lambda: self.clusters_up() >= 2, "the task clusters")
        self.start_clock("clock2")

    def start_clock(self, name: str) -> None:
        """A clock loop; the first one started is back once it holds the lease."""
        before = Clock.objects.filter(pk=1).values_list("holder", flat=True).first()
        self._spawn(name, [sys.executable, "manage.py", "run_clock", "--loop"])
        if not self.clock_holders:
            self._wait(lambda: _holder_now() not in (None, before), f"the clock {name}")
            holder = _holder_now()
            assert holder is not None
            self.clock_holders[name] = holder

    def kill(self, name: str) -> None:
        """A machine lost: the process and its children go at once, with no goodbye."""
        _signal_group(self.processes[name], signal.SIGKILL)
        self.processes[name].wait()

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def expired_by(self, name: str) -> int:
        """The offers a clock says it moved on (its log's lines, one per pass)."""
        return sum(int(n.replace(",", "")) for n in EXPIRED_IN_LOG.findall(self.log(name)))

    def queue_length(self) -> int:
        with self._redis() as client:
            return int(client.llen(f"django_q:{self.queue}:q"))

    def clusters_up(self) -> int:
        """Clusters reporting their status on the queue (each does every few seconds)."""
        with self._redis() as client:
            return sum(1 for _ in client.scan_iter(f"django_q:{self.queue}:cluster:*"))

    @contextlib.contextmanager
    def _redis(self) -> Iterator[Any]:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            yield client
        finally:
            client.close()

    def stop(self) -> None:
        """Stop every process, the push sink, and drop the queue.

        All are asked at once (SIGTERM to each process group) and given ``STOP_GRACE`` seconds
        together; then whatever is left of each group is killed (a cluster sometimes ignores
        SIGTERM, and its workers may outlive it)."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        give_up = time.monotonic() + STOP_GRACE
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, give_up - time.monotonic()))
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self.sinks.pushes.close()
        with contextlib.suppress(Exception), self._redis() as client:
            keys = list(client.scan_iter(f"django_q:{self.queue}:*"))
            if keys:
                client.delete(*keys)

    def _spawn(self, name: str, command: list[str]) -> None:
        with (self.work / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            self.processes[name] = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        give_up = time.monotonic() + START_LIMIT
        while time.monotonic() < give_up:
            stopped = [name for name, p in self.processes.items() if p.poll() is not None]
            if stopped:
                raise RuntimeError(f"{stopped[0]} stopped: {self.work / stopped[0]}.log\n"
                                   + self.log(stopped[0])[-2000:])
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not come up within {START_LIMIT:.0f} s "
                           f"(logs in {self.work})")


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def redis_available(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _answers(base: str) -> bool:
    try:
        requests.get(base + "/api/v1/leads/", timeout=2)
        return True
    except requests.RequestException:
        return False


def _holder_now() -> uuid.UUID | None:
    """Who holds the clock's lease right now (None: nobody, or it has run out)."""
    row = Clock.objects.filter(pk=1).values_list("holder", "lease_until").first()
    if row is None or row[1] is None or row[1] <= timezone.now():
        return None
    return row[0]


# --- the brokerage ----------------------------------------------------------------------------


@dataclass
class Team:
    keys: dict[str, str]  # source -> its intake API key
    tokens: dict[int, str]  # agent id -> the agent's API token


def build_brokerage(*, agents: int, push_origin: str) -> Team:
    """Agents who want email, texts and phone alerts (one device each, on the local push
    service), a catch-all claim rule over all of them in rotation, a key per source; the
    actionable window always open (the same figures whatever the hour)."""
    _cache.clear()
    brokerage = Brokerage.load()
    brokerage.actionable_window = []
    brokerage.save()
    users = [get_user_model().objects.create_user(username=f"agent{i}") for i in range(agents)]
    team = Agent.objects.bulk_create([
        Agent(user=user, name=f"Agent {i}", email=f"agent{i}@example.com",
              phone=f"+1312555{i:04d}") for i, user in enumerate(users)])
    Preference.objects.bulk_create([Preference(agent=a, email=True, sms=True) for a in team])
    phone = _Phone()
    PushSubscription.objects.bulk_create([
        PushSubscription(agent=a, endpoint=f"{push_origin}/push/agent{i}", p256dh=phone.p256dh,
                         auth=push.b64url(phone.auth), device="phone")
        for i, a in enumerate(team)])
    roster = Roster.objects.create(name="Everyone")
    RosterMember.objects.bulk_create(
        [RosterMember(roster=roster, agent=a, position=i) for i, a in enumerate(team)])
    # An hour to claim: only the deadlines the run moves ahead fall due during it.
    Rule.objects.create(name="Everything else", is_catch_all=True, roster=roster,
                        delivery=Rule.Delivery.CLAIM, claim_timeout_minutes=60)
    bump_config_token()  # bulk_create sends no signals
    tokens = {agent.pk: Token.objects.create(user=user).key
              for agent, user in zip(team, users, strict=True)}
    return Team(keys={s: create_key(s, label="scale-out")[1] for s in SOURCES}, tokens=tokens)


def lead_payload(index: int) -> dict[str, Any]:
    return {"first_name": "Pat", "last_name": f"Buyer{index:05d}", "lead_type": "buyer",
            "email": f"buyer{index}@example.org", "phone": f"+1201555{index:04d}",
            "city": "Hoboken", "price": 450_000, "source": SOURCES[index % len(SOURCES)],
            "external_id": f"scale-{index}"}


# --- the clients ------------------------------------------------------------------------------


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads of their own released at the same moment; their results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _post(url: str, *, headers: dict[str, str], json: Any = None) -> tuple[int, dict]:
    try:
        response = requests.post(url, json=json, headers=headers, timeout=60)
    except requests.RequestException as exc:
        return 0, {"error": repr(exc)}
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": response.text[:200]}


@dataclass
class Burst:
    seconds: float = 0.0
    sent: int = 0  # distinct leads (external ids)
    statuses: Counter = field(default_factory=Counter)  # HTTP status -> requests
    retried: int = 0  # leads sent to both servers at the same moment
    retries_one_lead: int = 0  # of those, answered by both with the same lead

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def send_burst(bases: list[str], keys: dict[str, str], *, leads: int, retried: int,
               clients: int) -> Burst:
    """Post ``leads`` leads through the intake API, alternately to each server, from
    ``clients`` threads; the first ``retried`` of them go to both servers at the same moment."""
    burst = Burst(sent=leads, retried=min(retried, leads))
    lock = threading.Lock()

    def post(base: str, payload: dict[str, Any]) -> tuple[int, dict]:
        status, body = _post(base + "/api/v1/leads/", json=payload,
                             headers={"Authorization": f"Api-Key {keys[payload['source']]}"})
        with lock:
            burst.statuses[status] += 1
        return status, body

    def job(index: int) -> None:
        payload = lead_payload(index)
        if index < burst.retried:
            answers = at_once([lambda b=b: post(b, payload) for b in bases])
            ids = {body.get("lead") for _, body in answers}
            if len(ids) == 1 and None not in ids:
                with lock:
                    burst.retries_one_lead += 1
        else:
            post(bases[index % len(bases)], payload)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(job, range(leads)))
    burst.seconds = time.perf_counter() - started
    return burst


@dataclass
class Claims:
    pairs: int = 0  # offers claimed from both servers at the same moment
    one_winner: int = 0  # of those, answered once 200 and once 409
    answers: Counter = field(default_factory=Counter)  # (status, status) -> pairs


def claim_from_both(bases: list[str], tokens: dict[int, str], offers: list[tuple[int, int]],
                    *, clients: int) -> Claims:
    """The offered agent claims each (offer id, agent id) through both servers at once."""
    claims = Claims(pairs=len(offers))
    lock = threading.Lock()

    def job(offer: tuple[int, int]) -> None:
        offer_id, agent_id = offer
        headers = {"Authorization": f"Token {tokens[agent_id]}"}
        answers = at_once([
            lambda b=b: _post(f"{b}/api/v1/agent/offers/{offer_id}/claim/", headers=headers)[0]
            for b in bases])
        with lock:
            claims.answers[tuple(sorted(answers))] += 1
            if sorted(answers) == [200, 409]:
                claims.one_winner += 1

    with ThreadPoolExecutor(max(1, clients // 2)) as pool:
        list(pool.map(job, offers))
    return claims


# --- the clock's side -------------------------------------------------------------------------


def expire_soon() -> list[int]:
    """Move every open offer's deadline a moment ahead (no reminder): the ids."""
    due = timezone.now() + EXPIRE_IN
    ids = list(Offer.objects.filter(status=Offer.Status.OFFERED).values_list("pk", flat=True))
    Offer.objects.filter(pk__in=ids).update(deadline=due, remind_at=None)
    return ids


def wait_moved_on(offer_ids: list[int], *, limit: float) -> float:
    """Until none of the offers is open any more (the clock expired each one): the seconds
    from their deadline (``expire_soon``'s) until then."""
    give_up = time.monotonic() + EXPIRE_IN.total_seconds() + limit
    due = time.monotonic() + EXPIRE_IN.total_seconds()
    while time.monotonic() < give_up:
        if not Offer.objects.filter(pk__in=offer_ids, status=Offer.Status.OFFERED).exists():
            return max(0.0, time.monotonic() - due)
        time.sleep(0.1)
    raise RuntimeError(f"{len(offer_ids)} offers were not moved on within {limit:.0f} s")


class LeaseWatch:
    """Samples the clock's lease in a thread: who held it, and when it changed hands."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, uuid.UUID | None]] = []  # (monotonic, holder)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                holder = _holder_now()
                if not self.changes or self.changes[-1][1] != holder:
                    self.changes.append((time.monotonic(), holder))
                self._stop.wait(0.05)
        finally:
            connection.close()

    def taken_over(self, old: uuid.UUID, *, after: float, limit: float) -> float | None:
        """Seconds from ``after`` until someone other than ``old`` held the lease."""
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            for at, holder in list(self.changes):
                if at >= after and holder not in (None, old):
                    return at - after
            time.sleep(0.05)
        return None

    def holders(self) -> list[uuid.UUID]:
        """Each holder in turn (gaps, where nobody held it, left out)."""
        turns: list[uuid.UUID] = []
        for _, holder in self.changes:
            if holder is not None and (not turns or turns[-1] != holder):
                turns.append(holder)
        return turns


# --- the proof --------------------------------------------------------------------------------


@dataclass
class Figures:
    """What a run measured and found; ``problems()`` lists every broken promise."""

    burst: Burst
    claims: Claims
    leads_stored: int = 0
    leads_stored_twice: int = 0
    offers: Counter = field(default_factory=Counter)  # status -> offers
    expiries_recorded: int = 0
    claims_recorded: int = 0
    offered_twice_in_a_round: int = 0
    leads_not_in_one_place: int = 0  # neither owned nor with exactly one open offer
    expired_by_clock: dict[str, int] = field(default_factory=dict)
    lease_turns: int = 0
    failover_seconds: float | None = None
    waves: list[float] = field(default_factory=list)  # each wave: deadline to all moved on, s
    deliveries: Counter = field(default_factory=Counter)  # (channel, status) -> deliveries
    deliveries_sent_twice: int = 0  # sent after more than one attempt, or a channel doubled
    channels_chosen: int = 0  # every notification's chosen channels, added up
    delivered: dict[str, int] = field(default_factory=dict)  # channel -> messages the sinks got
    drain_seconds: float | None = None
    queue_left: int = 0

    def sent(self, channel: str) -> int:
        return self.deliveries[(channel, Delivery.Status.SENT)]

    @property
    def duplicates(self) -> int:
        """Everything that happened twice: leads, offers to one agent, messages, expiries."""
        extra_messages = sum(max(0, self.delivered.get(c, 0) - self.sent(c))
                             for c in Delivery.Channel.values)
        return (self.leads_stored_twice + self.offered_twice_in_a_round + extra_messages
                + self.deliveries_sent_twice
                + max(0, self.expiries_recorded - self.offers[Offer.Status.EXPIRED])
                + max(0, self.claims_recorded - self.offers[Offer.Status.CLAIMED]))

    def problems(self) -> list[str]:
        found = []
        if self.burst.statuses != Counter({201: self.burst.sent, 200: self.burst.retried}):
            found.append(f"intake answers {dict(self.burst.statuses)}: want {self.burst.sent} "
                         f"created and {self.burst.retried} replayed")
        if self.burst.retries_one_lead != self.burst.retried:
            found.append(f"{self.burst.retried - self.burst.retries_one_lead} retries sent to "
                         "both servers were not answered with the same lead")
        if self.leads_stored != self.burst.sent:
            found.append(f"{self.leads_stored} leads stored for {self.burst.sent} sent")
        if self.claims.one_winner != self.claims.pairs:
            found.append(f"claims from both servers: {dict(self.claims.answers)}")
        if self.offers[Offer.Status.CLAIMED] != self.claims.pairs:
            found.append(f"{self.offers[Offer.Status.CLAIMED]} offers claimed for "
                         f"{self.claims.pairs} winning claims")
        if self.expiries_recorded != self.offers[Offer.Status.EXPIRED]:
            found.append(f"{self.expiries_recorded} expiries recorded for "
                         f"{self.offers[Offer.Status.EXPIRED]} expired offers")
        if sum(self.expired_by_clock.values()) != self.offers[Offer.Status.EXPIRED]:
            found.append(f"the clocks report {self.expired_by_clock} expiries for "
                         f"{self.offers[Offer.Status.EXPIRED]} expired offers")
        if self.failover_seconds is None:
            found.append("the standby clock never took the lease over")
        if self.duplicates:
            found.append(f"{self.duplicates} duplicates")
        if self.leads_not_in_one_place:
            found.append(f"{self.leads_not_in_one_place} leads neither owned nor offered once")
        pending = {k: v for k, v in self.deliveries.items() if k[1] != Delivery.Status.SENT}
        if pending or self.drain_seconds is None:
            found.append(f"deliveries not sent: {pending}")
        if sum(self.deliveries.values()) != self.channels_chosen:
            found.append(f"{sum(self.deliveries.values())} deliveries for "
                         f"{self.channels_chosen} chosen channels")
        for channel in Delivery.Channel.values:
            if self.delivered.get(channel, 0) != self.sent(channel):
                found.append(f"{channel}: {self.delivered.get(channel, 0)} messages received "
                             f"for {self.sent(channel)} deliveries sent")
        if self.queue_left:
            found.append(f"{self.queue_left} tasks left in the queue")
        return found


def wait_drained(deployment: Deployment, *, limit: float) -> float | None:
    """Seconds until every notification is dispatched, every delivery sent and the queue
    empty (None: not within ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if (not Notification.objects.filter(dispatched_at__isnull=True).exists()
                and not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()
                and not deployment.queue_length()):
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def wait_logged(deployment: Deployment, *, limit: float) -> None:
    """Until the clocks' logs account for every expired offer (each pass is logged once it
    ends, a moment after its last offer moved on), or ``limit`` seconds."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        expired = Offer.objects.filter(status=Offer.Status.EXPIRED).count()
        if sum(deployment.expired_by(name) for name in ("clock1", "clock2")) >= expired:
            return
        time.sleep(0.1)


def prove(deployment: Deployment, team: Team, *, leads: int, retried: int, claims: int,
          clients: int, limit: float = 120.0) -> Figures:
    """The whole run on a started deployment; its figures (``problems()`` says what broke)."""
    burst = send_burst(deployment.bases, team.keys, leads=leads, retried=retried,
                       clients=clients)
    open_offers = list(Offer.objects.filter(status=Offer.Status.OFFERED).order_by("pk")
                       .values_list("pk", "agent_id")[:claims])
    claimed = claim_from_both(deployment.bases, team.tokens, open_offers, clients=clients)
    first = deployment.clock_holders["clock1"]
    with LeaseWatch() as watch:
        waves = [wait_moved_on(expire_soon(), limit=limit)]  # the first clock's
        wait_logged(deployment, limit=limit)  # its last pass is in its log before it goes
        killed_at = time.monotonic()
        deployment.kill("clock1")
        failover = watch.taken_over(first, after=killed_at, limit=limit)
        if failover is not None:  # the standby's
            waves.append(wait_moved_on(expire_soon(), limit=limit))
        drained = wait_drained(deployment, limit=limit)
        turns = watch.holders()
    wait_logged(deployment, limit=limit)
    figures = Figures(burst=burst, claims=claimed, failover_seconds=failover,
                      drain_seconds=drained, lease_turns=len(turns), waves=waves)
    _count(figures, deployment)
    return figures


def _count(figures: Figures, deployment: Deployment) -> None:
    figures.leads_stored = Lead.objects.count()
    figures.leads_stored_twice = (Lead.objects.values("external_id").annotate(n=Count("id"))
                                  .filter(n__gt=1).count())
    figures.offers = Counter(dict(Offer.objects.values("status").annotate(n=Count("id"))
                                  .values_list("status", "n")))
    figures.expiries_recorded = Activity.objects.filter(kind=Activity.Kind.EXPIRED).count()
    figures.claims_recorded = Activity.objects.filter(kind=Activity.Kind.CLAIMED).count()
    figures.offered_twice_in_a_round = (Offer.objects.values("lead_id", "agent_id", "round")
                                        .annotate(n=Count("id")).filter(n__gt=1).count())
    open_by_lead = Counter(dict(Offer.objects.filter(status=Offer.Status.OFFERED)
                                .values("lead_id").annotate(n=Count("id"))
                                .values_list("lead_id", "n")))
    # Each lead is in one place: owned with no open offer, or not owned with exactly one.
    figures.leads_not_in_one_place = sum(
        1 for pk, owner in Lead.objects.values_list("pk", "owner_id")
        if open_by_lead.get(pk, 0) != (0 if owner else 1))
    figures.expired_by_clock = {name: deployment.expired_by(name) for name in ("clock1", "clock2")}
    figures.deliveries = Counter({
        (channel, status): n for channel, status, n in Delivery.objects.values(
            "channel", "status").annotate(n=Count("id")).values_list("channel", "status", "n")})
    figures.deliveries_sent_twice = (
        Delivery.objects.filter(attempts__gt=1).count()
        + Delivery.objects.values("notification_id", "channel").annotate(n=Count("id"))
        .filter(n__gt=1).count())
    figures.channels_chosen = sum(len(chosen or []) for chosen in
                                  Notification.objects.values_list("channels", flat=True))
    figures.delivered = {Delivery.Channel.EMAIL: deployment.sinks.emails(),
                         Delivery.Channel.SMS: deployment.sinks.texts(),
                         Delivery.Channel.PUSH: deployment.sinks.push_count()}
    figures.queue_left = deployment.queue_length()


@contextlib.contextmanager
def running(*, database: str, redis_url: str, ports: tuple[int, int], web_workers: int,
            q_workers: int, work: Path | None = None) -> Iterator[Deployment]:
    """A started deployment in ``work`` (default: a scratch folder, removed unless something
    failed, to keep the processes' logs); every process stopped on the way out, whatever
    happened."""
    scratch = work is None
    work = work or Path(tempfile.mkdtemp(prefix="scaleout_"))
    deployment = Deployment(database=database, redis_url=redis_url, work=work, ports=ports,
                            web_workers=web_workers, q_workers=q_workers)
    ok = False
    try:
        deployment.start()
        yield deployment
        ok = True
    except BaseException as exc:
        exc.add_note(f"The processes' logs: {work}")
        raise
    finally:
        deployment.stop()
        if ok and scratch:
            shutil.rmtree(work, ignore_errors=True)


class Command(BaseCommand):
    help = ("Prove a deployment past one machine (PostgreSQL and Redis): two gunicorn servers, "
            "two task clusters and two clocks, a burst of leads, claims through both servers at "
            "once, expiries and a clock lost; print the figures and every duplicate found.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=300, help="Leads in the burst.")
        parser.add_argument("--agents", type=int, default=6, help="Agents on the roster.")
        parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
        parser.add_argument("--claims", type=int, default=None,
                            help="Offers claimed through both servers (default: a third).")
        parser.add_argument("--retries", type=int, default=10,
                            help="Leads sent to both servers at the same moment.")
        parser.add_argument("--port", type=int, default=8201,
                            help="The first web server's port; the second one's is the next.")
        parser.add_argument("--web-workers", type=int, default=2,
                            help="gunicorn workers per server.")
        parser.add_argument("--q-workers", type=int, default=2, help="Workers per cluster.")
        parser.add_argument("--redis", default=settings.REDIS_URL or "redis://127.0.0.1:6379/0",
                            help="The Redis server (and database number) of the queue.")

    def handle(self, *args: Any, leads: int, agents: int, clients: int, claims: int | None,
               retries: int, port: int, web_workers: int, q_workers: int, redis: str,
               **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Several task clusters need PostgreSQL: set DATABASE_URL.")
        if not redis_available(redis):
            raise CommandError(f"No Redis at {redis}: start one or pass --redis.")
        if leads < 1 or agents < 3 or clients < 2:
            raise CommandError("need --leads >= 1, --agents >= 3, --clients >= 2")
        claims = leads // 3 if claims is None else min(claims, leads)
        test_settings = connection.settings_dict.setdefault("TEST", {})
        test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_scaleout"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False,
                                           serialize=False)
        try:
            self.stdout.write(f"PostgreSQL and Redis ({redis}); 2 gunicorn servers x "
                              f"{web_workers} workers, 2 task clusters x {q_workers} workers, "
                              f"2 clocks; {leads} leads from {clients} clients, {agents} agents")
            with running(database=database_url(connection.settings_dict), redis_url=redis,
                         ports=(port, port + 1), web_workers=web_workers,
                         q_workers=q_workers) as deployment:
                team = build_brokerage(agents=agents,
                                       push_origin=deployment.sinks.pushes.origin)
                figures = prove(deployment, team, leads=leads, retried=retries, claims=claims,
                                clients=clients)
            self.report(figures)
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    def report(self, f: Figures) -> None:
        write = self.stdout.write
        write(f"  intake: {f.burst.sent} leads through the two servers in {f.burst.seconds:.1f}"
              f" s: {f.burst.rate:.1f} leads/s; {f.leads_stored} stored; "
              f"{f.burst.retries_one_lead} of {f.burst.retried} sent to both servers at once "
              "answered with one lead")
        write(f"  claims through both servers at once: {f.claims.one_winner} of "
              f"{f.claims.pairs} offers won exactly once ({dict(f.claims.answers)})")
        write(f"  offers: {f.offers[Offer.Status.CLAIMED]} claimed, "
              f"{f.offers[Offer.Status.EXPIRED]} expired and moved on "
              f"({', '.join(f'{k} {v}' for k, v in f.expired_by_clock.items())}), "
              f"{f.offers[Offer.Status.OFFERED]} open")
        failover = "never" if f.failover_seconds is None else f"{f.failover_seconds:.2f} s"
        write("  expiries: every offer of a wave moved on " + ", ".join(
            f"{seconds:.1f} s" for seconds in f.waves) + " after the wave's deadline "
            "(the first clock's wave, the standby's)")
        turns = plural(max(0, f.lease_turns - 1), "time")
        write(f"  clock: the lease changed hands {turns}; after the "
              f"working clock was killed the standby held it {failover} later")
        sent = ", ".join(f"{c} {f.sent(c)} (received {f.delivered.get(c, 0)})"
                         for c in Delivery.Channel.values)
        drain = "not" if f.drain_seconds is None else f"{f.drain_seconds:.1f} s"
        write(f"  notifications: deliveries sent {sent}; the task clusters drained {drain} "
              "after the last expiry")
        write(f"  duplicates found: {f.duplicates}")
        problems = f.problems()
        if problems:
            for problem in problems:
                write(self.style.ERROR(f"  MISMATCH: {problem}"))
        else:
            write(self.style.SUCCESS("  check: every lead once, every offer claimed or "
                                     "expired once, every message sent once: OK"))
