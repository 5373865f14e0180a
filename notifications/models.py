"""Notifications: stored in-app messages, and their deliveries by email, SMS or push.

Also the outbound webhooks (``notifications.webhooks``): endpoints managers register and each
event's signed delivery to them.
"""

import base64
import secrets
from datetime import datetime

from django.db import models
from django.utils import timezone

from agents.models import Agent


class Notification(models.Model):
    """Something a person must know or act on, shown in-app until read."""

    class Event(models.TextChoices):
        LEAD_OFFERED = "lead_offered", "Lead offered"
        LEAD_ASSIGNED = "lead_assigned", "Lead assigned"
        OFFER_REMINDER = "offer_reminder", "Offer about to expire"
        OFFER_WITHDRAWN = "offer_withdrawn", "Offer withdrawn"
        LEAD_ESCALATED = "lead_escalated", "Lead escalated"
        LEAD_UNASSIGNED = "lead_unassigned", "Lead left in the pond"
        REGISTERED_AGAIN = "registered_again", "Lead registered again"
        IDLE_REASSIGNED = "idle_reassigned", "Lead reassigned for no first contact"
        AGENT_DEACTIVATED = "agent_deactivated", "Agent deactivated: their leads moved on"
        FOLLOW_UP_DUE = "follow_up_due", "Follow-up due"
        APPOINTMENT_SOON = "appointment_soon", "Appointment soon"

    recipient = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=30, choices=Event.choices)
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # When its deliveries were made (or found unwanted): empty = no task has handled it yet, so
    # the every-minute sweep sends it (a send task lost by the broker loses nothing).
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    # The outside channels chosen when it was made (the recipient's preference then): sending
    # uses these, so a preference changed later neither resends nor withholds it. Null: made
    # before channels were stored (the preference at sending time decides).
    channels = models.JSONField(null=True, blank=True, editable=False)
    # Not sent outside before this (the end of the recipient's quiet hours, for a non-urgent
    # notice); empty: at once. The bell shows it at once either way.
    send_after = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Reports count a period's notices of one kind (idle reassignments).
        indexes = [models.Index(fields=["event", "created_at"],
                                name="notification_event_created"),
                   # Every page's unread count (and newest unread) for the person, read from
                   # the index alone.
                   models.Index(fields=["recipient", "id"], name="notification_unread",
                                condition=models.Q(read_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.recipient.name}: {self.title}"


class Preference(models.Model):
    """Which outside channels a person wants besides the in-app bell."""

    agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.agent.name}: email {self.email}, sms {self.sms}"


class Delivery(models.Model):
    """One notification sent through one outside channel, with its status and attempts."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PUSH = "push", "Push to the phone"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"  # claimed by one worker; next_attempt_at ends the claim
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # retried at next_attempt_at; none set = gave up

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # What the provider said about the message after it took it (Twilio's status callbacks):
    # its id for the message, the latest status (queued, sent, delivered, undelivered, failed)
    # and error code, so "sent" here can be told apart from "reached the phone".
    provider_message_id = models.CharField(max_length=64, blank=True, db_index=True,
                                           editable=False)
    provider_status = models.CharField(max_length=20, blank=True, editable=False)
    provider_error_code = models.CharField(max_length=10, blank=True, editable=False)
    provider_status_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "deliveries"
        # The dashboard counts the failed ones (a few among millions).
        indexes = [models.Index(fields=["id"], name="delivery_failed",
                                condition=models.Q(status="failed"))]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="one_delivery_per_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} for notification {self.notification_id}: {self.status}"


class TextOptOut(models.Model):
    """A phone number that texted STOP: nothing is texted to it until it texts START.

    Kept per number, not per agent: carriers and Twilio block by number, and a number moved
    to another agent's profile stays opted out.
    """

    phone = models.CharField(max_length=32, unique=True, help_text="E.164, e.g. +12015550123.")
    opted_out_at = models.DateTimeField()
    keyword = models.CharField(max_length=20, blank=True, help_text="The word that was texted.")

    class Meta:
        verbose_name = "text opt-out"

    def __str__(self) -> str:
        return f"{self.phone} (opted out {self.opted_out_at:%Y-%m-%d %H:%M})"

class PushSubscription(models.Model):
    """One device (browser or installed app) where a person turned on phone alerts.

    What the browser's ``PushManager.subscribe`` gave: the push service's endpoint and the keys
    the payload is encrypted with. Removed when the person turns alerts off, or when the push
    service answers 404/410 (the device unsubscribed or the subscription expired).
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField("P-256 public key", max_length=200)
    auth = models.CharField("auth secret", max_length=100)
    device = models.CharField(max_length=200, blank=True,
                              help_text="Which device, as its browser named itself.")
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "push subscription"

    def __str__(self) -> str:
        return f"{self.agent.name}: {self.device or 'a device'}"


# --- Outbound webhooks (notifications.webhooks) ------------------------------------------------


class WebhookEvent(models.TextChoices):
    LEAD_CREATED = "lead.created", "lead.created: a new lead arrived"
    LEAD_ASSIGNED = "lead.assigned", "lead.assigned: a lead was given to an agent"
    LEAD_OFFERED = "lead.offered", "lead.offered: a lead was offered to claim"
    LEAD_CLAIMED = "lead.claimed", "lead.claimed: an agent claimed a lead (offer or pond)"
    LEAD_ESCALATED = "lead.escalated", "lead.escalated: nobody claimed it in time"
    LEAD_HANDED_OFF = "lead.handed_off", "lead.handed_off: an ISA handed a lead to an agent"
    LEAD_CONTACTED = "lead.contacted", "lead.contacted: the owner's first contact"


def new_webhook_secret() -> str:
    """``whsec_`` and 24 random bytes in standard base64, the form Standard Webhooks libraries
    decode (older secrets, URL-safe base64, still work: ``webhooks.signing.standard_key``)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    """A URL of the brokerage's other systems (CRM, dialer...) told about lead events."""

    name = models.CharField(max_length=100, blank=True)
    url = models.URLField("URL", max_length=500, help_text="Where events are POSTed (https).")
    secret = models.CharField(
        max_length=200, default=new_webhook_secret,
        help_text="Signs every delivery (HMAC-SHA256): give it to the receiver. A new secret "
        "(typed here, or the list's \"Rotate secret\") leaves the old one signing too for a "
        "day, so the receiver can switch without missing a delivery.",
    )
    # A rotated-out secret still signs, beside the new one, until it expires (Standard Webhooks:
    # several signatures in one header), so the receiver can switch over without a gap.
    previous_secret = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(
        "old secret valid until", null=True, blank=True, editable=False,
        help_text="Until then deliveries are signed with the old secret too.",
    )
    events = models.JSONField(default=list, blank=True, help_text="The events sent here.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Health, written by the senders with update() (no signals): while an endpoint fails, it
    # gets one attempt a minute instead of one per event, so a dead receiver costs the task
    # cluster almost nothing.
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failed attempt since the last "
        "success; empty: healthy.",
    )
    backoff_until = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="After a failed attempt, nothing is sent here before this time.",
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.name or self.url

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with at ``now``: the current one, then the old one
        while its grace period lasts."""
        old = self.previous_secret
        if old and old != self.secret and self.previous_secret_expires_at and (
                self.previous_secret_expires_at > now):
            return [self.secret, old]
        return [self.secret]


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, with its attempts (retried with back-off)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"  # claimed by one worker; next_attempt_at ends the claim
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # retried at next_attempt_at; none set = gave up

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=30, choices=WebhookEvent.choices)
    event_id = models.UUIDField(db_index=True, help_text="The same for every endpoint told.")
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    attempt_log = models.JSONField(
        default=list, blank=True, help_text="Every attempt: when, HTTP status, error, duration."
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        # The dashboard counts the failed ones (a few among millions).
        indexes = [models.Index(fields=["id"], name="webhookdelivery_failed",
                                condition=models.Q(status="failed"))]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id}: {self.status}"


class FollowUpBossIntegration(models.Model):
    """The brokerage's Follow Up Boss account: each lead that gets its agent is pushed there.

    One per brokerage. Its pushes are webhook deliveries to its own endpoint (``endpoint``,
    kept in step by ``webhooks.follow_up_boss.save_integration``), so they are stored, sent after
    commit, retried with back-off and logged attempt by attempt like any webhook; only the
    request differs (FUB's Events API, its event body, Basic auth with the API key).
    """

    enabled = models.BooleanField(
        default=False, help_text="Push each lead to Follow Up Boss once it has its agent.")
    api_key = models.CharField(
        "API key", max_length=200,
        help_text="From Follow Up Boss: Admin > API. Sent as the Basic auth user name.")
    base_url = models.URLField(
        "base URL", max_length=300, default="https://api.followupboss.com",
        help_text="Follow Up Boss's API; events go to <base URL>/v1/events.")
    system_name = models.CharField(
        "system name (X-System)", max_length=100, default="leadrouter",
        help_text="How Follow Up Boss names the system sending the leads.")
    system_key = models.CharField(
        "system key (X-System-Key)", max_length=200, blank=True,
        help_text="The key Follow Up Boss gave when the system was registered (optional).")
    endpoint = models.OneToOneField(
        WebhookEndpoint, null=True, blank=True, on_delete=models.SET_NULL, editable=False,
        related_name="follow_up_boss",
        help_text="Where its pushes are queued and logged, like a webhook's.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "Follow Up Boss integration"
        verbose_name_plural = "Follow Up Boss integration"

    def __str__(self) -> str:
        return f"Follow Up Boss ({'on' if self.enabled else 'off'})"

    @property
    def events_url(self) -> str:
        return self.base_url.rstrip("/") + "/v1/events"

    @property
    def api_key_hint(self) -> str:
        """The key as the admin shows it: its last 4 characters only."""
        return f"…{self.api_key[-4:]}" if self.api_key else ""
