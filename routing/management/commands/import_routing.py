"""Apply a routing file (YAML): the rules, rosters, shifts and agents it describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from routing.config_file import apply_routing_file
from routing.management.routing_files import read_routing_file


class Command(BaseCommand):
    help = (
        "Import the routing configuration from a YAML file (see routing/config_file/schema.py). "
        "An invalid file changes nothing: every error is printed, one per line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--check", action="store_true",
                            help="Only validate the file; change nothing.")

    def handle(self, *args: Any, file: Path, check: bool, **options: Any) -> None:
        data = read_routing_file(self, file, nothing_done="nothing changed")
        if check:
            self.stdout.write(f"{file}: valid ({len(data.agents)} agents, {len(data.rosters)} "
                              f"rosters, {len(data.shifts)} shifts, {len(data.rules)} rules)")
            return
        summary = apply_routing_file(data)
        self.stdout.write(f"Imported {file}: {summary}")
