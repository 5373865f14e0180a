"""Task-cluster jobs that send notifications through the outside channels (push, email, SMS).

Each notification gets at most one Delivery per channel chosen when it was made. A worker claims a
delivery with a conditional update (status "sending", attempts + 1, next_attempt_at = the end of
the claim) before sending, so two workers never send the same delivery; a claim left by a worker
that died is taken again once it ends. A failure is recorded on the delivery and retried with
back-off by ``retry_failed_deliveries`` (scheduled every minute); it never raises out of a task.
A notification whose send task never ran (lost by the broker, or the broker down at the commit)
is picked up by ``send_undelivered_notifications`` (scheduled every minute too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet
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
    notifications = Notification.objects.filter(pk__in=notification_ids).select_related(
        "recipient__notification_preference"
    ).prefetch_related("recipient__push_subscriptions")
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
    """Claim and send each delivery that is due; failures are recorded. How many went out."""
    sent = 0
    for pk in delivery_ids:
        try:
            sent += attempt(pk, now=now)
        except Exception:  # a database hiccup on one delivery must not stop the others
            logger.exception("Delivery %s: could not be attempted", pk)
    return sent


def attempt(pk: int, *, now: datetime | None = None) -> bool:
    """Claim the delivery if it is due and send it; whether it went out now."""
    started = now or timezone.now()
    if not claim(Delivery.objects, pk, now=started):
        return False  # not due, or another worker has it
    delivery = Delivery.objects.select_related("notification__recipient",
                                               "notification__lead").get(pk=pk)
    try:
        provider_id = channels.send(delivery.channel, delivery.notification)
    except Exception as exc:  # any channel failure: record it for the retry
        finished = now or timezone.now()
        gave_up = isinstance(exc, channels.Undeliverable) or delivery.attempts >= MAX_ATTEMPTS
        retry_at = None if gave_up else finished + BACKOFF[delivery.attempts - 1]
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        Delivery.objects.filter(pk=pk, status=S.SENDING).update(
            status=S.FAILED, last_error=error, next_attempt_at=retry_at
        )
        logger.warning("Delivery %s (%s, attempt %s) failed%s: %s", pk, delivery.channel,
                       delivery.attempts, "; giving up" if gave_up else "", error)
        return False
    Delivery.objects.filter(pk=pk).update(
        status=S.SENT, sent_at=now or timezone.now(), last_error="", next_attempt_at=None,
        provider_message_id=provider_id or "",
    )
    return True
