"""Do once, by hand, what the clock does: expire due offers, move them on, reassign idle leads."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leads.timeparse import parse_now
from routing.clock import run_clock


class Command(BaseCommand):
    help = "One clock pass: expire due offers and move them on, send reminders, idle reassignment."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--now", help="Pretend it is this time, ISO-8601 (default: now).")

    def handle(self, *args: Any, now: str | None, **options: Any) -> None:
        done = run_clock(parse_now(now) if now else None)
        self.stdout.write(str(done))
