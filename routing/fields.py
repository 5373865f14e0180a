"""Model fields with a storage concern of their own."""

from __future__ import annotations

from typing import Any

from django.db import models


class DocumentField(models.JSONField):
    """A JSON field for large documents (a routing trace) that are bulk-inserted.

    On PostgreSQL, Django bulk-inserts literal rows through ``UNNEST`` of one array per column,
    and each array element is escaped in Python: for JSON documents of a few kilobytes, full
    of quotes, that costs milliseconds per row. A field with ``get_placeholder`` keeps its
    model's bulk inserts on plain ``VALUES`` rows, whose values the driver escapes in C.
    """

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        return "%s"
