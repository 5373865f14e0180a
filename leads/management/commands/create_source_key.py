"""Create an API key for a lead source (the source too, if new) and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.intake.keys import create_key


class Command(BaseCommand):
    help = ("Create an API key for a lead source (created if new). The key is printed once on "
            "standard output and cannot be shown again: only its hash is stored.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help='The source\'s name, e.g. "Zillow".')
        parser.add_argument("--label", default="", help="What the key is for (e.g. 'prod').")

    def handle(self, *args: Any, source: str, label: str, **options: Any) -> None:
        name = source.strip()
        if not name or len(name) > 100:
            raise CommandError("Give the source's name (up to 100 characters).")
        if len(label) > 100:
            raise CommandError("The label is at most 100 characters.")
        key, raw_key = create_key(name, label=label.strip())
        self.stderr.write(f"New key {key.prefix} for source {key.source.name!r}"
                          f"{f' ({key.label})' if key.label else ''}. Store it now: it cannot "
                          "be shown again.")
        self.stdout.write(raw_key)
