"""The answer to the lead: a rule's auto-response (email and/or text) sent within seconds.

At arrival, routing sends ``routing.signals.leads_routed`` inside its transaction and
``schedule_replies`` answers it (a rule without an auto-response costs no query): one
``AutoReply`` row per channel, due when the brokerage's actionable window is open (at once by
day; when it opens for a lead that arrives at night), and, committed with them
(``queue_with_commit``), one task in the cluster sends those already due. Nothing is sent
inside the request. A schedule
(``send due auto-replies``, every minute) sends the replies that waited for the window, and
retries failures. A source that requires consent gets no reply for a lead without it.

The message is rendered when it goes out, so the agent named is whoever has the lead then
(the assigned agent at once; for an offered lead, the agent who has claimed it by then, else
the brokerage). Every message sent, and every lead left unanswered for want of consent, is on
the lead's timeline.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.utils import timezone
from django.utils.html import escape, linebreaks
from django_q.tasks import async_task

from leads.models import Activity, AutoReply, AutoResponse, Lead, LeadSource
from notifications.queueing import queue_with_commit
from notifications.sms import e164, get_sms_backend
from routing.engine import RoutingConfig
from routing.models import Brokerage
from routing.selectors import calendar, routing_config

logger = logging.getLogger(__name__)

PLACEHOLDERS = ("first_name", "agent_name", "agent_phone", "agent_email", "brokerage")
#: Without an agent yet (an offered lead nobody has claimed), the message names the team.
NO_AGENT_NAME = "our team"
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=1)
CLAIM = timedelta(minutes=5)  # a worker that died mid-send gives the reply back after this
SWEEP_BATCH = 200
SMS_MAX_CHARS = 480
S = AutoReply.Status


def unknown_placeholders(template: str) -> list[str]:
    """Placeholders the template uses that are not ours (``{agent}``, say), or a message
    about a lone brace; empty when the template can be rendered."""
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template)
                 if field is not None]
    except ValueError as exc:
        return [f"malformed braces ({exc}); write {{{{ and }}}} for a brace itself"]
    return [name or "{}" for name in names if name not in PLACEHOLDERS]


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with its placeholders filled (an unknown one is left as written)."""
    try:
        return string.Formatter().vformat(template, (), _Values(values))
    except (ValueError, IndexError, AttributeError):
        return template


def placeholder_values(lead: Lead) -> dict[str, str]:
    """What the placeholders read for this lead now: its owner once someone has it."""
    agent = lead.owner if lead.owner_id else None
    phone = agent.phone if agent is not None else ""
    return {
        "first_name": lead.first_name or "there",
        "agent_name": agent.name if agent is not None else NO_AGENT_NAME,
        "agent_phone": (phone.as_national if hasattr(phone, "as_national") else str(phone or "")),
        "agent_email": agent.email if agent is not None else "",
        "brokerage": Brokerage.load().name,
    }


# --- At arrival (inside routing's transaction) -----------------------------------------------


def answer_routed_leads(sender: type, *, leads: list[Lead], config: RoutingConfig,
                        now: datetime, **_: object) -> None:
    """``routing.signals.leads_routed`` receiver (connected in ``LeadsConfig.ready``)."""
    schedule_replies(leads=leads, now=now, config=config)


def schedule_replies(*, leads: Iterable[Lead], now: datetime,
                     config: RoutingConfig | None = None) -> list[AutoReply]:
    """The auto-replies of newly routed leads, due when the actionable window is open, and
    one task queued after the commit to send those due now. Leads whose source requires
    consent and who gave none get a timeline entry instead.

    With the routing snapshot (``config``), leads whose rule has no auto-response cost no
    query at all."""
    config = config or routing_config()
    leads = [lead for lead in leads if lead.rule_id in config.auto_response_rules]
    if not leads:
        return []
    responses = {r.rule_id: r for r in AutoResponse.objects.filter(
        rule_id__in={lead.rule_id for lead in leads}, active=True)}
    leads = [lead for lead in leads if lead.rule_id in responses]
    if not leads:
        return []
    strict = set(LeadSource.objects.filter(
        name__in={lead.source for lead in leads if lead.source}, requires_consent=True,
    ).values_list("name", flat=True))
    cal = calendar(config)
    replies: list[AutoReply] = []
    refused: list[Activity] = []
    for lead in leads:
        response = responses[lead.rule_id]
        channels = _channels(response, lead)
        if not channels:
            continue
        if lead.source in strict and not lead.consent:
            refused.append(Activity(
                lead=lead, kind=Activity.Kind.AUTO_REPLY, created_at=now,
                body=f"No auto-reply: {lead.source} leads need the person's consent, and "
                     "none was given.", data={"status": "no_consent"}))
            continue
        due = cal.next_open(now)
        replies.extend(AutoReply(lead=lead, response=response, channel=channel, created_at=now,
                                 due_at=due) for channel in channels)
    if refused:
        Activity.objects.record_many(refused)
    if not replies:
        return []
    made: list[AutoReply] = AutoReply.objects.bulk_create(replies)
    ids = [r.pk for r in made if r.due_at <= now]
    if ids:
        queue_with_commit(lambda: queue_replies(ids))
    return made


