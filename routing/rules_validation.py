"""One set of checks for a routing rule, shared by the admin's rule form and the routing file.

Both fronts accept the same rules: the catch-all takes every lead (always active, no criteria,
no hours), any other rule needs a criterion or a window, number criteria are bounded, a window
is never empty and claim deliveries need minutes to claim. Each front words a problem for its
own reader (a manager in the admin, a place in the YAML file), so the checks here say *what*
is wrong and leave the message to the caller.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from enum import Enum

from leads.models import Lead
from routing.engine import NUMBER_FIELDS, TEXT_FIELDS
from routing.models import HandoffTarget, Rule

CRITERIA_FIELDS = TEXT_FIELDS + NUMBER_FIELDS  # the order criteria are stored and shown in
WHOLE_NUMBER_FIELDS = frozenset({"score_min"})
LEAD_TYPES = tuple(Lead.LeadType.values)
MAX_CRITERION_NUMBER = 10**12  # exclusive: at most 12 digits before the point
MAX_CRITERION_DECIMALS = 2
CLAIM_DELIVERIES = (Rule.Delivery.CLAIM, Rule.Delivery.FIRST_TO_CLAIM, Rule.Delivery.INSTANT_CALL)
#: What a hand-off target may use: instant calls are a rule's delivery only.
HANDOFF_DELIVERIES = tuple(d for d in Rule.Delivery.values if d != Rule.Delivery.INSTANT_CALL)
DEFAULT_CALL_SECONDS: int = Rule._meta.get_field("call_timeout_seconds").default
#: An instant call rings at least this long (a shorter ring rarely reaches a pocket) and at
#: most as long as the voice provider lets a call ring (Twilio: 600 s).
MIN_CALL_SECONDS, MAX_CALL_SECONDS = 10, 600
DEFAULT_CLAIM_MINUTES: int = Rule._meta.get_field("claim_timeout_minutes").default
DEFAULT_HANDOFF_CONTACT_MINUTES: int = (
    HandoffTarget._meta.get_field("first_contact_minutes").default
)


class RuleProblem(Enum):
    """What is wrong with a rule's shape (its catch-all flag against its rows)."""

    CATCH_ALL_PAUSED = "catch_all_paused"
    CATCH_ALL_HAS_CRITERIA = "catch_all_has_criteria"
    CATCH_ALL_HAS_WINDOWS = "catch_all_has_windows"
    TAKES_EVERY_LEAD = "takes_every_lead"  # not the catch-all, yet neither criteria nor hours


class NumberProblem(Enum):
    """What is wrong with the number of a price or score criterion."""

    NOT_A_NUMBER = "not_a_number"
    NEGATIVE = "negative"
    NOT_WHOLE = "not_whole"
    TOO_LARGE = "too_large"
    TOO_PRECISE = "too_precise"


def rule_shape_problems(*, catch_all: bool, active: bool | None = None,
                        has_criteria: bool | None = None,
                        has_windows: bool | None = None) -> list[RuleProblem]:
    """The catch-all takes every lead at all hours; no other rule may.

    Each front knows part of the rule at a time (the admin checks the rule, its criteria and
    its windows in separate forms): what is not given (None) is not checked.
    """
    problems = []
    if catch_all:
        if active is False:
            problems.append(RuleProblem.CATCH_ALL_PAUSED)
        if has_criteria:
            problems.append(RuleProblem.CATCH_ALL_HAS_CRITERIA)
        if has_windows:
            problems.append(RuleProblem.CATCH_ALL_HAS_WINDOWS)
    elif has_criteria is False and has_windows is False:
        problems.append(RuleProblem.TAKES_EVERY_LEAD)
    return problems


def criterion_number_problem(field: str, number: Decimal | None) -> NumberProblem | None:
    """Why ``number`` cannot be the value of the number criterion ``field`` (None: it can).

    The first problem found, in this order: not a (finite) number, below 0, a fraction where
    a whole number is needed (scores), too large, more than two decimals.
    """
    if number is None or not number.is_finite():
        return NumberProblem.NOT_A_NUMBER
    if number < 0:
        return NumberProblem.NEGATIVE
    if field in WHOLE_NUMBER_FIELDS and number != number.to_integral_value():
        return NumberProblem.NOT_WHOLE
    if number >= MAX_CRITERION_NUMBER:
        return NumberProblem.TOO_LARGE
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_CRITERION_DECIMALS:
        return NumberProblem.TOO_PRECISE
    return None


def price_range_is_empty(low: Decimal | None, high: Decimal | None) -> bool:
    """A minimum price above the maximum: no lead could match."""
    return low is not None and high is not None and low > high


def is_lead_type(value: str) -> bool:
    return value.lower() in LEAD_TYPES


def window_is_empty(start: time | None, end: time | None) -> bool:
    """Same start and end (an end before the start runs past midnight, which is fine)."""
    return start is not None and start == end


def needs_claim_settings(delivery: str | None) -> bool:
    """Claim deliveries offer the lead for a time; auto-assign has no claim settings."""
    return delivery in CLAIM_DELIVERIES


def call_seconds_problem(seconds: int | None) -> str | None:
    """What is wrong with an instant call's seconds to answer (None: fine or not given)."""
    if seconds is None:
        return None
    if not MIN_CALL_SECONDS <= seconds <= MAX_CALL_SECONDS:
        return f"must be between {MIN_CALL_SECONDS} and {MAX_CALL_SECONDS} seconds"
    return None


def claim_minutes_missing(minutes: int | None) -> bool:
    """An agent needs at least one minute to claim an offer."""
    return not minutes


def first_contact_minutes_zero(minutes: int | None) -> bool:
    """A first-contact deadline of 0 minutes (none at all is written as empty)."""
    return minutes == 0


def plain_number(value: Decimal) -> str:
    """The text stored in a criterion row: ``1000000``, ``1500.5`` (no exponent, no ``.0``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")
