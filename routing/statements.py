"""Rows that belong together written in one statement on PostgreSQL: data-modifying ``WITH``
queries (``WITH a AS (INSERT ... RETURNING id), b AS (UPDATE ...) INSERT ...``).

Every lead routed at arrival writes its routing record, its offers and the rotation's cursor,
and every API request its inbound log entry and its idempotency keys: one round trip each
instead of several. The parts run on one snapshot, so none of them may read what another
writes, except through ``RETURNING`` (a later part names an earlier one, ``(SELECT id FROM
name)``). SQLite has no data-modifying ``WITH``: callers keep the ORM's statements there
(``together()`` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery

from config.cursors import bound_cursor
from config.rows import values_insert


@dataclass(frozen=True)
class Part:
    """One statement of a ``WITH`` query, under a name later parts can read."""

    name: str
    sql: str
    params: Sequence[Any] = ()


def together() -> bool:
    """Whether this database takes related rows in one statement (PostgreSQL)."""
    return connection.vendor == "postgresql"


def returned_id(name: str) -> RawSQL:
    """A column value that is the id an earlier part returned (one row)."""
    return RawSQL(f"(SELECT id FROM {name})", ())


def insert(name: str, rows: Sequence[Model], *, returning: bool = False,
           prepared: bool = False) -> Part:
    """An ``INSERT`` of these new rows (no primary key yet) as the ORM writes them (defaults,
    ``auto_now``, database values), ``RETURNING id`` when asked. ``prepared``: their foreign
    keys are set already (some to an earlier part's id, ``returned_id``), rather than read
    from the related rows.

    A row alone, or rows holding an earlier part's id, are built by ``config.rows`` (for half
    the compiler's CPU: every lead routed at arrival writes several); many plain rows go
    through the ORM's compiler, which sends each column as one array (``UNNEST``)."""
    model = type(rows[0])
    if not prepared:
        for row in rows:
            row._prepare_related_fields_for_save(operation_name="bulk_create")
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    if len(rows) == 1 or any(hasattr(getattr(row, field.attname), "as_sql")
                             for row in rows for field in fields):
        built = values_insert(rows, returning=returning)
        if built is not None:
            return Part(name, *built)
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: every field's preparation reads it
    query = InsertQuery(model)
    query.insert_values(fields, rows)
    compiler = query.get_compiler(connection=db)
    compiler.returning_fields = [model._meta.pk] if returning else None
    [(sql, params)] = compiler.as_sql()
    return Part(name, sql, params)


def update(name: str, model: type[Model], pk: int, **values: Any) -> Part:
    """An ``UPDATE`` of one row's columns."""
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    columns = ", ".join(f"{quote(model._meta.get_field(field).column)} = %s" for field in values)
    params = [model._meta.get_field(field).get_db_prep_save(value, db)
              for field, value in values.items()]
    return Part(name, f"UPDATE {quote(model._meta.db_table)} SET {columns} "
                      f"WHERE {quote(model._meta.pk.column)} = %s",
                [*params, model._meta.pk.get_db_prep_value(pk, db)])


def run(parts: Sequence[Part], *, returning: Sequence[str] = ()) -> dict[str, list[int]]:
    """Run the parts as one statement: the ids returned by the parts named in ``returning``
    (inserted with ``returning=True``), each part's in the order its rows were written (the
    order of their ids). Without ``returning``, the last part is the main query."""
    members, main, main_params = list(parts), "", []
    if returning:
        main = " UNION ALL ".join(f"SELECT {n}, id FROM {name}"
                                  for n, name in enumerate(returning)) + " ORDER BY 1, 2"
    else:
        last = members.pop()
        main, main_params = last.sql, list(last.params)
    sql = main
    if members:
        sql = "WITH " + ", ".join(f"{p.name} AS ({p.sql})" for p in members) + " " + main
    params = [value for part in members for value in part.params] + main_params
    with bound_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if returning else []
    ids: dict[str, list[int]] = {name: [] for name in returning}
    for n, pk in rows:
        ids[returning[n]].append(pk)
    return ids


def saved(rows: Sequence[Model], ids: Sequence[int] | None = None) -> None:
    """Mark rows written by ``run`` as saved, with their ids when returned (in order)."""
    if ids is not None:
        for row, pk in zip(rows, ids, strict=True):
            row.pk = pk
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias


