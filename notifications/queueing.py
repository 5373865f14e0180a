"""Queueing a task that must see the caller's rows: inside its transaction with the ORM broker,
after its commit with any other.

The ORM broker writes the task row in the caller's transaction, so the task is committed with
the rows it reads (a rolled-back change queues nothing) and costs no second connection: queued
after the commit, django-q's ORM broker closes the request's connection first (it does so
outside a transaction) and the task's ``INSERT`` opens a new one. Redis is not transactional,
so there the task is queued once the transaction commits, as it must be (and in sync mode, so
that tests see what a commit would run).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django_q.conf import Conf


def queue_with_commit(queue: Callable[[], object]) -> None:
    """Run ``queue`` (it calls ``async_task``) so that its task sees the caller's rows."""
    if Conf.ORM == DEFAULT_DB_ALIAS and not Conf.SYNC and connection.in_atomic_block:
        queue()
        return
    transaction.on_commit(queue, robust=True)
