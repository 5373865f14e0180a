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
