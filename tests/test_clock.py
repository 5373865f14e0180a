"""The clock: due offers expire in deadline order and move on, once; reminders; catch-up."""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task

from agents.models import Agent
from leads.intake import receive_lead
from leads.management.commands.bench_api import database_url
from leads.models import Activity, Lead
from notifications.models import Notification
from routing import clock
from routing.claims import claim_offer
from routing.clock import ClockPass, run_clock, run_loop
from routing.models import Brokerage, Clock, Offer, RotationState, RoutingRecord, Rule
from tests.factories import AgentFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)

_counter = iter(range(1, 1_000_000))


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", user=None, **kw)


def rule(agents: list[Agent], **kw) -> Rule:
    kw.setdefault("delivery", Rule.Delivery.CLAIM)
    return RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members(agents), **kw)


def receive(at: datetime = NOW) -> Lead:
    n = next(_counter)
    data = {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org"}
    return receive_lead(data, channel="api", received_at=at).lead


def snapshot() -> tuple[int, ...]:
    """How many rows of everything the clock writes."""
    return (Offer.objects.count(), Notification.objects.count(), Activity.objects.count(),
            RoutingRecord.objects.count(),
            *Offer.objects.filter(status=Offer.Status.OFFERED).values_list("id", flat=True))


def team(n: int = 3) -> list[Agent]:
    return [agent(name) for name in ("Ann", "Bob", "Cy", "Dee", "Eve")[:n]]


# --- Expiry ---------------------------------------------------------------------------------------


def test_nothing_is_due_before_the_deadline():
    rule(team())
    receive()
    before = snapshot()
    done = run_clock(NOW + 5 * MIN - SEC)
    assert (done.expired, done.reminded) == (0, 1)
    after = snapshot()
    assert after[0] == before[0] and after[2:] == before[2:]  # only the reminder was sent


def test_due_offers_expire_in_deadline_order_whatever_order_they_were_made_in():
    rule(team())
    arrivals = [7, 2, 9, 0, 4]  # minutes after NOW; lead ids do not follow deadlines
    leads = {minutes: receive(NOW + minutes * MIN) for minutes in arrivals}
    at = NOW + 20 * MIN

    done = run_clock(at)

    assert done.expired == len(arrivals)
    expired = Activity.objects.filter(kind=Activity.Kind.EXPIRED).order_by("id")
    assert [a.lead_id for a in expired] == [leads[m].pk for m in sorted(arrivals)]
    assert done.lateness == [(at - (NOW + (m + 5) * MIN)).total_seconds()
                             for m in sorted(arrivals)]
    moved_on = Offer.objects.filter(status=Offer.Status.OFFERED).order_by("id")
    assert [o.lead_id for o in moved_on] == [leads[m].pk for m in sorted(arrivals)]
    assert {o.deadline for o in moved_on} == {at + 5 * MIN}


def test_a_pass_is_idempotent():
    rule(team())
    for minutes in range(4):
        receive(NOW + minutes * MIN)
    at = NOW + 6 * MIN + 30 * SEC  # two due, two reminded

    first = run_clock(at)
    after_first = snapshot()
    second = run_clock(at)

    assert (first.expired, first.reminded) == (2, 2)
    assert (second.expired, second.reminded, second.reassigned) == (0, 0, 0)
    assert second.lateness == []
    assert snapshot() == after_first


def test_a_pass_at_an_earlier_time_after_a_later_one_does_nothing():
    rule(team())
    receive()
    run_clock(NOW + 5 * MIN)
    state = snapshot()
    assert run_clock(NOW + 4 * MIN).expired == 0
    assert snapshot() == state


def test_catch_up_after_downtime_handles_every_overdue_offer_in_one_pass(monkeypatch):
    monkeypatch.setattr(clock, "BATCH", 4)  # several batches in the one pass
    rule(team(5))
    arrivals = [(i * 7) % 30 for i in range(30)]  # 30 leads over half an hour, shuffled
    leads = {minutes: receive(NOW + minutes * MIN) for minutes in arrivals}
    back = NOW + 3 * 60 * MIN  # the clock was down for hours

    done = run_clock(back)

    assert done.expired == 30
    assert done.lateness == sorted(done.lateness, reverse=True)  # oldest deadline first
    assert max(done.lateness) == (back - (NOW + 5 * MIN)).total_seconds()
    expired = Activity.objects.filter(kind=Activity.Kind.EXPIRED).order_by("id")
    assert [a.lead_id for a in expired] == [leads[m].pk for m in sorted(arrivals)]
    for lead in leads.values():
        first, second = Offer.objects.filter(lead=lead).order_by("id")
        assert first.status == Offer.Status.EXPIRED and first.responded_at == back
        assert second.status == Offer.Status.OFFERED and second.agent_id != first.agent_id
        assert second.offered_at == back and second.deadline == back + 5 * MIN
    assert not Offer.objects.filter(deadline__lte=back, status=Offer.Status.OFFERED).exists()
    assert run_clock(back).expired == 0


class _Undo(Exception):
    """Rolls a test's work back, to do it again another way."""


def _moved_on_state() -> tuple[list, ...]:
    """Where every lead went, the rotation, and what the timeline and the bell say."""
    return (
        list(Offer.objects.order_by("lead_id", "id").values_list("lead_id", "agent_id",
                                                                   "status", "deadline")),
        list(RotationState.objects.order_by("rule_id", "kind").values_list(
            "agent_id", "position", "given")),
        list(Activity.objects.order_by("lead_id", "id").values_list("lead_id", "kind", "body")),
        list(Notification.objects.order_by("lead_id", "recipient_id", "event").values_list(
            "lead_id", "recipient_id", "event", "read_at")),
        list(RoutingRecord.objects.order_by("lead_id", "id").values_list(
            "lead_id", "agent_id", "outcome", "reason", "summary", "trace", "rule_version",
            "round", "created_at")),
    )


def test_a_burst_moved_on_in_batches_goes_exactly_where_one_by_one_would(monkeypatch):
    ann, bob, cy, dee = team(4)
    RuleFactory(name="Everything else", is_catch_all=True, delivery=Rule.Delivery.CLAIM,
                roster=RosterFactory.with_members([ann, bob, cy, dee], weights=[2, 1, 3, 1]))
    for n in range(25):
        receive(NOW + n * SEC * 7)
    at = NOW + 20 * MIN

    def moved_on(batch: int) -> tuple[list, ...]:
        monkeypatch.setattr(clock, "BATCH", batch)
        assert run_clock(at).expired == 25
        return _moved_on_state()

    with pytest.raises(_Undo), transaction.atomic():
        one_by_one = moved_on(1)
        raise _Undo
    with pytest.raises(_Undo), transaction.atomic():
        in_fours = moved_on(4)
        raise _Undo
    in_one_batch = moved_on(25)  # on PostgreSQL, its records go through COPY
    assert in_fours == one_by_one  # the cursor carried from one lead to the next
    assert in_one_batch == one_by_one
    assert run_clock(at).expired == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_move_a_burst_on_once_each_with_the_rotation_exact(monkeypatch):
    """Two threads, each with its own connection, split a burst's batches between them (SKIP
    LOCKED): every offer expires once, every lead gets one next offer, nobody gets a lead
    twice, and the round robin still gives each agent their turns."""
    agents = team(4)
    rule(agents, claim_timeout_minutes=5)
    leads = [receive(NOW).pk for _ in range(48)]
    monkeypatch.setattr(clock, "BATCH", 5)
    threads: list[str] = []
    expire_due = clock._expire_due

    def noted(now, limit):
        threads.append(threading.current_thread().name)
        return expire_due(now, limit)

    monkeypatch.setattr(clock, "_expire_due", noted)
    done = run_clock(NOW + 5 * MIN, workers=2)
    assert done.expired == 48 and len(done.lateness) == 48
    assert len(set(threads)) == 2  # the loop's thread and one more took batches
    expired = Offer.objects.filter(status=Offer.Status.EXPIRED)
    assert sorted(expired.values_list("lead_id", flat=True)) == sorted(leads)  # once each
    current = Offer.objects.filter(status=Offer.Status.OFFERED)
    assert sorted(current.values_list("lead_id", flat=True)) == sorted(leads)
    for lead_id in leads:
        first, second = Offer.objects.filter(lead_id=lead_id).order_by("id")
        assert first.agent_id != second.agent_id
    turns = Counter(Offer.objects.values_list("agent_id", flat=True))
    # 96 offers over 4 agents. Which worker's batch takes the cursor first varies, and the
    # agent a lead already had is skipped for the next one: a turn or two may shift, as with
    # one worker when claims come in between (bench_clock's 2,000-lead batches over 50 agents
    # come out exact).
    assert sum(turns.values()) == 96 and max(turns.values()) - min(turns.values()) <= 2
    assert Activity.objects.filter(kind=Activity.Kind.EXPIRED).count() == 48
    assert gc.isenabled()
    assert run_clock(NOW + 5 * MIN, workers=2).expired == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_fails_fails_the_pass_as_one_worker_would(monkeypatch):
    """The loop hears of a worker's database error (and pauses, then tries again), and the
    collector is back on."""
    def batch(now, limit):
        raise DatabaseError("the database went away")

    monkeypatch.setattr(clock, "_expire_due", batch)
    with pytest.raises(DatabaseError):
        run_clock(NOW, workers=2)
    assert gc.isenabled()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_commits_without_waiting_for_the_disk_and_nothing_else_does():
    """The clock's batch transaction alone turns synchronous_commit off (it can be moved on
    again should PostgreSQL crash); the connection is back to waiting after it, and a batch
    inside a caller's transaction leaves the caller's setting alone."""
    rule(team(2))
    receive(NOW)
    seen = []

    def setting(execute, sql, params, many, context):
        if "synchronous_commit" in sql:
            seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(setting):
        assert run_clock(NOW + 5 * MIN).expired == 1
    assert seen == ["SET LOCAL synchronous_commit TO OFF"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    receive(NOW)
    seen.clear()
    with connection.execute_wrapper(setting), transaction.atomic():
        assert run_clock(NOW + 5 * MIN).expired == 1
    assert seen == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pass_with_a_few_offers_due_starts_no_thread(monkeypatch):
    """The every-second pass that finds one offer due (or none) works it in the loop's own
    thread and connection: the workers start only for a burst."""
    rule(team(2))
    receive(NOW)
    started = []
    monkeypatch.setattr(clock.threading, "Thread", lambda *a, **kw: started.append(kw))
    assert run_clock(NOW + 5 * MIN, workers=2).expired == 1
    assert run_clock(NOW + 5 * MIN, workers=2).expired == 0
    assert started == []


def test_a_pass_inside_a_transaction_works_with_one_worker(monkeypatch):
    """Other connections would not see the caller's uncommitted rows (nor get past its
    locks): a pass run inside a transaction keeps to the caller's connection."""
    rule(team(2))
    receive(NOW)
    seen = []
    monkeypatch.setattr(clock.threading, "Thread", lambda *a, **kw: seen.append(kw))
    assert run_clock(NOW + 5 * MIN, workers=2).expired == 1
    assert seen == []


def test_first_to_claim_leads_cut_by_a_batch_still_expire_whole_and_escalate_once(monkeypatch):
    monkeypatch.setattr(clock, "BATCH", 3)  # a batch ends between two offers of one lead
    ann, bob = team(2)
    esc = agent("Esc")
    rule([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM, escalate_to=esc)
    leads = [receive() for _ in range(5)]

    done = run_clock(NOW + 10 * MIN)

    assert done.expired == 10
    for lead in leads:
        lead.refresh_from_db()
        assert lead.owner_id == esc.pk
        assert Activity.objects.filter(lead=lead, kind=Activity.Kind.EXPIRED).count() == 2
        assert Activity.objects.filter(lead=lead, kind=Activity.Kind.ESCALATED).count() == 1


def test_catch_up_over_a_whole_chain_of_agents():
    ann, bob, cy = team()
    esc = agent("Esc")
    rule([ann, bob, cy], escalate_to=esc)
    lead = receive()
    # Down for the morning: each pass moves the lead one step, each new offer gets full time.
    assert run_clock(NOW + 60 * MIN).expired == 1
    assert run_clock(NOW + 65 * MIN).expired == 1
    assert run_clock(NOW + 70 * MIN).expired == 1
    assert Lead.objects.get(pk=lead.pk).owner_id == esc.pk
    assert list(Offer.objects.filter(lead=lead).values_list("agent__name", "status")) == [
        ("Ann", "expired"), ("Bob", "expired"), ("Cy", "expired")]


def test_no_offer_expires_at_night():
    rule(team())
    lead = receive(datetime(2026, 11, 18, 20, 58, tzinfo=NY))
    morning = datetime(2026, 11, 19, 8, 0, tzinfo=NY)
    for hour in range(21, 32):
        done = run_clock(datetime(2026, 11, 18, 21, 0, tzinfo=NY) + (hour - 21) * 60 * MIN)
        assert (done.expired, done.reminded) == (0, 0)
    assert run_clock(morning + 3 * MIN).expired == 1
    assert Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).get().agent.name == "Bob"


# --- Reminders ------------------------------------------------------------------------------------


def test_a_reminder_goes_out_at_half_the_window_once():
    ann, bob, cy = team()
    rule([ann, bob, cy], claim_timeout_minutes=10)
    lead = receive()

    assert run_clock(NOW + 5 * MIN - SEC).reminded == 0
    assert run_clock(NOW + 5 * MIN).reminded == 1
    assert run_clock(NOW + 6 * MIN).reminded == 0
    assert run_clock(NOW + 9 * MIN).reminded == 0

    reminders = Notification.objects.filter(event=Notification.Event.OFFER_REMINDER)
    assert [(n.recipient, n.lead_id) for n in reminders] == [(ann, lead.pk)]
    assert reminders.get().title.startswith("About 5 min left")
    assert Offer.objects.get(lead=lead).remind_at is None


def test_a_claimed_offer_gets_no_reminder():
    ann, bob, cy = team()
    rule([ann, bob, cy])
    lead = receive()
    claim_offer(Offer.objects.get(lead=lead).pk, ann, now=NOW + MIN)
    assert run_clock(NOW + 3 * MIN).reminded == 0


def test_an_offer_already_overdue_is_expired_not_reminded():
    rule(team())
    receive()
    done = run_clock(NOW + 30 * MIN)
    assert (done.expired, done.reminded) == (1, 0)
    assert not Notification.objects.filter(event=Notification.Event.OFFER_REMINDER).exists()


def test_first_to_claim_reminds_everyone_still_offered():
    rule(team(), delivery=Rule.Delivery.FIRST_TO_CLAIM)
    receive()
    assert run_clock(NOW + 150 * SEC).reminded == 3


def test_the_reminder_of_a_night_offer_comes_in_the_morning():
    rule(team())
    receive(datetime(2026, 11, 18, 23, 0, tzinfo=NY))
    morning = datetime(2026, 11, 19, 8, 0, tzinfo=NY)
    assert run_clock(morning + 150 * SEC - SEC).reminded == 0
    assert run_clock(morning + 150 * SEC).reminded == 1


# --- The commands ---------------------------------------------------------------------------------


def test_run_clock_command_prints_what_it_did():
    rule(team())
    receive()
    out = io.StringIO()
    call_command("run_clock", "--now", (NOW + 5 * MIN).isoformat(), stdout=out)
    assert out.getvalue().strip() == ("1 offers expired and moved on, 0 reminders, "
                                      "0 leads reassigned for no first contact")
    out = io.StringIO()
    call_command("run_clock", "--now", "2026-11-18T10:07:30", stdout=out)  # brokerage time
    assert out.getvalue().strip().startswith("0 offers expired and moved on, 1 reminders")


def test_run_clock_command_reports_reassignments():
    ann, bob = team(2)
    rule([ann, bob], delivery=Rule.Delivery.ASSIGN, first_contact_minutes=30)
    receive()
    out = io.StringIO()
    call_command("run_clock", "--now", (NOW + 30 * MIN).isoformat(), stdout=out)
    assert "1 leads reassigned for no first contact" in out.getvalue()


def test_ingest_leads_prints_offered_leads_with_whom_they_are_offered_to(tmp_path):
    ann, bob, cy = team()
    RuleFactory(name="Zillow", criteria={"source": ["Zillow"]},
                delivery=Rule.Delivery.FIRST_TO_CLAIM,
                roster=RosterFactory.with_members([ann, bob, cy]))
    rule([cy, bob])
    path = tmp_path / "leads.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in [
        {"first_name": "A", "email": "a@example.org", "source": "Zillow"},
        {"first_name": "B", "email": "b@example.org", "source": "Website"},
    ]) + "\n")
    out = io.StringIO()

    call_command("ingest_leads", str(path), "--now", NOW.isoformat(), stdout=out)

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["status"] == "offered" and first["agent"] is None
    assert first["offered_to"] == ["ann@example.com", "bob@example.com", "cy@example.com"]
    assert first["rule"] == "Zillow"
    assert second["status"] == "offered"
    assert second["offered_to"] == ["cy@example.com"]


