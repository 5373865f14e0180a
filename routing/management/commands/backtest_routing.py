"""Back-test a routing file: replay a period's leads through it and through today's rules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from routing.backtest import DEFAULT_DAYS, Backtest, Row, backtest, between, last_days
from routing.config_file import file_as_config
from routing.management.routing_files import read_routing_file
from routing.selectors import routing_config

#: Progress on stderr every this many leads (a long run says how far it is).
PROGRESS_EVERY = 5000


class Command(BaseCommand):
    help = (
        "Replay the leads of a period, in arrival order, through a proposed routing file and "
        "through today's rules, and print what each rule and each agent would get. Changes "
        "nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The proposed routing file (YAML).")
        parser.add_argument("--days", type=int, default=None,
                            help=f"The last N days (default {DEFAULT_DAYS}).")
        parser.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD",
                            help="First day, in the brokerage's time zone.")
        parser.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD",
                            help="Last day, included (default: today).")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object instead of tables.")

    def handle(self, *args: Any, file: Path, days: int | None, since: date | None,
               until: date | None, as_json: bool, **options: Any) -> None:
        data = read_routing_file(self, file, nothing_done="nothing back-tested",
                                 name_the_file=True)
        today = routing_config()
        start, end = self._period(days, since, until, today.timezone)
        result = backtest(file_as_config(data, today), since=start, until=end, today=today,
                          progress=self._progress, progress_every=PROGRESS_EVERY)
        if as_json:
            self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            self.stdout.write(tables(result, file.name))

    def _period(self, days: int | None, since: date | None, until: date | None,
                tz_name: str) -> tuple[Any, Any]:
        if days is not None and (since or until):
            raise CommandError("Give either --days or --since/--until, not both.")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        if since is None and until is None:
            return last_days(days or DEFAULT_DAYS, now=timezone.now())
        if since is None:
            raise CommandError("--until needs --since.")
        last = until or timezone.localdate(timezone.now(), timezone=ZoneInfo(tz_name))
        if last < since:
            raise CommandError(f"--until ({last}) is before --since ({since}).")
        return between(since, last, tz_name)

    def _progress(self, done: int, total: int) -> None:
        if total < PROGRESS_EVERY:
            return  # a short run needs no progress
        share = done * 100 // total if total else 100
        self.stderr.write(f"Replayed {done:,} of {total:,} leads ({share}%)")


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else ("0" if n == 0 else str(n))


def _table(title: str, rows: list[Row], first: str) -> list[str]:
    width = max([len(first), *(len(r.name) for r in rows)])
    head = f"{first:<{width}}  {'today':>7}  {'proposed':>8}  {'change':>6}"
    lines = [title, head, "-" * len(head)]
    lines += [f"{r.name:<{width}}  {r.actual:>7}  {r.proposed:>8}  {_signed(r.difference):>6}"
              for r in rows]
    return lines


def tables(result: Backtest, proposal: str) -> str:
    """The back-test for people: leads per rule and per agent, the pond, who changes hands."""
    tz = ZoneInfo(result.timezone)
    since, until = result.since.astimezone(tz), result.until.astimezone(tz)
    lines = [
        f"{result.leads} lead{'s' if result.leads != 1 else ''} received from "
        f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} ({result.timezone}), replayed "
        f"through today's rules and through {proposal}.",
        "",
        *_table("Leads per rule", result.rules, "Rule"),
        "",
        *_table("Leads per agent", result.agents, "Agent"),
        "",
        f"Left in the pond: {result.pond.actual} with today's rules, {result.pond.proposed} "
        f"with the proposal ({_signed(result.pond.difference)}).",
    ]
    if result.special.actual or result.special.proposed:
        lines.append(f"Routed before the rules (pre-assigned, tracking link, own listing): "
                     f"{result.special.actual} today, {result.special.proposed} proposed.")
    lines.append(f"Change hands: {result.changed_hands} of {result.leads}.")
    for change in result.sample:
        at = change.received_at.astimezone(tz)
        lines.append(f"  #{change.lead_id} {change.title} ({at:%a %Y-%m-%d %H:%M}): "
                     f"{change.actual} -> {change.proposed}")
    if result.changed_hands > len(result.sample):
        lines.append(f"  ... and {result.changed_hands - len(result.sample)} more")
    return "\n".join(lines)
