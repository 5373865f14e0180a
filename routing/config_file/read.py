"""Reading a routing file: YAML text -> a checked ``RoutingFile``, or every problem with its place.

Nothing here touches the database: references (agents, rosters) must resolve within the file.
The rule checks themselves are ``routing.rules_validation``'s, shared with the admin's rule
form; the messages here name the place in the file (``rules[2].criteria.price_min: ...``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from agents.models import Agent
from routing.config_file.schema import (
    AFTER_HOURS,
    AGENT_KEYS,
    BROKERAGE_KEYS,
    CRITERIA_KEYS,
    DEFAULT_CALL_SECONDS,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_HANDOFF_CONTACT_MINUTES,
    DELIVERIES,
    HANDOFF_DELIVERY_VALUES,
    HANDOFF_SELECTIONS,
    HANDOFF_TARGET_KEYS,
    MAX_EMAIL,
    MAX_LEADS_PER_ROUND,
    MAX_LOGIN,
    MEMBER_KEYS,
    ROLES,
    ROSTER_KEYS,
    RULE_KEYS,
    SELECTIONS,
    SHIFT_KEYS,
    TEXT_CRITERIA,
    TOP_LEVEL_KEYS,
    WINDOW_KEYS,
    AgentEntry,
    BrokerageEntry,
    HandoffTargetEntry,
    MemberEntry,
    RosterEntry,
    RoutingFile,
    RuleEntry,
    ShiftEntry,
    WindowEntry,
)
from routing.config_file.yaml_values import ValueReader, at, parse_yaml
from routing.models import HandoffTarget, Rule
from routing.rules_validation import (
    WHOLE_NUMBER_FIELDS,
    NumberProblem,
    RuleProblem,
    call_seconds_problem,
    claim_minutes_missing,
    criterion_number_problem,
    first_contact_minutes_zero,
    plain_number,
    price_range_is_empty,
    rule_shape_problems,
)

# The file's words for the shared rule checks (routing.rules_validation).
_RULE_MESSAGES = {
    RuleProblem.CATCH_ALL_PAUSED: "the catch-all rule is always active",
    RuleProblem.CATCH_ALL_HAS_CRITERIA: "the catch-all rule takes every lead: no criteria",
    RuleProblem.CATCH_ALL_HAS_WINDOWS: "the catch-all rule takes every lead: no days_times",
    RuleProblem.TAKES_EVERY_LEAD: "needs at least one criterion or days_times entry "
    "(only the catch-all rule takes every lead)",
}
_NUMBER_MESSAGES = {
    NumberProblem.NEGATIVE: "must be 0 or more",
    NumberProblem.NOT_WHOLE: "must be a whole number",
    NumberProblem.TOO_LARGE: "too precise or too large (at most 12 digits and 2 decimals)",
    NumberProblem.TOO_PRECISE: "too precise or too large (at most 12 digits and 2 decimals)",
}


class RoutingFileError(Exception):
    """The file cannot be imported; ``errors`` lists every problem with its place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Reader(ValueReader):
    """The file's sections, read on the generic values; every problem kept with its place."""

    def number(self, value: Any, where: str, *, field: str) -> Decimal | None:
        """The number of a price or score criterion, as YAML gives it (or a string)."""
        if isinstance(value, bool) or value is None:
            number = None
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float | str):
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                number = None
        else:
            number = None
        problem = criterion_number_problem(field, number)
        if problem is None:
            return number
        if problem is NumberProblem.NOT_A_NUMBER:
            whole = field in WHOLE_NUMBER_FIELDS
            self.error(where, "must be a whole number" if whole else "must be a number")
        else:
            self.error(where, _NUMBER_MESSAGES[problem])
        return None

    # Sections

    def agent(self, raw: Any, path: str) -> AgentEntry | None:
        obj = self.mapping(raw, path, AGENT_KEYS)
        if obj is None:
            return None
        email = self.text(obj, "email", path, max_length=MAX_LOGIN)
        if email is not None:
            email = email.lower()
            try:
                validate_email(email)
            except ValidationError:
                self.error(at(path, "email"), f"not a valid e-mail address: {email}")
        name = self.text(obj, "name", path)
        phone = obj.get("phone")
        if phone is not None and phone != "":
            phone = self.phone(phone, at(path, "phone"))
        return AgentEntry(
            email=email or "",
            name=name or "",
            role=self.choice(obj, "role", path, ROLES, Agent.Role.AGENT.value),
            phone=phone or None,
            active=self.flag(obj, "active", path, True),
            accepting_leads=self.flag(obj, "accepting_leads", path, True),
            max_open_leads=self.count(obj, "max_open_leads", path, default=None, nullable=True),
            max_leads_per_day=self.count(obj, "max_leads_per_day", path, default=None,
                                         nullable=True),
            zip_codes=self.strings(obj.get("zip_codes"), at(path, "zip_codes")),
            specialties=self.strings(obj.get("specialties"), at(path, "specialties")),
        )

    def roster(self, raw: Any, path: str) -> RosterEntry | None:
        obj = self.mapping(raw, path, ROSTER_KEYS)
        if obj is None:
            return None
        members: list[MemberEntry] = []
        for where, item in self.items(obj, "members", path):
            if isinstance(item, str):  # shorthand: just the e-mail
                item = {"agent": item}
            member = self.mapping(item, where, MEMBER_KEYS)
            if member is None:
                continue
            agent = self.text(member, "agent", where, max_length=MAX_LOGIN)
            lpr = self.count(member, "leads_per_round", where, default=1,
                             maximum=MAX_LEADS_PER_ROUND)
            if agent is not None:
                members.append(MemberEntry(agent.lower(), lpr if lpr is not None else 1))
        return RosterEntry(name=self.text(obj, "name", path, max_length=100) or "",
                           members=tuple(members))

    def shift(self, raw: Any, path: str) -> ShiftEntry | None:
        obj = self.mapping(raw, path, SHIFT_KEYS)
        if obj is None:
            return None
        agent = self.text(obj, "agent", path, max_length=MAX_LOGIN)
        days, start, end = self.window(obj, path)
        if agent is None or start is None or end is None:
            return None
        return ShiftEntry(agent.lower(), days, start, end)

    def rule(self, raw: Any, path: str) -> RuleEntry | None:
        obj = self.mapping(raw, path, RULE_KEYS)
        if obj is None:
            return None
        catch_all = self.flag(obj, "catch_all", path, False)
        active = self.flag(obj, "active", path, True)
        problems = rule_shape_problems(catch_all=catch_all, active=active)
        if RuleProblem.CATCH_ALL_PAUSED in problems:
            self.error(at(path, "active"), _RULE_MESSAGES[RuleProblem.CATCH_ALL_PAUSED])
        criteria = self.criteria(obj.get("criteria"), at(path, "criteria"))
        windows = self.windows(self.items(obj, "days_times", path))
        problems = rule_shape_problems(catch_all=catch_all, has_criteria=bool(criteria),
                                       has_windows=bool(obj.get("days_times")))
        for problem in problems:
            place = {RuleProblem.CATCH_ALL_HAS_CRITERIA: at(path, "criteria"),
                     RuleProblem.CATCH_ALL_HAS_WINDOWS: at(path, "days_times")}.get(problem, path)
            self.error(place, _RULE_MESSAGES[problem])
        lender = obj.get("lender_roster")
        return RuleEntry(
            name=self.text(obj, "name", path) or "",
            roster=self.text(obj, "roster", path, max_length=100) or "",
            active=active or catch_all,
            catch_all=catch_all,
            criteria=criteria,
            windows=windows,
            selection=self.choice(obj, "selection", path, SELECTIONS,
                                  Rule.Selection.ROTATION.value),
            delivery=self.choice(obj, "delivery", path, DELIVERIES, Rule.Delivery.ASSIGN.value),
            lender_roster=(self.text(obj, "lender_roster", path, max_length=100)
                           if lender is not None else None),
            add_tags=self.strings(obj.get("add_tags"), at(path, "add_tags")),
            claim_timeout_minutes=self.claim_minutes(obj, path),
            escalate_to=self.agent_ref(obj, "escalate_to", path),
            after_hours=self.choice(obj, "after_hours", path, AFTER_HOURS,
                                    Rule.AfterHours.OFFER.value),
            first_contact_minutes=self.count(obj, "first_contact_minutes", path, default=None,
                                             nullable=True),
            call_timeout_seconds=self.call_seconds(obj, path),
        )

    def handoff_target(self, raw: Any, path: str) -> HandoffTargetEntry | None:
        obj = self.mapping(raw, path, HANDOFF_TARGET_KEYS)
        if obj is None:
            return None
        contact = self.count(obj, "first_contact_minutes", path,
                             default=DEFAULT_HANDOFF_CONTACT_MINUTES)
        if first_contact_minutes_zero(contact):
            self.error(at(path, "first_contact_minutes"), "must be at least 1 minute")
        return HandoffTargetEntry(
            name=self.text(obj, "name", path, max_length=100) or "",
            roster=self.text(obj, "roster", path, max_length=100) or "",
            active=self.flag(obj, "active", path, True),
            selection=self.choice(obj, "selection", path, HANDOFF_SELECTIONS,
                                  HandoffTarget.Selection.ROTATION.value),
            delivery=self.choice(obj, "delivery", path, HANDOFF_DELIVERY_VALUES,
                                 Rule.Delivery.ASSIGN.value),
            claim_timeout_minutes=self.claim_minutes(obj, path),
            first_contact_minutes=contact or DEFAULT_HANDOFF_CONTACT_MINUTES,
            escalate_to=self.agent_ref(obj, "escalate_to", path),
        )

    def windows(self, entries: list[tuple[str, Any]]) -> tuple[WindowEntry, ...]:
        """Day-and-time entries (rule hours, the actionable window); broken ones left out."""
        found = []
        for where, item in entries:
            window = self.mapping(item, where, WINDOW_KEYS)
            if window is not None:
                days, start, end = self.window(window, where)
                if start is not None and end is not None:
                    found.append(WindowEntry(days, start, end))
        return tuple(found)

    def agent_ref(self, obj: dict, key: str, path: str) -> str | None:
        """An agent named by e-mail (lower-case); None when the key is absent or null."""
        if obj.get(key) is None:
            return None
        return (self.text(obj, key, path, max_length=MAX_EMAIL) or "").lower() or None

    def call_seconds(self, obj: dict, path: str) -> int:
        seconds = self.count(obj, "call_timeout_seconds", path, default=DEFAULT_CALL_SECONDS)
        problem = call_seconds_problem(seconds)
        if problem:
            self.error(at(path, "call_timeout_seconds"), problem)
            return DEFAULT_CALL_SECONDS
        return seconds or DEFAULT_CALL_SECONDS

    def claim_minutes(self, obj: dict, path: str) -> int:
        minutes = self.count(obj, "claim_timeout_minutes", path, default=DEFAULT_CLAIM_MINUTES,
                             maximum=MAX_LEADS_PER_ROUND)
        if claim_minutes_missing(minutes):
            self.error(at(path, "claim_timeout_minutes"), "must be at least 1 minute")
        return minutes or DEFAULT_CLAIM_MINUTES

    def criteria(self, raw: Any, path: str) -> tuple[tuple[str, str], ...]:
        if raw is None:
            return ()
        obj = self.mapping(raw, path, CRITERIA_KEYS)
        if obj is None:
            return ()
        rows: list[tuple[str, str]] = []
        numbers: dict[str, Decimal] = {}
        for name in CRITERIA_KEYS:
            if obj.get(name) is None:
                continue
            where = at(path, name)
            if name in TEXT_CRITERIA:
                rows.extend((name, value) for value in self.strings(obj[name], where))
                continue
            number = self.number(obj[name], where, field=name)
            if number is not None:
                numbers[name] = number
                rows.append((name, plain_number(number)))
        low, high = numbers.get("price_min"), numbers.get("price_max")
        if price_range_is_empty(low, high):
            self.error(path, f"price_min ({plain_number(low)}) is above price_max "
                       f"({plain_number(high)})")
        return tuple(rows)


