"""Routing configuration kept as code: one YAML file to review, version, export and import.

The file format is a public contract (``routing/demo_routing.yaml`` is a full example)::

    timezone: America/Chicago
    brokerage: {name: Lee Realty, listing_routing: true}        # optional
    agents:
      - {email: ann@example.com, name: Ann Lee, role: agent, phone: "+13125550101",
         accepting_leads: true, max_open_leads: 40, max_leads_per_day: null,
         zip_codes: ["60601"], specialties: [luxury]}
    rosters:
      - {name: Downtown, members: [{agent: ann@example.com, leads_per_round: 2}]}
    shifts:
      - {agent: ann@example.com, days: [mon, tue], start: "08:00", end: "12:00"}
    rules:                                                      # priority order
      - name: Zillow luxury buyers
        active: true
        criteria: {source: [Zillow], lead_type: [buyer], price_min: 1000000}
        days_times: [{days: [sat, sun], start: "00:00", end: "23:59"}]
        roster: Downtown
        selection: rotation
        delivery: assign
        lender_roster: null
        add_tags: [lux]
      - {name: Everyone else, catch_all: true, roster: Downtown}

What a caller must know:

* ``load_routing_file`` checks the whole file and reports every problem with its place
  (``rules[2].criteria.price_min: must be a number``); ``apply_routing_file`` then makes the
  database say what the file says, in one transaction, so a bad file changes nothing.
* The file is the whole configuration: rosters, shifts, rules (with criteria and windows) and
  the time zone are replaced (a file without ``timezone`` falls back to the TIME_ZONE
  setting). Rules and rosters are matched by name, so a rule that keeps its
  name keeps its rotation state (renaming a rule starts its rotation afresh).
* Agents are matched by e-mail (case-insensitive), created or updated, never deleted: an agent
  missing from the file is deactivated, and ``active: false`` deactivates one explicitly.
  Export writes ``active: false`` only for inactive agents; everything else is always written,
  so export -> import -> export gives the same text.
* New agents get a login user (username = e-mail, no usable password until one is set);
  existing agents keep theirs.
* ``brokerage`` (name, listing_routing, hide_contact_until_claimed) and ``actionable_window``
  (a list of ``{days, start, end}``: when claim clocks run) are optional: left as they are
  when absent, always exported.
* Rules may say ``delivery: claim`` or ``first_to_claim`` with ``claim_timeout_minutes``
  (default 5), ``escalate_to`` (an agent's e-mail; none: the pond) and ``after_hours``
  (``offer``, or ``assign`` outright outside the actionable window), and any rule
  ``first_contact_minutes`` (reassign when the owner logs no contact in time).
* ``handoff_targets`` (optional; where ISAs hand qualified leads, see ``routing.handoff``) is a
  list of ``{name, active, roster, selection, delivery, claim_timeout_minutes,
  first_contact_minutes, escalate_to}``; selection is ``rotation``, ``on_duty``, ``territory``
  or ``specialty``. When present it replaces the targets (matched by name, so a target keeps
  its rotation); when absent they are left as they are. Export writes it only when there are
  targets. A roster used by a target is never removed by an import.
* YAML 1.1 reads unquoted ``17:30`` as the number 1050 (minutes): times are accepted in that
  form too, and always exported quoted. Zip codes and other text must be strings: quote them
  (``"02134"``), since an unquoted leading zero would silently turn it into another number.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from agents.models import Agent, Roster, RosterMember, Shift
from agents.services import sync_access
from routing.models import Brokerage, HandoffTarget, Rule, RuleCriterion, RuleWindow
from routing.signals import bump_config_token
from routing.windows import DAY_NAMES

TOP_LEVEL_KEYS = ("timezone", "brokerage", "actionable_window", "agents", "rosters", "shifts",
                  "rules", "handoff_targets")
BROKERAGE_KEYS = ("name", "listing_routing", "hide_contact_until_claimed")
AGENT_KEYS = ("email", "name", "active", "role", "phone", "accepting_leads", "max_open_leads",
              "max_leads_per_day", "zip_codes", "specialties")
ROSTER_KEYS = ("name", "members")
MEMBER_KEYS = ("agent", "leads_per_round")
SHIFT_KEYS = ("agent", "days", "start", "end")
WINDOW_KEYS = ("days", "start", "end")
RULE_KEYS = ("name", "active", "catch_all", "criteria", "days_times", "roster", "selection",
             "delivery", "claim_timeout_minutes", "escalate_to", "after_hours",
             "first_contact_minutes", "lender_roster", "add_tags")
AFTER_HOURS = ("offer", "assign")
DEFAULT_CLAIM_MINUTES = 5
HANDOFF_TARGET_KEYS = ("name", "active", "roster", "selection", "delivery",
                       "claim_timeout_minutes", "first_contact_minutes", "escalate_to")
HANDOFF_SELECTIONS = ("rotation", "on_duty", "territory", "specialty")
DEFAULT_HANDOFF_CONTACT_MINUTES = 30

ROLES = ("agent", "isa", "lender", "manager")
SELECTIONS = ("rotation", "first_in_roster", "on_duty", "territory", "least_loaded", "specialty")
# Delivery modes the file accepts; add a value here when Rule.Delivery gains one.
DELIVERIES = frozenset({"assign", "claim", "first_to_claim"})
TEXT_CRITERIA = ("source", "tag", "lead_type", "city", "county", "neighborhood", "zip_code",
                 "mls_region", "property_type", "site")
NUMBER_CRITERIA = ("price_min", "price_max", "score_min")
CRITERIA_KEYS = TEXT_CRITERIA + NUMBER_CRITERIA

# Column sizes, checked here so that PostgreSQL never rejects a value half-way through.
MAX_INT = 2_147_483_647  # PositiveIntegerField
MAX_LEADS_PER_ROUND = 32_767  # PositiveSmallIntegerField
MAX_LOGIN = 150  # auth user name: the agent's e-mail
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

HEADER = (
    "# Routing configuration. Rules are in priority order (the first match wins), the\n"
    "# catch-all last. Apply with: python manage.py import_routing FILE\n"
)


class RoutingFileError(Exception):
    """The file cannot be imported; ``errors`` lists every problem with its place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# --- The validated file ---------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerageEntry:
    name: str | None = None
    listing_routing: bool | None = None
    hide_contact_until_claimed: bool | None = None


