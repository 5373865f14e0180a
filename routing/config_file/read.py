"""Reading a routing file: YAML text -> a checked ``RoutingFile``, or every problem with its place.

Nothing here touches the database: references (agents, rosters) must resolve within the file.
The rule checks themselves are ``routing.rules_validation``'s, shared with the admin's rule
form; the messages here name the place in the file (``rules[2].criteria.price_min: ...``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from agents.models import Agent
from routing.config_file.schema import (
    AFTER_HOURS,
    AGENT_KEYS,
    BROKERAGE_KEYS,
    CRITERIA_KEYS,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_HANDOFF_CONTACT_MINUTES,
    DELIVERIES,
    HANDOFF_SELECTIONS,
    HANDOFF_TARGET_KEYS,
    MAX_EMAIL,
    MAX_INT,
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
from routing.models import HandoffTarget, Rule
from routing.rules_validation import (
    WHOLE_NUMBER_FIELDS,
    NumberProblem,
    RuleProblem,
    claim_minutes_missing,
    criterion_number_problem,
    first_contact_minutes_zero,
    plain_number,
    price_range_is_empty,
    rule_shape_problems,
    window_is_empty,
)
from routing.windows import DAY_NAMES

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


class _Loader(yaml.SafeLoader):
    """The safe loader, noting duplicate keys (plain YAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                self.problems.append(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key_node.value!r}"
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str) -> tuple[Any, list[str]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return None, [f"{where}: {exc.problem or exc.context}{context}"]
    except yaml.YAMLError as exc:
        return None, [f"YAML: {exc}"]
    finally:
        loader.dispose()


def _at(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class _MISSING:
    pass


def _minutes_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


class _Reader:
    """Walks the parsed YAML, keeping every error with its place instead of stopping."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # Shapes

    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, "must be a mapping (key: value)")
            return None
        for key in value:
            if key not in keys:
                self.error(_at(path, key), f"unknown key (expected one of: {', '.join(keys)})")
        return value

    def items(self, obj: dict, key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list section, each with its place (``rules[2]``)."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(_at(path, key), "must be a list")
            return []
        return [(f"{_at(path, key)}[{i}]", item) for i, item in enumerate(value)]

    # Scalars

    def text(self, obj: dict, key: str, path: str, *, max_length: int = 200,
             required: bool = True) -> str | None:
        where = _at(path, key)
        value = obj.get(key)
        if value is None:
            if required:
                self.error(where, "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(where, "must be a non-empty string")
            return None
        value = value.strip()
        if len(value) > max_length:
            self.error(where, f"too long (at most {max_length} characters)")
        return value

    def flag(self, obj: dict, key: str, path: str, default: bool) -> bool:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(_at(path, key), "must be true or false")
            return default
        return value

    def count(self, obj: dict, key: str, path: str, *, default: int | None,
              maximum: int = MAX_INT, nullable: bool = False) -> int | None:
        value = obj.get(key, _MISSING)
        if value is _MISSING or (value is None and not nullable):
            return default
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.error(_at(path, key), "must be a whole number, 0 or more"
                       + (", or null" if nullable else ""))
            return default
        return value

    def choice(self, obj: dict, key: str, path: str, choices: tuple[str, ...] | frozenset[str],
               default: str) -> str:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value.strip().lower() not in choices:
            options = sorted(choices) if isinstance(choices, frozenset) else choices
            self.error(_at(path, key), f"must be one of: {', '.join(options)}")
            return default
        return value.strip().lower()

    def strings(self, value: Any, where: str, *, max_length: int = 200) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one), duplicates dropped."""
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(where, "must be a list of strings")
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                hint = ' (quote numbers: "02134")' if isinstance(item, int | float) else ""
                self.error(f"{where}[{i}]", f"must be a string{hint}")
            elif not item.strip():
                self.error(f"{where}[{i}]", "must not be empty")
            elif len(item.strip()) > max_length:
                self.error(f"{where}[{i}]", f"too long (at most {max_length} characters)")
            elif item.strip() not in found:
                found.append(item.strip())
        return tuple(found)

    def days(self, obj: dict, path: str) -> tuple[str, ...]:
        where = _at(path, "days")
        value = obj.get("days")
        if value is None:
            self.error(where, "missing")
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.error(where, f"must be a list of days ({', '.join(DAY_NAMES)})")
            return ()
        found: set[int] = set()
        for i, item in enumerate(value):
            name = item.strip().lower() if isinstance(item, str) else None
            if name in DAY_NAMES:
                found.add(DAY_NAMES.index(name))
            elif name in _FULL_DAY_NAMES:
                found.add(_FULL_DAY_NAMES.index(name))
            else:
                self.error(f"{where}[{i}]", f"unknown day {item!r} (use {', '.join(DAY_NAMES)})")
        return tuple(DAY_NAMES[d] for d in sorted(found))

    def clock(self, obj: dict, key: str, path: str) -> time | None:
        where = _at(path, key)
        value = obj.get(key)
        if value is None:
            self.error(where, "missing")
            return None
        # YAML 1.1 reads an unquoted 8:00 as 480 (base 60); hours from 1, so never below 60.
        if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < 24 * 60:
            return _minutes_time(value)
        match = _TIME.match(value.strip()) if isinstance(value, str) else None
        if not match:
            self.error(where, 'must be a time "HH:MM" (00:00 to 23:59)')
            return None
        return time(int(match[1]), int(match[2]))

    def window(self, obj: dict, path: str) -> tuple[tuple[str, ...], time | None, time | None]:
        days = self.days(obj, path)
        start, end = self.clock(obj, "start", path), self.clock(obj, "end", path)
        if window_is_empty(start, end):
            self.error(_at(path, "end"), "must differ from start")
        return days, start, end

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
                self.error(_at(path, "email"), f"not a valid e-mail address: {email}")
        name = self.text(obj, "name", path)
        phone = obj.get("phone")
        if phone is not None and phone != "":
            phone = self.phone(phone, _at(path, "phone"))
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
            zip_codes=self.strings(obj.get("zip_codes"), _at(path, "zip_codes")),
            specialties=self.strings(obj.get("specialties"), _at(path, "specialties")),
        )

    def phone(self, value: Any, where: str) -> str | None:
        region = getattr(settings, "PHONENUMBER_DEFAULT_REGION", None) or "US"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # unquoted +13125550101 reads as a number
        if not isinstance(value, str):
            self.error(where, "must be a phone number in quotes, or null")
            return None
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.error(where, f"not a valid phone number: {value}")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

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
            self.error(_at(path, "active"), _RULE_MESSAGES[RuleProblem.CATCH_ALL_PAUSED])
        criteria = self.criteria(obj.get("criteria"), _at(path, "criteria"))
        windows = self.windows(self.items(obj, "days_times", path))
        problems = rule_shape_problems(catch_all=catch_all, has_criteria=bool(criteria),
                                       has_windows=bool(obj.get("days_times")))
        for problem in problems:
            place = {RuleProblem.CATCH_ALL_HAS_CRITERIA: _at(path, "criteria"),
                     RuleProblem.CATCH_ALL_HAS_WINDOWS: _at(path, "days_times")}.get(problem, path)
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
            add_tags=self.strings(obj.get("add_tags"), _at(path, "add_tags")),
            claim_timeout_minutes=self.claim_minutes(obj, path),
            escalate_to=self.agent_ref(obj, "escalate_to", path),
            after_hours=self.choice(obj, "after_hours", path, AFTER_HOURS,
                                    Rule.AfterHours.OFFER.value),
            first_contact_minutes=self.count(obj, "first_contact_minutes", path, default=None,
                                             nullable=True),
        )

    def handoff_target(self, raw: Any, path: str) -> HandoffTargetEntry | None:
        obj = self.mapping(raw, path, HANDOFF_TARGET_KEYS)
        if obj is None:
            return None
        contact = self.count(obj, "first_contact_minutes", path,
                             default=DEFAULT_HANDOFF_CONTACT_MINUTES)
        if first_contact_minutes_zero(contact):
            self.error(_at(path, "first_contact_minutes"), "must be at least 1 minute")
        return HandoffTargetEntry(
            name=self.text(obj, "name", path, max_length=100) or "",
            roster=self.text(obj, "roster", path, max_length=100) or "",
            active=self.flag(obj, "active", path, True),
            selection=self.choice(obj, "selection", path, HANDOFF_SELECTIONS,
                                  HandoffTarget.Selection.ROTATION.value),
            delivery=self.choice(obj, "delivery", path, DELIVERIES, Rule.Delivery.ASSIGN.value),
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

    def claim_minutes(self, obj: dict, path: str) -> int:
        minutes = self.count(obj, "claim_timeout_minutes", path, default=DEFAULT_CLAIM_MINUTES,
                             maximum=MAX_LEADS_PER_ROUND)
        if claim_minutes_missing(minutes):
            self.error(_at(path, "claim_timeout_minutes"), "must be at least 1 minute")
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
            where = _at(path, name)
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
    data, problems = _parse_yaml(text)
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
            reader.error(_at(where, "roster"), f"unknown roster {target.roster}")
        if target.escalate_to and target.escalate_to not in emails:
            reader.error(_at(where, "escalate_to"), f"unknown agent {target.escalate_to}")


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
            reader.error(_at(where, "agent"), f"unknown agent {shift.agent}")
    for where, rule in rules:
        if rule.roster and rule.roster not in roster_names:
            reader.error(_at(where, "roster"), f"unknown roster {rule.roster}")
        if rule.lender_roster and rule.lender_roster not in roster_names:
            reader.error(_at(where, "lender_roster"), f"unknown roster {rule.lender_roster}")
        if rule.escalate_to and rule.escalate_to not in emails:
            reader.error(_at(where, "escalate_to"), f"unknown agent {rule.escalate_to}")

    catch_alls = [where for where, rule in rules if rule.catch_all]
    if not catch_alls:
        if rules_given:
            reader.error("rules", "one rule needs catch_all: true (the last one, which takes "
                         "every lead no other rule takes)")
        return
    for where in catch_alls[1:]:
        reader.error(_at(where, "catch_all"),
                     f"only one rule can be the catch-all ({catch_alls[0]} already is)")
    if catch_alls[0] != rules[-1][0]:
        reader.error(_at(catch_alls[0], "catch_all"), "the catch-all rule must be the last rule")


def _unique(reader: _Reader, named: list[tuple[str, str]], key: str, label: str) -> set[str]:
    counts = Counter(name for _, name in named if name)
    for where, name in named:
        if name and counts[name] > 1:
            reader.error(_at(where, key), f"duplicate {label} {name}")
    return set(counts)