# --- The loop and its lease -----------------------------------------------------------------------


def loop_for(seconds: float) -> str:
    """The clock's loop, run here for ``seconds``: what it did, in words."""
    return str(run_loop(stopping=lambda: False, seconds=seconds))


def always_open() -> None:
    """Real-time tests must not depend on the hour they run at."""
    Brokerage.objects.update_or_create(pk=1, defaults={"actionable_window": []})


def test_the_loop_expires_offers_in_real_time_and_releases_its_lease():
    always_open()
    ann, bob = team(2)
    rule([ann, bob])
    lead = receive(timezone.now() - 10 * MIN)

    summary = loop_for(0.3)

    assert summary.startswith("1 offers expired and moved on")
    assert Offer.objects.filter(lead=lead, status=Offer.Status.OFFERED).get().agent == bob
    row = Clock.objects.get(pk=1)
    assert row.lease_until is None and row.last_pass_at is not None


def test_a_lease_left_by_a_dead_loop_runs_out():
    always_open()
    rule(team(2))
    lead = receive(timezone.now() - 10 * MIN)
    Clock.objects.create(pk=1, holder=uuid.uuid4(), lease_until=timezone.now() - SEC)
    assert loop_for(0.3).startswith("1 offers expired")
    assert Offer.objects.filter(lead=lead).count() == 2


