"""Fill a PostgreSQL database with a year of a busy brokerage (``routing.scale_data``)."""

from __future__ import annotations

from typing import Any

import environ
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from routing import scale_data

#: The connection alias a ``--database-url`` is opened under.
URL_ALIAS = "scale"


def database_alias(url: str | None) -> str:
    """The connection to build on: ``default``, or one opened for ``url``."""
    if not url:
        return "default"
    connections.databases[URL_ALIAS] = {**connections.databases["default"],
                                        **environ.Env.db_url_config(url)}
    return URL_ALIAS


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
        using = database_alias(database_url)
        try:
            report = scale_data.build(leads=leads, activities=activities, using=using,
                                      progress=lambda line: self.stdout.write(f"  {line}"))
        except scale_data.ScaleDataRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(f"Built {report.leads:,} leads and {report.activities:,} timeline "
                          f"entries in {report.seconds:.0f} s.")
