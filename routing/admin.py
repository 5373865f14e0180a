"""The admin as the managers' rule editor.

Rules are dragged into priority order (the catch-all always stays last), edited with their
criteria and day-and-time windows as rows checked in plain words, tested with any lead without
changing anything, and every change is kept: a rule can go back to any earlier version,
criteria and windows included. The brokerage settings are a single row.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import time, timedelta
from typing import Any

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from agents.models import Agent, RosterMember
from routing import admin_views
from routing.admin_views import (
    CLAIM_DELIVERIES,
    DAY_CHOICES,
    RECENT_DAYS,
    criteria_text,
    money,
    parse_number,
    plain_number,
    receivers_filter,
    staffing_problem,
    when_text,
    window_text,
)
from routing.engine import FIELD_LABELS, NUMBER_FIELDS
from routing.models import Brokerage, RoutingRecord, Rule, RuleCriterion, RuleWindow
from routing.selectors import actionable_windows
from routing.windows import DAY_NAMES

CATCH_ALL_ALWAYS_ACTIVE = (
    "The catch-all rule is always active: it takes every lead that no other rule takes. "
    "Pause other rules instead, or change who is on its roster."
)
CATCH_ALL_NO_CRITERIA = (
    "The catch-all rule takes every lead that no other rule takes, so it has no criteria. "
    "Remove these rows, or add a new rule for them."
)
CATCH_ALL_NO_WINDOWS = (
    "The catch-all rule applies at all hours, so it has no days and times. Remove these rows, "
    "or add a new rule for them."
)
NEEDS_CRITERIA = (
    "Give this rule at least one criterion or one day-and-time window: without either it "
    "would take every lead, which is the catch-all rule's job."
)
CLAIM_FIELDS = ("claim_timeout_minutes", "after_hours", "escalate_to")
SHORT_SELECTION = {
    Rule.Selection.ROTATION: "Rotation",
    Rule.Selection.FIRST_IN_ROSTER: "First in roster",
    Rule.Selection.ON_DUTY: "On duty",
    Rule.Selection.TERRITORY: "Territory",
    Rule.Selection.LEAST_LOADED: "Fewest open leads",
}


def days_field(**kwargs: Any) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=DAY_CHOICES, widget=forms.CheckboxSelectMultiple(attrs={"class": "weekdays"}),
        error_messages={"required": "Tick at least one day.",
                        "invalid_choice": "Unknown day: use Mon to Sun."},
        **kwargs,
    )


def time_field(**kwargs: Any) -> forms.TimeField:
    return forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Give a time, e.g. 08:00.",
                        "invalid": "Give a time as HH:MM, e.g. 08:00."},
        **kwargs,
    )


def short_days(days: Any) -> list[str]:
    """Stored weekdays as the checkboxes' values (``monday`` and ``Mon`` read as ``mon``)."""
    found = []
    for day in days or ():
        name = str(day).strip().lower()[:3]
        if name in DAY_NAMES and name not in found:
            found.append(name)
    return found


def check_window(form: forms.Form) -> None:
    start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    if start is not None and start == end:
        form.add_error("end", "The end is the same time as the start, so the window would be "
                       "empty. (An end before the start runs past midnight.)")


def kept_forms(formset: forms.BaseFormSet) -> list[forms.Form]:
    """The rows the manager keeps: filled in or already saved, and not marked for deletion."""
    formset.is_valid()  # validates once; siblings may ask before the admin does
    kept = []
    for form in formset.forms:
        if formset.can_delete and formset._should_delete_form(form):
            continue
        if not form.has_changed() and getattr(form.instance, "pk", None) is None:
            continue
        kept.append(form)
    return kept


# --- Criteria ---------------------------------------------------------------------------------


