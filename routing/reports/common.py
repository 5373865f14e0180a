"""What every report shares: the period and its presets, the filters, percentiles in SQL,
tables (shown, charted and downloaded as CSV) and durations in words."""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from django import forms
from django.db import connection, transaction
from django.db.models import Aggregate, DurationField, ExpressionWrapper, F, Model, QuerySet
from django.http import HttpResponse

from agents.models import Agent
from leads.models import Lead
from routing.models import Rule

# --- The period -------------------------------------------------------------------------------

PRESETS = (("today", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"),
           ("custom", "From … to …"))
DEFAULT_PRESET = "7d"
LONGEST_CUSTOM_DAYS = 366


@dataclass(frozen=True)
class Period:
    """From ``since`` (included) to ``until`` (excluded), whole days of brokerage time."""

    since: datetime
    until: datetime
    preset: str
    label: str
    tz_name: str

    @property
    def last_day(self) -> date:
        """The period's last day (``until`` is the midnight after it)."""
        return (self.until - timedelta(hours=12)).astimezone(ZoneInfo(self.tz_name)).date()

    @property
    def first_day(self) -> date:
        return self.since.astimezone(ZoneInfo(self.tz_name)).date()

    @property
    def days(self) -> int:
        return max(1, round((self.until - self.since).total_seconds() / 86400))


def local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz_name))


def period_of(preset: str, *, now: datetime, tz_name: str, start: date | None = None,
              end: date | None = None) -> Period:
    """The preset's days, ending today (brokerage time); "custom": ``start`` to ``end``."""
    today = now.astimezone(ZoneInfo(tz_name)).date()
    if preset == "custom" and start and end:
        start, end = min(start, end), max(start, end)
        start = max(start, end - timedelta(days=LONGEST_CUSTOM_DAYS - 1))
        label = (f"{start:%b} {start.day}, {start.year}" if start == end else
                 f"{start:%b} {start.day}, {start.year} to {end:%b} {end.day}, {end.year}")
        return Period(local_midnight(start, tz_name), local_midnight(end + timedelta(days=1),
                      tz_name), "custom", label, tz_name)
    days = {"today": 1, "7d": 7, "30d": 30}.get(preset)
    if days is None:
        preset, days = DEFAULT_PRESET, 7
    first = today - timedelta(days=days - 1)
    label = dict(PRESETS)[preset]
    return Period(local_midnight(first, tz_name),
                  local_midnight(today + timedelta(days=1), tz_name), preset, label, tz_name)


# --- The filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Narrow a report to one agent, one source or one rule (None: all)."""

    agent_id: int | None = None
    source: str | None = None
    rule_id: int | None = None

    def leads(self, prefix: str = "") -> dict[str, Any]:
        """The filters as lookups on ``Lead`` (``prefix``: the path to the lead, e.g.
        ``"lead__"``)."""
        lookups: dict[str, Any] = {}
        if self.agent_id:
            lookups[f"{prefix}owner_id"] = self.agent_id
        if self.source:
            lookups[f"{prefix}source"] = self.source
        if self.rule_id:
            lookups[f"{prefix}rule_id"] = self.rule_id
        return lookups


class ReportForm(forms.Form):
    """The period and the filters above every report (a GET form: links can be shared)."""

    period = forms.ChoiceField(choices=PRESETS, required=False, initial=DEFAULT_PRESET,
                               error_messages={"invalid_choice": "“%(value)s” is not a "
                                               "period these reports know"})
    start = forms.DateField(label="from", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="to", required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), required=False,
                                   empty_label="every agent")
    source = forms.ChoiceField(required=False)
    rule = forms.ModelChoiceField(queryset=Rule.objects.none(), required=False,
                                  empty_label="every rule")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agents = Agent.objects.exclude(role=Agent.Role.LENDER).order_by("name")
        self.fields["agent"].queryset = agents
        self.fields["rule"].queryset = Rule.objects.order_by(
            "priority", "id")
        self.fields["source"].choices = [("", "every source"), *(
            (s, s) for s in known_sources())]

    def period_and_filters(self, *, now: datetime, tz_name: str) -> tuple[Period, Filters]:
        # The valid fields still count; the page says which ones were not (``errors``).
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data keeps the valid fields only
            data = self.cleaned_data
            if "period" in self.errors:  # the menu shows the period actually shown
                self.data = self.data.copy()
                self.data["period"] = DEFAULT_PRESET
        period = period_of(data.get("period") or DEFAULT_PRESET, now=now, tz_name=tz_name,
                           start=data.get("start"), end=data.get("end"))
        agent, rule = data.get("agent"), data.get("rule")
        return period, Filters(agent_id=agent.pk if agent else None,
                               source=data.get("source") or None,
                               rule_id=rule.pk if rule else None)


