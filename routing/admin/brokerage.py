"""The brokerage settings in the admin: one row (name, time zone, actionable window)."""

from __future__ import annotations

import zoneinfo
from datetime import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from routing.admin.window_fields import check_window, days_field, short_days, time_field
from routing.describe import weekly_windows_text
from routing.models import Brokerage
from routing.selectors import actionable_windows
from routing.windows import DAY_NAMES


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
        fields = ["name", "timezone", "listing_routing", "hide_contact_until_claimed",
                  "gradual_return_leads"]
        labels = {"listing_routing": "Route listing inquiries to the listing agent",
                  "hide_contact_until_claimed": "Hide contact details until claimed",
                  "gradual_return_leads": "Gradual return: leads on the first day back"}

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
              "gradual_return_leads", "actionable_now"]
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
        return weekly_windows_text(windows)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not Brokerage.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Brokerage | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        brokerage = Brokerage.load()
        return HttpResponseRedirect(reverse("admin:routing_brokerage_change",
                                            args=[brokerage.pk]))

