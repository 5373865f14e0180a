"""What managers read about their ISAs: leads received, speed to first contact, hand-offs
contacted in time."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min, Q

from agents.models import Agent
from leads.models import Activity, Lead
from routing.models import Handoff, Offer, RoutingRecord


@dataclass
class IsaFigures:
    isa: Agent
    received: int = 0
    contacted: int = 0
    median_first_contact: timedelta | None = None
    handoffs: int = 0
    contacted_in_time: int = 0
    waiting: int = 0
    escalated: int = 0

    @property
    def in_time_share(self) -> int | None:
        """Percent of hand-offs the agent contacted in time (None: no hand-off)."""
        return round(100 * self.contacted_in_time / self.handoffs) if self.handoffs else None


def median(values: Iterable[timedelta]) -> timedelta | None:
    found = sorted(values)
    return statistics.median(found) if found else None


def isa_figures(*, since: datetime | None = None) -> list[IsaFigures]:
    """Per ISA, leads received since ``since`` (all time: None): how many, the median time
    from arrival to the ISA's first logged contact, hand-offs and those the agent contacted in
    time. A fixed number of queries, whatever the number of ISAs or leads."""
    isas = list(Agent.objects.filter(role=Agent.Role.ISA).order_by("name"))
    ids = [a.pk for a in isas]
    period = Q(lead__received_at__gte=since) if since else Q()
    own_period = Q(received_at__gte=since) if since else Q()
    received: dict[int, set[int]] = defaultdict(set)
    for rows in (
        RoutingRecord.objects.filter(period, agent_id__in=ids, outcome="assigned")
        .values_list("agent_id", "lead_id"),
        Offer.objects.filter(period, agent_id__in=ids, status=Offer.Status.CLAIMED)
        .values_list("agent_id", "lead_id"),
        Lead.objects.filter(own_period, owner_id__in=ids).values_list("owner_id", "id"),
        Lead.objects.filter(own_period, isa_id__in=ids).values_list("isa_id", "id"),
    ):
        for isa_id, lead_id in rows:
            received[isa_id].add(lead_id)
    firsts: dict[int, list[timedelta]] = defaultdict(list)
    for row in (Activity.objects.filter(period, actor_id__in=ids, kind__in=Lead.CONTACT_KINDS)
                .values("actor_id", "lead_id", "lead__received_at")
                .annotate(first=Min("created_at")).order_by()):
        if row["lead_id"] in received[row["actor_id"]]:
            firsts[row["actor_id"]].append(max(timedelta(0),
                                               row["first"] - row["lead__received_at"]))
    figures = {a.pk: IsaFigures(a, received=len(received[a.pk]), contacted=len(firsts[a.pk]),
                                median_first_contact=median(firsts[a.pk])) for a in isas}
    handoffs = Handoff.objects.filter(isa_id__in=ids)
    if since:
        handoffs = handoffs.filter(created_at__gte=since)
    for h in handoffs.only("isa_id", "status", "contacted_at", "contact_due_at"):
        row = figures[h.isa_id]
        row.handoffs += 1
        row.contacted_in_time += h.contacted_in_time
        row.waiting += h.status in Handoff.OPEN
        row.escalated += h.status in (Handoff.Status.ESCALATED, Handoff.Status.RETURNED)
    return list(figures.values())