def known_sources() -> list[str]:
    """The lead sources to filter by: those set up, and those leads came from lately."""
    from leads.models import LeadSource

    names = set(LeadSource.objects.values_list("name", flat=True))
    recent = (Lead.objects.order_by("-received_at").values_list("source", flat=True)[:2000])
    names.update(s for s in recent if s)
    return sorted(names, key=str.lower)


# --- PostgreSQL's settings for the reports' queries ------------------------------------------

#: For the length of one report, on PostgreSQL. JIT off: the reports' grouped queries over a
#: period's leads look costly to the planner, which then spends longer compiling them (about
#: 180 ms for Sources) than running them. work_mem: the percentiles sort about 82,000 durations
#: per grouping for 30 days at scale, which spills to disk at the default 4 MB.
REPORT_SETTINGS = {"jit": "off", "work_mem": "32MB"}

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def report_settings() -> Iterator[None]:
    """One read-only transaction with ``REPORT_SETTINGS`` (``SET LOCAL``: they end with it, so
    no other query on the connection gets them). Elsewhere (SQLite) nothing changes."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name, value in REPORT_SETTINGS.items():
                cursor.execute(f"SET LOCAL {name} = %s", [value])
        yield


def with_report_settings(build: Callable[P, R]) -> Callable[P, R]:
    """``build`` runs inside ``report_settings()``."""
    @functools.wraps(build)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with report_settings():
            return build(*args, **kwargs)
    return run


# --- Percentiles: in SQL on PostgreSQL, in Python elsewhere -----------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY x)`` (nulls are left out)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def duration(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def sql_percentiles() -> bool:
    return bool(connection.vendor == "postgresql")


def percentile(values: Sequence[timedelta], fraction: float) -> timedelta | None:
    """Linear interpolation between the closest ranks, like ``percentile_cont``."""
    ordered = sorted(values)
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def grouped(queryset: QuerySet, key: str, counts: Mapping[str, Aggregate],
            measures: Mapping[str, ExpressionWrapper], fractions: Mapping[str, float]
            ) -> dict[Any, dict[str, Any]]:
    """For each ``key`` value: the ``counts`` and each measure's percentiles, named
    ``{measure}_{fraction name}``.

    On PostgreSQL one grouped query (``percentile_cont``); elsewhere (SQLite: tests and small
    installs) the counts in one query, and the durations read and ranked in Python.
    """
    result: dict[Any, dict[str, Any]] = {}
    if sql_percentiles():
        aggregates = {f"{m}_{f}": PercentileCont(expr, fraction, output_field=DurationField())
                      for m, expr in measures.items() for f, fraction in fractions.items()}
        for row in queryset.values(key).annotate(**counts, **aggregates).order_by():
            result[row[key]] = row
        return result
    for row in queryset.values(key).annotate(**counts).order_by():
        result[row[key]] = row
    found: dict[Any, dict[str, list[timedelta]]] = defaultdict(lambda: defaultdict(list))
    rows = queryset.annotate(**measures).values_list(key, *measures)
    for key_value, *values in rows.order_by():
        for name, value in zip(measures, values, strict=True):
            if value is not None:
                found[key_value][name].append(value)
    for key_value, row in result.items():
        by_measure = found.get(key_value, {})
        for m in measures:
            for f, fraction in fractions.items():
                row[f"{m}_{f}"] = percentile(by_measure.get(m, []), fraction)
    return result


# --- Words ------------------------------------------------------------------------------------


def duration_text(value: timedelta | None) -> str:
    """4 min, 1 h 20 min, 45 s, 2 d 3 h; a dash when there is none."""
    if value is None:
        return "–"
    seconds = max(0, round(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def minutes(value: timedelta | None) -> float | None:
    """A duration in minutes, for CSV and charts."""
    return None if value is None else round(value.total_seconds() / 60, 1)


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent (None when there is no whole)."""
    return round(100 * part / whole, 1) if whole else None


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value:g}%"