def test_the_lease_goes_to_one_holder_at_a_time():
    first, second = uuid.uuid4(), uuid.uuid4()
    assert clock._take_lease(first, NOW)
    assert not clock._take_lease(second, NOW + SEC)
    assert clock._take_lease(first, NOW + SEC)  # renewed by its holder
    assert clock._take_lease(second, NOW + SEC + clock.LEASE_SECONDS * SEC + SEC)


def test_clock_pass_describes_itself():
    assert str(ClockPass(2, 1, 3)) == ("2 offers expired and moved on, 1 reminders, "
                                       "3 leads reassigned for no first contact")


def test_a_pass_stops_when_told_to_and_the_next_pass_goes_on():
    rule(team(5))
    for minutes in range(4):
        receive(NOW + minutes * MIN)
    answers = iter([True, True])

    done = run_clock(NOW + 30 * MIN, keep_going=lambda: next(answers, False))

    assert done.expired == 2
    assert done.lateness == [25 * 60, 24 * 60]
    assert run_clock(NOW + 30 * MIN).expired == 2


def test_a_long_pass_keeps_its_lease_and_stops_when_it_is_lost_or_the_loop_ends(monkeypatch):
    monkeypatch.setattr(clock, "RENEW_SECONDS", 0.0)  # renew at every step
    mine, other = uuid.uuid4(), uuid.uuid4()
    start = timezone.now()
    assert clock._take_lease(mine, start)
    keep_going = clock.lease_keeper(mine, end=float("inf"))

    assert keep_going()
    renewed = Clock.objects.get(pk=1).lease_until
    assert renewed > start + (clock.LEASE_SECONDS - 1) * SEC
    assert not clock._take_lease(other, timezone.now())  # still held: nobody else works
    Clock.objects.filter(pk=1).update(holder=other)  # lost (e.g. expired, taken over)
    assert not keep_going()
    assert not clock.lease_keeper(other, end=0.0)()  # the loop's time is up


