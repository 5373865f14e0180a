"""The admin as the managers' rule editor.

Rules are dragged into priority order (the catch-all always stays last), edited with their
criteria and day-and-time windows as rows checked in plain words (``rule_forms``), tested with
any lead without changing anything (``dry_run``), previewed over past leads before saving
(``backtest_views``: the rule form's "Preview changes" and "Import a routing file"), and every
change is kept: a rule can go back to any earlier version, criteria and windows included
(``history``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from agents.models import RosterMember
from routing.admin import backtest_views, changes, dry_run, history
from routing.admin.rule_forms import (
    CATCH_ALL_ALWAYS_ACTIVE,
    RuleAdminForm,
    RuleCriterionForm,
    RuleCriterionFormSet,
    RuleWindowForm,
    RuleWindowFormSet,
)
from routing.describe import (
    able_to_receive,
    criteria_text,
    delivery_text,
    receivers_filter,
    selection_text,
    staffing_problem,
    when_text,
)
from routing.models import RoutingRecord, Rule, RuleCriterion, RuleWindow

RECENT_DAYS = 7


class RuleCriterionInline(admin.TabularInline):
    model = RuleCriterion
    form = RuleCriterionForm
    formset = RuleCriterionFormSet
    verbose_name = "criterion"
    verbose_name_plural = "Criteria"

    def get_extra(self, request: HttpRequest, obj: Rule | None = None, **kwargs: Any) -> int:
        return 0 if obj is not None else 1


class RuleWindowInline(admin.TabularInline):
    model = RuleWindow
    form = RuleWindowForm
    formset = RuleWindowFormSet
    extra = 0
    verbose_name = "day-and-time window"
    verbose_name_plural = "Days and times"


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


def _set_active(rules, active: bool, request: HttpRequest) -> int:
    """Switch these rules on or off one by one (each change kept in their history)."""
    changed = 0
    for rule in rules:
        rule.is_active = active
        rule._history_user = request.user
        rule.save(update_fields=["is_active"])
        changed += 1
    return changed


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
        return selection_text(rule)

    @admin.display(description="Delivery", ordering="delivery")
    def delivery_column(self, rule: Rule) -> str:
        return delivery_text(rule)

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
                "fields": ["claim_timeout_minutes", "call_timeout_seconds", "after_hours",
                           "escalate_to"],
                "description": "The agent (or, for first to claim, every eligible agent) is "
                "offered the lead and must claim it in time; the clock runs only inside the "
                "brokerage's actionable window. An instant call phones one agent at a time "
                "(press 1 to accept) for the seconds to answer, then the next.",
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
        able = [m for m in members if able_to_receive(m)]
        return f"{len(able)} of {len(members)} on roster '{rule.roster.name}'."

    @admin.display(description="Last 30 days")
    def would_have_taken(self, rule: Rule) -> str:
        if not rule.pk:
            return "—"
        reach = dry_run.would_have_taken(rule)
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
        changed = _set_active(queryset.filter(is_active=False), True, request)
        self.message_user(request, f"Activated {changed} rule{'s' if changed != 1 else ''}.",
                          messages.SUCCESS)

    @admin.action(description="Pause selected rules", permissions=["change"])
    def pause_rules(self, request: HttpRequest, queryset) -> None:
        for rule in queryset.filter(is_catch_all=True):
            self.message_user(request, f"'{rule.name}' was not paused: {CATCH_ALL_ALWAYS_ACTIVE}",
                              messages.WARNING)
        changed = _set_active(queryset.filter(is_active=True, is_catch_all=False), False, request)
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
            path("test-lead/", wrap(dry_run.test_lead_view), name="routing_rule_test_lead"),
            path("changes/", wrap(changes.routing_changes_view),
                 name="routing_rule_changes"),
            path("import/", wrap(backtest_views.import_file_view), name="routing_rule_import"),
            path("export/", wrap(backtest_views.export_file_view), name="routing_rule_export"),
            path("add/preview/", wrap(backtest_views.rule_preview_view),
                 name="routing_rule_preview_new"),
            path("<path:object_id>/preview/", wrap(backtest_views.rule_preview_view),
                 name="routing_rule_preview"),
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False,
                           change: bool = False, form_url: str = "", obj: Rule | None = None):
        """The form's "Preview changes" (``backtest_views``) posts the unsaved form."""
        context.setdefault("preview_url", backtest_views.preview_url(obj))
        for key, value in backtest_views.period_context(
                backtest_views.period_days(request.POST)).items():
            context.setdefault(key, value)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str,
                          extra_context: dict | None = None) -> HttpResponse:
        """A version of the rule, with "Restore this version" (criteria and windows too)."""
        return history.restore_view(self, request, object_id, version_id)

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record):
        return history.ReadableHistory(self.model, historical_record)

    def set_history_delta_changes(self, request: HttpRequest, historical_records,
                                  foreign_keys_are_objs: bool = True) -> None:
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        history.annotate_versions(list(historical_records))