@dataclass(frozen=True)
class AgentEntry:
    email: str  # lower-case
    name: str
    role: str = "agent"
    phone: str | None = None  # E.164
    active: bool = True
    accepting_leads: bool = True
    max_open_leads: int | None = None
    max_leads_per_day: int | None = None
    zip_codes: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberEntry:
    agent: str  # e-mail, lower-case
    leads_per_round: int = 1


@dataclass(frozen=True)
class RosterEntry:
    name: str
    members: tuple[MemberEntry, ...] = ()


@dataclass(frozen=True)
class WindowEntry:
    days: tuple[str, ...]  # mon..sun, in week order
    start: time
    end: time


@dataclass(frozen=True)
class ShiftEntry:
    agent: str  # e-mail, lower-case
    days: tuple[str, ...]
    start: time
    end: time


@dataclass(frozen=True)
class RuleEntry:
    name: str
    roster: str
    active: bool = True
    catch_all: bool = False
    criteria: tuple[tuple[str, str], ...] = ()  # (field, value) rows as stored, in field order
    windows: tuple[WindowEntry, ...] = ()
    selection: str = "rotation"
    delivery: str = "assign"
    lender_roster: str | None = None
    add_tags: tuple[str, ...] = ()
    claim_timeout_minutes: int = DEFAULT_CLAIM_MINUTES
    escalate_to: str | None = None  # agent e-mail, lower-case
    after_hours: str = "offer"
    first_contact_minutes: int | None = None


