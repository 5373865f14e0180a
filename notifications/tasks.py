"""Task-cluster jobs that send notifications through the outside channels (push, email, SMS).

Each notification gets at most one Delivery per channel chosen when it was made. A worker claims a
delivery with a conditional update (status "sending", attempts + 1, next_attempt_at = the end of
the claim) before sending, so two workers never send the same delivery; a claim left by a worker
that died is taken again once it ends. A batch's deliveries are claimed together in one
statement, each by exactly one worker; the ones gone out are marked sent a group at a time
(``SentMarks``: every 25, or half a second after the oldest, and always before the batch
returns or raises), so only a worker killed outright between an email and its group's write
sends that email again, once, when its claim ends (at least once, never lost). A
failure is recorded on the delivery and retried with back-off by ``retry_failed_deliveries``
(scheduled every minute); it never raises out of a task.
A notification whose send task never ran (lost by the broker, or the broker down at the commit)
is picked up by ``send_undelivered_notifications`` (scheduled every minute too).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connections, router
from django.db.models import F, Q, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from notifications import channels
from notifications.models import Delivery, Notification

logger = logging.getLogger(__name__)

# Wait before attempt 2, 3, 4 and 5; after the fifth failed attempt the delivery gives up.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a claim holds: longer than any send (and than the cluster's task timeout).
CLAIM = timedelta(minutes=10)
RETRY_BATCH = 200
# Deliveries claimed and sent together (one claim, one read, one email connection); a batch
# stops sending once it has held its claim this long (the rest go back to be taken again),
# so that no claim ends while its delivery may still go out.
SEND_BATCH = 100
SEND_WITHIN = CLAIM / 2
# A notification no task has handled after this long is sent by the sweep (its own task has
# had time to run); the sweep takes this many a run, oldest first.
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 500
ERROR_CHARS = 2000

S = Delivery.Status


def due(now: datetime, max_attempts: int = MAX_ATTEMPTS) -> Q:
    """Deliveries a worker may claim now (also webhook deliveries: same fields and statuses)."""
    return (
        Q(status=S.PENDING, next_attempt_at__isnull=True)
        | Q(status__in=[S.PENDING, S.FAILED, S.SENDING], next_attempt_at__lte=now)
    ) & Q(attempts__lt=max_attempts)


def claim(queryset: QuerySet, pk: int, *, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """Take the delivery for one attempt if it is due: a conditional update, so of two workers
    exactly one gets it; the claim ends at ``now + CLAIM`` (then another worker may take it)."""
    return bool(queryset.filter(pk=pk).filter(due(now, max_attempts)).update(
        status=S.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + CLAIM))


def claim_all(queryset: QuerySet, pks: Iterable[int], *, now: datetime,
              max_attempts: int = MAX_ATTEMPTS) -> set[int]:
    """Take every due one of these deliveries for one attempt, in one statement; the ones taken.

    A conditional ``UPDATE ... RETURNING`` whose rows are locked with ``FOR UPDATE SKIP
    LOCKED`` (PostgreSQL): of two workers claiming the same deliveries at once, each delivery
    goes to the one that locks it first, and the other skips it instead of waiting (so two
    overlapping batches never wait on each other, nor deadlock); once the first commits, the
    delivery is no longer due. SQLite runs one writing statement at a time.
    """
    ids = list(pks)
    if not ids:
        return set()
    db = queryset.db
    connection = connections[db]
    claimable = queryset.filter(pk__in=ids).filter(due(now, max_attempts)).values("pk")
    select, select_params = claimable.query.get_compiler(db).as_sql()
    if connection.features.has_select_for_update_skip_locked:
        select += " FOR UPDATE SKIP LOCKED"
    query = queryset.filter(pk__in=RawSQL(select, select_params)).filter(
        due(now, max_attempts)).query.chain(UpdateQuery)
    query.add_update_values({"status": S.SENDING, "attempts": F("attempts") + 1,
                             "next_attempt_at": now + CLAIM})
    update, params = query.get_compiler(db).as_sql()
    pk_column = connection.ops.quote_name(queryset.model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"{update} RETURNING {pk_column}", params)
        return {row[0] for row in cursor.fetchall()}


def give_up_interrupted(queryset: QuerySet, *, now: datetime,
                        max_attempts: int = MAX_ATTEMPTS) -> int:
    """Deliveries whose last allowed attempt died half-way: failed for good (never claimed again,
    as they may have gone out)."""
    return queryset.filter(
        status=S.SENDING, next_attempt_at__lte=now, attempts__gte=max_attempts
    ).update(status=S.FAILED, next_attempt_at=None,
             last_error="Interrupted while sending (it may have gone out); gave up.")


def send_notifications(notification_ids: list[int], *, now: datetime | None = None) -> int:
    """Create each notification's deliveries for the channels chosen when it was made, then send
    those that are due (one held for quiet hours waits until its ``send_after``, then
    ``retry_failed_deliveries`` sends it).

    Safe to run twice: no second delivery of a channel, nothing sent twice. Returns how many
    deliveries went out.
    """
    current = now or timezone.now()
    # Only what making the deliveries reads: a burst's notices carry their channels, and the
    # recipients (for the older notices' preference now) are read only for notices without.
    notifications = list(Notification.objects.filter(pk__in=notification_ids).only(
        "channels", "send_after", "recipient_id"))
    prefetch_related_objects([n for n in notifications if n.channels is None],
                             "recipient__notification_preference",
                             "recipient__push_subscriptions")
    existing = set(
        Delivery.objects.filter(notification_id__in=notification_ids).values_list(
            "notification_id", "channel")
    )
    Delivery.objects.bulk_create(
        [
            Delivery(notification=n, channel=channel,
                     next_attempt_at=max(n.send_after or current, current))
            for n in notifications
            for channel in channels.chosen_channels(n)
            if (n.pk, channel) not in existing
        ],
        ignore_conflicts=True,  # another run created it meanwhile
    )
    Notification.objects.filter(pk__in=notification_ids, dispatched_at__isnull=True).update(
        dispatched_at=current)
    due_now = Delivery.objects.filter(notification_id__in=notification_ids).filter(due(current))
    # Every push first (seconds count on the phone), then email and SMS.
    ids = [*due_now.filter(channel=Delivery.Channel.PUSH).order_by("pk").values_list(
        "pk", flat=True),
           *due_now.exclude(channel=Delivery.Channel.PUSH).order_by("pk").values_list(
        "pk", flat=True)]
    return attempt_deliveries(ids, now=now)


def send_undelivered_notifications(*, now: datetime | None = None) -> int:
    """Send the notifications no task has handled a minute after they were written (scheduled
    every minute): with a broker that is not the database (Redis), a task can be lost while its
    notifications are safely stored. How many notifications were handled."""
    current = now or timezone.now()
    ids = list(Notification.objects.filter(
        dispatched_at__isnull=True, created_at__lte=current - SWEEP_AFTER,
    ).order_by("created_at", "pk").values_list("pk", flat=True)[:SWEEP_BATCH])
    if ids:
        send_notifications(ids, now=now)
    return len(ids)


def retry_failed_deliveries(*, now: datetime | None = None) -> int:
    """Attempt again the deliveries whose time has come (scheduled every minute)."""
    current = now or timezone.now()
    give_up_interrupted(Delivery.objects, now=current)
    ids = Delivery.objects.filter(due(current)).order_by("next_attempt_at", "pk").values_list(
        "pk", flat=True)[:RETRY_BATCH]
    return attempt_deliveries(list(ids), now=now)


def attempt_deliveries(delivery_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Claim and send each delivery that is due, ``SEND_BATCH`` at a time, pushes first, then
    emails, then texts; failures are recorded. How many went out."""
    ids = list(dict.fromkeys(delivery_ids))
    sent = 0
    for start in range(0, len(ids), SEND_BATCH):
        batch = ids[start:start + SEND_BATCH]
        try:
            sent += attempt_batch(batch, now=now)
        except Exception:  # a database hiccup on one batch must not stop the others
            logger.exception("Deliveries %s to %s: could not be attempted", batch[0], batch[-1])
    return sent


