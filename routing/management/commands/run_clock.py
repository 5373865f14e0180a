"""The claim clock: one pass by hand, or (``--loop``) the clock's own long-running process."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from leads.timeparse import parse_now
from routing.clock import ClockPass, run_clock, run_loop


class Command(BaseCommand):
    help = ("One clock pass: expire due offers and move them on, send reminders, idle "
            "reassignment. With --loop, keep the clock running (its own process, beside the "
            "web server and the task cluster) until SIGTERM or Ctrl-C.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--now", help="Pretend it is this time, ISO-8601 (default: now).")
        parser.add_argument("--loop", action="store_true",
                            help="Keep running: a pass whenever the next deadline falls due.")
        parser.add_argument("--seconds", type=float,
                            help="With --loop: stop after this many seconds (default: never).")

    def handle(self, *args: Any, now: str | None, loop: bool, seconds: float | None,
               **options: Any) -> None:
        if not loop:
            if seconds is not None:
                raise CommandError("--seconds goes with --loop")
            done = run_clock(parse_now(now) if now else None)
            self.stdout.write(str(done))
            return
        if now:
            raise CommandError("--now is for one pass; the loop runs on the real time")
        stop = False

        def ask_to_stop(*_: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)
        self.stdout.write("The clock is running; SIGTERM or Ctrl-C stops it.")
        self.stdout.flush()

        def report(done: ClockPass) -> None:
            self.stdout.write(f"{timezone.now():%H:%M:%S} {done}")
            self.stdout.flush()

        total = run_loop(stopping=lambda: stop, seconds=seconds, on_pass=report)
        self.stdout.write(f"The clock stopped: {total}.")
