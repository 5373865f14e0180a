"""The rule editor's forms: the rule, its criteria rows and its day-and-time rows.

The checks are ``routing.rules_validation``'s (the routing file uses the same ones); the words
here are the admin's, for a manager.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from agents.models import Agent
from routing.admin.window_fields import check_window, days_field, short_days, time_field
from routing.describe import money
from routing.engine import FIELD_LABELS, NUMBER_FIELDS
from routing.models import Rule, RuleCriterion, RuleWindow
from routing.rules_validation import (
    CLAIM_DELIVERIES,
    NumberProblem,
    RuleProblem,
    call_seconds_problem,
    claim_minutes_missing,
    criterion_number_problem,
    first_contact_minutes_zero,
    is_lead_type,
    needs_claim_settings,
    plain_number,
    price_range_is_empty,
    rule_shape_problems,
)
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
CLAIM_FIELDS = ("claim_timeout_minutes", "after_hours", "escalate_to", "call_timeout_seconds")


def parse_number(text: str) -> Decimal | None:
    """A number as a manager types it: ``1,000,000``, ``$850000``, ``1.5``; None if not one."""
    cleaned = (text or "").strip().replace(",", "").replace("$", "").replace(" ", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


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
            problem = criterion_number_problem(name, number)
            if problem is NumberProblem.NOT_A_NUMBER:
                self.add_error("value", f"{label} needs a number, e.g. 1000000 (you wrote "
                               f"'{value}').")
            elif problem is NumberProblem.NEGATIVE:
                self.add_error("value", f"{label} cannot be below 0.")
            elif problem is NumberProblem.NOT_WHOLE:
                self.add_error("value", "A score is a whole number, e.g. 80.")
            elif problem is NumberProblem.TOO_LARGE:
                self.add_error("value", f"{label} is too large.")
            else:  # the editor has always kept more than two decimals as typed
                data["value"] = plain_number(number)
        elif name == "lead_type":
            if not is_lead_type(value):
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
            if RuleProblem.CATCH_ALL_HAS_CRITERIA in rule_shape_problems(
                    catch_all=True, has_criteria=bool(rows)):
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
        if price_range_is_empty(low, high):
            raise ValidationError(
                f"'Price at least' ({money(low)}) is above 'Price at most' ({money(high)}): "
                "no lead could match. Swap them, or fix one.")
        if rows:
            return
        windows = [fs for fs in self.siblings if isinstance(fs, RuleWindowFormSet)]
        has_windows = any(kept_forms(fs) for fs in windows)
        if RuleProblem.TAKES_EVERY_LEAD in rule_shape_problems(
                catch_all=False, has_criteria=False, has_windows=has_windows):
            raise ValidationError(NEEDS_CRITERIA)


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
        if self.instance.is_catch_all and RuleProblem.CATCH_ALL_HAS_WINDOWS in rule_shape_problems(
                catch_all=True, has_windows=bool(kept_forms(self))):
            raise ValidationError(CATCH_ALL_NO_WINDOWS)


# --- The rule ---------------------------------------------------------------------------------


class RuleAdminForm(forms.ModelForm):
    add_tags = forms.CharField(
        required=False, label="Tags to add",
        help_text="Comma-separated; added to every lead this rule takes, e.g. luxury, zillow.",
    )

    class Meta:
        model = Rule
        fields = ["name", "is_active", "is_catch_all", "roster", "selection", "lender_roster",
                  "delivery", "claim_timeout_minutes", "call_timeout_seconds", "after_hours",
                  "escalate_to", "first_contact_minutes", "add_tags"]
        labels = {
            "is_active": "Active",
            "roster": "Roster",
            "selection": "Who on the roster gets it",
            "delivery": "How it reaches them",
            "lender_roster": "Lender roster",
            "claim_timeout_minutes": "Minutes to claim",
            "call_timeout_seconds": "Instant call: seconds to answer",
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
        if "call_timeout_seconds" in self.fields:
            self.fields["call_timeout_seconds"].required = False
        if "escalate_to" in self.fields:
            self.fields["escalate_to"].queryset = Agent.objects.filter(is_active=True)
        if "delivery" in self.fields:
            # The page shows the claim settings for these (static/routing/rule_form.js).
            self.fields["delivery"].widget.attrs["data-claim-deliveries"] = " ".join(
                delivery.value for delivery in CLAIM_DELIVERIES)

    def clean_add_tags(self) -> list[str]:
        text = self.cleaned_data.get("add_tags") or ""
        tags = [t.strip() for t in re.split(r"[,;|]", text) if t.strip()]
        return list(dict.fromkeys(tags))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        catch_all = bool(self.instance.is_catch_all or data.get("is_catch_all"))
        if "is_active" in self.fields and RuleProblem.CATCH_ALL_PAUSED in rule_shape_problems(
                catch_all=catch_all, active=bool(data.get("is_active"))):
            self.add_error("is_active", CATCH_ALL_ALWAYS_ACTIVE)
        delivery = data.get("delivery")
        if delivery == Rule.Delivery.ASSIGN:
            # The claim settings are hidden and do not apply: keep what was there.
            for name in CLAIM_FIELDS:
                if name in self.fields:
                    self._errors.pop(name, None)
                    data[name] = getattr(self.instance, name)
        elif needs_claim_settings(delivery):
            minutes = data.get("claim_timeout_minutes")
            if "claim_timeout_minutes" in self.fields and claim_minutes_missing(minutes):
                self.add_error("claim_timeout_minutes", "Give the minutes an agent has to claim "
                               "the lead: at least 1.")
            if "after_hours" in self.fields and not data.get("after_hours"):
                data["after_hours"] = Rule.AfterHours.OFFER
        if "call_timeout_seconds" in self.fields:
            seconds = data.get("call_timeout_seconds")
            if delivery != Rule.Delivery.INSTANT_CALL:
                self._errors.pop("call_timeout_seconds", None)  # hidden for other deliveries
                data["call_timeout_seconds"] = self.instance.call_timeout_seconds
            elif seconds is None:
                self.add_error("call_timeout_seconds", "Give the seconds an agent has to answer "
                               "the call.")
            elif problem := call_seconds_problem(seconds):
                self.add_error("call_timeout_seconds", f"The seconds to answer {problem}.")
        if first_contact_minutes_zero(data.get("first_contact_minutes")):
            self.add_error("first_contact_minutes", "Leave it empty for no first-contact "
                           "deadline, or give at least 1 minute.")
        return data

