"""Rules and their hours in words, as managers read them in the admin and the API shows them.

Plain functions over rules and rows (or anything with the same attributes: historical rows,
form data), with no request: ``Source is Zillow · Buyer · Price ≥ $1,000,000``,
``Mon-Fri 08:00-21:00``, ``Claim (5 min)``, and why nobody on a rule's roster can receive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q

from agents.models import RosterMember
from routing.engine import FIELD_LABELS, TEXT_FIELDS
from routing.models import Rule
from routing.rules_validation import plain_number
from routing.windows import DAY_NAMES, WeeklyWindow, describe_days, parse_days

SHORT_SELECTION = {
    Rule.Selection.ROTATION: "Rotation",
    Rule.Selection.FIRST_IN_ROSTER: "First in roster",
    Rule.Selection.ON_DUTY: "On duty",
    Rule.Selection.TERRITORY: "Territory",
    Rule.Selection.LEAST_LOADED: "Fewest open leads",
}
SHORT_CLAIM_DELIVERY = {
    Rule.Delivery.CLAIM: "Claim",
    Rule.Delivery.FIRST_TO_CLAIM: "First to claim",
    Rule.Delivery.INSTANT_CALL: "Instant call",
}


def money(value: Decimal) -> str:
    """``$1,000,000``; cents only when there are some."""
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def _number(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None


def criteria_text(rule: Rule, criteria: Iterable[Any]) -> str:
    """The rule's criteria in one line: ``Source is Zillow or Realtor.com · Buyer · Price ≥ $1M``.

    ``criteria``: objects with ``field`` and ``value`` (rows, historical rows or form data).
    """
    if rule.is_catch_all:
        return "Everything no other rule takes"
    values: dict[str, list[str]] = defaultdict(list)
    for criterion in criteria:
        value = str(criterion.value).strip()
        if value and value not in values[criterion.field]:
            values[criterion.field].append(value)
    parts = []
    for name in TEXT_FIELDS:
        wanted = values.get(name)
        if not wanted:
            continue
        if name == "lead_type":
            parts.append(" or ".join(v.title() for v in wanted))
        else:
            parts.append(f"{FIELD_LABELS[name]} is {' or '.join(wanted)}")
    low = _number(values["price_min"][0]) if values.get("price_min") else None
    high = _number(values["price_max"][0]) if values.get("price_max") else None
    if low is not None and high is not None:
        parts.append(f"Price {money(low)}–{money(high)}")
    elif low is not None:
        parts.append(f"Price ≥ {money(low)}")
    elif high is not None:
        parts.append(f"Price ≤ {money(high)}")
    score = _number(values["score_min"][0]) if values.get("score_min") else None
    if score is not None:
        parts.append(f"Score ≥ {plain_number(score)}")
    return " · ".join(parts) or "Any lead"


def days_text(days: Any) -> str | None:
    """Stored weekdays in words (``Mon-Fri``); None when they cannot be read as weekdays."""
    try:
        return describe_days(parse_days(list(days)))
    except (ValueError, AttributeError, TypeError):
        return None


def window_text(days: Sequence[str], start: time, end: time) -> str:
    """``Mon-Fri 08:00-21:00``; an end before the start says it runs overnight."""
    day_text = days_text(days)
    if day_text is None:
        day_text = ", ".join(str(d) for d in days)
    text = f"{day_text} {start:%H:%M}-{end:%H:%M}"
    return text + " (overnight)" if end < start else text


def when_text(windows: Iterable[Any]) -> str:
    """A rule's day-and-time windows (rows with ``days``, ``start``, ``end``); none: always."""
    parts = [window_text(w.days, w.start, w.end) for w in windows]
    return "; ".join(parts) if parts else "Always"


def weekly_windows_text(windows: Iterable[WeeklyWindow]) -> str:
    """Parsed windows (weekday numbers), e.g. the brokerage's actionable window."""
    return "; ".join(window_text(sorted(DAY_NAMES[d] for d in w.days), w.start, w.end)
                     for w in windows)


def selection_text(rule: Rule) -> str:
    """Who on the roster gets the lead, in a list column's few words."""
    return SHORT_SELECTION.get(rule.selection, rule.get_selection_display())


def delivery_text(rule: Rule) -> str:
    """How the lead reaches the agent, with the minutes to claim: ``Claim (5 min)``."""
    short = SHORT_CLAIM_DELIVERY.get(rule.delivery)
    if rule.delivery == Rule.Delivery.INSTANT_CALL:
        return f"{short} ({rule.call_timeout_seconds} s)"
    if short is not None:
        return f"{short} ({rule.claim_timeout_minutes} min)"
    return rule.get_delivery_display()


# --- Who can receive: the one definition, in words and as a query ---------------------------


def able_to_receive(member: RosterMember) -> bool:
    agent = member.agent
    return agent.is_active and agent.accepting_leads and member.leads_per_round > 0


def receivers_filter(prefix: str = "") -> Q:
    """Roster members who can receive leads (``prefix`` for lookups through a relation)."""
    return Q(**{f"{prefix}agent__is_active": True, f"{prefix}agent__accepting_leads": True,
                f"{prefix}leads_per_round__gt": 0})


def staffing_problem(rule: Rule) -> str | None:
    """Why nobody on the rule's roster could ever receive a lead (None: someone can)."""
    if not rule.roster_id:
        return None
    members = list(RosterMember.objects.filter(roster_id=rule.roster_id)
                   .select_related("agent", "roster"))
    roster = rule.roster.name if rule.roster_id else ""
    if not members:
        return f"Roster '{roster}' has nobody on it."
    if any(able_to_receive(m) for m in members):
        return None
    return (f"Nobody on roster '{roster}' can receive a lead: every member is inactive, "
            "paused or set to 0 leads per round.")
