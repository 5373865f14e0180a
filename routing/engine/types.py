"""The engine's plain data: what it is given (configuration, lead, cursors, loads), what it
answers (``Decision``) and the names of its choices, each defined once.

The enums are ``StrEnum``: a member equals the string the database stores, so values read from
the database compare equal to them and decisions are stored and serialised as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from routing.windows import WeeklyWindow

TEXT_FIELDS = (
    "source",
    "tag",
    "lead_type",
    "city",
    "county",
    "neighborhood",
    "zip_code",
    "mls_region",
    "property_type",
    "site",
)
NUMBER_FIELDS = ("price_min", "price_max", "score_min")
FIELD_LABELS = {
    "source": "Source",
    "tag": "Tag",
    "lead_type": "Lead type",
    "city": "City",
    "county": "County",
    "neighborhood": "Neighborhood",
    "zip_code": "Zip code",
    "mls_region": "MLS region",
    "property_type": "Property type",
    "site": "Site",
    "price_min": "Price at least",
    "price_max": "Price at most",
    "score_min": "Score at least",
}


class Outcome(StrEnum):
    """What became of the lead."""

    ASSIGNED = "assigned"
    OFFERED = "offered"  # waiting for a claim (``Decision.offered_to``)
    EXISTING = "existing"  # registered again: the existing lead keeps its owner
    UNASSIGNED = "unassigned"  # the pond
    NOBODY = "nobody"  # a hand-off nobody can take: nothing happens


class Reason(StrEnum):
    """Why the lead went where it went."""

    PRE_ASSIGNED = "pre_assigned"
    TRACKING_LINK = "tracking_link"
    OWN_LISTING = "own_listing"
    EXISTING_LEAD = "existing_lead"
    RULE = "rule"
    POND = "pond"
    ESCALATED = "escalated"
    HANDOFF = "handoff"


class Selection(StrEnum):
    """How a rule (or hand-off target) picks one member of its roster."""

    ROTATION = "rotation"
    FIRST_IN_ROSTER = "first_in_roster"
    ON_DUTY = "on_duty"
    TERRITORY = "territory"
    LEAST_LOADED = "least_loaded"
    SPECIALTY = "specialty"


class Delivery(StrEnum):
    """How the picked agent gets the lead."""

    ASSIGN = "assign"
    CLAIM = "claim"  # offered to the one agent, with a claim timeout
    FIRST_TO_CLAIM = "first_to_claim"  # offered to everyone eligible at once
    INSTANT_CALL = "instant_call"  # offered to one agent at a time, by phone: press 1 to accept


class AfterHours(StrEnum):
    """What a claim rule does outside the actionable window."""

    OFFER = "offer"  # offer now, the claim clock starts when the window opens
    ASSIGN = "assign"  # assign outright to the agent picked


class CursorKind(StrEnum):
    """Which of a rule's two rotations a cursor belongs to."""

    AGENT = "agent"
    LENDER = "lender"


AGENT, LENDER = CursorKind.AGENT, CursorKind.LENDER


class Stage(StrEnum):
    """What a step of the trace is about (``TraceStep["stage"]``)."""

    SPECIAL = "special"  # pre-assigned, tracking link, own listing, existing lead
    CLOCK = "clock"  # the arrival in brokerage time
    RULE = "rule"  # a rule evaluated, or matched but unstaffed
    AGENT = "agent"  # a roster member considered (the stage is the rotation's kind)
    LENDER = "lender"
    SELECTION = "selection"  # first in roster, least loaded
    ROTATION = "rotation"  # whose turn it was
    DELIVERY = "delivery"  # after hours: assigned instead of offered
    RESULT = "result"
    MOVED_ON = "moved_on"  # an offer expired or was declined, a contact was missed
    HANDOFF = "handoff"

