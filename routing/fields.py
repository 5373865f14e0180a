"""Model fields with a storage concern of their own."""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.postgresql.operations import get_json_dumps
from psycopg.types.json import Json

from routing.engine.trace import pack_trace, packed_json, unpack_trace


class DocumentField(models.JSONField):
    """A JSON field for large documents (a routing trace), written in bulk and read whole.

    On PostgreSQL the column is ``json``, not ``jsonb``: the server keeps the text as it came
    and only checks that it is JSON, where ``jsonb`` parses every document into its binary
    form (two thirds of the server's cost of a burst's routing records going in through
    ``COPY``). Nothing queries inside a trace but the back-test, which casts it to ``jsonb``
    for the moment it reads (``routing.backtest``); ``json`` has no equality, so a document
    is never compared, grouped or made distinct in SQL.

    Django bulk-inserts literal rows through ``UNNEST`` of one array per column on
    PostgreSQL, and each array element is escaped in Python: for JSON documents of a few
    kilobytes, full of quotes, that costs milliseconds per row. ``get_placeholder`` keeps its
    model's bulk inserts on plain ``VALUES`` rows, whose values the driver escapes in C.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=get_json_dumps(self.encoder))

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        return "%s"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is not None and not isinstance(value, str | bytes | bytearray):
            return value  # ``json`` comes back decoded by the driver
        return super().from_db_value(value, expression, connection)


class TraceField(DocumentField):
    """A routing trace: a list of steps, stored packed (``engine.trace.pack_trace``: a roster's
    member steps as rows, a third of the bytes) and read back as the steps that were made."""

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(pack_trace(value) if isinstance(value, list) else value)

    def copy_text(self, value: Any, texts: dict[int, Any]) -> str | None:
        """The value as ``COPY`` stores it (``config.rows``, which skips ``get_prep_value``);
        ``texts``: the steps' JSON made so far in this batch."""
        if isinstance(value, list):
            return packed_json(value, texts)
        return None if value is None else json.dumps(value, cls=self.encoder)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        decoded = super().from_db_value(value, expression, connection)
        return unpack_trace(decoded) if isinstance(decoded, list) else decoded
