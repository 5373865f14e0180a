"""Routing rules, their criteria and windows, rotation state and the stored decisions."""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from agents.models import Agent, Roster
from routing.fields import TraceField


def default_actionable_window() -> list[dict]:
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return [{"days": days, "start": "08:00", "end": "21:00"}]


class Brokerage(models.Model):
    """The brokerage's routing settings (a single row, see ``Brokerage.load``)."""

    name = models.CharField(max_length=200, default="Our brokerage")
    timezone = models.CharField(max_length=64, default="", blank=True)
    listing_routing = models.BooleanField(
        default=True, help_text="An inquiry on an agent's own listing goes to that agent."
    )
    actionable_window = models.JSONField(
        default=default_actionable_window,
        help_text='When claim clocks run, e.g. [{"days": ["mon", "tue"], "start": "08:00", '
        '"end": "21:00"}]. Outside it, offers wait for the morning.',
    )
    hide_contact_until_claimed = models.BooleanField(
        default=True, help_text="Offered agents see a lead's phone and email only once claimed."
    )
    gradual_return_leads = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="On an agent's first day back after a day or more of time off, at most this "
                  "many leads (so a week away does not end in a flood). Empty: no limit.",
    )
    config_token = models.UUIDField(
        default=uuid.uuid4, editable=False,
        help_text="Changes whenever rules, rosters, agents or shifts change.",
    )

    class Meta:
        verbose_name = "brokerage settings"
        verbose_name_plural = "brokerage settings"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def load(cls) -> "Brokerage":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    #: Changes of the configuration made by this process (``bump_config_token`` calls): a
    #: snapshot held for a request is read again after one of them.
    changes_here = 0

    @classmethod
    def bump_config_token(cls) -> None:
        """Mark the routing configuration as changed, so cached snapshots expire (also call
        after queryset ``update()``)."""
        Brokerage.changes_here += 1
        updated = cls.objects.filter(pk=1).update(config_token=uuid.uuid4())
        if not updated:
            cls.load()

    @property
    def tz_name(self) -> str:
        return self.timezone or settings.TIME_ZONE


class Rule(models.Model):
    """Top-down, first match wins: who receives which leads, and how."""

    class Selection(models.TextChoices):
        ROTATION = "rotation", "Rotation (weighted round robin)"
        FIRST_IN_ROSTER = "first_in_roster", "First in roster (round robin off)"
        ON_DUTY = "on_duty", "Agent on duty"
        TERRITORY = "territory", "Territory (lead's zip code)"
        LEAST_LOADED = "least_loaded", "Fewest open leads"
        SPECIALTY = "specialty", "Specialty (agent specialties matching the lead's tags)"

    class Delivery(models.TextChoices):
        ASSIGN = "assign", "Auto-assign"
        CLAIM = "claim", "Claim with timeout"
        FIRST_TO_CLAIM = "first_to_claim", "First to claim"
        INSTANT_CALL = "instant_call", "Instant call (press 1 to accept)"

    class AfterHours(models.TextChoices):
        OFFER = "offer", "Offer now, clock starts when the window opens"
        ASSIGN = "assign", "Assign outright to the first agent picked"

    name = models.CharField(max_length=200, unique=True)
    priority = models.PositiveIntegerField(default=0, db_index=True)
    is_active = models.BooleanField("active", default=True)
    is_catch_all = models.BooleanField(
        "catch-all", default=False,
        help_text="Always active, always last, catches everything else. Exactly one.",
    )
    roster = models.ForeignKey(Roster, on_delete=models.PROTECT, related_name="rules")
    selection = models.CharField(
        max_length=20, choices=Selection.choices, default=Selection.ROTATION
    )
    delivery = models.CharField(max_length=20, choices=Delivery.choices, default=Delivery.ASSIGN)
    lender_roster = models.ForeignKey(
        Roster, null=True, blank=True, on_delete=models.PROTECT, related_name="lender_rules"
    )
    add_tags = models.JSONField(default=list, blank=True, help_text="Tags added to its leads.")
    claim_timeout_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="Minutes (of the actionable window) an agent has to claim."
    )
    escalate_to = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Gets the lead when everyone has passed; empty: the pond.",
    )
    after_hours = models.CharField(
        max_length=10, choices=AfterHours.choices, default=AfterHours.OFFER,
        help_text="What happens to a lead offered outside the actionable window.",
    )
    first_contact_minutes = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Reassign to the next agent when the owner logs no contact within this "
        "many minutes (of the actionable window). Empty: never.",
    )
    call_timeout_seconds = models.PositiveSmallIntegerField(
        default=45, help_text="Instant call: seconds (of the actionable window) an agent has to "
        "answer the call and press 1 before it goes to the next agent.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_catch_all"], condition=models.Q(is_catch_all=True),
                name="one_catch_all_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RuleCriterion(models.Model):
    """One accepted value of one lead field; values of one field are OR, fields are AND."""

    class Field(models.TextChoices):
        SOURCE = "source", "Source"
        TAG = "tag", "Tag"
        LEAD_TYPE = "lead_type", "Lead type"
        CITY = "city", "City"
        COUNTY = "county", "County"
        NEIGHBORHOOD = "neighborhood", "Neighborhood"
        ZIP_CODE = "zip_code", "Zip code"
        MLS_REGION = "mls_region", "MLS region"
        PROPERTY_TYPE = "property_type", "Property type"
        SITE = "site", "Site"
        PRICE_MIN = "price_min", "Price at least"
        PRICE_MAX = "price_max", "Price at most"
        SCORE_MIN = "score_min", "Score at least"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="criteria")
    field = models.CharField(max_length=20, choices=Field.choices)
    value = models.CharField(max_length=200)
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        verbose_name = "criterion"
        verbose_name_plural = "criteria"

    def __str__(self) -> str:
        return f"{self.get_field_display()}: {self.value}"


