"""The outside channels: who wants which, and how one notification goes out through each.

In-app is the stored Notification itself. Email goes through Django's email backend
(``EMAIL_BACKEND``): HTML and plain text (``templates/notifications/email/``) with the lead's
essentials, the deadline in the brokerage's time and one button to the offer or lead. SMS goes
through ``notifications.sms`` (``SMS_BACKEND``), push to every device where the person turned
phone alerts on through ``notifications.push`` (``WEBPUSH_BACKEND``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.template.backends.django import Template
from django.template.loader import get_template
from django.utils import timezone
from django.utils.html import conditional_escape

from agents.models import Agent, quiet_until
from leads.display import money
from leads.models import Lead, area_of
from notifications import push
from notifications.links import absolute_url, site_url
from notifications.models import (
    Delivery,
    Notification,
    Preference,
    PushSubscription,
    TextOptOut,
)
from notifications.sms import RecipientOptedOut, e164, get_sms_backend
from notifications.texting import CLAIM_PROMPT, is_opted_out, opt_out
from routing.models import Brokerage, Offer

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


@dataclass(frozen=True)
class Reach:
    """What choosing a notice's channels reads of its recipient: routing keeps everyone's in
    its snapshot (``routing.selectors.notice_reach``), so that telling them costs no query."""

    email: bool  # wants email and has an address
    sms: bool  # wants texts, has a phone, and the number has not texted STOP
    push: bool  # has a device with phone alerts on
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None


def reach_of(agent: Agent, *, devices: bool | None = None,
             opted_out: frozenset[str] | None = None) -> Reach:
    """The person's reach. ``devices`` (whether they have a push device) and ``opted_out``
    (the numbers among theirs that texted STOP) when the caller read them for many people;
    else read here, only when they matter."""
    preference = preference_for(agent)
    phone = e164(agent.phone) if preference.sms and agent.phone else ""
    if devices is None:
        devices = push.push_enabled() and bool(agent.push_subscriptions.all())
    return Reach(
        email=preference.email and bool(agent.email),
        sms=bool(phone) and not (phone in opted_out if opted_out is not None
                                 else is_opted_out(phone)),
        push=devices,
        quiet_hours_start=agent.quiet_hours_start, quiet_hours_end=agent.quiet_hours_end)


def channels_of(reach: Reach) -> list[str]:
    """The outside channels a person with this reach wants and can be reached on."""
    channels = []
    # Push first: the fastest way to reach the agent goes out before a slow mail server.
    if reach.push and push.push_enabled():
        channels.append(Delivery.Channel.PUSH)
    if reach.email:
        channels.append(Delivery.Channel.EMAIL)
    if reach.sms:
        channels.append(Delivery.Channel.SMS)
    return channels


def wanted_channels(agent: Agent) -> list[str]:
    """The outside channels this person wants and can be reached on."""
    return channels_of(reach_of(agent))


#: Notices that reach the person at once even in their quiet hours: something to act on within
#: minutes (an offer, its last minutes, an escalation, a new lead of theirs with its first-
#: contact clock running). The others' emails, texts and pushes wait for the end of the quiet
#: hours; the bell shows every notice at once.
URGENT_EVENTS = frozenset({
    Notification.Event.LEAD_OFFERED, Notification.Event.OFFER_REMINDER,
    Notification.Event.LEAD_ESCALATED, Notification.Event.LEAD_ASSIGNED,
})


def choose_sending(notifications: list[Notification], *, now: datetime,
                   tz_name: str | None = None, reach: Mapping[int, Reach] | None = None) -> None:
    """Settle each new notification's outside channels (its recipient's preference now) and
    when they may go out (after the recipient's quiet hours for a non-urgent notice), before
    it is saved: what is chosen here is what is sent, whatever the preference becomes.
    ``tz_name``: the brokerage's time zone when the caller has it (saves a query); ``reach``:
    the recipients' reach when the caller has it (routing's snapshot: saves another; anyone
    missing from it is read)."""
    ids = {n.recipient_id for n in notifications}
    if not ids:
        return
    known = {agent_id: reach[agent_id] for agent_id in ids if agent_id in reach} if reach else {}
    if len(known) < len(ids):
        agents = Agent.objects.select_related("notification_preference").in_bulk(
            list(ids - known.keys()))
        known.update((agent_id, reach_of(agent)) for agent_id, agent in agents.items())
    tz_name = tz_name or Brokerage.load().tz_name
    # Once per person, not per notice: a burst tells each of 50 agents about dozens of leads.
    channels = {rid: [str(c) for c in channels_of(known[rid])] if rid in known else []
                for rid in ids}
    quiet: dict[int, datetime | None] = {}
    for n in notifications:
        n.channels = list(channels[n.recipient_id])
        if n.channels and n.event not in URGENT_EVENTS:
            if n.recipient_id not in quiet:
                found = known[n.recipient_id]
                quiet[n.recipient_id] = quiet_until(found.quiet_hours_start,
                                                    found.quiet_hours_end, now, tz_name)
            n.send_after = quiet[n.recipient_id]
        else:
            n.send_after = None


def chosen_channels(notification: Notification) -> list[str]:
    """The channels chosen when it was made (older notices: the preference now)."""
    if notification.channels is not None:
        return list(notification.channels)
    return [str(c) for c in wanted_channels(notification.recipient)]


def notifications_url() -> str:
    """The bell's page, absolute (the site's front page if there is none)."""
    return absolute_url("notifications", fallback="/")


E = Notification.Event

#: How a subject starts for each event about a lead ("{kind}" is "buyer lead", "lead"...);
#: other events keep the notification's own title.
SUBJECT_STARTS = {
    E.LEAD_OFFERED: "New {kind}",
    E.OFFER_REMINDER: "Claim soon: {kind}",
    E.LEAD_ASSIGNED: "Yours now: {kind}",
    E.LEAD_ESCALATED: "Escalated: {kind}",
}


@dataclass
class EmailContent:
    """What one notification's email says, shared by its subject, HTML and text parts."""

    subject: str
    heading: str
    body: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    message: str = ""
    deadline: str = ""
    button_label: str = "Open leadrouter"
    button_url: str = ""
    brokerage: str = ""


