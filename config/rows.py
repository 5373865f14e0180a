"""Many new rows of one table written from plain values, without a model instance each.

The clock writes thousands of offers, timeline entries and notices in a burst. Django's
``bulk_create`` prepares every field of every instance in Python (about 35 µs a row of these
tables, besides the instance itself); PostgreSQL's ``COPY`` takes the same rows from plain
tuples for about 4 µs each. A few rows (a lead's notices at arrival) go in as one ``INSERT``
built here (``values_insert``), for half the CPU of ``bulk_create``'s. Elsewhere (SQLite) the
rows go through ``bulk_create`` as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.sql import InsertQuery
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

from config.cursors import bound_cursor

#: From this many rows on, PostgreSQL takes them through ``COPY`` (fewer: ``bulk_create``).
COPY_FROM = 20


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    """How a plain value becomes what ``COPY`` stores (None: as it is: Django's own fields
    hold what the driver writes).

    A JSON list is written item by item, each dict item once per call (``memo``, by identity:
    every row is alive meanwhile): the routing traces of a burst share their roster members'
    steps, 50 of a trace's 55. A field that stores its value in a form of its own says how
    (``copy_text``: the routing trace, packed)."""
    if not isinstance(field, models.JSONField):
        if type(field).__module__.startswith("django."):
            return None
        return _saved_form(field)
    own = getattr(field, "copy_text", None)
    if own is not None:
        texts: dict[int, Any] = {}
        return lambda value: own(value, texts)
    memo: dict[int, str] = {}
    encoder = field.encoder

    def item_json(item: Any) -> str:
        if not isinstance(item, dict):
            return json.dumps(item, cls=encoder)
        text = memo.get(id(item))
        if text is None:
            text = memo[id(item)] = json.dumps(item, cls=encoder)
        return text

    def as_json(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, list):
            return "[" + ", ".join(item_json(item) for item in value) + "]"
        return json.dumps(value, cls=encoder)

    return as_json


M = TypeVar("M", bound=models.Model)


def new_row(model: type[M], **values: Any) -> M:
    """An unsaved instance for a row written in bulk: ``values`` by field name (a relation
    by its object, kept as the instance's own, or by its ``_id``), every other field its
    default, as ``model(**values)`` would have it.

    ``Model.__init__`` given keywords walks every field, popping each one's keyword and
    setting relations through their descriptors: about 10 µs a row of the clock's tables, five
    rows for each lead a burst moves on. Given the values in field order it only sets them, as
    for a row read from the database."""
    args = []
    cached = {}
    matched = 0
    for attname, relation, field in _fields(model):
        if attname in values:
            args.append(values[attname])
            matched += 1
        elif relation is not None and relation in values:
            related = values[relation]
            cached[relation] = related
            args.append(None if related is None else related.pk)
            matched += 1
        else:
            args.append(field.get_default())
    if matched != len(values):
        raise TypeError(f"{model.__name__}: no field for some of {sorted(values)}")
    instance = model(*args)
    if cached:
        instance._state.fields_cache.update(cached)
    return instance


@cache
def _fields(model: type[models.Model]) -> list[tuple[str, str | None, models.Field]]:
    """Each concrete field's attname, its name when it is a relation, and the field."""
    return [(field.attname, field.name if field.is_relation else None, field)
            for field in model._meta.concrete_fields]


def _saved_form(field: models.Field) -> Callable[[Any], Any]:
    """A field of its own class: its value as the field saves it (``_preparer``: a phone
    number checked once, where its field's own preparation checks it twice)."""
    db = connections[DEFAULT_DB_ALIAS]
    prepare = _preparer(field)
    return lambda value: prepare(value, db)


def new_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` ids drawn from the table's sequence (PostgreSQL), for rows written by
    ``COPY``, which reads nothing back."""
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                       "FROM generate_series(1, %s)", [table, column, count])
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]],
              *, ids: Sequence[int] | None = None) -> None:
    """``COPY`` these rows (values in the order of ``fields``, attribute names such as
    ``lead_id``) into the model's table, each with its id when ``ids`` are given."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    names = ([meta.pk.column] if ids is not None else []) + [f.column for f in columns]
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    convert = [(index, fn) for index, fn in enumerate(_converter(f) for f in columns)
               if fn]
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for at, row in enumerate(rows):
            values = list(row)
            for index, fn in convert:
                values[index] = fn(values[index])
            copy.write_row([ids[at], *values] if ids is not None else values)


def values_insert(rows: Sequence[models.Model], *, returning: bool = False
                  ) -> tuple[str, list[Any]]:
    """``INSERT ... VALUES`` of these new rows of one model as the ORM writes them (every field
    prepared by itself after its ``pre_save``: defaults, ``auto_now``; an expression value,
    such as an id another part of the statement returns, compiled; a field's own placeholder,
    such as the routing trace's, asked as the compiler asks it), ``RETURNING`` the id when
    asked.

    Field by field, without the compiler's machinery around each value, each field's
    preparation looked up once per model (``_preparers``): a third of the compiler's CPU."""
    model = type(rows[0])
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: every field's preparation reads it
    fields, head = _insert_layout(model, db.vendor)
    preparers = _preparers(model, db.vendor)
    every_mark = f"({', '.join(['%s'] * len(fields))})"
    compiler = (InsertQuery(model).get_compiler(connection=db)
                if any(own for _, _, _, own in preparers) else None)
    marks, params = [], []
    for row in rows:
        row_marks = None
        for at, (attname, stamp, prepare, placeholder) in enumerate(preparers):
            value = getattr(row, attname) if stamp is None else stamp(row, True)
            if hasattr(value, "as_sql"):
                compiler = compiler or InsertQuery(model).get_compiler(connection=db)
                mark, own = compiler.field_as_sql(fields[at], None,
                                                  compiler.prepare_value(fields[at], value))
                row_marks = row_marks or ["%s"] * len(fields)
                row_marks[at] = mark
                params.extend(own)
                continue
            value = prepare(value, db)
            if placeholder is not None:
                row_marks = row_marks or ["%s"] * len(fields)
                row_marks[at] = placeholder(value, compiler, db)
            params.append(value)
        marks.append(every_mark if row_marks is None else f"({', '.join(row_marks)})")
    sql = f"{head} VALUES {', '.join(marks)}"
    if returning:
        returned, returned_params = db.ops.return_insert_columns([model._meta.pk])
        sql = f"{sql} {returned}"
        params.extend(returned_params)
    return sql, params


Preparer = Callable[[Any, Any], Any]


@cache
def _preparers(model: type[models.Model], vendor: str) -> list[tuple[
        str, Callable[[Any, bool], Any] | None, Preparer, Callable[..., str] | None]]:
    """For each field an ``INSERT`` writes (``_insert_layout``): its attribute, its
    ``pre_save`` when it does more than read the attribute (``auto_now``, a field's own), how
    a value becomes what is sent (``field.get_db_prep_save(value, connection)``, with a
    short way for the values Django's own fields send as they are), and its own placeholder
    if it has one."""
    fields, _ = _insert_layout(model, vendor)
    return [(field.attname, _stamp(field), _preparer(field),
             getattr(field, "get_placeholder", None)) for field in fields]


_READS_ATTRIBUTE = (models.Field.pre_save, models.DateField.pre_save,
                    models.DateTimeField.pre_save)


def _stamp(field: models.Field) -> Callable[[Any, bool], Any] | None:
    """The field's ``pre_save``, or None when it only reads the attribute."""
    if (type(field).pre_save in _READS_ATTRIBUTE and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False)):
        return None
    return field.pre_save


_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField,
                models.URLField)
_INTEGER_FIELDS = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
                   models.PositiveIntegerField, models.PositiveBigIntegerField,
                   models.PositiveSmallIntegerField)
_AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


def _preparer(field: models.Field) -> Preparer:
    """``field.get_db_prep_save``, shortened where Django's own field of this very class
    (not a subclass) hands a value of this very type (or None) to the driver's adapter
    unchanged: text as it is, a whole number through ``adapt_integerfield_value``, a
    relation's id through ``validate_autopk_value``, an aware datetime through
    ``adapt_datetimefield_value``; a valid phone number in its stored format, checked once.
    Anything else: the field's own preparation."""
    full = field.get_db_prep_save
    kind = type(field)

    def prepared(value: Any, db: Any) -> Any:
        return full(value, connection=db)

    if kind in _TEXT_FIELDS:  # as ``to_python`` keeps them: text (a choice too) or None
        return lambda value, db: (value if value is None or isinstance(value, str)
                                  else full(value, connection=db))
    if kind in _INTEGER_FIELDS:
        internal = field.get_internal_type()
        return lambda value, db: (db.ops.adapt_integerfield_value(value, internal)
                                  if value is None or type(value) is int
                                  else full(value, connection=db))
    if kind is models.BooleanField:
        return lambda value, db: value if type(value) is bool else full(value, connection=db)
    if kind is models.DateTimeField:
        return lambda value, db: (db.ops.adapt_datetimefield_value(value)
                                  if value is None or (type(value) is datetime
                                                       and value.utcoffset() is not None)
                                  else full(value, connection=db))
    if kind in (models.ForeignKey, models.OneToOneField) and type(field.target_field) in (
            _AUTO_FIELDS):
        return lambda value, db: (None if value is None
                                  else db.ops.validate_autopk_value(value)
                                  if type(value) is int else full(value, connection=db))
    if isinstance(field, PhoneNumberField):
        stored_as = PhoneNumber.format_map[getattr(settings, "PHONENUMBER_DB_FORMAT", "E164")]
        return lambda value, db: (value.format_as(stored_as)
                                  if isinstance(value, PhoneNumber) and value.is_valid()
                                  else full(value, connection=db))
    return prepared


@cache
def _insert_layout(model: type[models.Model], vendor: str) -> tuple[list[models.Field], str]:
    """The fields an ``INSERT`` of the model writes and its head (``INSERT INTO t
    (columns)``)."""
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    head = (f"{db.ops.insert_statement()} {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)})")
    return fields, head


def _insert_few(instances: Sequence[models.Model], *, read_ids: bool) -> bool:
    """A few new rows in one ``INSERT`` (``values_insert``), their ids read back when asked;
    False when the ORM must write them: a model with a field of its own placeholder (the
    routing records), which ``bulk_create`` writes and gives their ids."""
    model = type(instances[0])
    if any(own for _, _, _, own in _preparers(model, connection.vendor)):
        return False
    for instance in instances:
        instance._prepare_related_fields_for_save(operation_name="bulk_create")
    built = values_insert(instances, returning=read_ids)
    with bound_cursor() as cursor:  # a routed lead's notices and task: prepared on PostgreSQL
        cursor.execute(*built)
        ids = [row[0] for row in cursor.fetchall()] if read_ids else None
    for at, instance in enumerate(instances):
        if ids is not None:
            instance.pk = ids[at]
        instance._state.adding = False
        instance._state.db = connection.alias
    return True


@cache
def _copy_layout(model: type[models.Model]) -> tuple[list[str], list[models.Field]] | None:
    """The attributes ``COPY`` writes (every concrete field but the id), and the fields whose
    ``pre_save`` sets the value (``auto_now``, ``auto_now_add``); None when a field has only a
    database default (the instance holds no value for it: ``bulk_create`` then)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    if any(f.generated or (f.has_db_default() and not f.has_default()) for f in fields):
        return None
    stamped = [f for f in fields if getattr(f, "auto_now", False)
               or getattr(f, "auto_now_add", False)]
    return [f.attname for f in fields], stamped


def insert_instances(instances: Sequence[models.Model], *, read_ids: bool = True) -> None:
    """``bulk_create`` for new instances of one model (every concrete field but the id, its
    value as the instance holds it; ``auto_now`` fields stamped as on save). ``read_ids``: give
    each instance its id (``COPY`` reads none back: they are drawn from the sequence first)."""
    if not instances:
        return
    model = type(instances[0])
    layout = _copy_layout(model)
    if connection.vendor != "postgresql" or len(instances) < COPY_FROM or layout is None:
        if connection.vendor != "postgresql" or not _insert_few(instances, read_ids=read_ids):
            model._default_manager.bulk_create(instances)
        return
    fields, stamped = layout
    for field in stamped:
        for instance in instances:
            field.pre_save(instance, add=True)
    rows = [[getattr(instance, name) for name in fields] for instance in instances]
    ids = new_ids(model, len(rows)) if read_ids else None
    copy_rows(model, fields, rows, ids=ids)
    for at, instance in enumerate(instances):
        if ids is not None:
            instance.pk = ids[at]
        instance._state.adding = False
        instance._state.db = connection.alias
