"""The lead's forms: an incoming lead (shared by file import, the REST API, web forms and the
admin's test lead) and an activity logged on it (the pages and the agent API)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from phonenumber_field.formfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

from leads.models import Activity, Lead

TEXT_FIELDS = (
    "first_name", "last_name", "source", "city", "county", "neighborhood", "zip_code",
    "mls_region", "property_type", "site", "listing_ref", "message", "external_id",
)
AGENT_FIELDS = ("assigned_to", "tracking_agent", "listing_agent")
KNOWN_FIELDS = (*TEXT_FIELDS, "email", "phone", "tags", "lead_type", "price", "score",
                *AGENT_FIELDS, "consent")
NUMBER_FIELDS = ("price", "score")
SCORE_RANGE = (0, 100)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return "true or false"


def external_id_text(value: Any) -> str | None:
    """The external id as text (``1``, ``1.0`` and ``"1"`` are one id), or None when it is
    no id: an object, a list, a boolean or a fractional number. The one reading of the id,
    for the lead and for exactly-once alike."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def type_error(name: str, value: Any) -> str:
    """Why this JSON value cannot be this field ("" when its type fits): text fields take
    text (numbers as their digits), numbers take numbers or numeric text, so that no object
    or list is ever stored as its Python repr."""
    if name == "external_id":
        if external_id_text(value) is None:
            shown = _kind(value) if isinstance(value, dict | list | tuple | bool) else value
            return f"Expected a string or a whole number, not {shown}."
        return ""
    if name == "consent":
        ok = isinstance(value, bool | str | int)
        return "" if ok else f"Expected true or false, not {_kind(value)}."
    if name == "tags" or not isinstance(value, dict | list | tuple | bool):
        return ""
    if name in NUMBER_FIELDS:
        return f"Expected a number, not {_kind(value)}."
    return f"Expected text, not {_kind(value)}."


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


class CheckedPhoneNumber(PhoneNumber):
    """A phone number that checks its validity once for its digits: the form's two
    validators, the lead's field and its insert each ask (a lead's four checks cost 60 µs)."""

    def is_valid(self) -> bool:
        # What ``phonenumbers.is_valid_number`` reads: checked again if any of it changes.
        digits = (self.country_code, self.italian_leading_zero, self.number_of_leading_zeros,
                  self.national_number)
        checked = self.__dict__.get("_checked")
        if checked is None or checked[0] != digits:
            checked = self._checked = (digits, super().is_valid())
        return checked[1]


class PhoneField(PhoneNumberField):
    """The phone as ``PhoneNumberField`` reads it, a ``CheckedPhoneNumber``."""

    def to_python(self, value: Any) -> Any:
        number = super().to_python(value)
        if type(number) is not PhoneNumber:
            return number
        checked = CheckedPhoneNumber()
        checked.merge_from(number)
        return checked


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
    phone = PhoneField(required=False)
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
    consent = forms.BooleanField(required=False)

    def __init__(self, data: dict[str, Any], *, known_agent_emails: set[str] | frozenset[str]):
        self.type_errors = {k: p for k, v in data.items() if k in KNOWN_FIELDS
                            if (p := type_error(k, v))}
        plain = {k: _plain(v) for k, v in data.items() if k not in self.type_errors}
        if "external_id" in plain:
            plain["external_id"] = external_id_text(data["external_id"])
        super().__init__(data=plain)
        self.known_agent_emails = known_agent_emails

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, problem in self.type_errors.items():
            self.add_error(name, problem)
        score = data.get("score")
        if score is not None and not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
            self.add_error("score",
                           f"Ensure this value is between {SCORE_RANGE[0]} and {SCORE_RANGE[1]}.")
        for name in AGENT_FIELDS:
            email = (data.get(name) or "").strip().lower()
            data[name] = email
            if email and email not in self.known_agent_emails:
                self.add_error(name, f"No agent with email {email}.")
        contact = ("first_name", "last_name", "email", "phone")
        given = any(data.get(f) or str(self.data.get(f) or "").strip() for f in contact)
        if not given and not self.type_errors.keys() & set(contact):
            raise ValidationError("Give at least a name, an email or a phone number.",
                                  code="no_contact")
        return data

    def error_map(self) -> dict[str, str]:
        """Every field's errors as one message each; lead-wide errors under ``contact``."""
        return {
            ("contact" if field == "__all__" else field): " ".join(messages)
            for field, messages in self.errors.items()
        }


class _SharedFields(dict):
    """A form's fields that every instance shares instead of deep-copying them: every lead
    received is validated by a new ``LeadForm``, and copying its 23 fields cost about as much
    CPU as validating them. Safe as long as nothing changes a field per form (nothing
    does: ``clean`` reads them only)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedFields:
        return self


LeadForm.base_fields = _SharedFields(LeadForm.base_fields)


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


class _LocalDateTimeInput(forms.DateTimeInput):
    """A phone's date-and-time picker; the value is read in the brokerage's time zone (the
    page's active zone)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class FollowUpForm(forms.Form):
    """The next follow-up: a quick pick (its button's ``pick``) or a date and time, and a note."""

    pick = forms.CharField(required=False, widget=forms.HiddenInput)
    at = forms.DateTimeField(required=False, label="Or pick a date and time",
                             widget=_LocalDateTimeInput(),
                             input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
                                            "%Y-%m-%dT%H:%M:%S"])
    note = forms.CharField(required=False, max_length=200, label="Note (what to talk about)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "follow-up-%s")  # beside other forms on the lead's page
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("pick") and not cleaned.get("at") and "at" not in self.errors:
            self.add_error("at", "Pick a quick time or a date and time.")
        return cleaned


class AppointmentForm(forms.Form):
    MINUTES = [(15, "15 min"), (30, "30 min"), (45, "45 min"), (60, "1 hour"),
               (90, "1 h 30 min"), (120, "2 hours"), (180, "3 hours")]

    starts_at = forms.DateTimeField(label="When", widget=_LocalDateTimeInput(),
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
                                                   "%Y-%m-%dT%H:%M:%S"])
    minutes = forms.TypedChoiceField(label="How long", choices=MINUTES, coerce=int, initial=60)
    location = forms.CharField(label="Where", max_length=200, required=False)
    with_whom = forms.CharField(label="With whom", max_length=200, required=False)
    note = forms.CharField(label="Note", required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "appointment-%s")
        super().__init__(*args, **kwargs)