class RuleWindow(models.Model):
    """Days and times when a rule applies (brokerage time); a rule without any is 24/7."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="windows")
    days = models.JSONField(default=list, help_text='Weekdays, e.g. ["sat", "sun"].')
    start = models.TimeField()
    end = models.TimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{','.join(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"


class RotationState(models.Model):
    """Where a rule's rotation stands: whose turn it is and how many leads they had in it."""

    class Kind(models.TextChoices):
        AGENT = "agent", "Agents"
        LENDER = "lender", "Lenders"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="rotations")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.AGENT)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    position = models.IntegerField(default=-1)
    given = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "kind"], name="one_rotation_per_rule_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.kind}): {self.agent or 'start'} x{self.given}"


class RoutingRecord(models.Model):
    """Why a lead went where it went: the full decision trace, kept forever."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="routing_records")
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=20)
    reason = models.CharField(max_length=40, help_text="What decided: a rule or special routing.")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL)
    rule_name = models.CharField(max_length=200, blank=True)
    # PROTECT: an agent who received leads is deactivated, never deleted (the trace stays whole).
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lender = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    round = models.PositiveSmallIntegerField(default=1, help_text="The lead's routing round.")
    summary = models.TextField()
    trace = TraceField(default=list)
    rule_version = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="The rule's version (its history id) when it took the lead.",
    )
    handoff_target = models.ForeignKey(
        "HandoffTarget", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="A hand-off's decision: the target whose rotation picked the agent.",
    )
    skipped_turns = models.JSONField(
        default=list, blank=True,
        help_text='Turns the rotation passed over, e.g. [{"agent": 7, "why": "paused"}] '
        "(the fairness figures count them without reading the trace).",
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at"], name="routingrecord_created_at"),
            # "Did this lead go to the pond, was it escalated?" (the sources report).
            models.Index(fields=["lead"], name="record_pond_lead",
                         condition=models.Q(outcome="unassigned")),
            models.Index(fields=["lead"], name="record_escalated_lead",
                         condition=models.Q(reason="escalated")),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_id}: {self.summary}"


class Offer(models.Model):
    """A lead put in front of an agent, to be claimed by a deadline."""

    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        CLAIMED = "claimed", "Claimed"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class PassReason(models.TextChoices):
        """Why the agent passed: counted per agent in the offers report."""

        NOT_GIVEN = "", "No reason given"
        NOT_INTERESTED = "not_interested", "Not interested"
        TOO_BUSY = "too_busy", "Too busy"
        OUT_OF_AREA = "out_of_area", "Out of my area"
        PRICE_RANGE = "price_range", "I don't work this price range"
        OTHER = "other", "Other"

    # No index of its own: the unique (lead, agent, round) leads with it, and every offer
    # written or expired would keep both.
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="offers",
                             db_index=False)
    # PROTECT: deleting the agent must never strand an offered lead or erase who had it.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="offers")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL)
    round = models.PositiveSmallIntegerField(
        default=1, help_text="The lead's routing round (a manager's return to routing starts one)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    offered_at = models.DateTimeField()
    clock_starts_at = models.DateTimeField(help_text="When the actionable window lets it run.")
    deadline = models.DateTimeField(db_index=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    pass_reason = models.CharField(max_length=20, choices=PassReason.choices, blank=True,
                                   default=PassReason.NOT_GIVEN,
                                   help_text="Why the agent passed (declined offers only).")
    pass_note = models.CharField(max_length=200, blank=True,
                                 help_text="The agent's own words, for the reason Other.")

    class Meta:
        ordering = ["deadline", "id"]
        indexes = [models.Index(fields=["status", "deadline"], name="offer_status_deadline"),
                   # Reports count a period's offers from the index alone (PostgreSQL).
                   models.Index(fields=["offered_at"], name="offer_offered",
                                include=["status", "agent", "rule"])]
        constraints = [
            models.UniqueConstraint(fields=["lead", "agent", "round"],
                                    name="one_offer_per_agent_lead_round"),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_id} to {self.agent_id}: {self.status}"


class Clock(models.Model):
    """The lease that lets one clock loop at a time work (a single row)."""

    holder = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_pass_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Clock (last pass {self.last_pass_at})"


# --- ISA hand-offs (leads.isa.handoffs) -----------------------------------------------------------


#: A hand-off goes to a qualified lead's agent by assignment or claim; instant calls are a rule's.
HANDOFF_DELIVERIES = [c for c in Rule.Delivery.choices if c[0] != Rule.Delivery.INSTANT_CALL]


class HandoffTarget(models.Model):
    """Where ISAs hand qualified leads: a roster, how one of it is picked and how it gets them."""

    class Selection(models.TextChoices):
        ROTATION = "rotation", "Rotation (weighted round robin)"
        ON_DUTY = "on_duty", "Agent on duty"
        TERRITORY = "territory", "Territory (lead's zip code)"
        SPECIALTY = "specialty", "Specialty (agent specialties matching the lead's tags)"

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField("active", default=True)
    roster = models.ForeignKey(Roster, on_delete=models.PROTECT, related_name="handoff_targets")
    selection = models.CharField(
        max_length=20, choices=Selection.choices, default=Selection.ROTATION
    )
    delivery = models.CharField(
        max_length=20, choices=HANDOFF_DELIVERIES, default=Rule.Delivery.ASSIGN
    )
    claim_timeout_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="Minutes (of the actionable window) an agent has to claim."
    )
    first_contact_minutes = models.PositiveIntegerField(
        default=30,
        help_text="The receiving agent must log a first contact within this many minutes (of "
        "the actionable window), or the lead goes to the escalation.",
    )
    escalate_to = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Gets the lead when nobody claims or contacts it in time; empty: the pond.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "hand-off target"

    def __str__(self) -> str:
        return self.name


class HandoffRotation(models.Model):
    """Where a hand-off target's rotation stands (like ``RotationState`` for a rule)."""

    target = models.OneToOneField(
        HandoffTarget, on_delete=models.CASCADE, related_name="rotation"
    )
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    position = models.IntegerField(default=-1)
    given = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.target}: {self.agent or 'start'} x{self.given}"