def brokerage_time(moment: datetime, now: datetime, tz_name: str) -> str:
    """``17:36`` today, ``Tue 17:36`` another day, in the brokerage's time zone."""
    zone = ZoneInfo(tz_name)
    at, today = timezone.localtime(moment, zone), timezone.localtime(now, zone)
    text = f"{at:%H:%M}"
    return text if at.date() == today.date() else f"{at:%a} {text}"


def open_offer_of(notification: Notification) -> Offer | None:
    """The recipient's offer this notice is about: the open one, else their latest."""
    return open_offers_of([notification]).get((notification.lead_id, notification.recipient_id))


def open_offers_of(notifications: Iterable[Notification]) -> dict[tuple[int, int], Offer]:
    """The offers the offer and reminder notices among these are about, in one query, by
    (lead, recipient): each recipient's open offer of the lead, else their latest."""
    wanted = {(n.lead_id, n.recipient_id) for n in notifications
              if n.lead_id is not None and n.event in OFFER_EVENTS}
    if not wanted:
        return {}
    found: dict[tuple[int, int], Offer] = {}
    for offer in Offer.objects.filter(
            lead_id__in={lead for lead, _ in wanted}, agent_id__in={agent for _, agent in wanted},
    ).order_by("-offered_at", "-pk"):
        key = (offer.lead_id, offer.agent_id)
        if key not in wanted:
            continue
        best = found.get(key)
        if best is None or (best.status != Offer.Status.OFFERED
                            and offer.status == Offer.Status.OFFERED):
            found[key] = offer
    return found


