"""Bulk inserts that go through PostgreSQL's ``COPY``.

The clock writes thousands of rows a second in a burst (offers, timeline entries, notices).
Django's ``bulk_create`` builds one literal statement for them, each value prepared and quoted
in Python, and the server parses it again; ``COPY`` streams the rows as they are, which costs
both sides a fraction of that. ``COPY`` returns no ids, so the rows' ids are drawn from the
table's own sequence first (one statement): callers get saved objects with their ids, as from
``bulk_create``. Elsewhere (SQLite), and for a handful of rows, it is ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)

#: From this many rows on, PostgreSQL takes them through ``COPY``.
COPY_FROM = 20


def copy_insert(rows: Sequence[M], *, with_ids: bool = True) -> list[M]:
    """Insert new rows of one model in bulk; the saved objects (with their ids unless
    ``with_ids`` is False: nobody reads them, and the table's default gives them). Like
    ``bulk_create``, no signals are sent."""
    if not rows:
        return []
    model = type(rows[0])
    if connection.vendor != "postgresql" or len(rows) < COPY_FROM:
        return model.objects.bulk_create(rows)
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    fields = [f for f in meta.concrete_fields if with_ids or not f.primary_key]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if with_ids:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                           "FROM generate_series(1, %s)", [meta.db_table, pk.column, len(rows)])
            for row, (new_id,) in zip(rows, cursor.fetchall(), strict=True):
                row.pk = new_id
        sql = (f"COPY {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
               f"FROM STDIN")
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                row._prepare_related_fields_for_save(operation_name="copy_insert")
                copy.write_row([f.get_db_prep_save(f.pre_save(row, True), connection)
                                for f in fields])
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias
    return list(rows)
