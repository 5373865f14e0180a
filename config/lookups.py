"""``field__any=[...]``: ``IN`` for long lists of values, as one array on PostgreSQL.

The clock's batches filter by hundreds of ids at once (the leads, offers and notices of a
batch). ``__in`` writes one placeholder per value, and the driver scans the whole statement
for them in Python on every run (about 2 ms for 500 ids); ``= ANY(%s)`` is one placeholder
holding an array, the same rows through the same index. Elsewhere (SQLite) it is ``IN``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models.lookups import In


class AnyOf(In):
    lookup_name = "any"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        if not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        values = list(dict.fromkeys(v for v in self.rhs if v is not None))
        if not values:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        _, params = self.batch_process_rhs(compiler, connection, values)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(params))


def register() -> None:
    """Make ``__any`` available on integer keys and foreign keys (at start-up)."""
    for field in (models.AutoField, models.BigAutoField, models.IntegerField,
                  models.ForeignKey):
        field.register_lookup(AnyOf)
