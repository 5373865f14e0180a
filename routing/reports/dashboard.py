"""The manager's dashboard: what needs attention now, and today's and this week's leads by
source with their speed to lead. Every count is a bounded query on an indexed column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Count, Min
from django.urls import reverse

from agents.models import Agent
from leads.models import Lead
from notifications.models import Delivery, WebhookDelivery
from routing import engine
from routing.engine import Reason
from routing.models import Offer, RotationState, RoutingRecord
from routing.reports.common import (
    Filters,
    Table,
    duration_text,
    period_of,
    with_report_settings,
)
from routing.reports.speed import speed_table

EXPIRING_MINUTES = 5


@dataclass(frozen=True)
class Attention:
    """One thing a manager may have to act on, with the admin list that shows it."""

    key: str
    label: str
    count: int
    url: str
    detail: str = ""

    @property
    def calm(self) -> bool:
        return self.count == 0


@dataclass(frozen=True)
class Unreachable:
    """A rule nobody can receive from right now, and why each member cannot."""

    name: str
    url: str
    why: str


def changelist(name: str, **params: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def waited_text(since: datetime, now: datetime) -> str:
    return f"oldest waiting {duration_text(now - since)}"


@with_report_settings
def attention(*, now: datetime, tz_name: str) -> list[Attention]:
    """The counts above the dashboard, each a link to the filtered list."""
    pond = Lead.objects.filter(owner__isnull=True, status=Lead.Status.UNASSIGNED).aggregate(
        n=Count("id"), oldest=Min("received_at"))
    expiring = Offer.objects.filter(
        status=Offer.Status.OFFERED, deadline__gte=now,
        deadline__lte=now + timedelta(minutes=EXPIRING_MINUTES)).count()
    overdue = Lead.objects.filter(first_contact_due_at__lt=now,
                                  first_contact_at__isnull=True).count()
    midnight = now.astimezone(ZoneInfo(tz_name)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    escalated = RoutingRecord.objects.filter(reason=Reason.ESCALATED,
                                             created_at__gte=midnight).count()
    paused = Agent.objects.filter(is_active=True, accepting_leads=False).count()
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED).count()
    hooks = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count()
    return [
        Attention("pond", "Leads in the pond", pond["n"], changelist("leads_lead", pond="yes"),
                  waited_text(pond["oldest"], now) if pond["oldest"] else ""),
        Attention("expiring", f"Offers ending in the next {EXPIRING_MINUTES} minutes", expiring,
                  changelist("leads_lead", offer="ending")),
        Attention("overdue", "First contacts overdue", overdue,
                  changelist("leads_lead", first_contact="overdue")),
        Attention("escalated", "Escalations today", escalated,
                  changelist("routing_routingrecord", reason=Reason.ESCALATED.value,
                             when="today")),
        Attention("paused", "Agents paused", paused,
                  changelist("agents_agent", availability="paused")),
        Attention("failed", "Emails, texts and pushes that failed", failed,
                  changelist("notifications_delivery", status="failed")),
        Attention("webhooks", "Webhooks that failed", hooks,
                  changelist("notifications_webhookdelivery", status="failed")),
    ]


@with_report_settings
def unreachable_rules(*, now: datetime) -> list[Unreachable]:
    """Active rules whose members are none of them able to receive a lead arriving now: the
    engine's own check (``preview_rotation``, as the roster page uses it), over today's loads.
    Rules outside their hours are left out (they take no leads now anyway)."""
    from routing.selectors import routing_config
    from routing.services import agent_loads

    config = routing_config()
    rules = [r for r in config.rules if r.is_active or r.is_catch_all]
    if not rules:
        return []
    local = engine.to_local(now, config.timezone)
    loads = agent_loads(engine.agents_needing_loads(config, rules), now, config.timezone)
    states = {s.rule_id: engine.Cursor(s.agent_id, s.position, s.given)
              for s in RotationState.objects.filter(kind=RotationState.Kind.AGENT)}
    found = []
    for rule in rules:
        roster = config.rosters.get(rule.roster_id)
        members = roster.members if roster else ()
        preview = engine.preview_rotation(config, rule, engine.AGENT, members,
                                          states.get(rule.id, engine.Cursor()), loads, local)
        if preview.eligible or engine.PreviewNote.OUTSIDE_HOURS in preview.notes:
            continue
        reasons = sorted({c.why for c in preview.members if c.why})
        why = "nobody on its roster" if not members else "; ".join(reasons)
        found.append(Unreachable(rule.name, reverse("admin:routing_rule_change",
                                                    args=[rule.id]), why))
    return found


@with_report_settings
def leads_by_source(*, now: datetime, tz_name: str) -> list[tuple[str, Table]]:
    """Today's and this week's leads by source, with speed to lead (the speed report's
    selector)."""
    tables = []
    for preset, slug, title in (("today", "today", "Today's leads by source"),
                                ("7d", "week", "This week's leads by source")):
        period = period_of(preset, now=now, tz_name=tz_name)
        table = speed_table(period, Filters(), "source", slug=slug, title=title)
        table.chart = None
        tables.append((preset, table))
    return tables