@dataclass(frozen=True)
class HandoffTargetEntry:
    name: str
    roster: str
    active: bool = True
    selection: str = "rotation"
    delivery: str = "assign"
    claim_timeout_minutes: int = DEFAULT_CLAIM_MINUTES
    first_contact_minutes: int = DEFAULT_HANDOFF_CONTACT_MINUTES
    escalate_to: str | None = None  # agent e-mail, lower-case


@dataclass(frozen=True)
class RoutingFile:
    """A checked routing file: every reference in it resolves within the file."""

    timezone: str  # "" = the settings' TIME_ZONE
    agents: tuple[AgentEntry, ...]
    rosters: tuple[RosterEntry, ...]
    shifts: tuple[ShiftEntry, ...]
    rules: tuple[RuleEntry, ...]  # priority order, the catch-all last
    brokerage: BrokerageEntry | None = None
    actionable_window: tuple[WindowEntry, ...] | None = None  # None: left as it is
    handoff_targets: tuple[HandoffTargetEntry, ...] | None = None  # None: left as they are


@dataclass
class ImportSummary:
    """What an import changed, for the one-line report of ``import_routing``."""

    agents_created: int = 0
    agents_updated: int = 0
    agents_deactivated: int = 0
    rosters: int = 0
    rosters_created: int = 0
    rosters_deleted: int = 0
    shifts: int = 0
    rules: int = 0
    rules_created: int = 0
    rules_deleted: int = 0

    def __str__(self) -> str:
        return (
            f"agents: {self.agents_created} created, {self.agents_updated} updated, "
            f"{self.agents_deactivated} deactivated; rosters: {self.rosters} "
            f"({self.rosters_created} new, {self.rosters_deleted} removed); "
            f"shifts: {self.shifts}; rules: {self.rules} ({self.rules_created} new, "
            f"{self.rules_deleted} removed)"
        )


# --- Reading --------------------------------------------------------------------------------


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


