"""Offers: how many leads each agent and rule offered, what became of the offers, and why
agents passed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet

from agents.models import Agent
from routing.engine import Reason
from routing.models import Offer, RoutingRecord, Rule
from routing.reports.common import (
    Chart,
    Filters,
    Period,
    Report,
    Table,
    count_column,
    names_of,
    percent_column,
    share,
    text_column,
    with_report_settings,
)


def offer_counts(period: Period, filters: Filters, *, by: str) -> list[dict[str, Any]]:
    """Per agent or rule: offers made in the period and how each ended (claimed, declined,
    expired, withdrawn because someone else claimed first, still open), the claim rate (claimed
    of those that ended with the agent's answer or silence), and escalations (leads that went
    to a rule's escalation; per agent, those escalated to them). Two grouped queries."""
    key = {"agent": "agent_id", "rule": "rule_id"}[by]
    narrow: dict[str, Any] = {}
    if filters.agent_id:
        narrow["agent_id"] = filters.agent_id
    if filters.rule_id:
        narrow["rule_id"] = filters.rule_id
    if filters.source:
        narrow["lead__source"] = filters.source
    status = Offer.Status
    rows = list(
        Offer.objects.filter(offered_at__gte=period.since, offered_at__lt=period.until, **narrow)
        .values(key).annotate(
            offered=Count("id"),
            claimed=Count("id", filter=Q(status=status.CLAIMED)),
            declined=Count("id", filter=Q(status=status.DECLINED)),
            expired=Count("id", filter=Q(status=status.EXPIRED)),
            withdrawn=Count("id", filter=Q(status=status.WITHDRAWN)),
            open=Count("id", filter=Q(status=status.OFFERED)),
        ).order_by())
    escalations = dict(
        RoutingRecord.objects.filter(created_at__gte=period.since, created_at__lt=period.until,
                                     reason=Reason.ESCALATED, **narrow)
        .values(key).annotate(n=Count("id")).order_by().values_list(key, "n"))
    found = {r[key]: r for r in rows}
    for k in escalations:
        found.setdefault(k, {key: k, "offered": 0, "claimed": 0, "declined": 0, "expired": 0,
                             "withdrawn": 0, "open": 0})
    names = names_of(Agent if by == "agent" else Rule, found)
    nobody = ("The pond (escalated to nobody)" if by == "agent" else
              "No rule (hand-offs, special routing)")
    result = []
    for k, row in found.items():
        answered = row["claimed"] + row["declined"] + row["expired"]
        result.append({**row, "key": k, "name": names.get(k, nobody),
                       "escalated": escalations.get(k, 0),
                       "claim_rate": share(row["claimed"], answered)})
    result.sort(key=lambda r: (-r["offered"], r["name"].lower()))
    return result


#: The pass reasons as the report's column headings (short: the table must fit a phone).
PASS_COLUMNS = {
    Offer.PassReason.NOT_INTERESTED: "Not interested", Offer.PassReason.TOO_BUSY: "Too busy",
    Offer.PassReason.OUT_OF_AREA: "Out of area", Offer.PassReason.PRICE_RANGE: "Price range",
    Offer.PassReason.OTHER: "Other", Offer.PassReason.NOT_GIVEN: "No reason given",
}
OTHER_SHOWN = 50


def _passes(period: Period, filters: Filters) -> QuerySet[Offer]:
    """The offers of the period the agent passed on (declined), narrowed as the report is."""
    narrow: dict[str, Any] = {}
    if filters.agent_id:
        narrow["agent_id"] = filters.agent_id
    if filters.rule_id:
        narrow["rule_id"] = filters.rule_id
    if filters.source:
        narrow["lead__source"] = filters.source
    return Offer.objects.filter(offered_at__gte=period.since, offered_at__lt=period.until,
                                status=Offer.Status.DECLINED, **narrow)


def pass_counts(period: Period, filters: Filters) -> list[dict[str, Any]]:
    """Per agent: the offers of the period they passed on, by the reason they gave. One
    grouped query; most passes first."""
    found: dict[int, dict[str, Any]] = {}
    for agent_id, reason, n in (_passes(period, filters).values("agent_id", "pass_reason")
                                .annotate(n=Count("id")).order_by()
                                .values_list("agent_id", "pass_reason", "n")):
        row = found.setdefault(agent_id, {"key": agent_id, "passes": 0,
                                          **{f"reason_{r}": 0 for r in PASS_COLUMNS}})
        row[f"reason_{reason}"] = row.get(f"reason_{reason}", 0) + n
        row["passes"] += n
    names = names_of(Agent, found)
    rows = [{**row, "name": names.get(key, "?")} for key, row in found.items()]
    rows.sort(key=lambda r: (-r["passes"], r["name"].lower()))
    return rows


def other_reasons(period: Period, filters: Filters, *, limit: int = OTHER_SHOWN
                  ) -> tuple[int, list[dict[str, Any]]]:
    """The latest passes for another reason, in the agent's words: when, who, which lead."""
    found = _passes(period, filters).filter(pass_reason=Offer.PassReason.OTHER)
    total = found.count()
    zone = ZoneInfo(period.tz_name)
    rows = [{"when": o.responded_at.astimezone(zone).strftime("%a %b %d %H:%M")
             if o.responded_at else "", "agent": o.agent.name, "lead": o.lead.title,
             "note": o.pass_note}
            for o in found.select_related("agent", "lead").order_by("-responded_at", "-id")
            [:limit]]
    return total, rows


COLUMNS = [
    count_column("offered", "Offered"), count_column("claimed", "Claimed"),
    count_column("declined", "Declined"), count_column("expired", "Let expire"),
    count_column("withdrawn", "Someone else claimed first"), count_column("open", "Still open"),
    percent_column("claim_rate", "Claim rate"),
]


@with_report_settings
def report(period: Period, filters: Filters, now: datetime) -> Report:
    total, others = other_reasons(period, filters)
    chart = Chart("bar", ("claimed", "declined", "expired"), horizontal=True, stacked=True)
    return Report("offers", "Offers", (
        "Every offer made in the period and how it ended. The claim rate is the share of "
        "offers the agent claimed, of those they claimed, declined or let expire."), [
        Table("agent", "By agent", [text_column("name", "Agent"), *COLUMNS,
                                    count_column("escalated", "Escalated to them")],
              offer_counts(period, filters, by="agent"), chart=chart),
        Table("rule", "By rule", [text_column("name", "Rule"), *COLUMNS,
                                  count_column("escalated", "Escalated")],
              offer_counts(period, filters, by="rule"), chart=chart,
              help="Escalated: nobody claimed the lead in time, so it went to the rule's "
                   "escalation (a person or the pond)."),
        Table("passes", "Passes by reason", [
            text_column("name", "Agent"), count_column("passes", "Passes"),
            *[count_column(f"reason_{r}", label) for r, label in PASS_COLUMNS.items()]],
            pass_counts(period, filters),
            chart=Chart("bar", tuple(f"reason_{r}" for r in PASS_COLUMNS), horizontal=True,
                        stacked=True),
            empty="Nobody passed on an offer in this period.",
            help="Why agents passed on the offers of the period, as they said on the offer."),
        Table("other-reasons", "Other reasons, in their words", [
            text_column("when", "When"), text_column("agent", "Agent"),
            text_column("lead", "Lead"), text_column("note", "Reason")], others,
            empty="No pass for another reason in this period.",
            note=(f"The latest {len(others)} of {total:,}." if total > len(others) else "")),
    ])