def _channels(response: AutoResponse, lead: Lead) -> list[str]:
    """The channels the response has a message for and the lead can be reached on."""
    channels: list[str] = []
    if response.email_body.strip() and lead.email:
        channels.append(AutoReply.Channel.EMAIL)
    if response.sms_body.strip() and lead.phone:
        channels.append(AutoReply.Channel.SMS)
    return channels


def queue_replies(reply_ids: list[int]) -> None:
    """After the commit: one task sends them (the sweep does if the broker is down)."""
    async_task("leads.autoresponder.send_replies", reply_ids, task_name="send auto-replies")


# --- In the task cluster ---------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return (Q(status__in=[S.PENDING, S.FAILED], due_at__lte=now)
            | Q(status=S.SENDING, due_at__lte=now - CLAIM)) & Q(attempts__lt=MAX_ATTEMPTS)


def send_replies(reply_ids: list[int], *, now: datetime | None = None) -> int:
    """Send these replies if they are due (a task after arrival); how many went out."""
    sent = 0
    for pk in reply_ids:
        try:
            sent += send_reply(pk, now=now)
        except Exception:  # a database hiccup on one reply must not stop the others
            logger.exception("Auto-reply %s could not be attempted", pk)
    return sent


def send_due_replies(*, now: datetime | None = None) -> int:
    """Send every reply whose window has opened, and retry failures (scheduled every minute)."""
    current = now or timezone.now()
    ids = list(AutoReply.objects.filter(_due(current)).order_by("due_at", "pk")
               .values_list("pk", flat=True)[:SWEEP_BATCH])
    return send_replies(ids, now=now)


def send_reply(pk: int, *, now: datetime | None = None) -> bool:
    """Claim the reply (a conditional update: one worker sends it), render and send it, and
    put it on the lead's timeline. Whether it went out now."""
    started = now or timezone.now()
    claimed = AutoReply.objects.filter(pk=pk).filter(_due(started)).update(
        status=S.SENDING, attempts=F("attempts") + 1, due_at=started)
    if not claimed:
        return False
    reply = AutoReply.objects.select_related("lead__owner", "response").get(pk=pk)
    lead, response = reply.lead, reply.response
    if response is None:  # its template was deleted meanwhile
        AutoReply.objects.filter(pk=pk).update(status=S.FAILED, attempts=MAX_ATTEMPTS,
                                               last_error="The auto-response was deleted.")
        return False
    values = placeholder_values(lead)
    try:
        if reply.channel == AutoReply.Channel.EMAIL:
            to, subject, body = lead.email, render(response.email_subject, values), render(
                response.email_body, values)
            subject = " ".join(subject.split()) or f"Thank you, {values['first_name']}"
            send_email(to=to, subject=subject, body=body)
        else:
            to = e164(lead.phone)
            subject, body = "", render(response.sms_body, values)[:SMS_MAX_CHARS]
            get_sms_backend().send(to, body)
    except Exception as exc:  # any provider failure: recorded and retried by the sweep
        error = f"{type(exc).__name__}: {exc}"[:2000]
        AutoReply.objects.filter(pk=pk).update(
            status=S.FAILED, last_error=error, due_at=(now or timezone.now()) + RETRY_AFTER)
        logger.warning("Auto-reply %s (%s) failed: %s", pk, reply.channel, error)
        return False
    sent_at = now or timezone.now()
    AutoReply.objects.filter(pk=pk).update(status=S.SENT, sent_at=sent_at, to=to,
                                           subject=subject, body=body, last_error="")
    how = "email" if reply.channel == AutoReply.Channel.EMAIL else "text"
    shown = f"{subject}\n\n{body}" if subject else body
    Activity.objects.record(lead=lead, kind=Activity.Kind.AUTO_REPLY, created_at=sent_at,
                            body=f"Auto-reply by {how} to {to}:\n{shown}",
                            data={"channel": reply.channel, "reply": reply.pk,
                                  "status": "sent"})
    return True


def send_email(*, to: str, subject: str, body: str) -> None:
    """Plain text and the same as HTML, through Django's email backend."""
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(f"<html><body>{linebreaks(escape(body))}</body></html>",
                               "text/html")
    message.send()
