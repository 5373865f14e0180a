"""Leads as CSV: one home for the columns and the row writer, used by the admin (the selected
or the filtered leads) and by ``manage.py export_leads``.

Streamed: the rows are read in chunks (``iterator``) and written line by line, so an export of
a million leads never holds them all in memory. Times are the brokerage's local time with
their offset. The headers are those other CRMs import (First Name, Last Name, Email, Phone...),
so the file also goes back in through ``ingest_leads``.

**CSV injection**: a spreadsheet runs a cell that starts with ``= + - @`` (or a tab or carriage
return before one) as a formula. Every free-text value that starts so is written with a ``'``
in front (``guard``); the values leadrouter formats itself (ids, times, E.164 phones, prices)
are written as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from leads.models import Lead
from routing.models import Brokerage

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000  # leads read per query while streaming


def guard(text: str) -> str:
    """The text as a spreadsheet shows it, never runs it: a leading ``'`` before a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any], ZoneInfo], Any]  # of the lead's values (``FIELDS``)
    text: bool = True  # free text (guarded); False: a value formatted here


def price_text(price: Decimal | float | None) -> str:
    """A price as people and other CRMs write it: ``2400000``, not ``2400000.00`` or
    ``2400000.0``; cents only when there are some (``1250.5`` -> ``1250.50``)."""
    if price is None:
        return ""
    exact = Decimal(str(price)).quantize(Decimal("0.01"))
    return str(exact.to_integral_value()) if exact == exact.to_integral_value() else str(exact)


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else ""


def _field(name: str) -> Callable[[dict[str, Any], ZoneInfo], Any]:
    return lambda lead, tz: lead[name] or ""


STATUS_LABELS = dict(Lead.Status.choices)

COLUMNS: tuple[Column, ...] = (
    Column("ID", lambda lead, tz: lead["pk"], text=False),
    Column("Received At", lambda lead, tz: _local(lead["received_at"], tz), text=False),
    Column("First Name", _field("first_name")),
    Column("Last Name", _field("last_name")),
    Column("Email", _field("email")),
    Column("Phone", _field("phone_text"), text=False),  # E.164 as stored
    Column("Source", _field("source")),
    Column("Lead Type", _field("lead_type")),
    Column("Tags", lambda lead, tz: ", ".join(str(tag) for tag in lead["tags"] or ())),
    Column("Price", lambda lead, tz: price_text(lead["price"]), text=False),
    Column("City", _field("city")),
    Column("Zip", _field("zip_code")),
    Column("Property Type", _field("property_type")),
    Column("Listing Ref", _field("listing_ref")),
    Column("Status", lambda lead, tz: STATUS_LABELS.get(lead["status"], lead["status"]),
           text=False),
    Column("Agent", _field("owner__name")),
    Column("Agent Email", _field("owner__email")),
    Column("Rule", _field("rule__name")),
    Column("Assigned At", lambda lead, tz: _local(lead["assigned_at"], tz), text=False),
    Column("First Contact At", lambda lead, tz: _local(lead["first_contact_at"], tz),
           text=False),
    Column("External ID", _field("external_id")),
    Column("Message", _field("message")),
)

#: What the columns read of each lead: plain values, no model instances, and the phone as its
#: stored text (parsing every number, twice, was most of an export's time).
FIELDS = ("pk", "received_at", "first_name", "last_name", "email", "source", "lead_type",
          "tags", "price", "city", "zip_code", "property_type", "listing_ref", "status",
          "owner__name", "owner__email", "rule__name", "assigned_at", "first_contact_at",
          "external_id", "message")


def row(lead: dict[str, Any], tz: ZoneInfo) -> list[Any]:
    """One lead's cells, in ``COLUMNS`` order, free text guarded."""
    cells = []
    for column in COLUMNS:
        value = column.value(lead, tz)
        cells.append(guard(value) if column.text and isinstance(value, str) else value)
    return cells


def rows(leads: QuerySet[Lead], *, tz_name: str | None = None) -> Iterator[list[Any]]:
    """The header, then each lead's row, read ``CHUNK`` leads at a time."""
    tz = ZoneInfo(tz_name or Brokerage.load().tz_name)
    yield [column.header for column in COLUMNS]
    values = leads.annotate(phone_text=Cast("phone", CharField())).values(
        *FIELDS, "phone_text")
    for lead in values.iterator(chunk_size=CHUNK):
        yield row(lead, tz)


class _Line:
    """What ``csv.writer`` writes to: hands each line back instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(leads: QuerySet[Lead], *, tz_name: str | None = None, bom: bool = False
              ) -> Iterator[str]:
    """The CSV text, line by line. ``bom``: a UTF-8 byte-order mark first, so that Excel
    reads accented names right (for the admin's downloads)."""
    writer = csv.writer(_Line())
    if bom:
        yield "\ufeff"
    for cells in rows(leads, tz_name=tz_name):
        yield writer.writerow(cells)


def filtered(*, statuses: Iterable[str] = (), sources: Iterable[str] = (),
             since: datetime | None = None, until: datetime | None = None) -> QuerySet[Lead]:
    """The leads of these statuses and sources (any of each; none given: all) received in
    [since, until), oldest first."""
    leads = Lead.objects.all()
    if statuses := list(statuses):
        leads = leads.filter(status__in=statuses)
    if sources := list(sources):
        leads = leads.filter(source__in=sources)
    if since is not None:
        leads = leads.filter(received_at__gte=since)
    if until is not None:
        leads = leads.filter(received_at__lt=until)
    return leads.order_by("received_at", "pk")


def day_start(day: date, tz_name: str) -> datetime:
    """Midnight of the day in the brokerage's zone (the first moment, around a clock change)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz_name))


def day_after(day: date, tz_name: str) -> datetime:
    """Midnight after the day: an ``--until`` day is included whole."""
    return day_start(day + timedelta(days=1), tz_name)


def filename(now: datetime, tz_name: str) -> str:
    return f"leads-{now.astimezone(ZoneInfo(tz_name)):%Y-%m-%d-%H%M}.csv"


def csv_response(leads: QuerySet[Lead], *, now: datetime, tz_name: str | None = None
                 ) -> StreamingHttpResponse:
    """A download of these leads, streamed row by row (the admin's export)."""
    zone = tz_name or Brokerage.load().tz_name
    response = StreamingHttpResponse(csv_lines(leads, tz_name=zone, bom=True),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename(now, zone)}"'
    return response
