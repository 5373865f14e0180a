"""Write the routing configuration as a YAML file that import_routing reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from routing.config_file import export_routing


class Command(BaseCommand):
    help = "Export the routing configuration (YAML) to stdout, or to --output FILE."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", "-o", type=Path, help="Write to this file instead.")

    def handle(self, *args: Any, output: Path | None, **options: Any) -> None:
        text = export_routing()
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{output}: {exc}") from exc
        self.stdout.write(f"Wrote {output}")