def _plain_number(value: Decimal) -> str:
    """``1000000``, ``1500.5``: the text stored in a criterion row (no exponent, no ``.0``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


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
        if start is not None and start == end:
            self.error(_at(path, "end"), "must differ from start")
        return days, start, end

    def number(self, value: Any, where: str, *, whole: bool) -> Decimal | None:
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
        if number is None or not number.is_finite():
            self.error(where, "must be a whole number" if whole else "must be a number")
            return None
        if number < 0:
            self.error(where, "must be 0 or more")
            return None
        if whole and number != number.to_integral_value():
            self.error(where, "must be a whole number")
            return None
        exponent = number.normalize().as_tuple().exponent
        if number >= 10**12 or (isinstance(exponent, int) and exponent < -2):
            self.error(where, "too precise or too large (at most 12 digits and 2 decimals)")
            return None
        return number

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
            role=self.choice(obj, "role", path, ROLES, "agent"),
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
        if catch_all and not active:
            self.error(_at(path, "active"), "the catch-all rule is always active")
        criteria = self.criteria(obj.get("criteria"), _at(path, "criteria"))
        windows: list[WindowEntry] = []
        for where, item in self.items(obj, "days_times", path):
            window = self.mapping(item, where, WINDOW_KEYS)
            if window is not None:
                days, start, end = self.window(window, where)
                if start is not None and end is not None:
                    windows.append(WindowEntry(days, start, end))
        if catch_all:
            if criteria:
                self.error(_at(path, "criteria"), "the catch-all rule takes every lead: "
                           "no criteria")
            if obj.get("days_times"):
                self.error(_at(path, "days_times"), "the catch-all rule takes every lead: "
                           "no days_times")
        elif not criteria and not obj.get("days_times"):
            self.error(path, "needs at least one criterion or days_times entry "
                       "(only the catch-all rule takes every lead)")
        lender = obj.get("lender_roster")
        return RuleEntry(
            name=self.text(obj, "name", path) or "",
            roster=self.text(obj, "roster", path, max_length=100) or "",
            active=active or catch_all,
            catch_all=catch_all,
            criteria=criteria,
            windows=tuple(windows),
            selection=self.choice(obj, "selection", path, SELECTIONS, "rotation"),
            delivery=self.choice(obj, "delivery", path, DELIVERIES, "assign"),
            lender_roster=(self.text(obj, "lender_roster", path, max_length=100)
                           if lender is not None else None),
            add_tags=self.strings(obj.get("add_tags"), _at(path, "add_tags")),
            claim_timeout_minutes=self._claim_minutes(obj, path),
            escalate_to=(self.text(obj, "escalate_to", path, max_length=254) or "").lower()
            or None if obj.get("escalate_to") is not None else None,
            after_hours=self.choice(obj, "after_hours", path, AFTER_HOURS, "offer"),
            first_contact_minutes=self.count(obj, "first_contact_minutes", path, default=None,
                                             nullable=True),
        )

    def _claim_minutes(self, obj: dict, path: str) -> int:
        minutes = self.count(obj, "claim_timeout_minutes", path, default=DEFAULT_CLAIM_MINUTES,
                             maximum=MAX_LEADS_PER_ROUND)
        if minutes == 0:
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
            number = self.number(obj[name], where, whole=name == "score_min")
            if number is not None:
                numbers[name] = number
                rows.append((name, _plain_number(number)))
        low, high = numbers.get("price_min"), numbers.get("price_max")
        if low is not None and high is not None and low > high:
            self.error(path, f"price_min ({_plain_number(low)}) is above price_max "
                       f"({_plain_number(high)})")
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
        found = []
        for where, item in reader.items({"actionable_window": raw if isinstance(raw, list)
                                         else [raw]}, "actionable_window", ""):
            window = reader.mapping(item, where, WINDOW_KEYS)
            if window is not None:
                days, start, end = reader.window(window, where)
                if start is not None and end is not None:
                    found.append(WindowEntry(days, start, end))
        actionable = tuple(found)

    agents = _entries(reader, top, "agents", reader.agent)
    rosters = _entries(reader, top, "rosters", reader.roster)
    shifts = _entries(reader, top, "shifts", reader.shift)
    if "rules" not in top:
        reader.error("rules", "missing (at least the catch-all rule)")
    rules = _entries(reader, top, "rules", reader.rule)

    targets = None
    if top.get("handoff_targets") is not None:
        targets = _entries(reader, top, "handoff_targets",
                           lambda raw, where: _handoff_target(reader, raw, where))

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


def _handoff_target(reader: _Reader, raw: Any, path: str) -> HandoffTargetEntry | None:
    obj = reader.mapping(raw, path, HANDOFF_TARGET_KEYS)
    if obj is None:
        return None
    contact = reader.count(obj, "first_contact_minutes", path,
                           default=DEFAULT_HANDOFF_CONTACT_MINUTES)
    if contact == 0:
        reader.error(_at(path, "first_contact_minutes"), "must be at least 1 minute")
    escalate = obj.get("escalate_to")
    return HandoffTargetEntry(
        name=reader.text(obj, "name", path, max_length=100) or "",
        roster=reader.text(obj, "roster", path, max_length=100) or "",
        active=reader.flag(obj, "active", path, True),
        selection=reader.choice(obj, "selection", path, HANDOFF_SELECTIONS, "rotation"),
        delivery=reader.choice(obj, "delivery", path, DELIVERIES, "assign"),
        claim_timeout_minutes=reader._claim_minutes(obj, path),
        first_contact_minutes=contact or DEFAULT_HANDOFF_CONTACT_MINUTES,
        escalate_to=((reader.text(obj, "escalate_to", path, max_length=254) or "").lower()
                     or None) if escalate is not None else None,
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


# --- Applying -------------------------------------------------------------------------------


def apply_routing_file(data: RoutingFile) -> ImportSummary:
    """Make the database say what the file says, all or nothing."""
    summary = ImportSummary()
    with transaction.atomic():
        brokerage = Brokerage.load()
        brokerage = Brokerage.objects.select_for_update().get(pk=brokerage.pk)
        brokerage.timezone = data.timezone
        if data.brokerage is not None:
            if data.brokerage.name is not None:
                brokerage.name = data.brokerage.name
            if data.brokerage.listing_routing is not None:
                brokerage.listing_routing = data.brokerage.listing_routing
            if data.brokerage.hide_contact_until_claimed is not None:
                brokerage.hide_contact_until_claimed = data.brokerage.hide_contact_until_claimed
        if data.actionable_window is not None:
            brokerage.actionable_window = [
                {"days": list(w.days), "start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}"}
                for w in data.actionable_window
            ]
        brokerage.save()

        agents = _apply_agents(data, summary)
        rosters = _apply_rosters(data, agents, summary)
        _apply_shifts(data, agents, summary)
        _apply_rules(data, rosters, agents, summary)
        if data.handoff_targets is not None:
            _apply_handoff_targets(data.handoff_targets, rosters, agents)
        stale = Roster.objects.exclude(name__in=list(rosters)).filter(
            rules__isnull=True, lender_rules__isnull=True, handoff_targets__isnull=True
        )
        stale_ids = list(stale.values_list("id", flat=True).distinct())
        Roster.objects.filter(id__in=stale_ids).delete()
        summary.rosters_deleted = len(stale_ids)
        bump_config_token()  # some changes above are queryset updates, without signals
    return summary


def _agent_entry(agent: Agent) -> AgentEntry:
    """An agent as the file would say it (also how export writes it)."""
    return AgentEntry(
        email=agent.email.strip().lower(),
        name=agent.name.strip(),
        role=agent.role,
        phone=_phone_text(agent.phone),
        active=agent.is_active,
        accepting_leads=agent.accepting_leads,
        max_open_leads=agent.max_open_leads,
        max_leads_per_day=agent.max_leads_per_day,
        zip_codes=_clean_list(agent.zip_codes),
        specialties=_clean_list(agent.specialties),
    )


def _phone_text(phone: Any) -> str | None:
    if not phone:
        return None
    try:
        return phone.as_e164 if phone.is_valid() else str(phone)
    except AttributeError:  # a plain string
        return str(phone)


def _clean_list(values: Any) -> tuple[str, ...]:
    found: list[str] = []
    for value in values or ():
        text = str(value).strip()
        if text and text not in found:
            found.append(text)
    return tuple(found)


def _apply_agents(data: RoutingFile, summary: ImportSummary) -> dict[str, Agent]:
    existing = {a.email.lower(): a for a in Agent.objects.select_for_update().order_by("id")}
    by_email: dict[str, Agent] = {}
    for entry in data.agents:
        agent = existing.get(entry.email)
        if agent is not None and _agent_entry(agent) == entry:
            by_email[entry.email] = agent
            continue
        if agent is None:
            agent = Agent(email=entry.email)
            agent.user = _login_for(entry)
            summary.agents_created += 1
        else:
            summary.agents_updated += 1
        agent.name = entry.name
        agent.role = entry.role
        agent.phone = entry.phone or ""
        agent.is_active = entry.active
        agent.accepting_leads = entry.accepting_leads
        agent.max_open_leads = entry.max_open_leads
        agent.max_leads_per_day = entry.max_leads_per_day
        agent.zip_codes = list(entry.zip_codes)
        agent.specialties = list(entry.specialties)
        agent.save()
        sync_access(agent)  # the login's group follows the role
        by_email[entry.email] = agent
    for email, agent in existing.items():
        if email not in by_email and agent.is_active:
            agent.is_active = False
            agent.save(update_fields=["is_active"])
            summary.agents_deactivated += 1
    return by_email


def _login_for(entry: AgentEntry) -> Any:
    """A login for a new agent: a free user already named after the e-mail, or a new one."""
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=entry.email).first()
    if user is not None:
        # A login that already belongs to another agent stays theirs: this one gets none.
        return None if Agent.objects.filter(user=user).exists() else user
    first, _, last = entry.name.partition(" ")
    user = user_model(username=entry.email, email=entry.email, first_name=first[:150],
                      last_name=last.strip()[:150])
    user.set_unusable_password()
    user.save()
    return user


def _apply_rosters(data: RoutingFile, agents: dict[str, Agent],
                   summary: ImportSummary) -> dict[str, Roster]:
    existing = {r.name: r for r in Roster.objects.all()}
    by_name: dict[str, Roster] = {}
    for entry in data.rosters:
        roster = existing.get(entry.name)
        if roster is None:
            roster = Roster.objects.create(name=entry.name)
            summary.rosters_created += 1
        by_name[entry.name] = roster
        wanted = {agents[m.agent].id: (i, m.leads_per_round) for i, m in enumerate(entry.members)}
        current = {m.agent_id: m for m in roster.members.all()}
        for agent_id, member in current.items():
            if agent_id not in wanted:
                member.delete()
            elif (member.position, member.leads_per_round) != wanted[agent_id]:
                member.position, member.leads_per_round = wanted[agent_id]
                member.save(update_fields=["position", "leads_per_round"])
        for agent_id, (position, lpr) in wanted.items():
            if agent_id not in current:
                RosterMember.objects.create(roster=roster, agent_id=agent_id, position=position,
                                            leads_per_round=lpr)
    summary.rosters = len(by_name)
    return by_name


def _apply_shifts(data: RoutingFile, agents: dict[str, Agent], summary: ImportSummary) -> None:
    def key(agent_id: int, days: Any, start: time, end: time) -> tuple:
        return agent_id, tuple(days), start.replace(second=0, microsecond=0), end.replace(
            second=0, microsecond=0)

    wanted = [key(agents[s.agent].id, s.days, s.start, s.end) for s in data.shifts]
    current = [key(s.agent_id, s.days, s.start, s.end) for s in Shift.objects.all()]
    summary.shifts = len(wanted)
    if Counter(wanted) == Counter(current):
        return
    Shift.objects.all().delete()
    for agent_id, days, start, end in wanted:
        Shift.objects.create(agent_id=agent_id, days=list(days), start=start, end=end)


def _apply_rules(data: RoutingFile, rosters: dict[str, Roster], agents: dict[str, Agent],
                 summary: ImportSummary) -> None:
    names = [entry.name for entry in data.rules]
    stale = Rule.objects.exclude(name__in=names)
    summary.rules_deleted = stale.count()
    stale.delete()
    catch_all = next(entry.name for entry in data.rules if entry.catch_all)
    # One catch-all at a time (a partial unique index): step the old one down first.
    Rule.objects.filter(is_catch_all=True).exclude(name=catch_all).update(is_catch_all=False)
    existing = {rule.name: rule for rule in Rule.objects.select_for_update()}
    for priority, entry in enumerate(data.rules):
        rule = existing.get(entry.name)
        if rule is None:
            rule = Rule(name=entry.name)
            summary.rules_created += 1
        values = {
            "priority": priority,
            "is_active": entry.active or entry.catch_all,
            "is_catch_all": entry.catch_all,
            "roster_id": rosters[entry.roster].id,
            "selection": entry.selection,
            "delivery": entry.delivery,
            "lender_roster_id": rosters[entry.lender_roster].id if entry.lender_roster else None,
            "add_tags": list(entry.add_tags),
            "claim_timeout_minutes": entry.claim_timeout_minutes,
            "escalate_to_id": agents[entry.escalate_to].id if entry.escalate_to else None,
            "after_hours": entry.after_hours,
            "first_contact_minutes": entry.first_contact_minutes,
        }
        if rule.pk is None or any(getattr(rule, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(rule, name, value)
            rule.save()
        if _criteria_rows(rule) != list(entry.criteria):
            rule.criteria.all().delete()
            for name, value in entry.criteria:
                RuleCriterion.objects.create(rule=rule, field=name, value=value)
        wanted = [(list(w.days), w.start, w.end) for w in entry.windows]
        if [(w.days, w.start, w.end) for w in rule.windows.all()] != wanted:
            rule.windows.all().delete()
            for days, start, end in wanted:
                RuleWindow.objects.create(rule=rule, days=days, start=start, end=end)
    summary.rules = len(data.rules)


def _apply_handoff_targets(entries: tuple[HandoffTargetEntry, ...], rosters: dict[str, Roster],
                           agents: dict[str, Agent]) -> None:
    HandoffTarget.objects.exclude(name__in=[e.name for e in entries]).delete()
    existing = {t.name: t for t in HandoffTarget.objects.select_for_update()}
    for entry in entries:
        target = existing.get(entry.name) or HandoffTarget(name=entry.name)
        values = {
            "is_active": entry.active,
            "roster_id": rosters[entry.roster].id,
            "selection": entry.selection,
            "delivery": entry.delivery,
            "claim_timeout_minutes": entry.claim_timeout_minutes,
            "first_contact_minutes": entry.first_contact_minutes,
            "escalate_to_id": agents[entry.escalate_to].id if entry.escalate_to else None,
        }
        if target.pk is None or any(getattr(target, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(target, name, value)
            target.save()


def _criteria_rows(rule: Rule) -> list[tuple[str, str]]:
    rows = [(c.field, c.value) for c in rule.criteria.all()] if rule.pk else []
    return sorted(rows, key=lambda row: CRITERIA_KEYS.index(row[0])
                  if row[0] in CRITERIA_KEYS else len(CRITERIA_KEYS))


# --- Writing --------------------------------------------------------------------------------


class _Quoted(str):
    """Always written in double quotes (times), so that YAML never reads one as a number."""


class _Dumper(yaml.SafeDumper):
    """Block style, indented lists, and double quotes whenever a string needs quoting."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


