"""Instant calls: which offers are due a phone call, and the voice backends that place them.

An "instant call" rule's offer is a phone call to its agent (``routing.call_flow`` places it
and answers the provider's webhooks). A call is due when its offer is open and the actionable
window lets its clock run: routing queues the calls of offers made inside the window at once,
and the claim clock (``routing.clock``) those whose window has just opened. Each offer gets at
most one ``OfferCall`` row (one-to-one), made in the transaction that finds it due; the call
itself is placed from the task cluster once that transaction commits, never inside a request.

``settings.VOICE_BACKEND`` is the dotted path of the backend class: ``TwilioVoiceBackend``
(Twilio Voice, the official ``twilio`` client), ``ConsoleVoiceBackend`` (the default: logs the
call and places none, so the offer runs to its deadline and moves on) or ``LocmemVoiceBackend``
(tests).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from routing.models import Offer, OfferCall, Rule

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "routing.calls.ConsoleVoiceBackend"
PLACE_TASK = "routing.call_flow.place_call"


def start_due_calls(*, now: datetime, lead_ids: Iterable[int] | None = None) -> int:
    """Make the call rows of open instant-call offers whose clock runs at ``now`` (of
    ``lead_ids``, or all) and queue their placing for after the commit; how many were made.

    Runs in the caller's transaction; safe to repeat (an offer that has its call is skipped).
    """
    due = Offer.objects.filter(status=Offer.Status.OFFERED, rule__delivery=Rule.Delivery.
                               INSTANT_CALL, clock_starts_at__lte=now, call__isnull=True)
    if lead_ids is not None:
        due = due.filter(lead_id__in=list(lead_ids))
    rows = [OfferCall(offer_id=pk, lead_id=lead_id, agent_id=agent_id, created_at=now)
            for pk, lead_id, agent_id in due.values_list("pk", "lead_id", "agent_id")]
    if not rows:
        return 0
    OfferCall.objects.bulk_create(rows, ignore_conflicts=True)  # a clock pass at the same time
    ids = list(OfferCall.objects.filter(offer_id__in=[r.offer_id for r in rows],
                                        placed_at__isnull=True, created_at=now)
               .values_list("pk", flat=True))
    transaction.on_commit(lambda: queue_placing(ids), robust=True)
    return len(ids)


def queue_placing(call_ids: list[int]) -> None:
    """After the commit: one task per call, so that calls to several agents go out at once."""
    for call_id in call_ids:
        async_task(PLACE_TASK, call_id, task_name=f"place call {call_id}")


# --- Voice backends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundCall:
    """What a backend is asked to place: the agent's number and where the provider asks."""

    to: str
    from_: str
    answer_url: str  # the provider asks it for the call's instructions (TwiML) once answered
    status_url: str  # the provider tells it how the call ended
    ring_seconds: int


class VoiceBackendError(Exception):
    """The provider refused or could not be reached: the call was not placed."""


class BaseVoiceBackend:
    """Places one call and returns the provider's id of it."""

    def place(self, call: OutboundCall) -> str:
        raise NotImplementedError


class ConsoleVoiceBackend(BaseVoiceBackend):
    """Development: logs the call and places none (the offer runs out and moves on)."""

    def place(self, call: OutboundCall) -> str:
        logger.warning("Instant call (console, not placed) to %s: %s", call.to, call.answer_url)
        return f"console-{uuid.uuid4().hex}"


class LocmemVoiceBackend(BaseVoiceBackend):
    """Tests: keeps the calls in ``LocmemVoiceBackend.outbox``."""

    outbox: ClassVar[list[OutboundCall]] = []

    def place(self, call: OutboundCall) -> str:
        self.outbox.append(call)
        return f"CA{uuid.uuid4().hex}"


class TwilioVoiceBackend(BaseVoiceBackend):
    """Twilio Voice through the official client: rings for the rule's seconds, detects
    answering machines (``AnsweredBy``) and reports how the call ended to ``status_url``."""

    def __init__(self, *, http_client: Any = None) -> None:
        from twilio.rest import Client

        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                             http_client=http_client)

    def place(self, call: OutboundCall) -> str:
        from twilio.base.exceptions import TwilioException

        try:
            made = self.client.calls.create(
                to=call.to, from_=call.from_, url=call.answer_url, method="POST",
                status_callback=call.status_url, status_callback_method="POST",
                status_callback_event=["completed"], timeout=call.ring_seconds,
                machine_detection="Enable")
        except TwilioException as exc:
            raise VoiceBackendError(str(exc)) from exc
        return str(made.sid)


def voice_backend(path: str | None = None) -> BaseVoiceBackend:
    """An instance of the configured backend (``settings.VOICE_BACKEND``), or of ``path``."""
    backend = path or getattr(settings, "VOICE_BACKEND", None) or DEFAULT_BACKEND
    return import_string(backend)()
