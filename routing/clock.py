"""The clock: offers that expire move on, reminders go out, idle owners lose their lead.
Follow-ups due and appointments about to start are reminded too (``leads.reminders``).

The clock runs in a process of its own (``manage.py run_clock --loop``, started by ``serve`` and
the Procfile beside the web server and the task cluster), never as a task in the cluster's
queue: a queue is first in, first out, and the notification and webhook tasks the clock's own
expiries create would make it wait behind them (a burst of a thousand expiries once held it up
for minutes). The loop holds the clock's lease while it works, runs a pass whenever the next
deadline falls due (and at least every second), and gives the lease back when it is stopped.
A second loop (another machine, a restart overlapping the old process) waits for the lease;
every step is idempotent anyway, so two passes at once (or a pass killed half-way) never double
an offer or lose one. Due offers move on in batches, one transaction each, so that the morning
burst (every night lead's claim clock starts when the window opens) is a few dozen
transactions, not thousands. On PostgreSQL the loop works a burst's batches with
``CLOCK_WORKERS`` threads (2 by default), each its own connection: while one waits for the
database, the other decides, and ``SKIP LOCKED`` splits the due offers between them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from config.collector import collector_paused
from config.rows import new_row
from leads.models import Activity, Lead
from leads.reminders import send_due_reminders
from notifications.models import Notification
from notifications.services import Message, close_offers_notices, notify_many
from routing.calls import start_due_calls
from routing.claims import MoveOn, move_on, move_on_many
from routing.models import Clock, Offer

logger = logging.getLogger(__name__)

# Offers moved on per transaction. Each batch has a fixed cost (some twenty statements, a
# commit, one task for the cluster): 2,000 moved a 10,000-offer burst on with the task cluster
# beside it about a quarter sooner than 500, and its notices went out sooner too
# (``bench_clock --cluster``). A batch holds its rules' rotation rows to its commit, so new
# leads for those rules wait for it (under a second here), and it stays well inside the lease.
BATCH = 2000
# A loop that died (kill -9, a lost machine) frees the lease this many seconds after its last
# renewal, so that a restarted clock moves overdue offers on within seconds.
LEASE_SECONDS = 2
RENEW_SECONDS = 0.5  # a long pass renews its lease this often
MAX_SLEEP = 1.0
ERROR_PAUSE = 2.0  # after a database error, before the loop tries again
LOCKED_PAUSE = 0.05  # before looking again at due offers whose leads are held elsewhere
NAP_SECONDS = 0.1  # sleeping is in naps this long, so that a stop request is seen at once


@dataclass
class ClockPass:
    expired: int = 0
    reminded: int = 0
    reassigned: int = 0
    calls: int = 0  # instant calls started (their offers' window opened)
    day_reminders: int = 0  # follow-ups due and appointments soon (leads.reminders)
    lateness: list[float] = field(default_factory=list)  # seconds after each deadline

    def __str__(self) -> str:
        return (f"{self.expired} offers expired and moved on, {self.reminded} reminders, "
                f"{self.reassigned} leads reassigned for no first contact"
                + (f", {self.calls} instant calls started" if self.calls else "")
                + (f", {self.day_reminders} follow-up and appointment reminders"
                   if self.day_reminders else ""))


def run_clock(
    now: datetime | None = None, *, keep_going: Callable[[], bool] | None = None,
    workers: int = 1,
) -> ClockPass:
    """One pass: everything due at ``now`` (default: the real time), in deadline order.

    Due offers move on in batches of ``BATCH`` (``_expire_due``), by ``workers`` threads at
    once when more than one (``_expire_all_due``). ``keep_going`` (the loop's lease) is asked
    for each offer before its batch starts, and before each reminder or lead: the pass stops,
    with what it did so far, when it says no.
    """
    fixed = now
    done = ClockPass()
    go = keep_going or (lambda: True)
    if not _expire_all_due(fixed, go, done, workers):
        return done  # told to stop
    at = fixed or timezone.now()
    with transaction.atomic():  # instant-call offers made after hours: the window is open now
        done.calls += start_due_calls(now=at)
    for offer_id in Offer.objects.filter(status=Offer.Status.OFFERED, remind_at__lte=at,
                                         deadline__gt=at).values_list("pk", flat=True):
        if not go():
            return done
        done.reminded += _remind(offer_id, at)
    for lead_id in (Lead.objects.filter(status=Lead.Status.ASSIGNED, first_contact_at=None,
                                        first_contact_due_at__lte=at)
                    .order_by("first_contact_due_at").values_list("pk", flat=True)):
        if not go():
            return done
        done.reassigned += _reassign_idle(lead_id, at)
    done.day_reminders += send_due_reminders(at, keep_going=go)
    return done


def _expire_all_due(fixed: datetime | None, go: Callable[[], bool], done: ClockPass,
                    workers: int) -> bool:
    """Move on every due offer, batch after batch; False if told to stop (``go``).

    Most passes find a few offers due, or none: one batch in the loop's own thread. When the
    first batch comes back full (a burst), ``workers`` threads share the rest: the loop's own
    and ``workers - 1`` more, each with a connection of its own (closed after). They share
    nothing but ``done`` and ``go`` (both behind a lock): ``_expire_due``'s ``SKIP LOCKED``
    gives each batch leads no other thread holds, and the rotation rows, locked by each batch
    in turn, carry the cursor from one thread's batch to the next's. A caller inside a
    transaction keeps to one thread: the others' connections would not see what it wrote, and
    would wait for its locks.
    """
    step = _expire_batch(fixed, go, done)
    if step != FULL:
        return step == DONE
    if workers <= 1 or connection.in_atomic_block:
        return _expire_batches(fixed, go, done)
    lock = threading.Lock()

    def shared_go() -> bool:
        with lock:
            return go()

    stopped: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        mine = ClockPass()
        try:
            finished = _expire_batches(fixed, shared_go, mine)
        except BaseException as exc:  # raised again in the loop's thread, below
            errors.append(exc)
            finished = False
        finally:
            if threading.current_thread() is not main:
                connection.close()  # this thread's own connection
        with lock:
            done.expired += mine.expired
            done.lateness.extend(mine.lateness)
            stopped.append(not finished)

    main = threading.current_thread()
    threads = [threading.Thread(target=work, name=f"clock-worker-{index}")
               for index in range(1, workers)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return not any(stopped)


DONE, FULL, STOPPED = "done", "full", "stopped"  # how a batch ended


def _expire_batches(fixed: datetime | None, go: Callable[[], bool], done: ClockPass) -> bool:
    """Batches of due offers until one comes back short; False if told to stop."""
    while (step := _expire_batch(fixed, go, done)) == FULL:
        pass
    return step == DONE


def _expire_batch(fixed: datetime | None, go: Callable[[], bool], done: ClockPass) -> str:
    """One batch of due offers: ``FULL`` (more may be due), ``DONE``, or ``STOPPED`` (``go``
    said no before the batch had its ``BATCH`` offers)."""
    allowed = 0  # the offers of the next batch, each one asked for
    while allowed < BATCH and go():
        allowed += 1
    if not allowed:
        return STOPPED
    with collector_paused():
        lateness, full = _expire_due(fixed or timezone.now(), allowed)
    done.expired += len(lateness)
    done.lateness.extend(lateness)
    if allowed < BATCH:
        return STOPPED
    return FULL if full else DONE


def _expire_due(now: datetime, limit: int) -> tuple[list[float], bool]:
    """Expire up to ``limit`` due offers, in deadline order, and move their leads on, in one
    transaction; the lateness of each offer expired, and whether ``limit`` offers were due.

    The leads are locked first (the lock order), with SKIP LOCKED: a lead that a claim, a
    decline or another clock holds is left for the next pass, so two clocks at once split the
    due set and neither waits for the other. Under the leads' locks nothing else changes their
    offers, so the offers read are the offers expired (a conditional ``UPDATE`` all the same).
    The leads then move on together (``claims.move_on_many``): the rotation rows are locked
    once for the whole batch and the cursor carried from one lead to the next.

    On PostgreSQL the batch commits without waiting for its WAL to reach the disk
    (``synchronous_commit`` off for this transaction only): the wait held the rotation's lock,
    and so every other batch, for a disk flush. Should PostgreSQL itself crash in the next
    fraction of a second, the batch is lost whole (never half), its offers are still due, and
    the next pass moves them on again; a lead, a claim or anything else keeps its own commits.
    (Inside a caller's transaction the setting would outlive the batch: it is left alone.)
    """
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        rows = list(Lead.objects.filter(offers__status=Offer.Status.OFFERED,
                                        offers__deadline__lte=now)
                    .order_by("offers__deadline", "offers__id")
                    .select_for_update(skip_locked=True, of=("self",))
                    .values_list("pk", flat=True)[:limit])
        if not rows:
            return [], False
        due = list(Offer.objects.filter(lead_id__in_ids=rows, status=Offer.Status.OFFERED,
                                        deadline__lte=now).order_by("deadline", "id")
                   .values_list("pk", "lead_id", "agent_id", "agent__name", "deadline"))
        Offer.objects.filter(pk__in_ids=[pk for pk, *_ in due], status=Offer.Status.OFFERED).update(
            status=Offer.Status.EXPIRED, responded_at=now)
        # The hand-offs hear of each expiry first (``activity_recorded``), as one by one.
        Activity.objects.record_many([
            new_row(Activity, lead_id=lead_id, kind=Activity.Kind.EXPIRED, created_at=now,
                    body=f"{name} did not claim it in time")
            for _, lead_id, _, name, _ in due])
        close_offers_notices([(lead_id, agent_id) for _, lead_id, agent_id, _, _ in due],
                             now=now)
        last_offer: dict[int, str] = {}  # each lead moves on after its last offer ended
        for _, lead_id, _, name, _ in due:
            last_offer.pop(lead_id, None)
            last_offer[lead_id] = f"The offer to {name} expired"
        move_on_many([MoveOn(lead_id, why) for lead_id, why in last_offer.items()], now=now)
        return [(now - deadline).total_seconds() for *_, deadline in due], len(rows) == limit


def _remind(offer_id: int, now: datetime) -> int:
    with transaction.atomic():
        offer = Offer.objects.select_related("lead").filter(pk=offer_id).first()
        if offer is None or not Offer.objects.filter(
            pk=offer_id, status=Offer.Status.OFFERED, remind_at__isnull=False
        ).update(remind_at=None):
            return 0
        left = max(1, round((offer.deadline - now).total_seconds() / 60))
        notify_many([Message([offer.agent_id], Notification.Event.OFFER_REMINDER,
                             f"About {left} min left to claim: {offer.lead.title}",
                             "Claim it before it goes to the next agent.",
                             lead_id=offer.lead_id)], now=now)
        return 1


def _reassign_idle(lead_id: int, now: datetime) -> int:
    with transaction.atomic():
        lead = Lead.objects.select_related("owner").filter(pk=lead_id).first()
        if lead is None or lead.owner is None or not Lead.objects.filter(
            pk=lead_id, status=Lead.Status.ASSIGNED, first_contact_at=None,
            first_contact_due_at__lte=now,
        ).update(first_contact_due_at=None):
            return 0
        owner = lead.owner
        moved = move_on(lead_id, now=now, idle_owner=owner,
                        why=f"{owner.name} logged no first contact in time")
        return int(moved)


# --- the clock's own process ------------------------------------------------------------------


def _take_lease(holder: uuid.UUID, now: datetime) -> bool:
    """Only one loop works at a time; a loop that died loses the lease within seconds."""
    Clock.objects.get_or_create(pk=1)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(holder=holder)
    return bool(Clock.objects.filter(free, pk=1).update(
        holder=holder, lease_until=now + timedelta(seconds=LEASE_SECONDS)))


def run_loop(*, stopping: Callable[[], bool], seconds: float | None = None,
             on_pass: Callable[[ClockPass], None] | None = None) -> ClockPass:
    """Keep the clock running until ``stopping()`` says so (or ``seconds`` have passed).

    While it holds the lease it runs a pass as soon as the next deadline falls due, and at
    least every second; a pass stops between two offers when asked to stop, so that a stop
    request (SIGTERM) never leaves a lead half moved on. The lease is given back on the way
    out, so that the next loop starts at once. ``on_pass`` hears of each pass that did work.
    """
    holder = uuid.uuid4()
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    total = ClockPass()
    try:
        while not stopping() and time.monotonic() < end:
            try:
                pause = _loop_once(holder, end, stopping, total, on_pass)
            except DatabaseError:  # the database restarted, or was busy: not the end
                logger.exception("clock pass failed; trying again in %s s", ERROR_PAUSE)
                close_old_connections()
                connection.close()
                pause = ERROR_PAUSE
            _nap(min(pause, max(0.0, end - time.monotonic())), stopping)
    finally:
        with contextlib.suppress(DatabaseError):
            Clock.objects.filter(pk=1, holder=holder).update(lease_until=None)
    return total


def _loop_once(holder: uuid.UUID, end: float, stopping: Callable[[], bool], total: ClockPass,
               on_pass: Callable[[ClockPass], None] | None) -> float:
    """One turn of the loop: a pass if the lease is ours; how long to sleep next."""
    if not _take_lease(holder, timezone.now()):
        return _lease_left(timezone.now())  # another loop works: look again when it may be free
    keeper = lease_keeper(holder, end)
    done = run_clock(keep_going=lambda: not stopping() and keeper(),
                     workers=settings.CLOCK_WORKERS)
    total.expired += done.expired
    total.reminded += done.reminded
    total.reassigned += done.reassigned
    total.calls += done.calls
    total.day_reminders += done.day_reminders
    Clock.objects.filter(pk=1, holder=holder).update(last_pass_at=timezone.now())
    if on_pass and (done.expired or done.reminded or done.reassigned or done.calls
                    or done.day_reminders):
        on_pass(done)
    return _sleep_for(timezone.now(), idle=not done.expired)


def _lease_left(now: datetime) -> float:
    """Until the lease held by another loop runs out (then it is ours if that loop died)."""
    until = Clock.objects.filter(pk=1).values_list("lease_until", flat=True).first()
    if until is None:
        return 0.0
    return max(0.0, min(MAX_SLEEP, (until - now).total_seconds() + 0.01))


def _nap(seconds: float, stopping: Callable[[], bool]) -> None:
    """Sleep ``seconds``, waking early when asked to stop."""
    until = time.monotonic() + seconds
    while not stopping():
        left = until - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(NAP_SECONDS, left))


def lease_keeper(holder: uuid.UUID, end: float) -> Callable[[], bool]:
    """Whether a pass may go on: the lease renewed (at most every RENEW_SECONDS), so that a long
    pass keeps it and no other loop works meanwhile, and the loop's time (``end``, monotonic)
    not up."""
    renewed = time.monotonic()

    def keep_going() -> bool:
        nonlocal renewed
        moment = time.monotonic()
        if moment >= end:
            return False
        if moment - renewed < RENEW_SECONDS:
            return True
        renewed = moment
        return _take_lease(holder, timezone.now())

    return keep_going


def _sleep_for(now: datetime, *, idle: bool = False) -> float:
    """Until the next deadline or reminder, at most a second. After a pass that expired
    nothing (``idle``), an offer already due is one whose lead a claim or another clock holds:
    look again shortly, not at once."""
    upcoming = Offer.objects.filter(status=Offer.Status.OFFERED).aggregate(
        deadline=Min("deadline"), remind=Min("remind_at"))
    moments = [m for m in upcoming.values() if m is not None]
    if not moments:
        return MAX_SLEEP
    pause = max(0.0, min(MAX_SLEEP, (min(moments) - now).total_seconds()))
    return LOCKED_PAUSE if idle and pause == 0 else pause
