"""Route every lead of a JSON Lines or CSV file, in order, printing one JSON answer per line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.directory import AgentDirectory
from leads.intake import BATCH_SIZE, receive_leads, reject
from leads.intake.columns import FORMATS, ColumnMap, build_map, map_row
from leads.models import Submission
from leads.timeparse import parse_now
from routing.selectors import routing_config


def csv_header(path: Path) -> list[str]:
    """The CSV file's header line ([] for JSON Lines)."""
    if path.suffix.lower() != ".csv":
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def load_map(path: Path) -> dict[str, str | None]:
    """A --map file, YAML or JSON: {"Their Column": "our_field", "Ignore Me": null}."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"--map {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CommandError(f"--map {path}: expected an object of column -> field")
    return {str(k): (None if v is None else str(v)) for k, v in data.items()}


def read_records(path: Path, columns: ColumnMap | None = None,
                 agents: AgentDirectory | None = None,
                 ) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, the record or its raw text, a parse error or None) for each lead;
    CSV rows are read through the column mapping."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(handle), start=1):
                extra = row.pop(None, None)
                record = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                if columns is not None:
                    record = map_row(record, columns, agents)
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
        parser.add_argument("--format", choices=sorted(FORMATS),
                            help="The CSV's export format (default: detected from its header).")
        parser.add_argument("--map", type=Path, dest="map_file",
                            help='YAML/JSON {"Their Column": "our_field", "Ignore": null}.')
        parser.add_argument("--dry-run", action="store_true",
                            help="Print the mapping and the first rows' fields; route nothing.")

    def handle(self, *args: Any, file: Path, now: str | None, format: str | None = None,
               map_file: Path | None = None, dry_run: bool = False, **options: Any) -> None:
        if not file.exists():
            raise CommandError(f"{file}: no such file")
        received_at = parse_now(now)
        header = csv_header(file)
        columns = None
        agents = AgentDirectory()
        if header:
            try:
                columns = build_map(header, format, load_map(map_file) if map_file else None)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stderr.write(f"{file.name}: " + "\n".join(columns.describe()))
            if columns.unknown:
                self.columns_error = f"Unknown columns: {', '.join(columns.unknown)}."
            agents = AgentDirectory.of(routing_config().agents.values())
        if dry_run:
            for number, record, problem in read_records(file, columns, agents):
                if number > 5:
                    break
                self.stdout.write(json.dumps({"line": number, "fields": record,
                                              "problem": problem}))
            return
        chunk: list[tuple[int, Any, str | None]] = []
        for item in read_records(file, columns, agents):
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
