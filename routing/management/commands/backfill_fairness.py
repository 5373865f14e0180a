"""Give routing records written before the fairness figures existed their skipped turns (read
from the trace) and hand-off target (by the name the trace gives), so a period that began
before the upgrade counts its missed turns too.

Only records of the last ``--days`` (default 35) and only those still without them; safe to run
again. A turn cut short by a pause is not in old traces, so it stays uncounted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent
from routing.engine import Reason, Stage
from routing.fairness import turns_from_trace
from routing.models import HandoffTarget, RoutingRecord

BATCH = 2000


class Command(BaseCommand):
    help = "Fill in the skipped turns and hand-off targets of older routing records."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=35,
                            help="Records of this many days back (default 35).")

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        since = timezone.now() - timedelta(days=days)
        ids_by_email = {e.strip().lower(): i for i, e in Agent.objects.values_list("id", "email")}
        targets = dict(HandoffTarget.objects.values_list("name", "id"))
        records = (RoutingRecord.objects.filter(created_at__gte=since, skipped_turns=[])
                   .filter(Q(reason=Reason.RULE)
                           | Q(reason=Reason.HANDOFF, handoff_target__isnull=True))
                   .only("id", "reason", "trace", "skipped_turns", "handoff_target"))
        last_id, changed_total, seen = 0, 0, 0
        while True:
            batch = list(records.filter(id__gt=last_id).order_by("id")[:BATCH])
            if not batch:
                break
            last_id, seen = batch[-1].pk, seen + len(batch)
            changed = []
            for record in batch:
                turns = turns_from_trace(record.trace or (), ids_by_email)
                target = None
                if record.reason == Reason.HANDOFF:
                    step = next((s for s in record.trace or ()
                                 if s.get("stage") == Stage.HANDOFF and s.get("target")), None)
                    target = targets.get(step["target"]) if step else None
                if turns or target:
                    record.skipped_turns, record.handoff_target_id = turns, target
                    changed.append(record)
            RoutingRecord.objects.bulk_update(changed, ["skipped_turns", "handoff_target"])
            changed_total += len(changed)
            self.stdout.write(f"{seen} records read, {changed_total} filled in")
        self.stdout.write(self.style.SUCCESS(
            f"Done: {changed_total} of {seen} records of the last {days} days filled in."))
