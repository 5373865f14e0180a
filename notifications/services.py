"""Telling people: store the in-app notification now, send it by email or SMS in the cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django_q.tasks import async_task

from config.rows import insert_instances, new_row
from notifications.channels import Reach, choose_sending
from notifications.models import Notification
from notifications.queueing import queue_broker, queue_with_commit


@dataclass(frozen=True)
class Message:
    recipient_ids: Sequence[int]
    event: str
    title: str
    body: str = ""
    lead_id: int | None = None


def notify_many(messages: Iterable[Message], *, now: datetime, tz_name: str | None = None,
                reach: Mapping[int, Reach] | None = None) -> list[Notification]:
    """Record one in-app notification per recipient, event and lead, and queue one task to
    send them all.

    The task is committed with the notifications (``queue_with_commit``: in the caller's
    transaction with the ORM broker, after its commit with Redis): a rolled-back change tells
    nobody, and a worker never looks for notifications not yet committed. Should the task
    still be lost, ``send_undelivered_notifications`` sends them.
    Sending happens in the task cluster, never in the request. Each notification's channels
    (and, for a non-urgent one in the recipient's quiet hours, the time they may go out) are
    chosen here and stored with it (``reach``: the recipients' reach when the caller holds
    routing's snapshot, see ``choose_sending``).
    """
    rows = []
    told: set[tuple] = set()
    for m in messages:
        for rid in m.recipient_ids:
            # One notice per person, event and lead: a manager who is also the escalation
            # target hears of the escalation once (the first message, the more direct one).
            key = (rid, m.event, m.lead_id, None if m.lead_id is not None else m.title)
            if key in told:
                continue
            told.add(key)
            rows.append(new_row(Notification, recipient_id=rid, event=m.event,
                                lead_id=m.lead_id, title=m.title, body=m.body, created_at=now))
    if not rows:
        return []
    choose_sending(rows, now=now, tz_name=tz_name, reach=reach)
    insert_instances(rows)  # a burst's notices through ``COPY`` (PostgreSQL)
    notifications = rows
    ids = [n.pk for n in notifications]
    queue_with_commit(lambda: queue_sending(ids))
    return notifications


def queue_sending(notification_ids: list[int]) -> None:
    """After the commit: one task sends them (if the broker is down, the sweep will)."""
    async_task("notifications.tasks.send_notifications", notification_ids,
               task_name="send notifications", broker=queue_broker())


def notify(recipient_ids: Iterable[int], event: str, title: str, *, now: datetime,
           lead_id: int | None = None, body: str = "") -> list[Notification]:
    """Tell these people one thing."""
    return notify_many([Message(list(recipient_ids), event, title, body, lead_id)], now=now)


#: The notices of an open offer: done once the offer ends.
OFFER_NOTICES = (Notification.Event.LEAD_OFFERED, Notification.Event.OFFER_REMINDER)


def close_offer_notices(*, lead_id: int, now: datetime,
                        agent_ids: Iterable[int] | None = None) -> int:
    """An offer ended (claimed, declined, expired or withdrawn): its "offered" and reminder
    notices (those agents', or everyone's on the lead) are done, marked read at that moment,
    so the bell stops counting an offer nobody can act on. How many changed."""
    notices = Notification.objects.filter(lead_id=lead_id, event__in=OFFER_NOTICES,
                                          read_at__isnull=True)
    if agent_ids is not None:
        notices = notices.filter(recipient_id__in=list(agent_ids))
    return notices.update(read_at=now)


def close_offers_notices(ended: Iterable[tuple[int, int]], *, now: datetime) -> int:
    """``close_offer_notices`` for several ended offers at once, given as (lead, agent)."""
    pairs = set(ended)
    if not pairs:
        return 0
    notices = [pk for pk, lead_id, agent_id in Notification.objects.filter(
        lead_id__in_ids={lead_id for lead_id, _ in pairs}, event__in=OFFER_NOTICES,
        read_at__isnull=True).values_list("pk", "lead_id", "recipient_id")
        if (lead_id, agent_id) in pairs]
    unread = Notification.objects.filter(pk__in_ids=notices, read_at__isnull=True)
    return unread.update(read_at=now) if notices else 0


def unread_for(agent_id: int):
    """The person's in-app notifications not read yet, newest first."""
    return Notification.objects.filter(recipient_id=agent_id, read_at__isnull=True)


def mark_read(agent_id: int, *, now: datetime, ids: Iterable[int] | None = None) -> int:
    """Mark the person's unread notifications (all, or only these) read; how many changed."""
    unread = unread_for(agent_id)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=now)
