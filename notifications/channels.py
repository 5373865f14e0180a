"""The outside channels: who wants which, and how one notification goes out through each.

In-app is the stored Notification itself. Email goes through Django's email backend
(``EMAIL_BACKEND``), SMS through ``notifications.sms`` (``SMS_BACKEND``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from agents.models import Agent
from notifications.links import absolute_url
from notifications.models import Delivery, Notification, Preference
from notifications.sms import RecipientOptedOut, get_sms_backend
from notifications.texting import CLAIM_PROMPT, is_opted_out, opt_out

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
    if preference.email and agent.email:
        channels.append(Delivery.Channel.EMAIL)
    if preference.sms and agent.phone and not is_opted_out(e164(agent.phone)):
        channels.append(Delivery.Channel.SMS)
    return channels


def notifications_url() -> str:
    """The bell's page, absolute (the site's front page if there is none)."""
    return absolute_url("notifications", fallback="/")


def send_email(notification: Notification) -> str | None:
    agent = notification.recipient
    if not agent.email:
        raise Undeliverable("the recipient has no email address")
    subject = " ".join(notification.title.split())  # headers take no line breaks
    body = "\n\n".join(p for p in (notification.body, f"Open leadrouter: {notifications_url()}")
                       if p)
    EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [agent.email]).send()


def e164(phone: object) -> str:
    """A phone number field's value as +15551234567."""
    return phone.as_e164 if hasattr(phone, "as_e164") else str(phone)


def sms_text(notification: Notification) -> str:
    """Title, body and link within three segments; an offer's text ends "Reply 1 to claim."
    (answered by the inbound SMS webhook)."""
    text = "\n".join(p for p in (notification.title, notification.body) if p)
    link = notifications_url()
    tail = f"{CLAIM_PROMPT}\n{link}" if notification.event == Notification.Event.LEAD_OFFERED \
        else link
    room = SMS_MAX_CHARS - len(tail) - 1
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text}\n{tail}"


def send_sms(notification: Notification) -> str | None:
    phone = notification.recipient.phone
    if not phone:
        raise Undeliverable("the recipient has no phone number")
    to = e164(phone)
    if is_opted_out(to):  # texted STOP after this delivery was made
        raise Undeliverable("the recipient's number texted STOP")
    try:
        return get_sms_backend().send(to, sms_text(notification))
    except RecipientOptedOut as exc:  # opted out at the provider (e.g. STOP before we knew)
        opt_out(phone=to, keyword="provider", now=timezone.now())
        raise Undeliverable(f"the recipient's number opted out: {exc}") from exc


SENDERS = {Delivery.Channel.EMAIL: send_email, Delivery.Channel.SMS: send_sms}


def send(channel: str, notification: Notification) -> str | None:
    """Send the notification through the channel; raises when it did not go out. Returns the
    provider's message id when the channel has one (Twilio's SID)."""
    try:
        sender = SENDERS[channel]
    except KeyError:
        raise Undeliverable(f"unknown channel {channel!r}") from None
    return sender(notification)
