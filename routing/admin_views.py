"""The rule editor's own pages and the words it shows rules in.

- rules in one readable line ("Source is Zillow · Buyer · Price ≥ $1,000,000") and their hours;
- whether anybody on a rule's roster can receive a lead;
- "Test a lead": the dry-run decision for a lead at a chosen moment, changing nothing;
- what a rule would have taken over the last 30 days, as the rules stand now;
- "Routing changes": every recent change to rules, criteria, windows, rosters and shifts;
- restoring an earlier version of a rule together with its criteria and windows.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from simple_history.template_utils import HistoricalRecordContextHelper

from agents.models import Agent, Roster, RosterMember, Shift
from config.errors import ApplicationError
from leads.forms import LeadForm
from leads.intake import build_lead, validate_lead
from leads.models import Lead
from routing.engine import FIELD_LABELS, TEXT_FIELDS, render_trace, rule_matches
from routing.engine import to_local as engine_local
from routing.models import Brokerage, RoutingRecord, Rule, RuleCriterion, RuleWindow
from routing.selectors import routing_config
from routing.services import facts_of, find_existing, preview
from routing.windows import DAY_NAMES, describe_days, parse_days

DAY_CHOICES = [(day, day.title()) for day in DAY_NAMES]
CLAIM_DELIVERIES = (Rule.Delivery.CLAIM, Rule.Delivery.FIRST_TO_CLAIM)
WOULD_HAVE_TAKEN_DAYS = 30
RECENT_DAYS = 7

# --- Rules in words ---------------------------------------------------------------------------


def money(value: Decimal) -> str:
    """``$1,000,000``; cents only when there are some."""
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def plain_number(value: Decimal) -> str:
    """The text stored in a criterion row: ``1000000``, ``1500.5`` (no exponent, no ``.0``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def parse_number(text: str) -> Decimal | None:
    """A number as a manager types it: ``1,000,000``, ``$850000``, ``1.5``; None if not one."""
    cleaned = (text or "").strip().replace(",", "").replace("$", "").replace(" ", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None


def criteria_text(rule: Rule, criteria: Iterable[Any]) -> str:
    """The rule's criteria in one line: ``Source is Zillow or Realtor.com · Buyer · Price ≥ $1M``.

    ``criteria``: objects with ``field`` and ``value`` (rows, historical rows or form data).
    """
    if rule.is_catch_all:
        return "Everything no other rule takes"
    values: dict[str, list[str]] = defaultdict(list)
    for criterion in criteria:
        value = str(criterion.value).strip()
        if value and value not in values[criterion.field]:
            values[criterion.field].append(value)
    parts = []
    for name in TEXT_FIELDS:
        wanted = values.get(name)
        if not wanted:
            continue
        if name == "lead_type":
            parts.append(" or ".join(v.title() for v in wanted))
        else:
            parts.append(f"{FIELD_LABELS[name]} is {' or '.join(wanted)}")
    low = _number(values["price_min"][0]) if values.get("price_min") else None
    high = _number(values["price_max"][0]) if values.get("price_max") else None
    if low is not None and high is not None:
        parts.append(f"Price {money(low)}–{money(high)}")
    elif low is not None:
        parts.append(f"Price ≥ {money(low)}")
    elif high is not None:
        parts.append(f"Price ≤ {money(high)}")
    score = _number(values["score_min"][0]) if values.get("score_min") else None
    if score is not None:
        parts.append(f"Score ≥ {plain_number(score)}")
    return " · ".join(parts) or "Any lead"


def window_text(days: Sequence[str], start: time, end: time) -> str:
    """``Mon-Fri 08:00-21:00``; an end before the start says it runs overnight."""
    try:
        day_text = describe_days(parse_days(list(days)))
    except (ValueError, AttributeError):
        day_text = ", ".join(str(d) for d in days)
    text = f"{day_text} {start:%H:%M}-{end:%H:%M}"
    return text + " (overnight)" if end < start else text


def when_text(windows: Iterable[Any]) -> str:
    parts = [window_text(w.days, w.start, w.end) for w in windows]
    return "; ".join(parts) if parts else "Always"


def staffing_problem(rule: Rule) -> str | None:
    """Why nobody on the rule's roster could ever receive a lead (None: someone can)."""
    if not rule.roster_id:
        return None
    members = list(RosterMember.objects.filter(roster_id=rule.roster_id)
                   .select_related("agent", "roster"))
    roster = rule.roster.name if rule.roster_id else ""
    if not members:
        return f"Roster '{roster}' has nobody on it."
    if any(able_to_receive(m) for m in members):
        return None
    return (f"Nobody on roster '{roster}' can receive a lead: every member is inactive, "
            "paused or set to 0 leads per round.")


def able_to_receive(member: RosterMember) -> bool:
    agent = member.agent
    return agent.is_active and agent.accepting_leads and member.leads_per_round > 0


def receivers_filter(prefix: str = "") -> Q:
    """Roster members who can receive leads (``prefix`` for lookups through a relation)."""
    return Q(**{f"{prefix}agent__is_active": True, f"{prefix}agent__accepting_leads": True,
                f"{prefix}leads_per_round__gt": 0})


# --- What a rule would have taken -------------------------------------------------------------

FACT_FIELDS = ("id", "received_at", "source", "tags", "lead_type", "city", "county",
               "neighborhood", "zip_code", "mls_region", "property_type", "site", "price",
               "score", "assigned_to", "tracking_agent", "listing_agent")


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


# --- History: routing changes -----------------------------------------------------------------

TRACKED = (
    ("rules", Rule, "Rule"),
    ("criteria", RuleCriterion, "Criterion"),
    ("windows", RuleWindow, "Days and times"),
    ("rosters", Roster, "Roster"),
    ("members", RosterMember, "Roster member"),
    ("shifts", Shift, "Shift"),
)
CHANGES_LIMIT = 200
HISTORY_TYPES = {"+": "Added", "~": "Changed", "-": "Deleted"}
SKIPPED_FIELDS = {"id"}


@dataclass
class Change:
    when: datetime
    who: str
    kind: str
    action: str
    what: str
    url: str | None
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # label, before, after
    values: list[tuple[str, str]] = field(default_factory=list)  # label, value (added rows)
    reason: str = ""


class _Names:
    """Names of rules, rosters and agents by id, deleted ones included (from their history)."""

    def __init__(self) -> None:
        self._cache: dict[type, dict[int, str]] = {}

    def _load(self, model: type) -> dict[int, str]:
        if model not in self._cache:
            label = "name"
            names = {pk: name for pk, name in model.objects.values_list("pk", label)}
            history = getattr(model, "history", None)
            if history is not None:
                for pk, name in history.order_by("history_date").values_list("id", label):
                    names.setdefault(pk, name)
            self._cache[model] = names
        return self._cache[model]

    def rule(self, pk: int | None) -> str:
        return self._load(Rule).get(pk, f"rule #{pk}") if pk else "(none)"

    def roster(self, pk: int | None) -> str:
        return self._load(Roster).get(pk, f"roster #{pk}") if pk else "(none)"

    def agent(self, pk: int | None) -> str:
        return self._load(Agent).get(pk, f"agent #{pk}") if pk else "(none)"


def _show(model: type, name: str, value: Any, names: _Names) -> str:
    """A field's value in words."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in ("roster", "lender_roster"):
        return names.roster(value)
    if name in ("agent", "escalate_to"):
        return names.agent(value)
    if name == "rule":
        return names.rule(value)
    if name == "days":
        try:
            return describe_days(parse_days(list(value)))
        except (ValueError, AttributeError, TypeError):
            return str(value)
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    model_field = model._meta.get_field(name)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    return str(value)


def _label(model: type, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name).capitalize()


def _describe(model: type, record: Any, names: _Names) -> str:
    if model is Rule:
        return f"Rule '{record.name}'"
    if model is RuleCriterion:
        return (f"Rule '{names.rule(record.rule_id)}': "
                f"{FIELD_LABELS.get(record.field, record.field)} {record.value}")
    if model is RuleWindow:
        hours = window_text(record.days, record.start, record.end)
        return f"Rule '{names.rule(record.rule_id)}': {hours}"
    if model is Roster:
        return f"Roster '{record.name}'"
    if model is RosterMember:
        return f"Roster '{names.roster(record.roster_id)}': {names.agent(record.agent_id)}"
    hours = window_text(record.days, record.start, record.end)
    return f"Shift of {names.agent(record.agent_id)}: {hours}"


def _url(model: type, record: Any) -> str | None:
    target = {Rule: ("routing_rule", "id"), RuleCriterion: ("routing_rule", "rule_id"),
              RuleWindow: ("routing_rule", "rule_id"), Roster: ("agents_roster", "id"),
              RosterMember: ("agents_roster", "roster_id"), Shift: ("agents_shift", "id")}
    name, attr = target[model]
    try:
        return reverse(f"admin:{name}_change", args=[getattr(record, attr)])
    except NoReverseMatch:
        return None


def _field_names(model: type) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in SKIPPED_FIELDS]


def previous_versions(model: type, records: Sequence[Any]) -> dict[int, Any]:
    """The version before each of these historical records (by history id), in one query."""
    if not records:
        return {}
    latest = max(r.history_date for r in records)
    earlier = (model.history.filter(id__in={r.id for r in records}, history_date__lte=latest)
               .order_by("id", "history_date", "history_id"))
    before: dict[int, Any] = {}
    last: dict[int, Any] = {}
    for row in earlier:
        if row.id in last:
            before[row.history_id] = last[row.id]
        last[row.id] = row
    return before


def _user(record: Any) -> str:
    user = record.history_user
    if user is None:
        return "system (import or script)"
    return user.get_full_name() or user.get_username()


def routing_changes(*, kind: str = "", days: int = 30, limit: int = CHANGES_LIMIT,
                    now: datetime | None = None) -> list[Change]:
    """The latest changes to the routing configuration, newest first, with what changed."""
    since = (now or timezone.now()) - timedelta(days=days)
    names = _Names()
    found: list[Change] = []
    for key, model, title in TRACKED:
        if kind and key != kind:
            continue
        records = list(model.history.filter(history_date__gte=since)
                       .select_related("history_user").order_by("-history_date", "-history_id")
                       [:limit])
        before = previous_versions(model, records)
        fields = _field_names(model)
        for record in records:
            change = Change(
                when=record.history_date, who=_user(record), kind=title,
                action=HISTORY_TYPES.get(record.history_type, record.history_type),
                what=_describe(model, record, names), url=_url(model, record),
                reason=record.history_change_reason or "",
            )
            previous = before.get(record.history_id)
            if record.history_type == "~" and previous is not None:
                delta = record.diff_against(previous, foreign_keys_are_objs=False)
                change.changes = [
                    (_label(model, c.field), _show(model, c.field, c.old, names),
                     _show(model, c.field, c.new, names))
                    for c in delta.changes if c.field in fields
                ]
                if not change.changes:
                    continue  # saved without a change (e.g. only its criteria changed)
            elif record.history_type == "+":
                shown = [(_label(model, name),
                          _show(model, name, getattr(record, _attname(model, name)), names))
                         for name in fields]
                change.values = [(label, value) for label, value in shown
                                 if value not in ("(empty)", "(none)")]
            found.append(change)
    found.sort(key=lambda c: c.when, reverse=True)
    return found[:limit]


def _attname(model: type, name: str) -> str:
    return model._meta.get_field(name).attname


def routing_changes_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    kind = request.GET.get("what", "")
    if kind not in {key for key, _, _ in TRACKED}:
        kind = ""
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 365))
    except ValueError:
        days = 30
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Routing changes",
        "changes": routing_changes(kind=kind, days=days),
        "kinds": [(key, title) for key, _, title in TRACKED],
        "kind": kind,
        "days": days,
        "day_choices": (1, 7, 30, 90, 365),
        "limit": CHANGES_LIMIT,
    }
    return TemplateResponse(request, "admin/routing/routing_changes.html", context)


# --- History: a rule's versions and restoring one ---------------------------------------------


class ReadableHistory(HistoricalRecordContextHelper):
    """A version's changes in words: choice labels, yes/no, lists as text."""

    def prepare_delta_change_value(self, change: Any, value: Any) -> Any:
        model_field = self.model._meta.get_field(change.field)
        if value is None or value == "":
            return "(empty)"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if model_field.choices:
            return str(dict(model_field.flatchoices).get(value, value))
        if change.field == "days" and isinstance(value, list):
            return _show(self.model, "days", value, _Names())
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or "(none)"
        return super().prepare_delta_change_value(change, value)



class RestoreRefused(ApplicationError):
    """The version cannot be restored; the message says why, in words for a manager."""

    status_code = 409  # the rules changed since: a roster deleted, a name taken


def _children_as_of(model: type, rule_id: int, until: tuple[datetime, int] | None,
                    rows: Sequence[Any] | None = None) -> list[Any]:
    """A rule's criteria (or windows) as they were just before ``until`` (None: now).

    Replays the child rows' history; rows that predate history (no version at all) count as
    always there.
    """
    history = rows if rows is not None else list(
        model.history.filter(rule_id=rule_id).order_by("history_date", "history_id"))
    state: dict[int, Any] = {}
    for row in history:
        if until is not None and row.history_date >= until[0]:
            break
        if row.history_type == "-":
            state.pop(row.id, None)
        else:
            state[row.id] = row
    known = {row.id for row in history}
    for row in model.objects.filter(rule_id=rule_id).exclude(pk__in=known):
        state.setdefault(row.pk, row)
    return sorted(state.values(), key=lambda r: r.id)


def _next_version(version: Any) -> Any | None:
    return (Rule.history.filter(id=version.id)
            .filter(Q(history_date__gt=version.history_date)
                    | Q(history_date=version.history_date, history_id__gt=version.history_id))
            .order_by("history_date", "history_id").first())


def version_state(version: Any) -> tuple[list[Any], list[Any]]:
    """The criteria and windows the rule had at this version (until its next version)."""
    following = _next_version(version)
    until = (following.history_date, following.history_id) if following else None
    return (_children_as_of(RuleCriterion, version.id, until),
            _children_as_of(RuleWindow, version.id, until))


def annotate_versions(records: Sequence[Any]) -> None:
    """Give each version of one rule its criteria, hours and the child changes saved with it.

    ``records`` are a page of the rule's versions, newest first; two queries in all.
    """
    if not records:
        return
    rule_id = records[0].id
    every = list(Rule.history.filter(id=rule_id).order_by("history_date", "history_id")
                 .values_list("history_id", "history_date"))
    following: dict[int, datetime | None] = {}
    for (hid, _), nxt in zip(every, [*every[1:], None], strict=True):
        following[hid] = nxt[1] if nxt else None
    criteria = list(RuleCriterion.history.filter(rule_id=rule_id)
                    .order_by("history_date", "history_id"))
    windows = list(RuleWindow.history.filter(rule_id=rule_id)
                   .order_by("history_date", "history_id"))
    latest_id = every[-1][0] if every else None
    for record in records:
        until_date = following.get(record.history_id)
        until = (until_date, 0) if until_date else None
        then_criteria = _children_as_of(RuleCriterion, rule_id, until, criteria)
        then_windows = _children_as_of(RuleWindow, rule_id, until, windows)
        instance = record.instance
        record.criteria_text = criteria_text(instance, then_criteria)
        record.when_text = when_text(then_windows)
        record.is_current = record.history_id == latest_id
        record.child_changes = [
            _child_change(row) for row in [*criteria, *windows]
            if row.history_date >= record.history_date
            and (until_date is None or row.history_date < until_date)
        ]


def _child_change(row: Any) -> str:
    action = HISTORY_TYPES.get(row.history_type, row.history_type).lower()
    if isinstance(row, RuleCriterion.history.model):
        what = f"{FIELD_LABELS.get(row.field, row.field)} {row.value}"
    else:
        what = window_text(row.days, row.start, row.end)
    return f"{action} {what}"


RESTORED_FIELDS = ("name", "is_active", "roster", "selection", "delivery", "lender_roster",
                   "add_tags", "claim_timeout_minutes", "escalate_to", "after_hours",
                   "first_contact_minutes")


@transaction.atomic
def restore_rule_version(rule: Rule, version: Any, user: Any) -> tuple[int, int]:
    """Bring the rule back to this version: its settings, criteria and windows.

    The rule keeps its place in the order (and the catch-all stays the catch-all). Returns the
    numbers of criteria and windows it has afterwards.
    """
    old = version.instance
    if not Roster.objects.filter(pk=old.roster_id).exists():
        raise RestoreRefused("The roster this version used has been deleted: pick a roster "
                             "on the rule instead.")
    if Rule.objects.exclude(pk=rule.pk).filter(name=old.name).exists():
        raise RestoreRefused(f"Another rule is now called '{old.name}': rename it first.")
    if old.lender_roster_id and not Roster.objects.filter(pk=old.lender_roster_id).exists():
        old.lender_roster_id = None
    if old.escalate_to_id and not Agent.objects.filter(pk=old.escalate_to_id).exists():
        old.escalate_to_id = None
    for name in RESTORED_FIELDS:
        attname = Rule._meta.get_field(name).attname
        setattr(rule, attname, getattr(old, attname))
    if rule.is_catch_all:
        rule.is_active = True
    reason = f"Restored the version of {timezone.localtime(version.history_date):%Y-%m-%d %H:%M}"
    rule._change_reason = reason
    rule._history_user = user
    rule.save()
    then_criteria, then_windows = version_state(version)
    if rule.is_catch_all:
        then_criteria, then_windows = [], []
    _sync(rule, RuleCriterion, ("field", "value"), then_criteria, reason, user)
    _sync(rule, RuleWindow, ("days", "start", "end"), then_windows, reason, user)
    return len(then_criteria), len(then_windows)


def _sync(rule: Rule, model: type, fields: Sequence[str], wanted: Sequence[Any], reason: str,
          user: Any) -> None:
    """Make the rule's rows exactly ``wanted``: unchanged rows stay, others come and go."""
    current = list(model.objects.filter(rule=rule))
    remaining = [tuple(getattr(w, f) for f in fields) for w in wanted]
    for row in current:
        values = tuple(getattr(row, f) for f in fields)
        if values in remaining:
            remaining.remove(values)
            continue
        row._change_reason, row._history_user = reason, user
        row.delete()
    for values in remaining:
        row = model(rule=rule, **dict(zip(fields, values, strict=True)))
        row._change_reason, row._history_user = reason, user
        row.save()


def restore_view(model_admin: Any, request: HttpRequest, object_id: str,
                 version_id: str) -> HttpResponse:
    """The page of one version of a rule, with "Restore this version"."""
    rule = model_admin.get_object(request, unquote(object_id))
    if rule is None:
        raise Http404
    if not model_admin.has_view_permission(request, rule):
        raise PermissionDenied
    version = Rule.history.filter(id=rule.pk, history_id=version_id).first()
    if version is None:
        raise Http404
    can_restore = model_admin.has_change_permission(request, rule)
    if request.method == "POST":
        if not can_restore:
            raise PermissionDenied
        try:
            criteria, windows = restore_rule_version(rule, version, request.user)
        except RestoreRefused as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
        else:
            when = timezone.localtime(version.history_date)
            model_admin.message_user(
                request, f"Rule '{rule.name}' is back as it was on {when:%Y-%m-%d %H:%M}, "
                f"with {criteria} criteria and {windows} day-and-time windows.",
                messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:routing_rule_change", args=[rule.pk]))
    then_criteria, then_windows = version_state(version)
    old = version.instance
    names = _Names()
    settings_rows = [
        (_label(Rule, name), _show(Rule, name, getattr(old, _attname(Rule, name)), names),
         _show(Rule, name, getattr(rule, _attname(Rule, name)), names))
        for name in RESTORED_FIELDS
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Rule._meta,
        "title": f"Version of {timezone.localtime(version.history_date):%Y-%m-%d %H:%M}: "
                 f"{old.name}",
        "rule": rule,
        "version": version,
        "settings_rows": settings_rows,
        "criteria_then": criteria_text(rule, then_criteria),
        "when_then": when_text(then_windows),
        "criteria_now": criteria_text(rule, rule.criteria.all()),
        "when_now": when_text(rule.windows.all()),
        "can_restore": can_restore,
        "is_current": _next_version(version) is None,
    }
    return TemplateResponse(request, "admin/routing/rule/restore_version.html", context)