def test_loops_take_turns_without_working_at_the_same_time():
    always_open()
    rule(team(2))
    receive(timezone.now() - 10 * MIN)
    Clock.objects.create(pk=1, holder=uuid.uuid4(), lease_until=timezone.now() + 60 * MIN)
    assert loop_for(0.3).startswith("0 offers expired")  # refused: sleeps, then gives up
    Clock.objects.filter(pk=1).update(lease_until=None)  # the other loop ended
    assert loop_for(0.3).startswith("1 offers expired")


# --- The clock's own process (manage.py run_clock --loop) -----------------------------------------



def _process_database(tmp_path) -> tuple[str, Callable[[str], list[tuple]]]:
    """A database a second process can open, holding what this test wrote, and a reader.

    On PostgreSQL that is the test database itself (the test commits: ``transaction=True``);
    the SQLite test database lives in this process's memory, so it is copied to a file.
    """
    if connection.vendor == "postgresql":
        def read(sql: str) -> list[tuple]:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        return database_url(connection.settings_dict), read
    path = tmp_path / "clock.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(path) as target:
        connection.connection.backup(target)

    def read_file(sql: str) -> list[tuple]:
        with closing(sqlite3.connect(path, timeout=20)) as reader:
            return reader.execute(sql).fetchall()
    return f"sqlite:///{path}", read_file


