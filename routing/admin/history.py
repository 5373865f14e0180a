"""A rule's history in the admin: its versions in words, and restoring one.

A version shows the criteria and hours the rule had then (replayed from the child rows'
history), and "Restore this version" brings back its settings, criteria and windows together.
The words for stored values (``Names``, ``show_value``) are also the "Routing changes" page's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from simple_history.template_utils import HistoricalRecordContextHelper

from agents.models import Agent, Roster
from config.errors import ApplicationError
from config.text import plural
from routing.describe import criteria_text, days_text, when_text, window_text
from routing.engine import FIELD_LABELS
from routing.models import Rule, RuleCriterion, RuleWindow

HISTORY_TYPES = {"+": "Added", "~": "Changed", "-": "Deleted"}

# --- Stored values in words -------------------------------------------------------------------


class Names:
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


def show_value(model: type, name: str, value: Any, names: Names) -> str:
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
        return days_text(value) or str(value)
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    model_field = model._meta.get_field(name)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    return str(value)


def field_label(model: type, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name).capitalize()


def attname(model: type, name: str) -> str:
    return model._meta.get_field(name).attname


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
            return show_value(self.model, "days", value, Names())
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
            text for row, text in child_changes([*criteria, *windows])
            if row.history_date >= record.history_date
            and (until_date is None or row.history_date < until_date)
        ]


def child_changes(rows: Sequence[Any]) -> list[tuple[Any, str]]:
    """Each criterion or window change in words, a change with its old value:
    "Added Score at least 75", "Score at least: 50 → 75", "Deleted Mon–Fri 09:00–17:00".

    ``rows``: historical rows of one rule's criteria and windows, each model oldest first.
    """
    before: dict[tuple[type, int], Any] = {}
    changes = []
    for row in rows:
        key = (type(row), row.id)
        previous = before.get(key)
        before[key] = row
        changes.append((row, _child_change(row, previous)))
    return changes


def _child_what(row: Any) -> tuple[str, str]:
    """(label, value) of a criterion; ("", the window) of a window."""
    if isinstance(row, RuleCriterion.history.model):
        return FIELD_LABELS.get(row.field, row.field), str(row.value)
    return "", window_text(row.days, row.start, row.end)


def _child_change(row: Any, previous: Any | None) -> str:
    label, value = _child_what(row)
    if row.history_type == "~" and previous is not None:
        old_label, old_value = _child_what(previous)
        if old_label == label:
            return f"{label}: {old_value} → {value}" if label else f"{old_value} → {value}"
        return f"{old_label} {old_value} → {label} {value}"
    action = HISTORY_TYPES.get(row.history_type, row.history_type)
    return f"{action} {label} {value}" if label else f"{action} {value}"


RESTORED_FIELDS = ("name", "is_active", "roster", "selection", "delivery", "lender_roster",
                   "add_tags", "claim_timeout_minutes", "escalate_to", "after_hours",
                   "first_contact_minutes", "call_timeout_seconds")


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
                f"with {plural(criteria, 'criterion', 'criteria')} and "
                f"{plural(windows, 'day-and-time window')}.",
                messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:routing_rule_change", args=[rule.pk]))
    then_criteria, then_windows = version_state(version)
    old = version.instance
    names = Names()
    settings_rows = [
        (field_label(Rule, name), show_value(Rule, name, getattr(old, attname(Rule, name)), names),
         show_value(Rule, name, getattr(rule, attname(Rule, name)), names))
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
