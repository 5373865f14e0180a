"""Dry runs of the rules, changing nothing: "Test a lead" and what a rule would have taken.

- "Test a lead": the decision for a lead (typed in, or a stored one) at a chosen moment;
- what a rule would have taken over the last 30 days, as the rules stand now.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from leads.forms import LeadForm
from leads.intake import build_lead, validate_lead
from leads.models import Lead
from routing.engine import render_trace, rule_matches
from routing.engine import to_local as engine_local
from routing.models import Brokerage, RoutingRecord, Rule
from routing.rules_validation import plain_number
from routing.selectors import FACT_FIELDS, facts_of, routing_config
from routing.services import find_existing, preview

WOULD_HAVE_TAKEN_DAYS = 30

# --- What a rule would have taken -------------------------------------------------------------

@dataclass
class Reach:
    taken: int  # leads for which this rule is the first matching active rule
    total: int  # leads received in the period
    actually: int  # leads this rule really routed in the period
    days: int
    was_paused: bool


def would_have_taken(rule: Rule, *, now: datetime | None = None,
                     days: int = WOULD_HAVE_TAKEN_DAYS) -> Reach | None:
    """Leads of the last ``days`` days that this rule would take as the rules stand now.

    Each stored lead is run through the pure engine at its arrival time: counted when this
    rule is the first active rule whose criteria and hours match (a paused rule is counted as
    if it were active, which is what a manager wants to know before switching it on).
    """
    now = now or timezone.now()
    config = routing_config()
    target = config.rule(rule.pk)
    if target is None:
        return None
    rules = [replace(r, is_active=True) if r.id == rule.pk else r for r in config.rules]
    rules = [r for r in rules if r.is_active or r.is_catch_all]
    since = now - timedelta(days=days)
    taken = total = 0
    leads = (Lead.objects.filter(received_at__gte=since, received_at__lte=now)
             .only(*FACT_FIELDS).order_by().iterator(chunk_size=2000))
    for lead in leads:
        total += 1
        facts = facts_of(lead)
        local = engine_local(facts.received_at, config.timezone)
        first = next((r for r in rules if rule_matches(r, facts, local)), None)
        if first is not None and first.id == rule.pk:
            taken += 1
    actually = (RoutingRecord.objects.filter(rule_id=rule.pk, reason="rule",
                                             created_at__gte=since, created_at__lte=now)
                .aggregate(n=Count("lead_id", distinct=True))["n"])
    return Reach(taken, total, actually, days, not target.is_active)


# --- Test a lead ------------------------------------------------------------------------------

LEAD_GROUPS = (
    ("The person", ("first_name", "last_name", "email", "phone")),
    ("What they want", ("source", "tags", "lead_type", "price", "score", "property_type")),
    ("Where", ("city", "county", "neighborhood", "zip_code", "mls_region", "site",
               "listing_ref")),
    ("Special routing (agent emails)", ("assigned_to", "tracking_agent", "listing_agent")),
)
LEAD_FIELDS = tuple(name for _, names in LEAD_GROUPS for name in names)


class TestLeadForm(forms.Form):
    """The lead's fields (those of the intake form), a stored lead, and the arrival time."""

    at = forms.DateTimeField(
        required=False, label="Arriving at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                       "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    lead_id = forms.IntegerField(
        required=False, min_value=1, label="Or a stored lead, by id",
        help_text="Its fields are used instead of those below; with no time given, it is "
        "tested at the moment it arrived.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in LEAD_FIELDS:
            lead_field = copy.deepcopy(LeadForm.base_fields[name])
            lead_field.required = False
            self.fields[name] = lead_field
        self.fields["tags"].widget = forms.TextInput(attrs={"placeholder": "luxury, relocation"})
        self.fields["tags"].help_text = "Comma-separated."
        self.fields["lead_type"].widget = forms.Select(
            choices=[("", "—"), *Lead.LeadType.choices])
        self.fields["price"].widget.attrs["placeholder"] = "1000000"

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in LEAD_GROUPS]

    def _clean_fields(self) -> None:
        """Only the time and the lead id here: the lead is checked as intake checks it."""
        lead_fields = {name: self.fields.pop(name) for name in LEAD_FIELDS}
        try:
            super()._clean_fields()
        finally:
            self.fields.update(lead_fields)


@dataclass
class TestResult:
    decision: Any
    at_local: datetime
    timezone: str
    lines: list[dict[str, Any]]
    rule: Rule | None
    rule_url: str | None
    agent: str | None
    lender: str | None
    offered_to: list[str]
    stored_lead: Lead | None = None
    note: str = ""


def _lead_data(lead: Lead) -> dict[str, Any]:
    data = {name: getattr(lead, name) for name in LEAD_FIELDS}
    data["phone"] = str(lead.phone) if lead.phone else ""
    data["tags"] = ", ".join(lead.tags or ())
    data["price"] = "" if lead.price is None else plain_number(lead.price)
    data["score"] = "" if lead.score is None else str(lead.score)
    return {k: ("" if v is None else v) for k, v in data.items()}


def test_lead_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """Which rule would take this lead, and who would get it, changing nothing."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    brokerage = Brokerage.load()
    tz = ZoneInfo(brokerage.tz_name)
    result = None
    with timezone.override(tz):
        if request.method == "POST" or "lead_id" in request.GET:
            data = request.POST if request.method == "POST" else request.GET
            form = TestLeadForm(data)
            if form.is_valid():
                result = _run_test(form, tz)
        else:
            initial = {"at": timezone.localtime(timezone.now(), tz).replace(second=0,
                                                                          microsecond=0)}
            form = TestLeadForm(initial=initial)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Test a lead",
        "form": form,
        "result": result,
        "tz_name": brokerage.tz_name,
    }
    return TemplateResponse(request, "admin/routing/rule/test_lead.html", context)


def _run_test(form: TestLeadForm, tz: ZoneInfo) -> TestResult | None:
    at = form.cleaned_data.get("at")
    stored = None
    note = ""
    if form.cleaned_data.get("lead_id"):
        stored = Lead.objects.filter(pk=form.cleaned_data["lead_id"]).first()
        if stored is None:
            form.add_error("lead_id", f"There is no lead #{form.cleaned_data['lead_id']}.")
            return None
        data = _lead_data(stored)
        form.data = form.data.copy()
        form.data.update(data)
        at = at or stored.received_at
    else:
        data = {name: form.data.get(name, "") for name in LEAD_FIELDS}
    at = at or timezone.now()
    cleaned, errors = validate_lead(data)
    if errors:
        for name, message in errors.items():
            form.add_error(name if name in form.fields else None, message)
        return None
    lead = build_lead(cleaned, received_at=at)
    if stored is not None:
        earlier = find_existing(lead)
        if earlier is not None and earlier.id == stored.pk:
            # The stored lead would find itself as "the same person": test it as a new one.
            lead.email_normalized = lead.phone_normalized = ""
            note = (f"Lead #{stored.pk} is tested as if it arrived now for the first time "
                    "(it is not counted as its own earlier registration).")
    decision = preview(lead)
    config = routing_config()

    def who(agent_id: int | None) -> str | None:
        info = config.agents.get(agent_id) if agent_id else None
        return f"{info.name} <{info.email}>" if info else None

    lines = []
    for step, line in zip(decision.trace, render_trace(decision.trace), strict=True):
        lines.append({"text": line.strip(), "indent": line.startswith(" "),
                      "stage": step.get("stage"), "matched": step.get("matched"),
                      "eligible": step.get("eligible")})
    rule = Rule.objects.filter(pk=decision.rule_id).first() if decision.rule_id else None
    return TestResult(
        decision=decision, at_local=at.astimezone(tz), timezone=str(tz), lines=lines,
        rule=rule,
        rule_url=reverse("admin:routing_rule_change", args=[rule.pk]) if rule else None,
        agent=who(decision.agent_id), lender=who(decision.lender_id),
        offered_to=[w for w in (who(a) for a in decision.offered_to) if w],
        stored_lead=stored, note=note,
    )