class Handoff(models.Model):
    """An ISA's lead handed to an agent, followed until the agent's first contact."""

    class Status(models.TextChoices):
        OFFERED = "offered", "Waiting for a claim"
        ASSIGNED = "assigned", "Waiting for the first contact"
        CONTACTED = "contacted", "Contacted by the agent"
        ESCALATED = "escalated", "Escalated (nobody claimed or contacted in time)"
        RETURNED = "returned", "Back with the ISA"
        TAKEN_OVER = "taken_over", "Moved on by a manager"

    OPEN = (Status.OFFERED, Status.ASSIGNED)

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="handoffs")
    isa = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="handoffs_made")
    by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Who handed it off: the ISA, or a manager for them.",
    )
    target = models.ForeignKey(
        HandoffTarget, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    target_name = models.CharField(max_length=100, blank=True)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="handoffs_received",
        help_text="The agent who has the lead (empty while offered to several).",
    )
    note = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True, help_text="The qualification facts.")
    status = models.CharField(max_length=12, choices=Status.choices)
    created_at = models.DateTimeField(db_index=True)
    contact_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=models.Q(status__in=["offered", "assigned"]),
                name="one_open_handoff_per_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_id} handed off by {self.isa_id}: {self.status}"

    @property
    def contacted_in_time(self) -> bool:
        return self.contacted_at is not None and (
            self.contact_due_at is None or self.contacted_at <= self.contact_due_at)


class OfferCall(models.Model):
    """An instant-call offer's phone call to its agent, and how it ended (one per offer)."""

    class Outcome(models.TextChoices):
        PENDING = "", "In progress"
        ACCEPTED = "accepted", "Pressed 1: claimed"
        DECLINED = "declined", "Pressed 2: passed"
        NO_ANSWER = "no_answer", "No answer"
        VOICEMAIL = "voicemail", "Voicemail answered"
        NO_DIGITS = "no_digits", "Answered, pressed nothing"
        TOO_LATE = "too_late", "The offer had already ended"
        FAILED = "failed", "Could not be placed"

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="call")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="offer_calls")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    to = models.CharField(max_length=32, blank=True)
    sid = models.CharField(max_length=64, blank=True, db_index=True,
                           help_text="The voice provider's id of the call.")
    status = models.CharField(max_length=20, default="queued",
                              help_text="The provider's last call status.")
    answered_by = models.CharField(max_length=30, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True,
                               default=Outcome.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    placed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Call for offer {self.offer_id}: {self.outcome or self.status}"
