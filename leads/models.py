"""Leads, their timeline, and every submission that was received (kept even when rejected)."""

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from agents.models import Agent
from config.rows import insert_instances


class Stage(models.Model):
    """A step of the agent's work on a lead (New, Attempting contact ... Closed, Lost), set in
    one tap on the lead's page. Managers rename and reorder them in the admin; the ``key`` stays,
    so the API and saved links keep working. ``outcome`` says what reaching the stage means for
    the lead: a won stage closes it, a lost one ends it, an open one keeps it worked."""

    class Outcome(models.TextChoices):
        OPEN = "open", "Open (still being worked)"
        WON = "won", "Won (the lead is closed)"
        LOST = "lost", "Lost (asks for a reason)"

    name = models.CharField(max_length=60)
    key = models.SlugField(
        max_length=40, unique=True,
        help_text="The stage in the agent API and in links (`stage=`); renaming keeps it.")
    position = models.PositiveIntegerField(default=0, db_index=True)
    outcome = models.CharField(max_length=4, choices=Outcome.choices, default=Outcome.OPEN)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Lead(models.Model):
    class Status(models.TextChoices):
        UNASSIGNED = "unassigned", "Unassigned (pond)"
        OFFERED = "offered", "Offered"
        ASSIGNED = "assigned", "Assigned"
        CONTACTED = "contacted", "Contacted"
        CLOSED = "closed", "Closed"
        DEAD = "dead", "Dead"

    OPEN_STATUSES = (Status.ASSIGNED, Status.CONTACTED)
    # Timeline entries that count as contacting the person (speed to lead, first contact).
    CONTACT_KINDS = ("call", "text", "email", "meeting")

    class LeadType(models.TextChoices):
        BUYER = "buyer", "Buyer"
        SELLER = "seller", "Seller"

    class IsaStage(models.TextChoices):
        """An ISA's lead: new -> contacted -> nurturing -> qualified (handed off) or dead."""

        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        NURTURING = "nurturing", "Nurturing"
        QUALIFIED = "qualified", "Qualified"
        HANDED_OFF = "handed_off", "Handed off"
        DEAD = "dead", "Dead"

    class Temperature(models.TextChoices):
        HOT = "hot", "Hot"
        WARM = "warm", "Warm"
        COLD = "cold", "Cold"

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True, editable=False)
    phone_normalized = models.CharField(max_length=32, blank=True, db_index=True, editable=False)

    source = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list, blank=True)
    lead_type = models.CharField(max_length=10, choices=LeadType.choices, blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    city = models.CharField(max_length=100, blank=True)
    county = models.CharField(max_length=100, blank=True)
    neighborhood = models.CharField(max_length=100, blank=True)
    zip_code = models.CharField(max_length=20, blank=True)
    mls_region = models.CharField(max_length=100, blank=True)
    property_type = models.CharField(max_length=100, blank=True)
    site = models.CharField(max_length=200, blank=True)
    listing_ref = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    score = models.IntegerField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    consent = models.BooleanField(
        default=False, help_text="The person agreed to be contacted (intake's `consent: true`)."
    )

    # What the vendor said about who should get it (special routing), as agent emails.
    assigned_to = models.EmailField(blank=True, help_text="Pre-assigned by the vendor.")
    tracking_agent = models.EmailField(blank=True, help_text="Came through this agent's link.")
    listing_agent = models.EmailField(blank=True, help_text="Inquiry on this agent's listing.")

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNASSIGNED)
    owner = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    lender = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="lender_leads"
    )
    rule = models.ForeignKey(
        "routing.Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    received_at = models.DateTimeField(db_index=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    routing_round = models.PositiveSmallIntegerField(
        default=1, help_text="Each return to routing starts a new round of offers."
    )
    first_contact_due_at = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="The owner must log a first contact by then or the lead moves on.",
    )

    # ISA work (leads.isa): a lead held by an ISA with no stage yet reads as "new".
    isa = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="isa_leads",
        help_text="The ISA who works the lead; after the hand-off, its second contact.",
    )
    isa_stage = models.CharField(
        "ISA stage", max_length=12, choices=IsaStage.choices, blank=True,
        help_text="Empty: never worked by an ISA (or new, while an ISA holds it).",
    )
    dead_reason = models.CharField(max_length=200, blank=True)
    temperature = models.CharField(max_length=4, choices=Temperature.choices, blank=True)
    follow_up_on = models.DateField(
        null=True, blank=True, help_text="The ISA works the lead again on this day."
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)

    # The owner's next follow-up (leads.followups): a moment, reminded once through the
    # owner's channels (``follow_up_reminded_at``, set by a conditional UPDATE).
    follow_up_at = models.DateTimeField(
        null=True, blank=True, help_text="The owner calls the person again at this time."
    )
    # A database default too: the benchmarks' data builder inserts leads in SQL.
    follow_up_note = models.CharField(max_length=200, blank=True, default="", db_default="")
    follow_up_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    # The agent's stage (``leads.services.set_stage``); none yet reads as the first stage.
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="leads")
    lost_reason = models.CharField(max_length=200, blank=True, default="", db_default="",
                                   help_text="Why the agent marked the lead lost.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status"], name="lead_owner_status"),
            models.Index(fields=["owner", "assigned_at"], name="lead_owner_assigned"),
            models.Index(fields=["isa", "isa_stage"], name="lead_isa_stage"),
            # The Today list (an owner's follow-ups by time) and the clock's due reminders.
            models.Index(fields=["owner", "follow_up_at"], name="lead_owner_follow_up",
                         condition=models.Q(follow_up_at__isnull=False)),
            models.Index(fields=["follow_up_at"], name="lead_follow_up_unreminded",
                         condition=models.Q(follow_up_at__isnull=False,
                                            follow_up_reminded_at__isnull=True)),
            # The reports read a period's leads from the index alone (PostgreSQL: the columns
            # they count and group by are included).
            models.Index(fields=["received_at"], name="lead_received_report",
                         include=["owner", "isa", "rule", "source", "status", "assigned_at",
                                  "first_contact_at", "first_contact_due_at"]),
            # The dashboard's pond: how many wait, and since when (a small part of the leads).
            models.Index(fields=["received_at"], name="lead_pond_received", include=["id"],
                         condition=models.Q(owner__isnull=True, status="unassigned")),
            # The admin's lead list filtered by status or source, newest first, and its
            # source filter's choices.
            models.Index(fields=["status", "-received_at"], name="lead_status_received"),
            models.Index(fields=["source", "-received_at"], name="lead_source_received"),
            # The manager API's source filter (any case), newest first.
            models.Index(Upper("source"), F("received_at").desc(), name="lead_source_any_case"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        """How the lead is named in lists and in every message to agents, giving away no contact
        details (those stay hidden until the lead is claimed): the person's name, else
        "Buyer lead, Hoboken" (type and area), else "Lead #17"."""
        if self.full_name:
            return self.full_name
        place = area_of(self)
        number = f"#{self.pk}" if self.pk else "(new)"
        if self.lead_type:
            kind = f"{self.get_lead_type_display()} lead"
            return f"{kind}, {place}" if place else f"{kind} {number}"
        return f"Lead {number}, {place}" if place else f"Lead {number}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def area_of(lead: Lead) -> str:
    """Neighborhood, city and zip in one line (what is known of them)."""
    return ", ".join(p for p in (lead.neighborhood, lead.city, lead.zip_code) if p)


class ActivityManager(models.Manager["Activity"]):
    def record(self, **fields) -> "Activity":
        """Write a timeline entry and send ``activity_recorded``: the one way entries are made."""
        from leads.signals import activity_recorded

        activity = self.create(**fields)
        activity_recorded.send(sender=Activity, activity=activity)
        return activity

    def record_many(self, activities: list["Activity"]) -> list["Activity"]:
        """Write several entries in one statement, announced together
        (``activities_recorded``)."""
        from leads.signals import activities_recorded

        insert_instances(activities)  # a burst's entries through ``COPY`` (PostgreSQL)
        made = activities
        if made:
            activities_recorded.send(sender=Activity, activities=made)
        return made


class Activity(models.Model):
    """One entry of a lead's timeline (written with ``Activity.objects.record``)."""

    class Kind(models.TextChoices):
        ROUTED = "routed", "Routed"
        REGISTERED_AGAIN = "registered_again", "Registered again"
        OFFERED = "offered", "Offered"
        CLAIMED = "claimed", "Claimed"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Offer expired"
        WITHDRAWN = "withdrawn", "Offer withdrawn"
        ESCALATED = "escalated", "Escalated"
        REASSIGNED = "reassigned", "Reassigned"
        POND = "pond", "Moved to the pond"
        CALL = "call", "Call"
        TEXT = "text", "Text"
        EMAIL = "email", "Email"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        ISA_UPDATE = "isa_update", "ISA update"
        HANDED_OFF = "handed_off", "Handed off"
        BACK_TO_ISA = "back_to_isa", "Back with the ISA"
        AUTO_REPLY = "auto_reply", "Auto-reply to the lead"
        FOLLOW_UP = "follow_up", "Follow-up set"
        FOLLOW_UP_DONE = "follow_up_done", "Follow-up done"
        APPOINTMENT = "appointment", "Appointment booked"
        APPOINTMENT_EDIT = "appointment_edit", "Appointment changed"
        APPOINTMENT_CANCEL = "appointment_cancel", "Appointment cancelled"
        STAGE = "stage", "Stage changed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # PROTECT: who did what on a lead's timeline is kept; such agents are deactivated instead.
    actor = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField()
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = ActivityManager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on lead {self.lead_id}"


class Appointment(models.Model):
    """A meeting booked with the person (a showing, a listing presentation): on the lead's
    timeline, the agent's Today list and calendar feed, reminded once before it starts."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="appointments")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField("where", max_length=200, blank=True)
    with_whom = models.CharField("with whom", max_length=200, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # Each change counts up, so that a calendar holding the .ics replaces its copy.
    sequence = models.PositiveIntegerField(default=0)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["agent", "starts_at"], name="appointment_agent_starts"),
            models.Index(fields=["starts_at"], name="appointment_unreminded",
                         condition=models.Q(cancelled_at__isnull=True,
                                            reminded_at__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=F("starts_at")),
                                   name="appointment_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"Appointment on lead {self.lead_id} at {self.starts_at:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """An agent's personal calendar address (``/calendar/<token>.ics``): whoever has the
    address reads the agent's appointments and follow-ups, so it is secret and can be replaced.
    The first characters (``lookup``) find the row; the whole token is compared in constant
    time."""

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="calendar_feed")
    lookup = models.CharField(max_length=8, db_index=True, editable=False)
    token = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Calendar feed of agent {self.agent_id}"


class Qualification(models.Model):
    """What an ISA learned about a lead: the facts the receiving agent gets with it."""

    class Timeframe(models.TextChoices):
        NOW = "0-1", "Within a month"
        SOON = "1-3", "1 to 3 months"
        LATER = "3-6", "3 to 6 months"
        YEAR = "6-12", "6 to 12 months"
        SOMEDAY = "12+", "Over a year"

    class Side(models.TextChoices):
        BUYER = "buyer", "Buyer"
        SELLER = "seller", "Seller"
        BOTH = "both", "Buyer and seller"

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="qualification")
    timeframe = models.CharField(max_length=5, choices=Timeframe.choices, blank=True)
    pre_approved = models.BooleanField(null=True, blank=True, help_text="Empty: not known.")
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    areas = models.CharField(max_length=300, blank=True)
    side = models.CharField("buyer or seller", max_length=10, choices=Side.choices, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Qualification of lead {self.lead_id}"


class Submission(models.Model):
    """A lead as it was received, before validation: rejected ones are kept with the reason."""

    class Channel(models.TextChoices):
        FILE = "file", "File import"
        API = "api", "REST API"
        FORM = "form", "Web form"
        EMAIL = "email", "E-mail"
        EVENTS = "events", "Follow Up Boss events"

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        EXISTING = "existing", "Existing lead"
        REJECTED = "rejected", "Rejected"
        DUPLICATE = "duplicate", "Retry (first answer returned)"
        SPAM = "spam", "Spam (honeypot filled)"
        IGNORED = "ignored", "Ignored (makes no lead)"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    source = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    errors = models.JSONField(null=True, blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL)

    # The HTTP side of API and web-form submissions (empty for file imports).
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    raw_body = models.TextField(blank=True, help_text="The body as received (truncated).")
    source_key = models.ForeignKey(
        "SourceKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    key_prefix = models.CharField(max_length=16, blank=True, help_text="Public part of the key.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    response = models.JSONField(null=True, blank=True, help_text="The body answered.")
    web_form = models.ForeignKey(
        "WebForm", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    # A rejected submission corrected by a manager and routed again.
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    replay_payload = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        when = timezone.localtime(self.received_at)  # the current zone: the admin's is local
        return f"{self.get_channel_display()} {when:%Y-%m-%d %H:%M}: {self.outcome}"


class LeadSourceManager(models.Manager["LeadSource"]):
    def spelling(self, name: str) -> str:
        """The name as an existing source spells it, in any case (an e-mail to ``zillow@`` is
        Zillow's, not a second source "zillow"); else the name as given."""
        found = self.filter(name__iexact=name).order_by("pk").values_list("name", flat=True)
        return found.first() or name

    def named(self, name: str) -> "LeadSource":
        """The source of this name in any case, made when there is none."""
        return self.get_or_create(name=self.spelling(name))[0]


class LeadSource(models.Model):
    """A vendor or channel that sends leads; its name is the leads' ``source``."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    requires_consent = models.BooleanField(
        default=False,
        help_text="Its leads get an auto-reply only when they arrive with `consent: true`.",
    )
    ignore_events = models.BooleanField(
        default=False,
        help_text="Follow Up Boss events from this source are kept but make no lead (answered "
        "204, as Follow Up Boss does for an archived lead flow).",
    )

    objects = LeadSourceManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceKey(models.Model):
    """An API key of a lead source. Only its SHA-256 is kept; the key is shown once.

    A source may have several active keys (rotation). The fixed-window counter of the rate
    limit lives on the key's row.
    """

    source = models.ForeignKey(LeadSource, on_delete=models.CASCADE, related_name="keys")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key.")
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["source__name", "-created_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.prefix}{f' ({self.label})' if self.label else ''}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class WebForm(models.Model):
    """A lead form on one of the brokerage's sites, posting to ``/intake/<slug>/``."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="web_forms")
    thank_you_url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IdempotencyRecord(models.Model):
    """The first answer given for an idempotency key or an external id of a source."""

    class Kind(models.TextChoices):
        HEADER = "header", "Idempotency-Key header"
        EXTERNAL_ID = "external_id", "External id"

    source = models.ForeignKey(LeadSource, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the kind and the key.")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    request_digest = models.CharField(
        max_length=64, blank=True,
        help_text="SHA-256 of the normalised body: the same key with another body is refused.")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    submission = models.ForeignKey(Submission, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key_hash"],
                                    name="one_answer_per_source_key"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.get_kind_display()} -> lead {self.lead_id}"


class AutoResponse(models.Model):
    """A rule's answer to the lead (the catch-all is a rule too): an email and/or a text sent
    within seconds of arrival, inside the actionable window. Placeholders: ``{first_name}``,
    ``{agent_name}``, ``{agent_phone}``, ``{agent_email}``, ``{brokerage}``."""

    rule = models.OneToOneField(
        "routing.Rule", on_delete=models.CASCADE, related_name="auto_response",
        help_text="Leads this rule takes get this answer (pick the catch-all for the rest).",
    )
    active = models.BooleanField(default=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(blank=True, help_text="Empty: no email.")
    sms_body = models.TextField("text message", blank=True, help_text="Empty: no text.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "auto-response"

    def __str__(self) -> str:
        return f"Auto-response of {self.rule}"


class AutoReply(models.Model):
    """One message of an auto-response to one lead: waiting for the actionable window, sent,
    or failed (retried). Rendered when it goes out, so the agent who has the lead by then is
    the one named."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "Text"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="auto_replies")
    response = models.ForeignKey(AutoResponse, null=True, on_delete=models.SET_NULL,
                                 related_name="replies")
    channel = models.CharField(max_length=5, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True, help_text="Not before the window opens.")
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "auto-replies"
        constraints = [models.UniqueConstraint(fields=["lead", "channel"],
                                               name="one_auto_reply_per_lead_channel")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} auto-reply to lead {self.lead_id}: {self.status}"


class EmailParsingRule(models.Model):
    """A manager's rule for reading one portal's lead e-mails that carry no leadmetadata.org
    tags: which messages it reads, where each field is, what every lead it reads gets."""

    name = models.CharField(max_length=100)
    source = models.ForeignKey(LeadSource, on_delete=models.CASCADE, related_name="email_rules",
                               help_text="The leads this rule reads come from this source.")
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(
        default=1, help_text="Rules are tried in this order, 1 first: the first that matches "
                             "the message reads it.")
    from_contains = models.CharField(
        "sender contains", max_length=200, blank=True,
        help_text='E.g. "@realtor.example.com". Empty: any sender.')
    to_contains = models.CharField(
        "recipient contains", max_length=200, blank=True,
        help_text='E.g. "realtor@leads.". Empty: any recipient.')
    subject_contains = models.CharField(
        max_length=200, blank=True, help_text='E.g. "New lead". Empty: any subject.')
    # Where each field is: a label ("Phone:") or a regular expression with a named group.
    name_pattern = models.CharField(
        "full name", max_length=200, blank=True,
        help_text="First and last name together: split at the first space.")
    first_name_pattern = models.CharField("first name", max_length=200, blank=True)
    last_name_pattern = models.CharField("last name", max_length=200, blank=True)
    email_pattern = models.CharField("email", max_length=200, blank=True)
    phone_pattern = models.CharField("phone", max_length=200, blank=True)
    message_pattern = models.CharField("message", max_length=200, blank=True)
    city_pattern = models.CharField("city", max_length=200, blank=True)
    zip_code_pattern = models.CharField("ZIP code", max_length=200, blank=True)
    listing_ref_pattern = models.CharField("listing (MLS #)", max_length=200, blank=True)
    price_pattern = models.CharField("price", max_length=200, blank=True)
    lead_type = models.CharField(max_length=10, choices=Lead.LeadType.choices, blank=True,
                                 help_text="Every lead this rule reads is of this type.")
    tags = models.CharField(max_length=200, blank=True,
                            help_text="Comma-separated, given to every lead this rule reads.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "e-mail parsing rule"

    def __str__(self) -> str:
        return self.name
