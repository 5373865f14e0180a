"""Print a lead, its owner and why it went where it went."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils.timezone import localtime

from leads.models import Lead
from routing.engine import render_trace, with_texts
from routing.models import Brokerage


class Command(BaseCommand):
    help = "Print a lead, its owner and its routing trace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("lead_id", type=int)
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print JSON.")

    def handle(self, *args: Any, lead_id: int, as_json: bool, **options: Any) -> None:
        lead = Lead.objects.select_related("owner", "lender", "rule").filter(pk=lead_id).first()
        if lead is None:
            raise CommandError(f"No lead with id {lead_id}")
        records = list(lead.routing_records.all())
        activities = list(lead.activities.all())
        if as_json:
            self.stdout.write(json.dumps(lead_document(lead, records, activities), default=str))
            return
        tz = ZoneInfo(Brokerage.load().tz_name)  # times read in brokerage time, as in the trace
        self.stdout.write(f"Lead #{lead.pk}: {lead} ({lead.email or '-'}, {lead.phone or '-'})")
        self.stdout.write(f"  Source {lead.source or '-'}, {lead.lead_type or 'type unknown'}, "
                          f"price {lead.price if lead.price is not None else '-'}, "
                          f"zip {lead.zip_code or '-'}, tags {', '.join(lead.tags) or '-'}")
        self.stdout.write(f"  Received {localtime(lead.received_at, tz):%Y-%m-%d %H:%M %Z}; status "
                          f"{lead.get_status_display()}")
        self.stdout.write(f"  Owner: {lead.owner or 'nobody'}; lender: {lead.lender or 'none'}")
        for record in records:
            self.stdout.write(f"Routing {localtime(record.created_at, tz):%Y-%m-%d %H:%M}: "
                              f"{record.summary}")
            for line in render_trace(record.trace):
                self.stdout.write(f"  {line}")
        for activity in activities:
            self.stdout.write(f"{localtime(activity.created_at, tz):%Y-%m-%d %H:%M} "
                              f"{activity.get_kind_display()}: {activity.body}")


def lead_document(lead: Lead, records: list, activities: list) -> dict[str, Any]:
    return {
        "id": lead.pk, "first_name": lead.first_name, "last_name": lead.last_name,
        "email": lead.email, "phone": str(lead.phone) if lead.phone else "",
        "source": lead.source, "tags": lead.tags, "lead_type": lead.lead_type,
        "price": str(lead.price) if lead.price is not None else None, "city": lead.city,
        "zip_code": lead.zip_code, "status": lead.status,
        "owner": lead.owner.email if lead.owner else None,
        "lender": lead.lender.email if lead.lender else None,
        "rule": lead.rule.name if lead.rule else None,
        "received_at": lead.received_at.isoformat(),
        "routing": [
            {"at": r.created_at.isoformat(), "outcome": r.outcome, "reason": r.reason,
             "rule": r.rule_name or None, "agent": r.agent.email if r.agent else None,
             "summary": r.summary, "trace": with_texts(r.trace)}
            for r in records
        ],
        "activities": [
            {"at": a.created_at.isoformat(), "kind": a.kind, "body": a.body, "data": a.data}
            for a in activities
        ],
    }
