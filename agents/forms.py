"""The agent's own forms: time off and the away calendar on the availability page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import URLValidator

from leads.forms import _LocalDateTimeInput as LocalDateTimeInput

INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class TimeOffForm(forms.Form):
    """From, until (the phone's date-and-time pickers, brokerage time) and a note; whether the
    time off may be set is the service's to say (``agents.time_off.add_time_off``)."""

    starts_at = forms.DateTimeField(label="From", widget=LocalDateTimeInput(),
                                    input_formats=INPUT_FORMATS)
    ends_at = forms.DateTimeField(label="Until", widget=LocalDateTimeInput(),
                                  input_formats=INPUT_FORMATS)
    note = forms.CharField(label="Note (optional)", max_length=200, required=False,
                           widget=forms.TextInput(attrs={"placeholder": "e.g. vacation"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "time-off-%s")
        super().__init__(*args, **kwargs)


class AwayCalendarForm(forms.Form):
    url = forms.CharField(
        label="Away calendar (ICS address)", required=False, max_length=1000,
        validators=[URLValidator(schemes=["http", "https", "webcal"])],
        widget=forms.URLInput(attrs={"placeholder": "webcal://... or https://....ics"}),
        help_text="Its out-of-office and all-day busy events mark you away. Empty: none.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "away-calendar-%s")
        super().__init__(*args, **kwargs)
