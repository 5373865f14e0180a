"""The "Routing changes" page: every recent change to rules, criteria, windows, rosters and
shifts, newest first, with who made it and what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agents.models import Roster, RosterMember, Shift
from routing.admin.history import HISTORY_TYPES, Names, attname, field_label, show_value
from routing.describe import window_text
from routing.engine import FIELD_LABELS
from routing.models import Rule, RuleCriterion, RuleWindow

TRACKED = (
    ("rules", Rule, "Rule"),
    ("criteria", RuleCriterion, "Criterion"),
    ("windows", RuleWindow, "Days and times"),
    ("rosters", Roster, "Roster"),
    ("members", RosterMember, "Roster member"),
    ("shifts", Shift, "Shift"),
)
CHANGES_LIMIT = 200
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



def _describe(model: type, record: Any, names: Names) -> str:
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
    names = Names()
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
                    (field_label(model, c.field), show_value(model, c.field, c.old, names),
                     show_value(model, c.field, c.new, names))
                    for c in delta.changes if c.field in fields
                ]
                if not change.changes:
                    continue  # saved without a change (e.g. only its criteria changed)
            elif record.history_type == "+":
                shown = [(field_label(model, name),
                          show_value(model, name, getattr(record, attname(model, name)), names))
                         for name in fields]
                change.values = [(label, value) for label, value in shown
                                 if value not in ("(empty)", "(none)")]
            found.append(change)
    found.sort(key=lambda c: c.when, reverse=True)
    return found[:limit]



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