class SkipCode(StrEnum):
    """Why a roster member could not take a lead, as a code the fairness figures count."""

    INACTIVE = "inactive"
    PAUSED = "paused"
    AWAY = "away"  # scheduled time off
    NO_LEADS_PER_ROUND = "no_leads_per_round"
    OFF_DUTY = "off_duty"
    OUTSIDE_TERRITORY = "outside_territory"
    NO_SPECIALTY = "no_specialty"
    ALREADY_HAD_IT = "already_had_it"
    AT_CAP = "at_cap"
    AT_DAILY_CAP = "at_daily_cap"
    GRADUAL_RETURN = "gradual_return"  # the first day back's limit of leads
    MORE_OPEN_LEADS = "more_open_leads"  # least loaded: eligible, but others had fewer


CursorKey = tuple[int, str]  # (rule id, CursorKind value)
TraceStep = dict[str, Any]  # {"stage": ..., "text": ..., data} (members: data only), as JSON


@dataclass(frozen=True)
class TimeAway:
    """Scheduled time off: the agent is skipped from ``starts_at`` until ``ends_at``."""

    starts_at: datetime
    ends_at: datetime
    note: str = ""

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


def away_at(away: Sequence[TimeAway], moment: datetime) -> TimeAway | None:
    """The time off ``moment`` falls in, until the end of any time off that overlaps or
    follows it without a gap (so "away until" names when they are really back)."""
    covering = [t for t in away if t.covers(moment)]
    if not covering:
        return None
    found = max(covering, key=lambda t: t.ends_at)
    end = found.ends_at
    for later in sorted(away, key=lambda t: t.starts_at):
        if later.starts_at <= end < later.ends_at:
            end = later.ends_at
    return TimeAway(found.starts_at, end, found.note)


@dataclass(frozen=True)
class AgentInfo:
    id: int
    email: str
    name: str
    role: str = "agent"
    is_active: bool = True
    accepting_leads: bool = True
    max_open_leads: int | None = None
    max_leads_per_day: int | None = None
    zip_codes: frozenset[str] = frozenset()
    specialties: frozenset[str] = frozenset()
    shifts: tuple[WeeklyWindow, ...] = ()
    away: tuple[TimeAway, ...] = ()  # time off not yet over, in time order
    # Gradual return: on these days (brokerage time), their first back after a day or more of
    # time off, at most ``first_day_back_leads`` leads.
    first_days_back: frozenset[date] = frozenset()
    first_day_back_leads: int | None = None

    @property
    def has_caps(self) -> bool:
        return (self.max_open_leads is not None or self.max_leads_per_day is not None
                or (self.first_day_back_leads is not None and bool(self.first_days_back)))

    def away_at(self, moment: datetime) -> TimeAway | None:
        return away_at(self.away, moment)

    def back_day_limit(self, day: date) -> int | None:
        """The gradual return's limit of leads on this day (None: no such limit)."""
        return self.first_day_back_leads if day in self.first_days_back else None


@dataclass(frozen=True)
class Member:
    agent_id: int
    position: int
    leads_per_round: int = 1


@dataclass(frozen=True)
class RosterInfo:
    id: int
    name: str
    members: tuple[Member, ...]  # in position order


@dataclass(frozen=True)
class RuleInfo:
    id: int
    name: str
    roster_id: int
    is_active: bool = True
    is_catch_all: bool = False
    selection: Selection = Selection.ROTATION
    delivery: Delivery = Delivery.ASSIGN
    lender_roster_id: int | None = None
    add_tags: tuple[str, ...] = ()
    text_criteria: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # lower-cased
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    score_min: int | None = None
    windows: tuple[WeeklyWindow, ...] = ()
    claim_timeout_minutes: int = 5
    escalate_to_id: int | None = None
    after_hours: AfterHours = AfterHours.OFFER
    first_contact_minutes: int | None = None
    call_timeout_seconds: int = 45  # instant call: the time to answer and press 1

    @property
    def claim_text(self) -> str:
        """The time an offer of this rule runs, in words."""
        if self.delivery == Delivery.INSTANT_CALL:
            return f"{self.call_timeout_seconds} s to answer the call and press 1"
        return f"{self.claim_timeout_minutes} min to claim"