def load_routing_file(text: str) -> RoutingFile:
    """Parse and check a routing file; raise ``RoutingFileError`` listing every problem."""
    data, problems = parse_yaml(text)
    if problems and data is None:
        raise RoutingFileError(problems)
    if not isinstance(data, dict):
        what = "empty" if data is None else "must be a mapping"
        raise RoutingFileError([*problems, f"file: {what} (expected the keys timezone, agents, "
                                "rosters, shifts and rules)"])
    top = data
    reader = _Reader()
    reader.errors.extend(problems)
    for key in top:
        if key not in TOP_LEVEL_KEYS:
            reader.error(str(key), f"unknown key (expected one of: {', '.join(TOP_LEVEL_KEYS)})")

    timezone = reader.text(top, "timezone", "", max_length=64, required=False) or ""
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.error("timezone", f"unknown time zone {timezone!r} (e.g. America/Chicago)")

    brokerage = None
    if top.get("brokerage") is not None:
        obj = reader.mapping(top["brokerage"], "brokerage", BROKERAGE_KEYS)
        if obj is not None:
            listing = obj.get("listing_routing")
            hide = obj.get("hide_contact_until_claimed")
            brokerage = BrokerageEntry(
                name=reader.text(obj, "name", "brokerage", required=False),
                listing_routing=(None if listing is None
                                 else reader.flag(obj, "listing_routing", "brokerage", True)),
                hide_contact_until_claimed=(
                    None if hide is None
                    else reader.flag(obj, "hide_contact_until_claimed", "brokerage", True)),
            )
    actionable = None
    if top.get("actionable_window") is not None:
        raw = top["actionable_window"]
        actionable = reader.windows(reader.items(
            {"actionable_window": raw if isinstance(raw, list) else [raw]},
            "actionable_window", ""))

    agents = _entries(reader, top, "agents", reader.agent)
    rosters = _entries(reader, top, "rosters", reader.roster)
    shifts = _entries(reader, top, "shifts", reader.shift)
    if "rules" not in top:
        reader.error("rules", "missing (at least the catch-all rule)")
    rules = _entries(reader, top, "rules", reader.rule)

    targets = None
    if top.get("handoff_targets") is not None:
        targets = _entries(reader, top, "handoff_targets", reader.handoff_target)

    _check_references(reader, agents, rosters, shifts, rules, rules_given="rules" in top)
    _check_handoff_targets(reader, targets or [], agents, rosters)
    if reader.errors:
        raise RoutingFileError(sorted(reader.errors, key=_file_order))
    return RoutingFile(
        timezone=timezone,
        agents=tuple(a for _, a in agents),
        rosters=tuple(r for _, r in rosters),
        shifts=tuple(s for _, s in shifts),
        rules=tuple(r for _, r in rules),
        brokerage=brokerage,
        actionable_window=actionable,
        handoff_targets=tuple(t for _, t in targets) if targets is not None else None,
    )