def attempt(pk: int, *, now: datetime | None = None) -> bool:
    """Claim the delivery if it is due and send it; whether it went out now."""
    return attempt_batch([pk], now=now) == 1


CHANNEL_ORDER = {Delivery.Channel.PUSH: 0, Delivery.Channel.EMAIL: 1, Delivery.Channel.SMS: 2}


def attempt_batch(delivery_ids: list[int], *, now: datetime | None = None) -> int:
    """Claim the due ones of these deliveries in one statement, read them with their notices,
    recipients and leads in one query, then send each (what the sending needs read once for
    the batch); the ones gone out are marked sent a group at a time (``SentMarks``), always
    before the batch returns or raises. How many went out."""
    started = now or timezone.now()
    held_since = time.monotonic()
    claimed = claim_all(Delivery.objects, delivery_ids, now=started)
    if not claimed:
        return 0
    position = {pk: i for i, pk in enumerate(delivery_ids)}
    deliveries = sorted(
        Delivery.objects.filter(pk__in=claimed).select_related("notification__recipient",
                                                               "notification__lead"),
        key=lambda d: (CHANNEL_ORDER.get(d.channel, len(CHANNEL_ORDER)), position[d.pk]))
    sent = 0
    marks = SentMarks(router.db_for_write(Delivery))
    try:
        with channels.Sending((d.channel, d.notification) for d in deliveries) as sending:
            for index, delivery in enumerate(deliveries):
                if time.monotonic() - held_since > SEND_WITHIN.total_seconds():
                    release([d.pk for d in deliveries[index:]], due_at=started)
                    break
                try:
                    sent += send_one(delivery, sending, marks, now=now)
                except Exception:  # a database hiccup on one delivery must not stop the others
                    logger.exception("Delivery %s: could not be attempted", delivery.pk)
                if marks.due():
                    write_marks(marks)
    finally:
        marks.flush()  # raises only when the database cannot take it: the claims stay
    return sent