_Dumper.add_representer(
    _Quoted, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", str(value), style='"')
)


def _clock(value: time) -> _Quoted:
    return _Quoted(f"{value:%H:%M}")


def _days(days: Any) -> list[str]:
    found: set[int] = set()
    for day in days or ():
        name = str(day).strip().lower()[:3]
        if name in DAY_NAMES:
            found.add(DAY_NAMES.index(name))
    return [DAY_NAMES[d] for d in sorted(found)]


def _export_number(value: str) -> int | float | str:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return value  # not a number: written as it is, so that import points at it
    if not number.is_finite():
        return value
    return int(number) if number == number.to_integral_value() else float(number)


def export_routing() -> str:
    """The current configuration in the routing-file format (``load_routing_file`` reads it)."""
    brokerage = Brokerage.load()
    agents = []
    for agent in Agent.objects.order_by("email"):
        entry = _agent_entry(agent)
        item: dict[str, Any] = {"email": entry.email, "name": entry.name}
        if not entry.active:
            item["active"] = False
        item.update({
            "role": entry.role,
            "phone": entry.phone,
            "accepting_leads": entry.accepting_leads,
            "max_open_leads": entry.max_open_leads,
            "max_leads_per_day": entry.max_leads_per_day,
            "zip_codes": list(entry.zip_codes),
            "specialties": list(entry.specialties),
        })
        agents.append(item)

    rosters = []
    for roster in Roster.objects.order_by("name").prefetch_related("members__agent"):
        members = []
        for member in sorted(roster.members.all(), key=lambda m: (m.position, m.id)):
            item = {"agent": member.agent.email.lower()}
            if member.leads_per_round != 1:
                item["leads_per_round"] = member.leads_per_round
            members.append(item)
        rosters.append({"name": roster.name, "members": members})

    shifts = sorted(
        (
            {"agent": s.agent.email.lower(), "days": _days(s.days), "start": _clock(s.start),
             "end": _clock(s.end)}
            for s in Shift.objects.select_related("agent")
        ),
        key=lambda s: (s["agent"], s["start"], s["end"], [DAY_NAMES.index(d) for d in s["days"]]),
    )

    rules = [
        _export_rule(rule)
        for rule in Rule.objects.select_related("roster", "lender_roster", "escalate_to")
        .prefetch_related("criteria", "windows")
        .order_by("is_catch_all", "priority", "id")
    ]
    doc = {
        "timezone": brokerage.tz_name,
        "brokerage": {"name": brokerage.name, "listing_routing": brokerage.listing_routing,
                      "hide_contact_until_claimed": brokerage.hide_contact_until_claimed},
        "actionable_window": [
            {"days": _days(w["days"]), "start": _Quoted(w["start"]), "end": _Quoted(w["end"])}
            for w in brokerage.actionable_window or ()
        ],
        "agents": agents,
        "rosters": rosters,
        "shifts": shifts,
        "rules": rules,
    }
    targets = [_export_handoff_target(t) for t in HandoffTarget.objects.select_related(
        "roster", "escalate_to").order_by("name")]
    if targets:
        doc["handoff_targets"] = targets
    return HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=False)


