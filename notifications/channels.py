"""The outside channels: who wants which, and how one notification goes out through each.

In-app is the stored Notification itself. Email goes through Django's email backend
(``EMAIL_BACKEND``), SMS through ``notifications.sms`` (``SMS_BACKEND``), push to every device
where the person turned phone alerts on through ``notifications.push`` (``WEBPUSH_BACKEND``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from agents.models import Agent
from leads.models import Lead, area_of
from notifications import push
from notifications.links import absolute_url
from notifications.models import Delivery, Notification, Preference, PushSubscription
from notifications.sms import get_sms_backend

logger = logging.getLogger(__name__)

SMS_MAX_CHARS = 480  # three segments


class Undeliverable(Exception):
    """The channel cannot reach this person (no address): retrying will not help."""


def preference_for(agent: Agent) -> Preference:
    """The person's preference; without a stored row, email on and SMS off."""
    try:
        return agent.notification_preference
    except Preference.DoesNotExist:
        return Preference(agent=agent)


def wanted_channels(agent: Agent) -> list[str]:
    """The outside channels this person wants and can be reached on."""
    preference = preference_for(agent)
    channels = []
    # Push first: the fastest way to reach the agent goes out before a slow mail server.
    if push.push_enabled() and agent.push_subscriptions.all():
        channels.append(Delivery.Channel.PUSH)
    if preference.email and agent.email:
        channels.append(Delivery.Channel.EMAIL)
    if preference.sms and agent.phone:
        channels.append(Delivery.Channel.SMS)
    return channels


def notifications_url() -> str:
    """The bell's page, absolute (the site's front page if there is none)."""
    return absolute_url("notifications", fallback="/")


def send_email(notification: Notification) -> None:
    agent = notification.recipient
    if not agent.email:
        raise Undeliverable("the recipient has no email address")
    subject = " ".join(notification.title.split())  # headers take no line breaks
    body = "\n\n".join(p for p in (notification.body, f"Open leadrouter: {notifications_url()}")
                       if p)
    EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [agent.email]).send()


def sms_text(notification: Notification) -> str:
    text = "\n".join(p for p in (notification.title, notification.body) if p)
    link = notifications_url()
    room = SMS_MAX_CHARS - len(link) - 1
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text}\n{link}"


def send_sms(notification: Notification) -> None:
    phone = notification.recipient.phone
    if not phone:
        raise Undeliverable("the recipient has no phone number")
    to = phone.as_e164 if hasattr(phone, "as_e164") else str(phone)
    get_sms_backend().send(to, sms_text(notification))


# --- Push ---------------------------------------------------------------------------------------

OFFER_EVENTS = (Notification.Event.LEAD_OFFERED, Notification.Event.OFFER_REMINDER)
URGENT_EVENTS = (*OFFER_EVENTS, Notification.Event.LEAD_ASSIGNED,
                 Notification.Event.LEAD_ESCALATED, Notification.Event.IDLE_REASSIGNED)
PUSH_BODY_CHARS = 400
_LINK = re.compile(r":?\s*https?://\S+")


def lead_essentials(lead: Lead) -> str:
    """Type, price, area and source in one line; never contact details (hidden until claimed)."""
    parts = [lead.get_lead_type_display() if lead.lead_type else "",
             f"${lead.price:,.0f}" if lead.price is not None else "",
             area_of(lead), lead.source]
    return " · ".join(p for p in parts if p)


def notification_url(notification: Notification) -> str:
    """Where tapping the notice leads: the lead for its owner (or a manager), the offers page
    for an offer, the pond for a pond notice, else the bell's page."""
    lead = notification.lead
    agent = notification.recipient
    if lead is not None and (lead.owner_id == agent.pk or agent.role == Agent.Role.MANAGER):
        return absolute_url("lead-detail", lead.pk, fallback="/")
    if notification.event in OFFER_EVENTS:
        return absolute_url("offers", fallback="/")
    if notification.event == Notification.Event.LEAD_UNASSIGNED:
        return absolute_url("pond", fallback="/")
    return notifications_url()


def push_payload(notification: Notification) -> dict[str, Any]:
    """What the service worker (static/sw.js) shows: title, the lead's essentials and the
    notice's own line (links dropped: tapping opens ``url``), and a tag per lead so a newer
    notice replaces an older one on the lock screen instead of piling up."""
    lead = notification.lead
    lines = [lead_essentials(lead) if lead is not None else ""]
    lines += [_LINK.sub("", line).strip() for line in notification.body.splitlines()]
    body = "\n".join(line for line in lines if line)
    if len(body) > PUSH_BODY_CHARS:
        body = body[: PUSH_BODY_CHARS - 1].rstrip() + "…"
    return {
        "title": " ".join(notification.title.split())[:200],
        "body": body,
        "url": notification_url(notification),
        "tag": f"lead-{lead.pk}" if lead is not None else f"notification-{notification.pk}",
        "event": notification.event,
        "lead_id": notification.lead_id,
        "notification_id": notification.pk,
        "urgent": notification.event in URGENT_EVENTS,
    }


def send_push(notification: Notification) -> None:
    """Push to every device of the recipient. A device whose push service answers 404/410 is
    forgotten. It went out when one device took it; when none did, it raises (retried later,
    so no device gets it twice), or ``Undeliverable`` when no device is left."""
    if not push.push_enabled():
        raise Undeliverable("web push is not configured (VAPID keys)")
    devices = list(PushSubscription.objects.filter(agent_id=notification.recipient_id))
    payload = push_payload(notification)
    backend = push.get_push_backend()
    urgency = "high" if payload["urgent"] else "normal"
    delivered, errors = [], []
    for device in devices:
        target = push.Target(device.endpoint, device.p256dh, device.auth)
        try:
            backend.send(push.PushMessage(target=target, payload=payload, urgency=urgency))
        except push.SubscriptionGone as exc:
            PushSubscription.objects.filter(pk=device.pk).delete()
            logger.info("Push subscription %s removed: %s", device.pk, exc)
        except Exception as exc:  # this device failed; the others may still get it
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            delivered.append(device.pk)
    if delivered:
        PushSubscription.objects.filter(pk__in=delivered).update(last_sent_at=timezone.now())
        if errors:
            logger.warning("Push for notification %s: %s of %s devices failed: %s",
                           notification.pk, len(errors), len(devices), "; ".join(errors))
        return
    if not errors:
        raise Undeliverable("no device has phone alerts on any more")
    raise push.PushFailed("; ".join(errors))


SENDERS = {Delivery.Channel.EMAIL: send_email, Delivery.Channel.SMS: send_sms,
           Delivery.Channel.PUSH: send_push}


def send(channel: str, notification: Notification) -> None:
    """Send the notification through the channel; raises when it did not go out."""
    try:
        sender = SENDERS[channel]
    except KeyError:
        raise Undeliverable(f"unknown channel {channel!r}") from None
    sender(notification)
