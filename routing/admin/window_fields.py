"""Day-and-time rows as the admin edits them: rule windows and the brokerage's actionable window."""

from __future__ import annotations

from typing import Any

from django import forms

from routing.rules_validation import window_is_empty
from routing.windows import DAY_NAMES

DAY_CHOICES = [(day, day.title()) for day in DAY_NAMES]


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
    if window_is_empty(start, end):
        form.add_error("end", "The end is the same time as the start, so the window would be "
                       "empty. (An end before the start runs past midnight.)")

