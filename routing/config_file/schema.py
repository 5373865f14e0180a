"""The routing file's shape: its sections and keys, the values it accepts, its defaults.

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
* Rules may say ``delivery: instant_call`` (agents are phoned one after another, press 1 to
  accept) with ``call_timeout_seconds`` (10-600, default 45).
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

from dataclasses import dataclass
from datetime import time

from agents.models import Agent
from routing.engine import NUMBER_FIELDS, TEXT_FIELDS
from routing.models import HandoffTarget, Rule
from routing.rules_validation import (
    CRITERIA_FIELDS,
    DEFAULT_CALL_SECONDS,
    DEFAULT_CLAIM_MINUTES,
    DEFAULT_HANDOFF_CONTACT_MINUTES,
    HANDOFF_DELIVERIES,
)

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
             "first_contact_minutes", "lender_roster", "add_tags", "call_timeout_seconds")
HANDOFF_TARGET_KEYS = ("name", "active", "roster", "selection", "delivery",
                       "claim_timeout_minutes", "first_contact_minutes", "escalate_to")

# The values the file accepts are the models' choices, in their order.
ROLES = tuple(Agent.Role.values)
SELECTIONS = tuple(Rule.Selection.values)
HANDOFF_SELECTIONS = tuple(HandoffTarget.Selection.values)
DELIVERIES = frozenset(Rule.Delivery.values)
HANDOFF_DELIVERY_VALUES = frozenset(HANDOFF_DELIVERIES)
AFTER_HOURS = tuple(Rule.AfterHours.values)
TEXT_CRITERIA = TEXT_FIELDS
NUMBER_CRITERIA = NUMBER_FIELDS
CRITERIA_KEYS = CRITERIA_FIELDS

# Column sizes, checked here so that PostgreSQL never rejects a value half-way through.
MAX_INT = 2_147_483_647  # PositiveIntegerField
MAX_LEADS_PER_ROUND = 32_767  # PositiveSmallIntegerField
MAX_LOGIN = 150  # auth user name: the agent's e-mail
MAX_EMAIL = 254  # an agent named by e-mail (EmailField)

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
    role: str = Agent.Role.AGENT.value
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
    selection: str = Rule.Selection.ROTATION.value
    delivery: str = Rule.Delivery.ASSIGN.value
    lender_roster: str | None = None
    add_tags: tuple[str, ...] = ()
    claim_timeout_minutes: int = DEFAULT_CLAIM_MINUTES
    escalate_to: str | None = None  # agent e-mail, lower-case
    after_hours: str = Rule.AfterHours.OFFER.value
    first_contact_minutes: int | None = None
    call_timeout_seconds: int = DEFAULT_CALL_SECONDS


@dataclass(frozen=True)
class HandoffTargetEntry:
    name: str
    roster: str
    active: bool = True
    selection: str = HandoffTarget.Selection.ROTATION.value
    delivery: str = Rule.Delivery.ASSIGN.value
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

