"""A cursor for the statements every request runs: their values sent apart from their text.

Django's psycopg cursors bind on the client: every value is quoted into the statement's text,
and a statement over 4 KB or 50 parameters (a routed lead's ``WITH`` query is both) is split
afresh on every run. ``bound_cursor`` binds on the server instead, and the server prepares a
statement it has seen ``prepare_threshold`` times on a connection (settings' ``OPTIONS``):
then it neither parses nor plans it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any, Self

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from psycopg import RawCursor
from psycopg.abc import Params, Query


@contextmanager
def bound_cursor() -> Iterator[CursorWrapper]:
    """A cursor for the statements every request runs, written as for any Django cursor (``%s``
    placeholders). On PostgreSQL it sends the parameters apart from the statement's text
    (server-side binding): psycopg neither quotes every value into the text nor, for a
    statement over 4 KB or 50 parameters (a lead's ``WITH`` query is both), splits the text
    afresh on every run; and the server prepares it once seen ``prepare_threshold`` times on a
    connection (``OPTIONS``, settings), then neither parses nor plans it again. Wrapped as
    Django wraps its own cursors: counted in ``connection.queries`` and by
    ``CaptureQueriesContext``, its errors Django's. Elsewhere Django's own cursor."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = _NumberedCursor(db.connection)
    wrapper = _LoggedAsWritten if db.queries_logged else CursorWrapper
    with wrapper(raw, db) as cursor:
        yield cursor


class _NumberedCursor(RawCursor[Any]):
    """psycopg's cursor for ``$1``-style placeholders, given Django's (``numbered``)."""

    def execute(self, query: Query, params: Params | None = None, *,
                prepare: bool | None = None, binary: bool | None = None) -> Self:
        if params is not None and isinstance(query, str):
            query = numbered(query)
        return super().execute(query, params, prepare=prepare, binary=binary)

    def executemany(self, query: Query, params_seq: Iterable[Params], *,
                    returning: bool = False) -> None:
        if isinstance(query, str):
            query = numbered(query)
        super().executemany(query, params_seq, returning=returning)


class _LoggedAsWritten(CursorDebugWrapper):
    """Logs a statement as written, its placeholders unfilled: the values never enter the
    text, and psycopg keeps no text of a statement it runs prepared."""

    def debug_sql(self, sql: str | None = None, params: Any = None,
                  use_last_executed_query: bool = False, many: bool = False
                  ) -> AbstractContextManager[None]:
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """The statement with Django's ``%s`` placeholders numbered ``$1``, ``$2``, ... and its
    ``%%`` back to ``%``. Cached: a request's statements have the same text whenever they
    hold as many values (a lead's, whenever its rule writes as many offers)."""
    count = 0

    def mark(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(mark, sql)


_PLACEHOLDER = re.compile(r"%([s%])")
