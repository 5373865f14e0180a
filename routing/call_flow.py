"""An instant call from start to end: placing it, what the agent hears, and what each answer
does to the offer.

The call reads the lead's essentials (the lead's title, type, price, area and source: never
the contact details, which stay hidden until the lead is claimed) and asks the agent to press
1 to accept or 2 to pass. Pressing 1 claims through ``claims.claim_offer`` (the exactly-once
claim of the offers page), then the agent is connected to the lead's phone. No answer, a busy
line, an answering machine, no key pressed, a pass, or a call that could not be placed ends the
offer on the spot and the lead moves on exactly as when an offer expires (``claims.move_on``:
the next agent of the rule is called, or the rule escalates). Every call and its outcome goes
on the lead's timeline.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from twilio.twiml.voice_response import Gather, VoiceResponse

from leads.models import Activity, Lead, area_of
from notifications.links import site_url
from notifications.services import close_offer_notices
from routing.calls import OutboundCall, VoiceBackendError, voice_backend
from routing.claims import ClaimRefused, claim_offer, decline_offer, lock_lead, move_on
from routing.describe import money
from routing.models import Offer, OfferCall

logger = logging.getLogger(__name__)

#: Seconds the agent has to press a key once the message is read.
GATHER_SECONDS = 8
#: Provider call statuses that end a call without anyone answering.
UNANSWERED = {"busy": "The line was busy", "no-answer": "No answer",
              "failed": "The call failed", "canceled": "The call was canceled"}
OUTCOME_WORDS = {
    OfferCall.Outcome.NO_ANSWER: "did not answer the instant call",
    OfferCall.Outcome.VOICEMAIL: "did not answer the instant call (voicemail picked up)",
    OfferCall.Outcome.NO_DIGITS: "answered the instant call but pressed nothing",
    OfferCall.Outcome.FAILED: "could not be called",
}


def call_url(name: str, call: OfferCall) -> str:
    """The absolute address of one of the call's webhooks, as the provider is given it."""
    return site_url(reverse(name, args=[call.pk]))


def place_call(call_id: int) -> str:
    """The task: place the call of an open instant-call offer (nothing if the offer ended)."""
    call = OfferCall.objects.select_related("offer__rule", "agent").filter(pk=call_id).first()
    if call is None or call.placed_at is not None:
        return "gone"
    now = timezone.now()
    offer = call.offer
    if offer.status != Offer.Status.OFFERED:
        _finish(call, OfferCall.Outcome.TOO_LATE, now)
        return "offer ended"
    to = str(call.agent.phone or "")
    if not to:
        _fail(call, "the agent has no phone number", now)
        return "no number"
    seconds = offer.rule.call_timeout_seconds if offer.rule else 45
    outbound = OutboundCall(to=to, from_=settings.VOICE_FROM,
                            answer_url=call_url("call-answer", call),
                            status_url=call_url("call-status", call), ring_seconds=seconds)
    try:
        sid = voice_backend().place(outbound)
    except VoiceBackendError as exc:
        _fail(call, str(exc), now)
        return "failed"
    OfferCall.objects.filter(pk=call.pk).update(sid=sid, to=to, placed_at=now,
                                                status="initiated")
    Activity.objects.record(lead_id=call.lead_id, kind=Activity.Kind.CALL, created_at=now,
                            body=f"Instant call to {call.agent.name} ({to}): ringing up to "
                            f"{seconds} s", data={"call": call.pk, "sid": sid})
    return sid


def _fail(call: OfferCall, error: str, now: datetime) -> None:
    logger.warning("instant call %s not placed: %s", call.pk, error)
    OfferCall.objects.filter(pk=call.pk).update(error=error, status="failed")
    end_offer(call.pk, OfferCall.Outcome.FAILED, now=now, detail=error)


def _finish(call: OfferCall, outcome: str, now: datetime) -> None:
    OfferCall.objects.filter(pk=call.pk, outcome=OfferCall.Outcome.PENDING).update(
        outcome=outcome, ended_at=now)


def end_offer(call_id: int, outcome: str, *, now: datetime, detail: str = "") -> bool:
    """The call ended without a claim: its offer ends and the lead moves on, as on expiry.

    In one transaction, the lead locked first (the claims' lock order); False when the offer
    had already ended (claimed, passed, expired): then only the call's outcome is kept.
    """
    with transaction.atomic():
        call = OfferCall.objects.select_related("offer", "agent").get(pk=call_id)
        lock_lead(call.lead_id)
        ended = Offer.objects.filter(pk=call.offer_id, status=Offer.Status.OFFERED).update(
            status=Offer.Status.EXPIRED, responded_at=now)
        _finish(call, outcome if ended else OfferCall.Outcome.TOO_LATE, now)
        if not ended:
            return False
        words = OUTCOME_WORDS.get(outcome, "did not accept the instant call")
        body = f"{call.agent.name} {words}" + (f": {detail}" if detail else "")
        Activity.objects.record(lead_id=call.lead_id, kind=Activity.Kind.EXPIRED,
                                created_at=now, body=body,
                                data={"call": call.pk, "outcome": outcome})
        close_offer_notices(lead_id=call.lead_id, agent_ids=[call.agent_id], now=now)
        move_on(call.lead_id, now=now, why=body)
        return True