@dataclass(frozen=True)
class RoutingConfig:
    timezone: str
    rules: tuple[RuleInfo, ...]  # priority order, the catch-all last
    rosters: Mapping[int, RosterInfo]
    agents: Mapping[int, AgentInfo]
    listing_routing: bool = True
    actionable: tuple[WeeklyWindow, ...] = ()  # when claim clocks run; empty = always
    auto_response_rules: frozenset[int] = frozenset()  # rules that answer the lead
    _by_email: dict[str, AgentInfo] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    _rules_by_id: dict[int, RuleInfo] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    #: The roster walks whose facts do not depend on the lead (``selection.roster_walk``),
    #: worked out once for this configuration and reused for every lead.
    walks: dict[tuple[int, str, str], Any] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        self._by_email.update({a.email.strip().lower(): a for a in self.agents.values()})
        self._rules_by_id.update({r.id: r for r in self.rules})

    def rule(self, rule_id: int | None) -> RuleInfo | None:
        return self._rules_by_id.get(rule_id) if rule_id else None

    @property
    def agent_emails(self) -> frozenset[str]:
        return frozenset(self._by_email)

    def agent_by_email(self, email: str) -> AgentInfo | None:
        return self._by_email.get((email or "").strip().lower())


@dataclass(frozen=True)
class LeadFacts:
    """What routing looks at in a lead."""

    received_at: datetime
    source: str = ""
    tags: tuple[str, ...] = ()
    lead_type: str = ""
    city: str = ""
    county: str = ""
    neighborhood: str = ""
    zip_code: str = ""
    mls_region: str = ""
    property_type: str = ""
    site: str = ""
    price: Decimal | None = None
    score: int | None = None
    assigned_to: str = ""
    tracking_agent: str = ""
    listing_agent: str = ""


@dataclass(frozen=True)
class ExistingLead:
    """The first lead of a person who registers again.

    ``in_pond``: nobody owns it and no offer is open (the pond). Such a lead, and one whose
    owner has left, is routed again through the rules (``Decision.existing_lead_id`` set).
    """

    id: int
    owner_id: int | None
    in_pond: bool = False


@dataclass(frozen=True)
class Cursor:
    """A rotation's state: whose turn it is, at which roster position, leads given in it."""

    agent_id: int | None = None
    position: int = -1
    given: int = 0


@dataclass(frozen=True)
class Loads:
    open_leads: Mapping[int, int] = field(default_factory=dict)
    leads_today: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedTurn:
    """A turn the rotation passed over: whose it was and why (``limit``: the cap, for caps).

    Stored with the decision's record (``RoutingRecord.skipped_turns``), so the fairness
    figures count missed turns without reading traces.
    """

    agent_id: int
    why: SkipCode
    limit: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"agent": self.agent_id, "why": str(self.why)}
        if self.limit is not None:
            data["limit"] = self.limit
        return data


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one lead, with the trace that explains it (a new decision is made
    with ``dataclasses.replace``, never by changing one)."""

    outcome: Outcome
    reason: Reason
    summary: str
    trace: list[TraceStep]
    agent_id: int | None = None
    lender_id: int | None = None
    rule_id: int | None = None
    rule_name: str = ""
    existing_lead_id: int | None = None  # the person's first lead: kept, or routed again
    add_tags: tuple[str, ...] = ()
    cursors: dict[CursorKey, Cursor] = field(default_factory=dict)
    offered_to: tuple[int, ...] = ()  # outcome "offered": who may claim
    delivery: Delivery = Delivery.ASSIGN
    skipped_turns: tuple[SkippedTurn, ...] = ()  # the agent rotation's turns passed over
    handoff_target_id: int | None = None  # a hand-off target's decision: the target