class Sending:
    """A batch of notices on their way out: what sending them reads is read once for all of
    them (the brokerage, the offers of the offer notices, the push devices, the numbers that
    texted STOP), and their emails share one connection of ``EMAIL_BACKEND`` (with SMTP, one
    session for the batch instead of one per email), closed when the batch is done."""

    def __init__(self, batch: Iterable[tuple[str, Notification]]) -> None:
        by_channel: dict[str, list[Notification]] = {}
        for channel, notification in batch:
            by_channel.setdefault(channel, []).append(notification)
        self.offers = open_offers_of(by_channel.get(Delivery.Channel.EMAIL, []))
        pushed = {n.recipient_id for n in by_channel.get(Delivery.Channel.PUSH, [])}
        self.devices: dict[int, list[PushSubscription]] = {agent_id: [] for agent_id in pushed}
        if pushed and push.push_enabled():
            for device in PushSubscription.objects.filter(agent_id__in=pushed):
                self.devices[device.agent_id].append(device)
        phones = {e164(n.recipient.phone) for n in by_channel.get(Delivery.Channel.SMS, [])
                  if n.recipient.phone}
        self.opted_out = set(TextOptOut.objects.filter(phone__in=phones).values_list(
            "phone", flat=True)) if phones else set()
        self._brokerage: Brokerage | None = None
        self._email: BaseEmailBackend | None = None
        self._pages: dict[tuple[object, ...], str | None] = {}
        self._templates: tuple[Template, Template] | None = None
        self._bodies: dict[tuple[object, ...], tuple[str, str]] = {}

    def brokerage(self) -> Brokerage:
        if self._brokerage is None:
            self._brokerage = Brokerage.load()
        return self._brokerage

    def page(self, name: str, *args: object) -> str | None:
        """``absolute_url(name, *args)``, resolved once for the batch: its notices link to the
        same few pages (the offers page, the bell, a lead for each of its recipients)."""
        key = (name, *args)
        if key not in self._pages:
            self._pages[key] = absolute_url(name, *args)
        return self._pages[key]

    def email_bodies(self, content: EmailContent) -> tuple[str, str]:
        """The text and HTML of the email saying ``content``. Rendered once for the emails of
        the batch that differ only in their button's link (a lead offered to fifty agents: each
        their own offer), the link then put in each."""
        key = tuple(tuple(value) if isinstance(value, list) else value
                    for value in vars(replace(content, button_url="")).values())
        if key not in self._bodies:
            if self._templates is None:
                self._templates = (get_template("notifications/email/notice.txt"),
                                   get_template("notifications/email/notice.html"))
            self._bodies[key] = render_email(self._templates,
                                             replace(content, button_url=BUTTON_URL_MARK))
        text, html = self._bodies[key]
        return (text.replace(BUTTON_URL_MARK, content.button_url),
                html.replace(BUTTON_URL_MARK, conditional_escape(content.button_url)))

    def email_connection(self) -> BaseEmailBackend:
        """The batch's connection, opened for its first email."""
        if self._email is None:
            connection = get_connection()
            connection.open()  # raises when the server cannot be reached: the next one tries
            self._email = connection
        return self._email

    def email_failed(self) -> None:
        """An email did not go out: the next one opens a new connection, so that a session
        the server dropped fails one email, not the rest of the batch."""
        self.close()

    def close(self) -> None:
        if self._email is not None:
            email, self._email = self._email, None
            try:
                email.close()
            except Exception:  # the emails went out (or are recorded as failed) already
                logger.warning("Could not close the email connection", exc_info=True)

    def __enter__(self) -> Sending:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def page_url(sending: Sending, name: str, *args: object, anchor: str = "") -> str:
    """The page (at ``anchor``) as the batch resolved it; the bell's page if there is none."""
    url = sending.page(name, *args)
    if url is None:
        return sending.page("notifications") or site_url("/")
    return url + (f"#{anchor}" if anchor else "")


def email_content(notification: Notification, *, now: datetime | None = None,
                  sending: Sending | None = None) -> EmailContent:
    """The subject a person can scan ("New buyer lead, $450,000, Hoboken: claim by 17:36") and
    the lead's essentials: its title, never its email or phone (hidden until claimed).
    ``sending``: the batch it goes out with, which has read the brokerage and offers."""
    current = now or timezone.now()
    sending = sending or Sending([(Delivery.Channel.EMAIL, notification)])
    brokerage = sending.brokerage()
    title = " ".join(notification.title.split())  # headers take no line breaks
    content = EmailContent(subject=title, heading=title, body=notification.body,
                           button_url=page_url(sending, "notifications"),
                           brokerage=brokerage.name)
    lead: Lead | None = notification.lead
    if lead is None:
        return content
    kind = f"{lead.get_lead_type_display().lower()} lead" if lead.lead_type else "lead"
    if title.startswith("Hand-off"):
        kind = f"hand-off, {kind}"
    place = lead.neighborhood or lead.city or lead.zip_code
    content.facts = [(label, value) for label, value in (
        ("Lead", lead.title),
        ("Type", lead.get_lead_type_display() if lead.lead_type else ""),
        ("Price", money(lead.price)),
        ("Area", area_of(lead)),
        ("Property", lead.property_type),
        ("Source", lead.source),
    ) if value]
    content.message = lead.message
    action = ""
    offer = sending.offers.get((lead.pk, notification.recipient_id))
    if offer is not None and offer.status == Offer.Status.OFFERED:
        when = brokerage_time(offer.deadline, current, brokerage.tz_name)
        action = f"claim by {when}"
        content.deadline = f"Claim by {when} ({brokerage.tz_name} time)"
        # The notice's own "Claim it by ...: <link>" line: the deadline and button say it.
        content.body = "\n".join(line for line in content.body.splitlines()
                                 if not line.startswith("Claim it by "))
        content.button_label = "Open the offer"
        content.button_url = page_url(sending, "offers", anchor=f"offer-{offer.pk}")
    else:
        content.button_label = "Open the lead"
        content.button_url = page_url(sending, "lead-detail", lead.pk)
        due = lead.first_contact_due_at
        if (due is not None and lead.first_contact_at is None
                and lead.owner_id == notification.recipient_id):
            when = brokerage_time(due, current, brokerage.tz_name)
            action = f"first contact by {when}"
            content.deadline = f"First contact by {when} ({brokerage.tz_name} time)"
    start = SUBJECT_STARTS.get(notification.event)
    if start is not None:
        words = start.format(kind=kind)
        subject = ", ".join(p for p in (words[:1].upper() + words[1:], money(lead.price), place)
                            if p)
        content.subject = f"{subject}: {action}" if action else subject
    return content


