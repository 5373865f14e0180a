"""The lead's forms: an incoming lead (shared by file import, the REST API, web forms and the
admin's test lead) and an activity logged on it (the pages and the agent API)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from phonenumber_field.formfields import PhoneNumberField

from leads.models import Activity, Lead

TEXT_FIELDS = (
    "first_name", "last_name", "source", "city", "county", "neighborhood", "zip_code",
    "mls_region", "property_type", "site", "listing_ref", "message", "external_id",
)
AGENT_FIELDS = ("assigned_to", "tracking_agent", "listing_agent")
KNOWN_FIELDS = (*TEXT_FIELDS, "email", "phone", "tags", "lead_type", "price", "score",
                *AGENT_FIELDS)


class TagsField(forms.Field):
    """A list of tags, or one string of tags separated by commas, semicolons or bars."""

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            for sep in ";|":
                value = value.replace(sep, ",")
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str | int | float) for v in value
        ):
            raise ValidationError("Enter a list of tags or a comma-separated string.")
        return list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


class LeadTypeField(forms.CharField):
    def to_python(self, value: Any) -> str:
        value = (super().to_python(value) or "").strip().lower()
        if value and value not in Lead.LeadType.values:
            raise ValidationError(
                f"Unknown lead type '{value}': use {' or '.join(Lead.LeadType.values)}."
            )
        return value


class LeadForm(forms.Form):
    """One lead's fields; ``known_agent_emails`` checks the special-routing agent fields."""

    first_name = forms.CharField(required=False, max_length=100)
    last_name = forms.CharField(required=False, max_length=100)
    email = forms.EmailField(required=False)
    phone = PhoneNumberField(required=False)
    source = forms.CharField(required=False, max_length=100)
    tags = TagsField(required=False)
    lead_type = LeadTypeField(required=False)
    price = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2)
    city = forms.CharField(required=False, max_length=100)
    county = forms.CharField(required=False, max_length=100)
    neighborhood = forms.CharField(required=False, max_length=100)
    zip_code = forms.CharField(required=False, max_length=20)
    mls_region = forms.CharField(required=False, max_length=100)
    property_type = forms.CharField(required=False, max_length=100)
    site = forms.CharField(required=False, max_length=200)
    listing_ref = forms.CharField(required=False, max_length=100)
    message = forms.CharField(required=False, max_length=10000)
    score = forms.IntegerField(required=False)
    external_id = forms.CharField(required=False, max_length=200)
    assigned_to = forms.EmailField(required=False)
    tracking_agent = forms.EmailField(required=False)
    listing_agent = forms.EmailField(required=False)

    def __init__(self, data: dict[str, Any], *, known_agent_emails: set[str] | frozenset[str]):
        super().__init__(data={k: _plain(v) for k, v in data.items()})
        self.known_agent_emails = known_agent_emails

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in AGENT_FIELDS:
            email = (data.get(name) or "").strip().lower()
            data[name] = email
            if email and email not in self.known_agent_emails:
                self.add_error(name, f"No agent with email {email}.")
        contact = ("first_name", "last_name", "email", "phone")
        if not any(data.get(f) or str(self.data.get(f) or "").strip() for f in contact):
            raise ValidationError("Give at least a name, an email or a phone number.",
                                  code="no_contact")
        return data

    def error_map(self) -> dict[str, str]:
        """Every field's errors as one message each; lead-wide errors under ``contact``."""
        return {
            ("contact" if field == "__all__" else field): " ".join(messages)
            for field, messages in self.errors.items()
        }


def _plain(value: Any) -> Any:
    """JSON numbers and booleans as the strings a form expects; lists as they are."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if value is None:
        return ""
    return value


class ActivityForm(forms.Form):
    KINDS = [(k, Activity.Kind(k).label) for k in (*Lead.CONTACT_KINDS, Activity.Kind.NOTE)]

    kind = forms.ChoiceField(choices=KINDS, initial="call", widget=forms.RadioSelect)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                           max_length=5000, label="Notes")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == Activity.Kind.NOTE and not cleaned.get("body", "").strip():
            self.add_error("body", "Write the note.")
        return cleaned