# --- What the agent hears (TwiML) ----------------------------------------------------------


def essentials(lead: Lead) -> str:
    """The lead as read out: title, type, price, area, source; no contact details."""
    parts = [f"New lead: {lead.title}."]
    if lead.lead_type:
        parts.append(f"{lead.get_lead_type_display()}.")
    if lead.price is not None:
        parts.append(f"Price {money(lead.price)}.")
    area = area_of(lead)
    if area and area not in lead.title:
        parts.append(f"Area: {area}.")
    if lead.source:
        parts.append(f"Source: {lead.source}.")
    return " ".join(parts)


def _said(text: str, *, hang_up: bool = True) -> VoiceResponse:
    response = VoiceResponse()
    response.say(text)
    if hang_up:
        response.hangup()
    return response


def answer(call_id: int, *, answered_by: str, now: datetime) -> VoiceResponse:
    """The agent's phone was answered: read the lead and ask for 1 or 2; a machine is hung
    up on and the lead moves on."""
    call = OfferCall.objects.select_related("offer", "lead").get(pk=call_id)
    OfferCall.objects.filter(pk=call.pk).update(status="in-progress", answered_by=answered_by)
    if answered_by.startswith("machine") or answered_by == "fax":
        end_offer(call.pk, OfferCall.Outcome.VOICEMAIL, now=now)
        response = VoiceResponse()
        response.hangup()
        return response
    if call.offer.status != Offer.Status.OFFERED:
        _finish(call, OfferCall.Outcome.TOO_LATE, now)
        return _said("This lead has already moved on. Goodbye.")
    return ask(call)


def ask(call: OfferCall) -> VoiceResponse:
    """The lead's essentials inside a one-key Gather (also asked when nothing was pressed:
    the press webhook then hears empty digits)."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=call_url("call-press", call), method="POST",
                    timeout=GATHER_SECONDS, action_on_empty_result=True)
    gather.say(f"{essentials(call.lead)} Press 1 to accept this lead. Press 2 to pass.")
    response.append(gather)
    return response


def press(call_id: int, *, digits: str, now: datetime) -> VoiceResponse:
    """1 claims (exactly once) and dials the lead; 2 passes; nothing pressed moves on."""
    call = OfferCall.objects.select_related("agent", "lead").get(pk=call_id)
    if digits == "1":
        try:
            lead = claim_offer(call.offer_id, call.agent, now=now)
        except ClaimRefused as refused:
            _finish(call, OfferCall.Outcome.TOO_LATE, now)
            return _said(f"{refused} Goodbye.")
        _finish(call, OfferCall.Outcome.ACCEPTED, now)
        Activity.objects.record(lead_id=lead.pk, kind=Activity.Kind.CALL, actor=call.agent,
                                created_at=now, body=f"{call.agent.name} pressed 1 on the "
                                "instant call: connecting them to the lead",
                                data={"call": call.pk, "outcome": "accepted"})
        phone = str(lead.phone or "")
        if not phone:
            return _said("The lead is yours. It has no phone number: see its email in the app.")
        response = VoiceResponse()
        response.say("The lead is yours. Connecting you now.")
        response.dial(phone, caller_id=settings.VOICE_FROM or None)
        return response
    if digits == "2":
        try:
            decline_offer(call.offer_id, call.agent, now=now)
        except ClaimRefused as refused:
            _finish(call, OfferCall.Outcome.TOO_LATE, now)
            return _said(f"{refused} Goodbye.")
        _finish(call, OfferCall.Outcome.DECLINED, now)
        return _said("You passed. The lead goes to the next agent. Goodbye.")
    if digits:  # another key: ask again
        return ask(call)
    end_offer(call.pk, OfferCall.Outcome.NO_DIGITS, now=now)
    return _said("No key pressed. The lead goes to the next agent. Goodbye.")


def status(call_id: int, *, call_status: str, answered_by: str, now: datetime) -> None:
    """How the call ended: unanswered, or hung up before a key, ends the offer."""
    call = OfferCall.objects.get(pk=call_id)
    OfferCall.objects.filter(pk=call.pk).update(
        status=call_status, answered_by=answered_by or call.answered_by)
    if call_status in UNANSWERED:
        end_offer(call.pk, OfferCall.Outcome.NO_ANSWER, now=now,
                  detail=UNANSWERED[call_status].lower())
    elif call_status == "completed":
        if (answered_by or call.answered_by).startswith("machine"):
            end_offer(call.pk, OfferCall.Outcome.VOICEMAIL, now=now)
        else:
            end_offer(call.pk, OfferCall.Outcome.NO_DIGITS, now=now)