def _export_rule(rule: Rule) -> dict[str, Any]:
    item: dict[str, Any] = {"name": rule.name}
    if rule.is_catch_all:
        item["catch_all"] = True
    else:
        item["active"] = rule.is_active
    criteria: dict[str, Any] = {}
    for name, value in _criteria_rows(rule):
        if name in TEXT_CRITERIA:
            values = criteria.setdefault(name, [])
            if value.strip() and value.strip() not in values:
                values.append(value.strip())
        elif name in NUMBER_CRITERIA:
            criteria[name] = _export_number(value)  # the last one wins, as in routing
    criteria = {k: v for k, v in criteria.items() if v != []}
    if criteria:
        item["criteria"] = criteria
    windows = [
        {"days": _days(w.days), "start": _clock(w.start), "end": _clock(w.end)}
        for w in rule.windows.all()
    ]
    if windows:
        item["days_times"] = windows
    item.update({
        "roster": rule.roster.name,
        "selection": rule.selection,
        "delivery": rule.delivery,
    })
    if rule.delivery != Rule.Delivery.ASSIGN or rule.claim_timeout_minutes != DEFAULT_CLAIM_MINUTES:
        item["claim_timeout_minutes"] = rule.claim_timeout_minutes
    if rule.escalate_to_id:
        item["escalate_to"] = rule.escalate_to.email.lower()
    if rule.delivery != Rule.Delivery.ASSIGN or rule.after_hours != Rule.AfterHours.OFFER:
        item["after_hours"] = rule.after_hours
    if rule.first_contact_minutes is not None:
        item["first_contact_minutes"] = rule.first_contact_minutes
    item.update({
        "lender_roster": rule.lender_roster.name if rule.lender_roster else None,
        "add_tags": list(_clean_list(rule.add_tags)),
    })
    return item


def _export_handoff_target(target: HandoffTarget) -> dict[str, Any]:
    item: dict[str, Any] = {"name": target.name, "active": target.is_active,
                            "roster": target.roster.name, "selection": target.selection,
                            "delivery": target.delivery}
    if (target.delivery != Rule.Delivery.ASSIGN
            or target.claim_timeout_minutes != DEFAULT_CLAIM_MINUTES):
        item["claim_timeout_minutes"] = target.claim_timeout_minutes
    item["first_contact_minutes"] = target.first_contact_minutes
    item["escalate_to"] = target.escalate_to.email.lower() if target.escalate_to else None
    return item