#: Stands for the button's link in an email rendered for several (no escaping changes it).
BUTTON_URL_MARK = "\x00button-url\x00"


def render_email(templates: tuple[Template, Template], content: EmailContent) -> tuple[str, str]:
    """The email's text and HTML. The templates see only ``c``, the content (so that emails
    saying the same are rendered once), as a dict: the template engine tries a key before an
    attribute, and a failed key lookup (an exception) per variable was a fifth of the
    rendering."""
    text, html = templates
    context = {"c": vars(content)}
    return text.render(context), html.render(context)


def send_email(notification: Notification, sending: Sending) -> str | None:
    """One email, HTML with a plain-text alternative, through the batch's connection of
    ``EMAIL_BACKEND``."""
    agent = notification.recipient
    if not agent.email:
        raise Undeliverable("the recipient has no email address")
    content = email_content(notification, sending=sending)
    text, html = sending.email_bodies(content)
    message = EmailMultiAlternatives(content.subject, text, settings.DEFAULT_FROM_EMAIL,
                                     [agent.email], connection=sending.email_connection())
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:
        sending.email_failed()
        raise
    return None  # SMTP gives no message id


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


def send_sms(notification: Notification, sending: Sending) -> str | None:
    phone = notification.recipient.phone
    if not phone:
        raise Undeliverable("the recipient has no phone number")
    to = e164(phone)
    if to in sending.opted_out:  # texted STOP after this delivery was made
        raise Undeliverable("the recipient's number texted STOP")
    try:
        return get_sms_backend().send(to, sms_text(notification))
    except RecipientOptedOut as exc:  # opted out at the provider (e.g. STOP before we knew)
        opt_out(phone=to, keyword="provider", now=timezone.now())
        sending.opted_out.add(to)
        raise Undeliverable(f"the recipient's number opted out: {exc}") from exc


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


def notification_url(notification: Notification, sending: Sending | None = None) -> str:
    """Where tapping the notice leads: the lead for its owner (or a manager), the offers page
    for an offer, the pond for a pond notice, else the bell's page (the site's front page for
    a page there is not). ``sending``: the batch, which resolves each page once."""
    pages = sending.page if sending is not None else absolute_url
    lead = notification.lead
    agent = notification.recipient
    if lead is not None and (lead.owner_id == agent.pk or agent.role == Agent.Role.MANAGER):
        url = pages("lead-detail", lead.pk)
    elif notification.event in OFFER_EVENTS:
        url = pages("offers")
    elif notification.event == Notification.Event.LEAD_UNASSIGNED:
        url = pages("pond")
    else:
        url = pages("notifications")
    return url or site_url("/")


def push_payload(notification: Notification, sending: Sending | None = None) -> dict[str, Any]:
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
        "url": notification_url(notification, sending),
        "tag": f"lead-{lead.pk}" if lead is not None else f"notification-{notification.pk}",
        "event": notification.event,
        "lead_id": notification.lead_id,
        "notification_id": notification.pk,
        "urgent": notification.event in URGENT_EVENTS,
    }


def send_push(notification: Notification, sending: Sending) -> None:
    """Push to every device of the recipient. A device whose push service answers 404/410 is
    forgotten. It went out when one device took it; when none did, it raises (retried later,
    so no device gets it twice), or ``Undeliverable`` when no device is left."""
    if not push.push_enabled():
        raise Undeliverable("web push is not configured (VAPID keys)")
    known = sending.devices.get(notification.recipient_id)  # read with the batch
    devices = list(known if known is not None else
                   PushSubscription.objects.filter(agent_id=notification.recipient_id))
    payload = push_payload(notification, sending)
    backend = push.get_push_backend()
    urgency = "high" if payload["urgent"] else "normal"
    delivered, errors = [], []
    for device in devices:
        target = push.Target(device.endpoint, device.p256dh, device.auth)
        try:
            backend.send(push.PushMessage(target=target, payload=payload, urgency=urgency))
        except push.SubscriptionGone as exc:
            PushSubscription.objects.filter(pk=device.pk).delete()
            if known is not None:
                known.remove(device)  # not tried again for the batch's next notice
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


def send(channel: str, notification: Notification, sending: Sending | None = None) -> str | None:
    """Send the notification through the channel, with the batch it goes out with (else as a
    batch of one); raises when it did not go out. Returns the provider's message id when the
    channel has one (Twilio's SID)."""
    try:
        sender = SENDERS[channel]
    except KeyError:
        raise Undeliverable(f"unknown channel {channel!r}") from None
    if sending is not None:
        return sender(notification, sending)
    with Sending([(channel, notification)]) as alone:
        return sender(notification, alone)
