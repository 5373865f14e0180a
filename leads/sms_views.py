"""The inbound SMS webhook: an agent texts back, and the claim happens as if they tapped Claim.

Twilio posts each text sent to ``SMS_FROM`` here (signed; ``twilio_signed`` refuses the
rest with 403). What the text says:

- STOP (and Twilio's other opt-out words): the number gets no more texts; START (or YES,
  UNSTOP) turns them back on; HELP says what can be texted.
- "1" (or CLAIM): claims the sender's **newest** live offer through ``routing.claims
  .claim_offer``, the same exactly-once claim as the button. The sender is the active agent
  whose profile has that number. The newest, because the text just received is the one the
  agent answers; when they hold other live offers the answer names the next one (another
  "1" claims it). With no live offer, the newest offer they had is tried anyway, so the
  answer says exactly why it is too late (claimed by another agent, window closed...).

Every answer is a TwiML ``<Message>`` back to the sender (none to STOP: Twilio itself
confirms an opt-out, and would block ours).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from agents.models import Agent
from leads.models import Lead
from notifications.links import site_url
from notifications.texting import (
    CLAIM_WORDS,
    HELP_REPLY,
    HELP_WORDS,
    START_REPLY,
    START_WORDS,
    STOP_WORDS,
    UNKNOWN_NUMBER_REPLY,
    UNKNOWN_WORD_REPLY,
    keyword,
    opt_in,
    opt_out,
)
from notifications.twilio_webhooks import twilio_signed
from routing.claims import ClaimRefused, claim_offer
from routing.models import Offer

NO_OFFER_REPLY = "You have no lead offers to claim right now."


def twiml(text: str | None) -> HttpResponse:
    """A TwiML answer: one <Message> back to the sender, or none."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return HttpResponse(str(response), content_type="text/xml")


@require_POST
@twilio_signed
def inbound_sms(request: HttpRequest) -> HttpResponse:
    """A text to our number: a keyword, or a reply to an offer."""
    sender = request.POST.get("From", "").strip()
    word = keyword(request.POST.get("Body", ""))
    now = timezone.now()
    if word in STOP_WORDS:
        opt_out(phone=sender, keyword=word, now=now)
        return twiml(None)
    if word in START_WORDS:
        opt_in(phone=sender)
        return twiml(START_REPLY)
    if word in HELP_WORDS:
        return twiml(HELP_REPLY)
    if word not in CLAIM_WORDS:
        return twiml(UNKNOWN_WORD_REPLY)
    agents = list(Agent.objects.filter(phone=sender, is_active=True)) if sender else []
    if not agents:
        return twiml(UNKNOWN_NUMBER_REPLY)
    return twiml(claim_by_text(agents, now=now))


def claim_by_text(agents: list[Agent], *, now: datetime) -> str:
    """Claim the newest live offer of the agent(s) with this number; the answer to text back."""
    offers = Offer.objects.filter(agent__in=agents).select_related("agent", "lead").order_by(
        "-offered_at", "-id")
    live = list(offers.filter(status=Offer.Status.OFFERED, deadline__gt=now)[:2])
    target = live[0] if live else offers.first()
    if target is None:
        return NO_OFFER_REPLY
    try:
        lead = claim_offer(target.pk, target.agent, now=now)
    except ClaimRefused as refused:
        answer = f"{target.lead}: {refused}"
    else:
        answer = claimed_reply(lead)
    following = offers.filter(status=Offer.Status.OFFERED, deadline__gt=now).exclude(
        pk=target.pk).first()
    if following is not None:
        answer += f" Next open offer: {following.lead}. Reply 1 to claim it."
    return answer


def claimed_reply(lead: Lead) -> str:
    """The winner's answer: the lead's contact, and its page."""
    contact = str(lead.phone) if lead.phone else lead.email
    reach = f" Contact them now: {contact}." if contact else " Contact them now."
    return f"You claimed {lead.title}.{reach} {site_url(reverse('lead-detail', args=[lead.pk]))}"
