"""Accountability: first-contact deadlines met and missed, leads lost for staying silent, and
the agents' leaderboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Min, Q, QuerySet

from agents.models import Agent
from notifications.models import Notification
from routing.models import Handoff
from routing.reports.common import (
    Chart,
    Filters,
    Period,
    Report,
    Table,
    count_column,
    duration_column,
    names_of,
    percent_column,
    share,
    text_column,
    with_report_settings,
)
from routing.reports.speed import leads_in, speed_to_lead

LOST_SHOWN = 50


def idle_reassignments(period: Period, filters: Filters) -> QuerySet[Notification]:
    """The idle reassignments of the period, one notification each: the clock tells the silent
    owner first, then the managers (``claims.move_on``), so each reassignment's first notice
    (lowest id for the lead at that moment) is the owner's."""
    narrow: dict[str, Any] = {}
    if filters.source:
        narrow["lead__source"] = filters.source
    if filters.rule_id:
        narrow["lead__rule_id"] = filters.rule_id
    notices = Notification.objects.filter(
        event=Notification.Event.IDLE_REASSIGNED, created_at__gte=period.since,
        created_at__lt=period.until, **narrow)
    firsts = notices.values("lead_id", "created_at").annotate(first=Min("id")).values("first")
    found = Notification.objects.filter(pk__in=firsts)
    if filters.agent_id:
        found = found.filter(recipient_id=filters.agent_id)
    return found


def handoff_deadlines(period: Period, filters: Filters, *, now: datetime
                      ) -> dict[int, dict[str, int]]:
    """Per receiving agent, the ISA hand-offs of the period whose contact deadline was met
    (contacted by it) and missed (escalated, contacted late, or overdue now)."""
    if filters.rule_id:
        return {}  # hand-offs follow no rule
    handoffs = Handoff.objects.filter(created_at__gte=period.since, created_at__lt=period.until,
                                      agent__isnull=False)
    if filters.agent_id:
        handoffs = handoffs.filter(agent_id=filters.agent_id)
    if filters.source:
        handoffs = handoffs.filter(lead__source=filters.source)
    met = Q(contacted_at__isnull=False) & (
        Q(contact_due_at__isnull=True) | Q(contacted_at__lte=F("contact_due_at")))
    missed = (Q(status=Handoff.Status.ESCALATED) | Q(contacted_at__gt=F("contact_due_at"))
              | Q(status=Handoff.Status.ASSIGNED, contact_due_at__lt=now))
    return {r["agent_id"]: r for r in handoffs.values("agent_id").annotate(
        met=Count("id", filter=met), missed=Count("id", filter=missed)).order_by()}


def accountability(period: Period, filters: Filters, *, now: datetime) -> list[dict[str, Any]]:
    """Per agent: leads they hold from the period, first-contact deadlines met (contacted,
    under a rule that sets a deadline; ISA hand-offs contacted in time) and missed (lost to
    idle reassignment, overdue now; hand-offs escalated, contacted late or overdue), the share
    met, and their speed to first contact. Sorted as a leaderboard: most deadlines met in
    share, then the fastest median first contact, then the most contacts."""
    leads = leads_in(period, filters).filter(owner__isnull=False)
    with_deadline = Q(rule__first_contact_minutes__isnull=False)
    held = {r["owner_id"]: r for r in leads.values("owner_id").annotate(
        leads=Count("id"),
        met=Count("id", filter=with_deadline & Q(first_contact_at__isnull=False)),
        overdue=Count("id", filter=Q(first_contact_at__isnull=True,
                                     first_contact_due_at__lt=now)),
    ).order_by()}
    lost = dict(idle_reassignments(period, filters).values("recipient_id")
                .annotate(n=Count("id")).order_by().values_list("recipient_id", "n"))
    handed = handoff_deadlines(period, filters, now=now)
    speed = {r["key"]: r for r in speed_to_lead(period, filters, by="agent")}
    ids = (set(held) | set(lost) | set(handed)) - {None}
    names = names_of(Agent, ids)
    rows = []
    for agent_id in ids:
        h = held.get(agent_id, {"leads": 0, "met": 0, "overdue": 0})
        s = speed.get(agent_id, {})
        hand = handed.get(agent_id, {"met": 0, "missed": 0})
        met = h["met"] + hand["met"]
        missed = lost.get(agent_id, 0) + h["overdue"] + hand["missed"]
        rows.append({"key": agent_id, "name": names.get(agent_id, "?"), "leads": h["leads"],
                     "met": met, "missed": missed, "lost": lost.get(agent_id, 0),
                     "overdue": h["overdue"], "met_share": share(met, met + missed),
                     "contacted": s.get("contacted", 0),
                     "contact_median": s.get("contact_median")})
    rows.sort(key=lambda r: (
        -(r["met_share"] if r["met_share"] is not None else -1),
        r["contact_median"].total_seconds() if r["contact_median"] is not None else 1e12,
        -r["contacted"], r["name"].lower()))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def lost_leads(period: Period, filters: Filters, *, limit: int = LOST_SHOWN
               ) -> tuple[int, list[dict[str, Any]]]:
    """The latest idle reassignments: when, which lead, who lost it."""
    found = idle_reassignments(period, filters)
    total = found.count()
    zone = ZoneInfo(period.tz_name)
    rows = [{"when": n.created_at.astimezone(zone).strftime("%a %b %d %H:%M"),
             "lead": n.lead.title if n.lead else "", "agent": n.recipient.name}
            for n in found.select_related("lead", "recipient").order_by("-created_at")[:limit]]
    return total, rows


@with_report_settings
def report(period: Period, filters: Filters, now: datetime) -> Report:
    total, lost = lost_leads(period, filters)
    return Report("accountability", "Accountability", (
        "Did agents make the first contact in time? A deadline is met when the agent logged "
        "the first contact before the rule's first-contact time ran out (or an ISA's hand-off "
        "before its contact time); missed when the lead was taken from them for it, or is "
        "overdue now."), [
        Table("leaderboard", "Leaderboard", [
            count_column("rank", "#"), text_column("name", "Agent"),
            count_column("leads", "Leads held"), count_column("met", "Deadlines met"),
            count_column("missed", "Deadlines missed"), percent_column("met_share", "Met"),
            count_column("lost", "Lost for no contact"), count_column("overdue", "Overdue now"),
            count_column("contacted", "Contacted"),
            duration_column("contact_median", "To first contact, median")],
            accountability(period, filters, now=now),
            chart=Chart("bar", ("met", "missed"), horizontal=True, stacked=True, label="name"),
            help="Best first: the highest share of deadlines met, then the fastest first "
                 "contact."),
        Table("lost", "Leads lost to idle reassignment", [
            text_column("when", "When"), text_column("lead", "Lead"),
            text_column("agent", "Taken from")], lost,
            empty="No lead was taken from an agent for want of a first contact.",
            note=(f"The latest {len(lost)} of {total:,}." if total > len(lost) else "")),
    ])
