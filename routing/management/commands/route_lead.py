"""Route one lead from a JSON file, or with --dry-run show the decision and change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leads.intake import build_lead, receive_lead, validate_lead
from leads.models import Submission
from leads.timeparse import parse_now
from routing.engine import render_trace, with_texts
from routing.services import preview


class Command(BaseCommand):
    help = "Route one lead (a JSON object in FILE); --dry-run prints the decision only."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true",
                            help="Decide and explain, without saving or moving any rotation.")
        parser.add_argument("--now", help="Arrival time, ISO-8601 (default: now).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print JSON.")

    def handle(self, *args: Any, file: Path, dry_run: bool, now: str | None, as_json: bool,
               **options: Any) -> None:
        try:
            data = _load(file)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: {exc}") from exc
        received_at = parse_now(now)
        if not dry_run:
            result = receive_lead(data, channel=Submission.Channel.FILE, received_at=received_at)
            self.stdout.write(_dumps(result.as_dict()))
            if result.status == "rejected":
                raise CommandError("lead rejected")
            return
        cleaned, errors = validate_lead(data)
        if errors:
            self.stdout.write(_dumps({"status": "rejected", "errors": errors}))
            raise CommandError("lead rejected")
        decision = preview(build_lead(cleaned, received_at=received_at))
        if as_json:
            self.stdout.write(_dumps({
                "status": decision.outcome, "reason": decision.reason,
                "agent_id": decision.agent_id, "lender_id": decision.lender_id,
                "rule": decision.rule_name or None, "summary": decision.summary,
                "trace": with_texts(decision.trace),
            }))
            return
        self.stdout.write(f"Decision: {decision.summary} (dry run, nothing saved)")
        for line in render_trace(decision.trace):
            self.stdout.write(f"  {line}")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=None, default=str)