def _check_handoff_targets(reader: _Reader, targets: list[tuple[str, HandoffTargetEntry]],
                           agents: list[tuple[str, AgentEntry]],
                           rosters: list[tuple[str, RosterEntry]]) -> None:
    _unique(reader, [(w, t.name) for w, t in targets], "name", "hand-off target name")
    emails = {a.email for _, a in agents}
    roster_names = {r.name for _, r in rosters}
    for where, target in targets:
        if target.roster and target.roster not in roster_names:
            reader.error(at(where, "roster"), f"unknown roster {target.roster}")
        if target.escalate_to and target.escalate_to not in emails:
            reader.error(at(where, "escalate_to"), f"unknown agent {target.escalate_to}")


def _file_order(error: str) -> tuple[int, int]:
    """Errors by section, then entry (``rules[2]`` before ``rules[10]``); stable within one."""
    place = error.split(": ", 1)[0]
    section = place.split(".", 1)[0].split("[", 1)[0]
    rank = TOP_LEVEL_KEYS.index(section) if section in TOP_LEVEL_KEYS else -1
    entry = re.match(r"\w+\[(\d+)\]", place)
    return rank, int(entry[1]) if entry else -1


def _entries(reader: _Reader, top: dict, key: str,
             read: Callable[[Any, str], Any]) -> list[tuple[str, Any]]:
    """Each entry of a section read with ``read``, paired with its place in the file."""
    found = []
    for where, item in reader.items(top, key, ""):
        entry = read(item, where)
        if entry is not None:
            found.append((where, entry))
    return found


