"""Reading a routing file (YAML) for a command: every error printed, one per line."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.config_file import RoutingFile, RoutingFileError, load_routing_file


def read_routing_file(command: BaseCommand, file: Path, *, nothing_done: str,
                      name_the_file: bool = False) -> RoutingFile:
    """The file's validated data, or ``CommandError`` after printing each of its errors
    (``nothing_done`` ends the summary: "nothing changed", "nothing back-tested")."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{file}: {exc}") from exc
    try:
        return load_routing_file(text)
    except RoutingFileError as exc:
        for error in exc.errors:
            command.stderr.write(f"{file}: {error}" if name_the_file else error)
        count = len(exc.errors)
        raise CommandError(
            f"{file}: {count} error{'s' if count != 1 else ''}, {nothing_done}"
        ) from exc
