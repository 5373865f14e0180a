""""Preview changes": the back-test in the admin, for an unsaved rule and for a routing file.

- On the rule form, the button posts the form as it stands (rule, criteria and hours) here:
  the form and its rows are checked as saving would check them, today's configuration gets
  this rule in place of its stored version (or added, for a new rule), and the page comes
  back as it was sent, with the back-test on top. Nothing is saved.
- "Import a routing file": today's file can be downloaded; a file is uploaded, checked (the
  import's own errors, with their places), previewed over the period, and applied only when
  the manager says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.forms.formsets import all_valid
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from routing.admin.rule_forms import RuleCriterionFormSet, RuleWindowFormSet, kept_forms
from routing.backtest import (
    DEFAULT_DAYS,
    NEW_RULE_ID,
    PERIOD_CHOICES,
    Backtest,
    backtest,
    last_days,
    with_rule,
)
from routing.config_file import (
    RoutingFileError,
    apply_routing_file,
    export_routing,
    file_as_config,
    load_routing_file,
)
from routing.engine import RoutingConfig
from routing.models import Rule
from routing.selectors import routing_config, rule_info
from routing.windows import WeeklyWindow, parse_days

MAX_FILE_BYTES = 1_000_000
#: Applying a file adds, changes and removes rules, and deactivates agents it leaves out.
APPLY_PERMISSIONS = ("routing.add_rule", "routing.change_rule", "routing.delete_rule",
                     "agents.change_agent")


def period_days(data: Any) -> int:
    """The period the manager chose (7, 30 or 90 days); anything else is the default."""
    try:
        days = int(data.get("backtest_days", DEFAULT_DAYS))
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if days in PERIOD_CHOICES else DEFAULT_DAYS


def run(proposed: RoutingConfig, today: RoutingConfig, days: int) -> Backtest:
    since, until = last_days(days, now=timezone.now())
    return backtest(proposed, since=since, until=until, today=today)


def period_context(days: int, result: Backtest | None = None) -> dict[str, Any]:
    return {"backtest": result, "backtest_days": days, "period_choices": PERIOD_CHOICES,
            "backtest_chart": result.chart() if result else None}


# --- The rule form ----------------------------------------------------------------------------


def proposed_rule(rule: Rule, formsets: list[forms.BaseFormSet]) -> Any:
    """The unsaved rule with its kept criteria and hours, as the engine reads a stored one."""
    criteria = [f.instance for fs in formsets if isinstance(fs, RuleCriterionFormSet)
                for f in kept_forms(fs)]
    windows = [WeeklyWindow(parse_days(f.instance.days), f.instance.start, f.instance.end)
               for fs in formsets if isinstance(fs, RuleWindowFormSet) for f in kept_forms(fs)]
    return replace(rule_info(rule, criteria, windows), id=rule.pk or NEW_RULE_ID)


def rule_preview_view(model_admin: Any, request: HttpRequest,
                      object_id: str | None = None) -> HttpResponse:
    """The rule form as posted, with what it would have done over the period; saves nothing."""
    add = object_id is None
    form_url = (reverse("admin:routing_rule_add") if add
                else reverse("admin:routing_rule_change", args=[object_id]))
    if request.method != "POST":
        return HttpResponseRedirect(form_url)
    obj = None
    if add:
        if not model_admin.has_add_permission(request):
            raise PermissionDenied
    else:
        obj = model_admin.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such rule.")
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied
    fieldsets = model_admin.get_fieldsets(request, obj)
    form_class = model_admin.get_form(request, obj, change=not add,
                                      fields=flatten_fieldsets(fieldsets))
    form = form_class(request.POST, request.FILES, instance=obj)
    formsets, inline_instances = model_admin._create_formsets(request, form.instance,
                                                             change=not add)
    valid = form.is_valid()
    valid = all_valid(formsets) and valid
    days = period_days(request.POST)
    result = None
    if valid:
        today = routing_config()
        result = run(with_rule(today, proposed_rule(form.instance, formsets)), today, days)

    admin_form = helpers.AdminForm(form, list(fieldsets),
                                   model_admin.get_prepopulated_fields(request, obj),
                                   model_admin.get_readonly_fields(request, obj),
                                   model_admin=model_admin)
    media = model_admin.media + admin_form.media
    inline_formsets = model_admin.get_inline_formsets(request, formsets, inline_instances, obj)
    for inline_formset in inline_formsets:
        media += inline_formset.media
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{'Add' if add else 'Change'} {opts.verbose_name}",
        "subtitle": str(obj) if obj else None,
        "adminform": admin_form,
        "object_id": object_id,
        "original": obj,
        "is_popup": False,
        "to_field": None,
        "media": media,
        "inline_admin_formsets": inline_formsets,
        "errors": helpers.AdminErrorList(form, formsets),
        "preserved_filters": model_admin.get_preserved_filters(request),
        "backtest_invalid": not valid,
        **period_context(days, result),
    }
    return model_admin.render_change_form(request, context, add=add, change=not add, obj=obj,
                                          form_url=form_url)


def preview_url(obj: Rule | None) -> str:
    """Where the rule form's "Preview changes" button posts."""
    if obj is None or obj.pk is None:
        return reverse("admin:routing_rule_preview_new")
    return reverse("admin:routing_rule_preview", args=[obj.pk])


# --- A routing file ---------------------------------------------------------------------------


class RoutingFileForm(forms.Form):
    """An uploaded routing file, or the text of one already previewed (to apply it)."""

    file = forms.FileField(required=False, label="Routing file (YAML)",
                           widget=forms.ClearableFileInput(attrs={"accept": ".yaml,.yml"}),
                           help_text="A .yaml file in the routing-file format. Nothing changes "
                           "until you apply it.")
    text = forms.CharField(required=False, widget=forms.HiddenInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload:
            if upload.size > MAX_FILE_BYTES:
                raise forms.ValidationError("This file is too large for a routing file "
                                            "(at most 1 MB).")
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError("This file is not text (UTF-8): is it the routing "
                                            "file?") from exc
        if not data.get("text"):
            raise forms.ValidationError("Choose a routing file.")
        try:
            data["routing_file"] = load_routing_file(data["text"])
        except RoutingFileError as exc:
            raise forms.ValidationError([forms.ValidationError(e) for e in exc.errors]) from exc
        return data


def export_file_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """Today's routing file, to download, change and upload again."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    response = HttpResponse(export_routing(), content_type="application/x-yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="routing.yaml"'
    return response


def import_file_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """Upload a routing file, preview what it would change, then apply it."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    may_apply = request.user.has_perms(APPLY_PERMISSIONS)
    days = period_days(request.POST if request.method == "POST" else request.GET)
    result = None
    if request.method == "POST":
        form = RoutingFileForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data["routing_file"]
            if "_apply" in request.POST:
                if not may_apply:
                    raise PermissionDenied
                summary = apply_routing_file(data)
                messages.success(request, f"The routing file was applied: {summary}.")
                return HttpResponseRedirect(reverse("admin:routing_rule_changelist"))
            today = routing_config()
            result = run(file_as_config(data, today), today, days)
            form = RoutingFileForm(initial={"text": form.cleaned_data["text"]})
    else:
        form = RoutingFileForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import a routing file",
        "form": form,
        "may_apply": may_apply,
        "previewed_text": form.initial.get("text", ""),
        **period_context(days, result),
    }
    return TemplateResponse(request, "admin/routing/rule/import_file.html", context)
