"""The living demo: a few new leads a minute while ``make run`` runs (``serve --demo``).

Demo only: it refuses to start without DEBUG, which production settings never have.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from routing.management.demo import ARRIVAL_SECONDS, arrival, require_demo, route


class Command(BaseCommand):
    help = "Demo only (DEBUG on): route a new demo lead every 20 seconds until stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep going until stopped.")
        parser.add_argument("--count", type=int, default=1,
                            help="Without --loop: how many leads to route now.")
        parser.add_argument("--every", type=float, default=ARRIVAL_SECONDS,
                            help="With --loop: seconds between two leads.")

    def handle(self, *args: Any, loop: bool, count: int, every: float, **options: Any) -> None:
        require_demo()
        rng = random.Random()
        stamp = timezone.now().strftime("%m%d%H%M%S")
        n = 0
        try:
            while True:
                for _ in range(1 if loop else count):
                    for lead in route([arrival(rng, n, stamp)], timezone.now()):
                        owner = f", {lead.owner.name}" if lead.owner else ""
                        self.stdout.write(f"Demo lead arrived: {lead} "
                                          f"({lead.get_status_display()}{owner})")
                    n += 1
                if not loop:
                    return
                time.sleep(every)
        except KeyboardInterrupt:
            return