# --- Tables, charts and CSV -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # How a value reads on the page (CSV gets the plain value).
    text: Callable[[Any], str] = str
    numeric: bool = True


def text_column(key: str, label: str) -> Column:
    return Column(key, label, text=lambda v: "–" if v in (None, "") else str(v), numeric=False)


def duration_column(key: str, label: str) -> Column:
    """Shown in words, downloaded in minutes."""
    return Column(key, f"{label}", text=duration_text)


def percent_column(key: str, label: str) -> Column:
    return Column(key, label, text=percent_text)


def count_column(key: str, label: str) -> Column:
    return Column(key, label, text=lambda v: "–" if v is None else f"{v:,}")


@dataclass(frozen=True)
class Chart:
    """A chart of some of the table's columns against its first column."""

    kind: str  # Chart.js type: "bar" or "line"
    series: tuple[str, ...]  # column keys
    horizontal: bool = False
    stacked: bool = False
    label: str | None = None  # the column naming each bar (default: the first)


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    help: str = ""
    chart: Chart | None = None
    empty: str = "Nothing in this period."
    note: str = ""  # e.g. "The 50 oldest of 120."
    limit: int | None = None  # rows shown on the page (the CSV has them all)
    # Every row, for the CSV, when ``rows`` holds only those the page shows (read only then).
    all_rows: Callable[[], list[dict[str, Any]]] | None = None

    def shown_rows(self) -> list[list[tuple[str, bool]]]:
        rows = self.rows[:self.limit] if self.limit else self.rows
        return [[(c.text(row.get(c.key)), c.numeric) for c in self.columns] for row in rows]

    @property
    def limit_note(self) -> str:
        if self.limit and len(self.rows) > self.limit:
            return f"The first {self.limit} of {len(self.rows):,} (the CSV has them all)."
        return self.note

    def chart_data(self) -> dict[str, Any] | None:
        """What static/routing/reports.js draws (Chart.js data, durations in minutes)."""
        if self.chart is None or not self.rows:
            return None
        kinds = {c.key: c for c in self.columns}
        first = kinds[self.chart.label] if self.chart.label else self.columns[0]
        labels = {c.key: c.label for c in self.columns}
        datasets = []
        for key in self.chart.series:
            values = [row.get(key) for row in self.rows]
            if kinds[key].text is duration_text:
                values = [minutes(v) for v in values]
                label = f"{labels[key]} (minutes)"
            else:
                label = labels[key]
            datasets.append({"label": label, "data": values})
        return {"type": self.chart.kind, "horizontal": self.chart.horizontal,
                "stacked": self.chart.stacked,
                "labels": [first.text(row.get(first.key)) for row in self.rows],
                "datasets": datasets}

    def csv_rows(self) -> Iterable[list[Any]]:
        yield [c.label + (" (minutes)" if c.text is duration_text else "")
               for c in self.columns]
        for row in self.all_rows() if self.all_rows else self.rows:
            yield [csv_value(row.get(c.key), c) for c in self.columns]


def csv_value(value: Any, column: Column) -> Any:
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return minutes(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_response(table: Table, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv.writer(response)
    for row in table.csv_rows():
        writer.writerow(row)
    return response


@dataclass
class Report:
    """One report page: its tables (each charted when it says so) and a note on the numbers."""

    slug: str
    title: str
    intro: str
    tables: list[Table] = field(default_factory=list)
    notice: str = ""

    def table(self, slug: str) -> Table | None:
        return next((t for t in self.tables if t.slug == slug), None)


def names_of(model: type[Model], ids: Iterable[Any], attr: str = "name") -> dict[Any, str]:
    """Names for a set of ids in one query (labels for grouped rows, no N+1)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(model._default_manager.filter(pk__in=wanted).values_list("pk", attr))