def _fill_the_task_queue(count: int) -> None:
    """``count`` tasks waiting in the cluster's queue (nobody works them off here)."""
    async_task("math.copysign", 1, -1)
    task = OrmQ.objects.latest("id")
    OrmQ.objects.bulk_create([OrmQ(key=task.key, payload=task.payload, lock=None)
                              for _ in range(count - 1)])


@pytest.mark.django_db(transaction=True)
def test_after_a_restart_the_clock_process_moves_overdue_offers_on(tmp_path):
    """A clock killed with its lease still running: the next process waits the lease out and
    moves every overdue offer on, once, with the task queue full (how fast: ``bench_clock``)."""
    always_open()
    ann, bob = team(2)
    rule([ann, bob], claim_timeout_minutes=5)
    overdue = [receive(timezone.now() - 10 * MIN).pk for _ in range(20)]
    _fill_the_task_queue(3000)
    # The previous clock process was killed a moment ago, its lease still running.
    Clock.objects.create(pk=1, holder=uuid.uuid4(),
                         lease_until=timezone.now() + clock.LEASE_SECONDS * SEC)
    url, read = _process_database(tmp_path)
    offers = Offer._meta.db_table
    env = {**os.environ, "DATABASE_URL": url, "Q_BROKER": "orm", "Q_SYNC": "false",
           "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    env.pop("SQLITE_TEST_NAME", None)

    process = subprocess.Popen([sys.executable, "manage.py", "run_clock", "--loop",
                                "--seconds", "60"], cwd=Path(__file__).resolve().parent.parent,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        expired = 0
        while process.poll() is None:  # the process stops by itself after its 60 s
            expired = read(f"SELECT COUNT(*) FROM {offers} WHERE status = 'expired'")[0][0]
            if expired == len(overdue):
                break
            time.sleep(0.05)
        assert expired == len(overdue), process.stdout.read() if process.poll() is not None else ""
        # Each overdue lead is offered to the next agent, once; the queue is still full.
        offered = read(f"SELECT lead_id FROM {offers} WHERE status = 'offered'")
        assert sorted(lead for (lead,) in offered) == sorted(overdue)
        assert read(f"SELECT COUNT(*) FROM {OrmQ._meta.db_table}")[0][0] >= 3000

        process.send_signal(signal.SIGTERM)  # a graceful stop gives the lease back at once
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "20 offers expired and moved on" in output
    assert read(f"SELECT lease_until FROM {Clock._meta.db_table}") == [(None,)]


def test_the_task_queue_no_longer_schedules_the_clock():
    """The clock never waits behind queued tasks: its own process runs it, not a schedule."""
    assert not Schedule.objects.filter(name="routing clock").exists()
    assert not Schedule.objects.filter(func__startswith="routing.clock").exists()


def test_serve_and_the_procfile_start_the_clock_beside_the_cluster_and_the_web_server(
        monkeypatch):
    from routing.management.commands import serve

    started: list[list[str]] = []

    class Process:  # stops at once, so that serve returns
        pid = 1

        def __init__(self, command: list[str], **_: object) -> None:
            started.append(command[2:])

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(serve.subprocess, "Popen", Process)
    monkeypatch.setattr(serve, "stop_process", lambda process: None)
    monkeypatch.setattr(serve.signal, "signal", lambda *args: None)
    call_command("serve", stdout=io.StringIO())
    assert sorted(started) == [["qcluster"], ["run_clock", "--loop"],
                               ["runserver", "--noreload", "127.0.0.1:8000"]]

    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    kinds = dict(line.split(":", 1) for line in procfile.splitlines() if line.strip())
    assert kinds["clock"].split() == ["python", "manage.py", "run_clock", "--loop"]
    assert "qcluster" in kinds["worker"] and "gunicorn" in kinds["web"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_routing_traces_are_compressed_with_lz4_on_postgresql():
    """The clock writes a trace for every offer it moves on: PostgreSQL compresses them with
    LZ4, which costs the server a fraction of its default compression."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT attcompression FROM pg_attribute WHERE attrelid = "
                       "'routing_routingrecord'::regclass AND attname = 'trace'")
        assert cursor.fetchone() == ("l",)


@pytest.mark.django_db
def test_a_batch_runs_with_the_garbage_collector_held_off_and_back_on_after(monkeypatch):
    """The collector would walk every live object many times during a burst's batch; it is
    held off for the batch and back on after, even when the batch fails."""
    seen = []

    def batch(now, limit):
        seen.append(gc.isenabled())
        raise DatabaseError("the database went away")

    monkeypatch.setattr(clock, "_expire_due", batch)
    with pytest.raises(DatabaseError):
        run_clock(NOW)
    assert seen == [False] and gc.isenabled()
