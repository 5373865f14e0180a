"""Which rules a lead matches: criteria, hours (windows) and the rules routing must consider.

``rule_matches`` (the fast yes / no) and ``evaluate_criteria`` (the explanation the trace and
the admin show) ask the same two predicates, ``text_matched`` and ``bound_matched``, so the
answer and its explanation cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TypedDict
from zoneinfo import ZoneInfo

from routing.engine.selection import static_skip_reason
from routing.engine.trace import fmt
from routing.engine.types import (
    FIELD_LABELS,
    TEXT_FIELDS,
    LeadFacts,
    RoutingConfig,
    RuleInfo,
)

LeadValue = str | tuple[str, ...]
Number = Decimal | int


class CriterionResult(TypedDict):
    """One criterion type of a rule against a lead (a step of the trace keeps a list)."""

    field: str
    expected: list[str] | str
    actual: str
    matched: bool
    text: str


def to_local(moment: datetime, tz_name: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz_name))


def lead_value(lead: LeadFacts, name: str) -> LeadValue:
    value: LeadValue = lead.tags if name == "tag" else getattr(lead, name)
    return value


def text_matched(name: str, value: LeadValue, wanted: tuple[str, ...]) -> bool:
    """Whether the lead's value is one of ``wanted`` (lower-cased); a tag criterion: any tag."""
    if name == "tag":
        return any(v.strip().lower() in wanted for v in value)
    assert isinstance(value, str)
    return value.strip().lower() in wanted


def bound_matched(name: str, value: Number | None, bound: Number) -> bool:
    """Whether the lead's price or score is within the bound (inclusive); missing: never."""
    if value is None:
        return False
    return value <= bound if name == "price_max" else value >= bound


def _bounds(rule: RuleInfo, lead: LeadFacts) -> list[tuple[str, Number, Number | None]]:
    """The rule's number criteria that are set: (name, bound, the lead's value)."""
    found: list[tuple[str, Number, Number | None]] = []
    if rule.price_min is not None:
        found.append(("price_min", rule.price_min, lead.price))
    if rule.price_max is not None:
        found.append(("price_max", rule.price_max, lead.price))
    if rule.score_min is not None:
        found.append(("score_min", rule.score_min, lead.score))
    return found


def evaluate_criteria(rule: RuleInfo, lead: LeadFacts) -> list[CriterionResult]:
    """Each criterion type of the rule with the lead's value and whether it matched."""
    results: list[CriterionResult] = []
    for name in TEXT_FIELDS:
        wanted = rule.text_criteria.get(name)
        if not wanted:
            continue
        value = lead_value(lead, name)
        matched = text_matched(name, value, wanted)
        shown = fmt(value)
        results.append(
            {
                "field": name,
                "expected": list(wanted),
                "actual": shown,
                "matched": matched,
                "text": f"{FIELD_LABELS[name]} is {_either(wanted)}: lead has {shown}"
                f" -> {'matched' if matched else 'not matched'}",
            }
        )
    for name, bound, number in _bounds(rule, lead):
        matched = bound_matched(name, number, bound)
        expected, shown = fmt(bound), fmt(number)
        results.append(
            {
                "field": name,
                "expected": expected,
                "actual": shown,
                "matched": matched,
                "text": f"{FIELD_LABELS[name]} {expected}: lead has {shown}"
                f" -> {'matched' if matched else 'not matched'}",
            }
        )
    return results


@lru_cache(maxsize=1024)
def _either(wanted: tuple[str, ...]) -> str:
    """A criterion's values as its step says them (a rule's, the same for every lead)."""
    return " or ".join(wanted)


def in_windows(rule: RuleInfo, local: datetime) -> bool:
    return not rule.windows or any(w.contains(local) for w in rule.windows)


def is_actionable(config: RoutingConfig, local: datetime) -> bool:
    """Whether claim clocks run at this local moment (no window set: always)."""
    return not config.actionable or any(w.contains(local) for w in config.actionable)


def rule_matches(rule: RuleInfo, lead: LeadFacts, local: datetime) -> bool:
    """The same answer as ``evaluate_criteria`` and the windows, without the explanations."""
    for name, wanted in rule.text_criteria.items():
        if wanted and not text_matched(name, lead_value(lead, name), wanted):
            return False
    if not all(bound_matched(name, number, bound) for name, bound, number in _bounds(rule, lead)):
        return False
    return in_windows(rule, local)


def candidate_rules(config: RoutingConfig, lead: LeadFacts) -> list[RuleInfo]:
    """The rules that could take the lead, in order, up to the first that surely can.

    The service locks these rules' rotations and loads their members' counts before deciding,
    so that the number of queries stays the same whatever the number of rules.
    """
    local = to_local(lead.received_at, config.timezone)
    found = []
    for rule in config.rules:
        if not (rule.is_active or rule.is_catch_all) or not rule_matches(rule, lead, local):
            continue
        found.append(rule)
        if _surely_staffed(config, rule, lead, local):
            break
    return found


def _surely_staffed(
    config: RoutingConfig, rule: RuleInfo, lead: LeadFacts, local: datetime
) -> bool:
    roster = config.rosters.get(rule.roster_id)
    for member in roster.members if roster else ():
        agent = config.agents.get(member.agent_id)
        free = static_skip_reason(agent, member, rule.selection, lead, local) is None
        if free and agent is not None and not agent.has_caps:
            return True
    return False
