"""Export leads as CSV (the admin's columns): all of them, or those of some statuses, sources
and period, to a file or standard output (``-``, the default)."""

from __future__ import annotations

from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.text import plural
from leads import export
from leads.models import Lead
from leads.timeparse import local_moment
from routing.models import Brokerage


def moment(option: str, value: str, tz_name: str, *, end: bool) -> datetime:
    """``2026-11-01`` (a local day: from its start, or through its end for ``--until``) or an
    ISO date and time (naive: brokerage time)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return export.day_after(day, tz_name) if end else export.day_start(day, tz_name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: '{value}' is not a date (2026-11-01) or an ISO-8601 "
                           "date and time (2026-11-01T09:30)") from exc
    return local_moment(parsed, tz_name, option) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    help = ("Export leads as CSV: --status and --source (repeatable), --since and --until "
            "(local days or times; --until's day included), --output FILE or - (standard "
            "output).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", action="append", default=[],
                            choices=Lead.Status.values, help="Only leads of this status.")
        parser.add_argument("--source", action="append", default=[],
                            help="Only leads from this source (as written on the lead).")
        parser.add_argument("--since", help="Received on or after this day or time.")
        parser.add_argument("--until", help="Received before this time, or through this day.")
        parser.add_argument("--output", default="-", help="The CSV file; - for standard output.")

    def handle(self, *args, **options) -> None:
        tz_name = Brokerage.load().tz_name
        since = options["since"] and moment("--since", options["since"], tz_name, end=False)
        until = options["until"] and moment("--until", options["until"], tz_name, end=True)
        if since and until and since >= until:
            raise CommandError("--since must come before --until")
        leads = export.filtered(statuses=options["status"], sources=options["source"],
                                since=since or None, until=until or None)
        target = options["output"]
        count = -1  # the header is no lead
        if target == "-":
            for line in export.csv_lines(leads, tz_name=tz_name):
                self.stdout.write(line, ending="")
                count += 1
            self.stdout.flush()
        else:
            try:
                with open(target, "w", encoding="utf-8", newline="") as out:
                    for line in export.csv_lines(leads, tz_name=tz_name):
                        out.write(line)
                        count += 1
            except OSError as exc:
                raise CommandError(f"--output: cannot write {target}: {exc.strerror}") from exc
        self.stderr.write(f"Exported {plural(count, 'lead')} to "
                          f"{'standard output' if target == '-' else target}.")