def release(pks: list[int], *, due_at: datetime) -> None:
    """Claimed deliveries this worker will not attempt after all: due again at once (their
    claim undone), for the next run."""
    logger.warning("Deliveries %s to %s: not attempted within their claim, released",
                   pks[0], pks[-1])
    Delivery.objects.filter(pk__in=pks, status=S.SENDING).update(
        status=S.PENDING, attempts=F("attempts") - 1, next_attempt_at=due_at)


def send_one(delivery: Delivery, sending: channels.Sending, marks: SentMarks, *,
             now: datetime | None) -> bool:
    """Send one claimed delivery and record how it went (a failure at once, a success with
    ``marks``); whether it went out."""
    try:
        provider_id = channels.send(delivery.channel, delivery.notification, sending)
    except Exception as exc:  # any channel failure: record it for the retry
        finished = now or timezone.now()
        gave_up = isinstance(exc, channels.Undeliverable) or delivery.attempts >= MAX_ATTEMPTS
        retry_at = None if gave_up else finished + BACKOFF[delivery.attempts - 1]
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        Delivery.objects.filter(pk=delivery.pk, status=S.SENDING).update(
            status=S.FAILED, last_error=error, next_attempt_at=retry_at
        )
        logger.warning("Delivery %s (%s, attempt %s) failed%s: %s", delivery.pk,
                       delivery.channel, delivery.attempts, "; giving up" if gave_up else "",
                       error)
        return False
    marks.add(delivery.pk, sent_at=now or timezone.now(), provider_id=provider_id or "")
    return True


#: The sent marks of a batch are written together once this many are waiting, or once the
#: oldest has waited this long (a slow mail server), and always when the batch ends.
MARK_EVERY = 25
MARK_WITHIN = timedelta(seconds=0.5)


class SentMarks:
    """Deliveries that went out, marked sent a group at a time: one ``UPDATE ... FROM
    (VALUES ...)`` for a group instead of one statement (and one commit, one flush of the
    write-ahead log) per delivery, which cost the database most of a batch's time.

    The trade-off: a worker killed outright (its process killed, the cluster's task timeout,
    the machine lost) after an email went out and before its group was written leaves it
    claimed but unmarked, so it goes out once more when its claim ends (at least once, never
    lost; at most a group's worth). Everything else writes the marks: the
    batch flushes in a ``finally``, on success, on a failure of one delivery and on an
    exception alike; a failed delivery is recorded at once, by its own statement.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.waiting: list[tuple[int, object, str]] = []
        self.oldest = 0.0

    def add(self, pk: int, *, sent_at: datetime, provider_id: str) -> None:
        connection = connections[self.alias]
        if not self.waiting:
            self.oldest = time.monotonic()
        self.waiting.append((pk, SENT_AT.get_db_prep_save(sent_at, connection), provider_id))

    def due(self) -> bool:
        """Whether the group is to be written now."""
        return len(self.waiting) >= MARK_EVERY or (
            bool(self.waiting)
            and time.monotonic() - self.oldest >= MARK_WITHIN.total_seconds())

    def flush(self) -> None:
        """Write the waiting marks in one statement (kept for the next try if it fails)."""
        if not self.waiting:
            return
        params: list[object] = [S.SENT, ""]
        for row in self.waiting:
            params.extend(row)
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sent_statement(self.alias, len(self.waiting)), params)
        self.waiting = []


SENT_AT = Delivery._meta.get_field("sent_at")


def write_marks(marks: SentMarks) -> None:
    """Flush a group in the middle of a batch; should the database refuse, the marks wait for
    the next flush (the batch's last one raises)."""
    try:
        marks.flush()
    except Exception:
        logger.exception("Deliveries %s: could not be marked sent yet",
                         [pk for pk, _, _ in marks.waiting])


@functools.cache
def sent_statement(alias: str, count: int) -> str:
    """Set status, sent_at, last_error, next_attempt_at and provider_message_id of ``count``
    deliveries, each its own sent_at and provider id, in one statement written once per group
    size: building the ORM's update anew for each delivery of a burst cost the worker more CPU
    than its email. The rows come as ``VALUES`` (columns ``column1``... on both databases)."""
    quote = connections[alias].ops.quote_name
    fields = Delivery._meta

    def column(name: str) -> str:
        return quote(fields.get_field(name).column)

    table = quote(fields.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * count)
    return (f"UPDATE {table} SET {column('status')} = %s, {column('sent_at')} = v.column2, "
            f"{column('last_error')} = %s, {column('next_attempt_at')} = NULL, "
            f"{column('provider_message_id')} = v.column3 "
            f"FROM (VALUES {rows}) AS v WHERE {table}.{column('id')} = v.column1")
