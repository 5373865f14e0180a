"""Queueing a task that must see the caller's rows: inside its transaction with the ORM broker,
after its commit with any other.

The ORM broker writes the task row in the caller's transaction, so the task is committed with
the rows it reads (a rolled-back change queues nothing) and costs no second connection: queued
after the commit, django-q's ORM broker closes the request's connection first (it does so
outside a transaction) and the task's ``INSERT`` opens a new one. Redis is not transactional,
so there the task is queued once the transaction commits, as it must be (and in sync mode, so
that tests see what a commit would run).

Every routed lead queues a task: ``OrmBroker`` writes the ORM broker's row as one plain
``INSERT`` (``config.rows``) rather than through ``Model.save``, and ``queue_broker`` is one
broker for the process rather than one built per task.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from config.rows import insert_instances, new_row


def queue_with_commit(queue: Callable[[], object]) -> None:
    """Run ``queue`` (it calls ``async_task``) so that its task sees the caller's rows."""
    if Conf.ORM == DEFAULT_DB_ALIAS and not Conf.SYNC and connection.in_atomic_block:
        queue()
        return
    transaction.on_commit(queue, robust=True)


@cache
def queue_broker() -> Broker:
    """The configured broker (``get_broker``), built once for the process: a task is queued
    for every lead routed, and building a broker costs as much as its task's row."""
    return get_broker()


class OrmBroker(ORM):
    """django-q's ORM broker (``Q_CLUSTER["broker_class"]``), its task row the one the ORM
    broker writes (the queue's key, the signed task, locked from now) in one ``INSERT ...
    RETURNING id`` built by ``config.rows`` on PostgreSQL, for a third of ``create``'s CPU.
    Elsewhere, and for a queue in another database, as django-q writes it."""

    def enqueue(self, task: Any) -> Any:
        if Conf.ORM != DEFAULT_DB_ALIAS or connection.vendor != "postgresql":
            return super().enqueue(task)
        self.get_connection()  # as the ORM broker: outside a transaction, stale ones closed
        row = new_row(OrmQ, key=self.list_key or Conf.CLUSTER_NAME, payload=task,
                      lock=timezone.now())
        insert_instances([row])
        return row.pk
