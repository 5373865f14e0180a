"""Route every lead of a JSON Lines or CSV file, in order, printing one JSON answer per line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.forms import KNOWN_FIELDS
from leads.intake import BATCH_SIZE, receive_leads, reject
from leads.models import Submission
from leads.timeparse import parse_now


def unknown_columns(path: Path) -> list[str]:
    """The CSV header's columns that are no lead field (another CRM's ``First Name``, say):
    their values would be ignored, so they are named instead of leaving every row without
    a contact for no visible reason."""
    if path.suffix.lower() != ".csv":
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    return [name.strip() for name in header if name.strip() and name.strip() not in KNOWN_FIELDS]


def columns_message(unknown: list[str]) -> str:
    return f"Unknown columns: {', '.join(unknown)} (known: {', '.join(KNOWN_FIELDS)})."


def read_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, the record or its raw text, a parse error or None) for each lead."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(handle), start=1):
                extra = row.pop(None, None)
                record = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                yield number, record, ("More values than columns" if extra else None)
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield number, line.rstrip("\n"), f"Not valid JSON: {exc.msg} (column {exc.colno})"


class Command(BaseCommand):
    help = "Route the leads of a JSON Lines or CSV file, one JSON answer per input line."
    columns_error = ""  # the CSV header's unknown columns, named on each rejected line

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--now", help="Arrival time, ISO-8601 (default: now).")

    def handle(self, *args: Any, file: Path, now: str | None, **options: Any) -> None:
        if not file.exists():
            raise CommandError(f"{file}: no such file")
        received_at = parse_now(now)
        unknown = unknown_columns(file)
        self.columns_error = columns_message(unknown) if unknown else ""
        if unknown:
            self.stderr.write(f"{file.name}: {self.columns_error[:-1]}: they are ignored.")
        chunk: list[tuple[int, Any, str | None]] = []
        for item in read_records(file):
            chunk.append(item)
            if len(chunk) == BATCH_SIZE:
                self._ingest(chunk, received_at)
                chunk = []
        self._ingest(chunk, received_at)

    def _ingest(self, chunk: list[tuple[int, Any, str | None]], received_at: datetime) -> None:
        """Route a chunk of lines in order; unreadable lines are kept as rejected. A rejected
        line of a file with unknown columns says which, in its answer and its submission."""
        readable = [(number, record) for number, record, problem in chunk if not problem]
        routed = iter(receive_leads([record for _, record in readable],
                                    channel=Submission.Channel.FILE, received_at=received_at))
        for number, record, problem in chunk:
            if problem:
                result = reject(record, {"line": problem}, channel=Submission.Channel.FILE,
                                received_at=received_at)
            else:
                result = next(routed)
            if result.status == "rejected" and self.columns_error and result.submission:
                result.errors = {**(result.errors or {}), "columns": self.columns_error}
                result.submission.errors = result.errors
                result.submission.save(update_fields=["errors"])
            self.stdout.write(json.dumps({"line": number, **result.as_dict()}))