def _check_references(
    reader: _Reader,
    agents: list[tuple[str, AgentEntry]],
    rosters: list[tuple[str, RosterEntry]],
    shifts: list[tuple[str, ShiftEntry]],
    rules: list[tuple[str, RuleEntry]],
    *,
    rules_given: bool,
) -> None:
    """Uniqueness, references between sections and the catch-all's place."""
    emails = _unique(reader, [(w, a.email) for w, a in agents], "email", "agent e-mail")
    roster_names = _unique(reader, [(w, r.name) for w, r in rosters], "name", "roster name")
    _unique(reader, [(w, r.name) for w, r in rules], "name", "rule name")

    for where, roster in rosters:
        seen: set[str] = set()
        for i, member in enumerate(roster.members):
            place = f"{where}.members[{i}].agent"
            if member.agent not in emails:
                reader.error(place, f"unknown agent {member.agent}")
            elif member.agent in seen:
                reader.error(place, f"{member.agent} is already in this roster")
            seen.add(member.agent)
    for where, shift in shifts:
        if shift.agent not in emails:
            reader.error(at(where, "agent"), f"unknown agent {shift.agent}")
    for where, rule in rules:
        if rule.roster and rule.roster not in roster_names:
            reader.error(at(where, "roster"), f"unknown roster {rule.roster}")
        if rule.lender_roster and rule.lender_roster not in roster_names:
            reader.error(at(where, "lender_roster"), f"unknown roster {rule.lender_roster}")
        if rule.escalate_to and rule.escalate_to not in emails:
            reader.error(at(where, "escalate_to"), f"unknown agent {rule.escalate_to}")

    catch_alls = [where for where, rule in rules if rule.catch_all]
    if not catch_alls:
        if rules_given:
            reader.error("rules", "one rule needs catch_all: true (the last one, which takes "
                         "every lead no other rule takes)")
        return
    for where in catch_alls[1:]:
        reader.error(at(where, "catch_all"),
                     f"only one rule can be the catch-all ({catch_alls[0]} already is)")
    if catch_alls[0] != rules[-1][0]:
        reader.error(at(catch_alls[0], "catch_all"), "the catch-all rule must be the last rule")


def _unique(reader: _Reader, named: list[tuple[str, str]], key: str, label: str) -> set[str]:
    counts = Counter(name for _, name in named if name)
    for where, name in named:
        if name and counts[name] > 1:
            reader.error(at(where, key), f"duplicate {label} {name}")
    return set(counts)