class RuleCriterionForm(forms.ModelForm):
    class Meta:
        model = RuleCriterion
        fields = ["field", "value"]
        labels = {"field": "Lead field", "value": "Value"}
        help_texts = {
            "value": "Text fields: the value to match (case does not matter). Prices and "
            "scores: a number, e.g. 1,000,000.",
        }
        error_messages = {
            "field": {"required": "Pick the lead field this row looks at."},
            "value": {"required": "Give the value to match."},
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name, value = data.get("field"), (data.get("value") or "").strip()
        if not name or not value:
            return data
        label = FIELD_LABELS.get(name, name)
        if name in NUMBER_FIELDS:
            number = parse_number(value)
            if number is None:
                self.add_error("value", f"{label} needs a number, e.g. 1000000 (you wrote "
                               f"'{value}').")
            elif number < 0:
                self.add_error("value", f"{label} cannot be below 0.")
            elif name == "score_min" and number != number.to_integral_value():
                self.add_error("value", "A score is a whole number, e.g. 80.")
            elif number >= 10**12:
                self.add_error("value", f"{label} is too large.")
            else:
                data["value"] = plain_number(number)
        elif name == "lead_type":
            if value.lower() not in ("buyer", "seller"):
                self.add_error("value", f"A lead type is buyer or seller (you wrote '{value}').")
            else:
                data["value"] = value.lower()
        else:
            data["value"] = value
        return data


class RuleCriterionFormSet(BaseInlineFormSet):
    siblings: list[forms.BaseFormSet] = []

    def clean(self) -> None:
        super().clean()
        rows = [f for f in kept_forms(self) if f.is_valid()]
        if self.instance.is_catch_all:
            if rows:
                raise ValidationError(CATCH_ALL_NO_CRITERIA)
            return
        seen: set[tuple[str, str]] = set()
        numbers: dict[str, Any] = {}
        for form in rows:
            name, value = form.cleaned_data["field"], form.cleaned_data["value"]
            label = FIELD_LABELS.get(name, name)
            key = (name, value.lower())
            if key in seen:
                raise ValidationError(f"{label} '{value}' is listed twice: keep one row.")
            seen.add(key)
            if name in NUMBER_FIELDS:
                if name in numbers:
                    raise ValidationError(f"'{label}' is given twice: a rule has one.")
                numbers[name] = parse_number(value)
        low, high = numbers.get("price_min"), numbers.get("price_max")
        if low is not None and high is not None and low > high:
            raise ValidationError(
                f"'Price at least' ({money(low)}) is above 'Price at most' ({money(high)}): "
                "no lead could match. Swap them, or fix one.")
        windows = [fs for fs in self.siblings if isinstance(fs, RuleWindowFormSet)]
        if not rows and not any(kept_forms(fs) for fs in windows):
            raise ValidationError(NEEDS_CRITERIA)


class RuleCriterionInline(admin.TabularInline):
    model = RuleCriterion
    form = RuleCriterionForm
    formset = RuleCriterionFormSet
    verbose_name = "criterion"
    verbose_name_plural = "Criteria"

    def get_extra(self, request: HttpRequest, obj: Rule | None = None, **kwargs: Any) -> int:
        return 0 if obj is not None else 1


# --- Days and times ---------------------------------------------------------------------------


class RuleWindowForm(forms.ModelForm):
    days = days_field()
    start = time_field(label="From")
    end = time_field(label="Until", help_text="An end before the start runs past midnight; "
                     "23:59 means the end of the day.")

    class Meta:
        model = RuleWindow
        fields = ["days", "start", "end"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["days"] = short_days(self.instance.days)

    def clean_days(self) -> list[str]:
        chosen = set(self.cleaned_data["days"])
        return [day for day in DAY_NAMES if day in chosen]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        check_window(self)
        return data


class RuleWindowFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if self.instance.is_catch_all and kept_forms(self):
            raise ValidationError(CATCH_ALL_NO_WINDOWS)


class RuleWindowInline(admin.TabularInline):
    model = RuleWindow
    form = RuleWindowForm
    formset = RuleWindowFormSet
    extra = 0
    verbose_name = "day-and-time window"
    verbose_name_plural = "Days and times"


# --- The rule ---------------------------------------------------------------------------------


class RuleAdminForm(forms.ModelForm):
    add_tags = forms.CharField(
        required=False, label="Tags to add",
        help_text="Comma-separated; added to every lead this rule takes, e.g. luxury, zillow.",
    )

    class Meta:
        model = Rule
        fields = ["name", "is_active", "is_catch_all", "roster", "selection", "lender_roster",
                  "delivery", "claim_timeout_minutes", "after_hours", "escalate_to",
                  "first_contact_minutes", "add_tags"]
        labels = {
            "is_active": "Active",
            "roster": "Roster",
            "selection": "Who on the roster gets it",
            "delivery": "How it reaches them",
            "lender_roster": "Lender roster",
            "claim_timeout_minutes": "Minutes to claim",
            "escalate_to": "When nobody claims it, give it to",
            "after_hours": "Outside the actionable window",
            "first_contact_minutes": "First contact within (minutes)",
        }
        help_texts = {
            "is_active": "A paused rule is skipped; leads go on to the rules below it.",
            "lender_roster": "Optional: a lender from this roster is put on each lead, in "
            "rotation.",
            "escalate_to": "Usually a manager. Empty: the lead goes to the pond, where any agent "
            "may claim it.",
        }
        error_messages = {
            "name": {"unique": "Another rule already has this name.",
                     "required": "Give the rule a name."},
            "roster": {"required": "Pick the roster whose agents receive these leads."},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "add_tags" in self.fields:
            self.initial["add_tags"] = ", ".join(self.instance.add_tags or ())
        if "claim_timeout_minutes" in self.fields:
            self.fields["claim_timeout_minutes"].required = False
        if "after_hours" in self.fields:
            self.fields["after_hours"].required = False
        if "escalate_to" in self.fields:
            self.fields["escalate_to"].queryset = Agent.objects.filter(is_active=True)

    def clean_add_tags(self) -> list[str]:
        text = self.cleaned_data.get("add_tags") or ""
        tags = [t.strip() for t in re.split(r"[,;|]", text) if t.strip()]
        return list(dict.fromkeys(tags))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        catch_all = self.instance.is_catch_all or data.get("is_catch_all")
        if catch_all and "is_active" in self.fields and not data.get("is_active"):
            self.add_error("is_active", CATCH_ALL_ALWAYS_ACTIVE)
        delivery = data.get("delivery")
        if delivery == Rule.Delivery.ASSIGN:
            # The claim settings are hidden and do not apply: keep what was there.
            for name in CLAIM_FIELDS:
                if name in self.fields:
                    self._errors.pop(name, None)
                    data[name] = getattr(self.instance, name)
        elif delivery in CLAIM_DELIVERIES:
            minutes = data.get("claim_timeout_minutes")
            if "claim_timeout_minutes" in self.fields and not minutes:
                self.add_error("claim_timeout_minutes", "Give the minutes an agent has to claim "
                               "the lead: at least 1.")
            if "after_hours" in self.fields and not data.get("after_hours"):
                data["after_hours"] = Rule.AfterHours.OFFER
        if data.get("first_contact_minutes") == 0:
            self.add_error("first_contact_minutes", "Leave it empty for no first-contact "
                           "deadline, or give at least 1 minute.")
        return data


def keep_catch_all_last() -> None:
    """After any reorder or new rule: the catch-all's priority is the largest of all."""
    catch_all = Rule.objects.filter(is_catch_all=True).first()
    if catch_all is None:
        return
    top = Rule.objects.filter(is_catch_all=False).aggregate(top=Max("priority"))["top"]
    if top is not None and catch_all.priority <= top:
        catch_all.priority = top + 1
        catch_all._change_reason = "Kept last in the rule order"
        catch_all.save(update_fields=["priority"])


class _RuleAdminBase(SimpleHistoryAdmin):
    """Templates behind sortable2's own change list (it extends this one)."""

    change_list_template = "admin/routing/rule/change_list.html"
    object_history_template = "admin/routing/rule/object_history.html"
    object_history_list_template = "admin/routing/rule/object_history_list.html"


@admin.register(Rule)
class RuleAdmin(SortableAdminMixin, _RuleAdminBase):
    form = RuleAdminForm
    inlines = [RuleCriterionInline, RuleWindowInline]
    list_display = ("name_column", "active_column", "criteria_column", "when_column",
                    "roster_column", "selection_column", "delivery_column", "recent_column")
    list_display_links = ("name_column",)
    search_fields = ("name",)
    list_per_page = 500
    actions = ["activate_rules", "pause_rules"]
    readonly_fields = ("staffing", "would_have_taken")

    class Media:
        css = {"all": ["routing/admin.css"]}
        js = ["routing/rule_form.js", "routing/rule_list.js"]

    # --- Lists and queries ---------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest):
        since = timezone.now() - timedelta(days=RECENT_DAYS)
        recent = (RoutingRecord.objects.filter(rule=OuterRef("pk"), reason="rule",
                                               created_at__gte=since)
                  .order_by().values("rule").annotate(n=Count("lead_id", distinct=True))
                  .values("n")[:1])
        able = RosterMember.objects.filter(receivers_filter(), roster=OuterRef("roster_id"))
        members = RosterMember.objects.filter(roster=OuterRef("roster_id"))
        return (super().get_queryset(request).select_related("roster")
                .prefetch_related("criteria", "windows")
                .annotate(leads_recent=Coalesce(Subquery(recent), 0),
                          has_receivers=Exists(able), has_members=Exists(members)))

    def _add_reorder_method(self) -> None:
        """The catch-all's drag handle is locked: it cannot be dragged anywhere."""
        super()._add_reorder_method()
        handle = self._reorder_

        def reorder(item: Rule) -> str:
            html = str(handle(item))
            if item.is_catch_all:
                html = html.replace(
                    'class="drag handle"', 'class="drag handle catch-all-handle" '
                    'title="The catch-all rule always stays last"')
            return mark_safe(html)  # sortable2's own markup, with no user text in it

        reorder.short_description = "Order"
        reorder.admin_order_field = self.default_order_field
        self._reorder_ = reorder

    @admin.display(description="Rule", ordering="name")
    def name_column(self, rule: Rule) -> str:
        if rule.is_catch_all:
            return format_html('{} <span class="rule-badge">catch-all · always last</span>',
                               rule.name)
        return rule.name

    @admin.display(description="Active", boolean=True, ordering="is_active")
    def active_column(self, rule: Rule) -> bool:
        return rule.is_active or rule.is_catch_all

    @admin.display(description="Takes")
    def criteria_column(self, rule: Rule) -> str:
        return criteria_text(rule, rule.criteria.all())

    @admin.display(description="When")
    def when_column(self, rule: Rule) -> str:
        return when_text(rule.windows.all())

    @admin.display(description="Roster", ordering="roster__name")
    def roster_column(self, rule: Rule) -> str:
        if getattr(rule, "has_receivers", True):
            return rule.roster.name
        why = ("The roster is empty." if not getattr(rule, "has_members", True) else
               "Every member is inactive, paused or set to 0 leads per round.")
        return format_html('{} <span class="rule-warning" title="{}">⚠ nobody can receive</span>',
                           rule.roster.name, why)

    @admin.display(description="Selection", ordering="selection")
    def selection_column(self, rule: Rule) -> str:
        return SHORT_SELECTION.get(rule.selection, rule.get_selection_display())

    @admin.display(description="Delivery", ordering="delivery")
    def delivery_column(self, rule: Rule) -> str:
        if rule.delivery == Rule.Delivery.CLAIM:
            return f"Claim ({rule.claim_timeout_minutes} min)"
        if rule.delivery == Rule.Delivery.FIRST_TO_CLAIM:
            return f"First to claim ({rule.claim_timeout_minutes} min)"
        return rule.get_delivery_display()

    @admin.display(description=f"Leads ({RECENT_DAYS} days)", ordering="leads_recent")
    def recent_column(self, rule: Rule) -> int:
        return getattr(rule, "leads_recent", 0)

    # --- The form ------------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Rule | None = None):
        first = ["name", "is_active"]
        if (obj is not None and obj.is_catch_all) or (
                obj is None and not Rule.objects.filter(is_catch_all=True).exists()):
            first.append("is_catch_all")
        fieldsets = [
            (None, {"fields": first}),
            ("Who receives the leads", {"fields": ["roster", "staffing", "selection",
                                                   "lender_roster"]}),
            ("How the lead reaches them", {"fields": ["delivery"]}),
            ("Claim settings", {
                "classes": ["claim-settings"],
                "fields": ["claim_timeout_minutes", "after_hours", "escalate_to"],
                "description": "The agent (or, for first to claim, every eligible agent) is "
                "offered the lead and must claim it in time; the clock runs only inside the "
                "brokerage's actionable window.",
            }),
            ("After it is routed", {"fields": ["first_contact_minutes", "add_tags"]}),
        ]
        if obj is not None:
            fieldsets.append(("What this rule would have taken",
                              {"fields": ["would_have_taken"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("is_catch_all")
        return fields

    @admin.display(description="Can receive")
    def staffing(self, rule: Rule) -> str:
        if not rule.roster_id:
            return "Pick a roster."
        problem = staffing_problem(rule)
        if problem:
            return format_html('<span class="rule-warning">⚠ nobody can receive</span> {}',
                               problem)
        members = list(RosterMember.objects.filter(roster_id=rule.roster_id)
                       .select_related("agent"))
        able = [m for m in members if admin_views.able_to_receive(m)]
        return f"{len(able)} of {len(members)} on roster '{rule.roster.name}'."

    @admin.display(description="Last 30 days")
    def would_have_taken(self, rule: Rule) -> str:
        if not rule.pk:
            return "—"
        reach = admin_views.would_have_taken(rule)
        if reach is None:
            return "—"
        condition = " (if it were active)" if reach.was_paused else ""
        return format_html(
            "<strong>{}</strong> of the {} leads received in the last {} days would go to this "
            "rule as the rules stand now{} (it is the first active rule they match). It "
            'actually took {}. <a href="{}">Test a lead</a>',
            reach.taken, reach.total, reach.days, condition, reach.actually,
            reverse("admin:routing_rule_test_lead"))

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and hasattr(field.widget, "can_delete_related"):
            field.widget.can_delete_related = False  # rosters and agents are deleted elsewhere
        return field

    def _create_formsets(self, request: HttpRequest, obj: Rule, change: bool):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        for formset in formsets:
            formset.siblings = formsets
        return formsets, inline_instances

    def save_model(self, request: HttpRequest, obj: Rule, form: forms.Form, change: bool) -> None:
        if obj.is_catch_all:
            obj.is_active = True
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.Form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        keep_catch_all_last()
        problem = staffing_problem(form.instance)
        if problem:
            self.message_user(request, f"⚠ Rule '{form.instance.name}': {problem} Leads it "
                              "matches go on to the rules below it.", messages.WARNING)

    # --- Order ---------------------------------------------------------------------------------

    def _update_order(self, updated_items, extra_model_filters) -> int:
        """sortable2's drop: save each moved rule (history, new config), catch-all last."""
        wanted = {int(pk): int(order) for pk, order in updated_items}
        with transaction.atomic():
            rules = Rule.objects.select_for_update().in_bulk(list(wanted))
            if set(rules) != set(wanted):
                raise ValueError("unknown rule")
            moved = 0
            for pk, order in wanted.items():
                rule = rules[pk]
                if order < 0:
                    raise ValueError("negative order")
                if rule.is_catch_all:
                    continue  # it stays last, whatever the drop said (see below)
                if rule.priority != order:
                    rule.priority = order
                    rule._change_reason = "Moved in the rule order"
                    rule.save(update_fields=["priority"])
                    moved += 1
            keep_catch_all_last()
        return moved

    def _bulk_move(self, request: HttpRequest, queryset, method: int) -> None:
        with transaction.atomic():
            super()._bulk_move(request, queryset, method)
            keep_catch_all_last()

    # --- Actions and deletion -----------------------------------------------------------------

    @admin.action(description="Activate selected rules", permissions=["change"])
    def activate_rules(self, request: HttpRequest, queryset) -> None:
        changed = 0
        for rule in queryset.filter(is_active=False):
            rule.is_active = True
            rule._history_user = request.user
            rule.save(update_fields=["is_active"])
            changed += 1
        self.message_user(request, f"Activated {changed} rule{'s' if changed != 1 else ''}.",
                          messages.SUCCESS)

    @admin.action(description="Pause selected rules", permissions=["change"])
    def pause_rules(self, request: HttpRequest, queryset) -> None:
        for rule in queryset.filter(is_catch_all=True):
            self.message_user(request, f"'{rule.name}' was not paused: {CATCH_ALL_ALWAYS_ACTIVE}",
                              messages.WARNING)
        changed = 0
        for rule in queryset.filter(is_active=True, is_catch_all=False):
            rule.is_active = False
            rule._history_user = request.user
            rule.save(update_fields=["is_active"])
            changed += 1
        self.message_user(request, f"Paused {changed} rule{'s' if changed != 1 else ''}.",
                          messages.SUCCESS)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (RuleAdmin.delete_selected_rules, name, description)
        return actions

    def delete_selected_rules(self, request: HttpRequest, queryset):
        """Django's delete-selected, skipping the catch-all with a message."""
        for rule in queryset.filter(is_catch_all=True):
            self.message_user(request, f"'{rule.name}' was not deleted: the catch-all rule "
                              "takes every lead that no other rule takes, so it cannot be "
                              "deleted.", messages.WARNING)
        others = queryset.exclude(is_catch_all=True)
        if not others.exists():
            return None
        return delete_selected(self, request, others)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.exclude(is_catch_all=True).values_list("pk", flat=True))
        for rule in Rule.objects.filter(pk__in=ids):
            rule._history_user = request.user
            rule.delete()

    def has_delete_permission(self, request: HttpRequest, obj: Rule | None = None) -> bool:
        if obj is not None and obj.is_catch_all:
            return False
        return super().has_delete_permission(request, obj)

    # --- Pages ---------------------------------------------------------------------------------

    def get_urls(self):
        def wrap(view):
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                return view(self, request, *args, **kwargs)
            return self.admin_site.admin_view(wrapper)

        return [
            path("test-lead/", wrap(admin_views.test_lead_view), name="routing_rule_test_lead"),
            path("changes/", wrap(admin_views.routing_changes_view),
                 name="routing_rule_changes"),
            *super().get_urls(),
        ]

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str,
                          extra_context: dict | None = None) -> HttpResponse:
        """A version of the rule, with "Restore this version" (criteria and windows too)."""
        return admin_views.restore_view(self, request, object_id, version_id)

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record):
        return admin_views.ReadableHistory(self.model, historical_record)

    def set_history_delta_changes(self, request: HttpRequest, historical_records,
                                  foreign_keys_are_objs: bool = True) -> None:
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        admin_views.annotate_versions(list(historical_records))


# --- Brokerage settings -----------------------------------------------------------------------


class WindowRowForm(forms.Form):
    days = days_field()
    start = time_field(label="From")
    end = time_field(label="Until")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        check_window(self)
        return data


WindowRowFormSet = forms.formset_factory(WindowRowForm, extra=1, can_delete=True)


def _zone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")
    return [("", f"Server default ({settings.TIME_ZONE})"), *((z, z) for z in zones)]


class BrokerageForm(forms.ModelForm):
    timezone = forms.ChoiceField(required=False, label="Time zone", choices=_zone_choices,
                                 help_text="Rule hours, shifts and the actionable window are "
                                 "read in it.")

    class Meta:
        model = Brokerage
        fields = ["name", "timezone", "listing_routing", "hide_contact_until_claimed"]
        labels = {"listing_routing": "Route listing inquiries to the listing agent",
                  "hide_contact_until_claimed": "Hide contact details until claimed"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows = [{"days": short_days(w.get("days")), "start": _time(w.get("start")),
                 "end": _time(w.get("end"))} for w in self.instance.actionable_window or ()]
        self.windows = WindowRowFormSet(self.data if self.is_bound else None, prefix="window",
                                        initial=rows)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.windows.is_valid():
            raise ValidationError("Check the rows of the actionable window below.")
        self.window_rows = [
            {"days": [d for d in DAY_NAMES if d in form.cleaned_data["days"]],
             "start": f"{form.cleaned_data['start']:%H:%M}",
             "end": f"{form.cleaned_data['end']:%H:%M}"}
            for form in self.windows.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        return data

    def save(self, commit: bool = True) -> Brokerage:
        self.instance.actionable_window = self.window_rows
        return super().save(commit)


def _time(value: Any) -> time | None:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        return None


@admin.register(Brokerage)
class BrokerageAdmin(admin.ModelAdmin):
    form = BrokerageForm
    fields = ["name", "timezone", "listing_routing", "hide_contact_until_claimed",
              "actionable_now"]
    readonly_fields = ["actionable_now"]
    change_form_template = "admin/routing/brokerage/change_form.html"

    class Media:
        css = {"all": ["routing/admin.css"]}

    @admin.display(description="Actionable window now")
    def actionable_now(self, brokerage: Brokerage) -> str:
        try:
            windows = actionable_windows(brokerage)
        except (KeyError, ValueError, TypeError):
            return "Not readable: set the rows again below."
        if not windows:
            return "Always (claim clocks never stop)"
        return "; ".join(window_text(sorted(DAY_NAMES[d] for d in w.days), w.start, w.end)
                         for w in windows)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not Brokerage.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Brokerage | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        brokerage = Brokerage.load()
        return HttpResponseRedirect(reverse("admin:routing_brokerage_change",
                                            args=[brokerage.pk]))


# --- Routing records --------------------------------------------------------------------------


@admin.register(RoutingRecord)
class RoutingRecordAdmin(admin.ModelAdmin):
    list_display = ("lead", "created_at", "outcome", "reason", "rule_name", "version", "agent")
    list_filter = ("outcome", "reason")
    readonly_fields = [f.name for f in RoutingRecord._meta.fields]

    @admin.display(description="Rule version", ordering="rule_version")
    def version(self, record: RoutingRecord) -> str:
        if not (record.rule_id and record.rule_version):
            return "—"
        url = reverse("admin:routing_rule_simple_history",
                      args=[record.rule_id, record.rule_version])
        return format_html('<a href="{}">#{}</a>', url, record.rule_version)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
