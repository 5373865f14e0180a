"""Fill a PostgreSQL database with a year of a busy brokerage (``routing.scale_data``)."""

from __future__ import annotations

from typing import Any

import environ
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from routing import scale_data


def use_database_url(url: str | None) -> None:
    """Point the default connection at ``url`` (when given) for this command: the build, the
    migrations and the reports all read the default connection."""
    if not url:
        return
    connections["default"].close()
    # Django's per-connection defaults, with none of the default database's own options
    # (SQLite's would not suit PostgreSQL).
    connections.databases["default"] = {**connections.databases["default"], "OPTIONS": {},
                                        "TEST": {}, **environ.Env.db_url_config(url)}
    del connections["default"]


def ready_scale_data(command: BaseCommand, database_url: str | None, *, leads: int,
                     activities: int | None = None, same_size: bool = False) -> str:
    """The benchmarks' start: the scale database (refused unless it built it), built when it
    holds none, or with ``same_size`` when it holds another size; the connection's alias."""
    use_database_url(database_url)
    using = "default"
    try:
        scale_data.check_database(using)
    except scale_data.ScaleDataRefused as refused:
        raise CommandError(str(refused)) from refused
    built = scale_data.built_size(using)
    if built is None or same_size and (built[0] != leads or (
            activities is not None and built[1] != activities)):
        command.stdout.write(f"Building {leads:,} leads (once; kept for the next runs):")
        report = scale_data.build(leads=leads, activities=activities, using=using,
                                  progress=lambda line: command.stdout.write(f"  {line}"))
        command.stdout.write(f"Built in {report.seconds:.0f} s.")
    return using


class Command(BaseCommand):
    help = ("Empty a PostgreSQL database and fill it with a brokerage of about 60 people, 15 "
            "rules and a year of leads with their offers, records and timelines. Refuses "
            "SQLite and any database it did not build.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=1_000_000)
        parser.add_argument("--activities", type=int, default=None,
                            help="Timeline entries in all (default: three per lead).")
        parser.add_argument("--database-url", default=None,
                            help="Build there instead of DATABASE_URL's database.")

    def handle(self, *args: Any, leads: int, activities: int | None,
               database_url: str | None, **options: Any) -> None:
        use_database_url(database_url)
        try:
            report = scale_data.build(leads=leads, activities=activities,
                                      progress=lambda line: self.stdout.write(f"  {line}"))
        except scale_data.ScaleDataRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(f"Built {report.leads:,} leads and {report.activities:,} timeline "
                          f"entries in {report.seconds:.0f} s.")
