"""Sending webhook deliveries: POSTed signed (ours and Standard Webhooks), retried with
back-off, never twice.

* ``send_webhook_deliveries`` (the task ``emit`` queues) and ``retry_webhook_deliveries``
  (scheduled every minute): a worker claims a delivery with the conditional update of
  ``notifications.tasks`` before POSTing it, so two workers never send one delivery twice.
  A 2xx answer is success; anything else, or no answer within ``TIMEOUT``, is a failed attempt,
  recorded in ``attempt_log`` and retried after ``BACKOFF``, then given up.
* **A failing endpoint costs little**: after a failed attempt it gets nothing else for a minute
  (``backoff_until``), so a dead receiver sees one attempt a minute, not one per event, and
  never ties up the cluster that runs the claim clock; its first success sends the backlog.
* **Public addresses only** (``addresses``): every connection resolves the host, checks every
  address and connects to the checked one; no proxy, no redirect. A failed attempt records the
  status code alone (never the answer's body) or why it could not connect.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Min
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.models import Lead
from notifications import tasks
from notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from notifications.webhooks.addresses import (
    GuardedHTTPHandler,
    GuardedHTTPSHandler,
    RefusedAddress,
)
from notifications.webhooks.events import iso, lead_data
from notifications.webhooks.follow_up_boss import integration_of, request_parts
from notifications.webhooks.signing import SIGNATURE_HEADER, signature_header, standard_headers

logger = logging.getLogger(__name__)

# Wait before attempt 2 to 6; after the sixth failed attempt the delivery gives up.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT = 10.0  # seconds per attempt (connect, and each read)
ENDPOINT_REST = timedelta(minutes=1)  # a failing endpoint gets nothing else for this long
TASK_SECONDS = 60.0  # no new attempt after this: the task ends well before the cluster's timeout
PER_ENDPOINT = 500  # deliveries per endpoint and retry run
COULD_NOT_CONNECT = "Could not connect"
ERROR_CHARS = 2000
EVENT_HEADER = "Leadrouter-Event"
DELIVERY_HEADER = "Leadrouter-Delivery"
USER_AGENT = "leadrouter-webhooks/1"

S = WebhookDelivery.Status
SENT, FAILED, SKIPPED = "sent", "failed", "skipped"  # what one attempt did


def send_webhook_deliveries(delivery_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """The task ``emit`` queues: send these deliveries, oldest first, endpoint by endpoint.

    An endpoint resting after a failure is skipped (the retry sends its deliveries later); one
    that fails now gets no more attempts in this task. How many went out.
    """
    current = now or timezone.now()
    by_endpoint: dict[int, list[int]] = defaultdict(list)
    for pk, endpoint_id in WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).order_by(
            "pk").values_list("pk", "endpoint_id"):
        by_endpoint[endpoint_id].append(pk)
    resting = set(WebhookEndpoint.objects.filter(pk__in=list(by_endpoint),
                                                 backoff_until__gt=current)
                  .values_list("pk", flat=True)) if by_endpoint else set()
    until = time.monotonic() + TASK_SECONDS
    return sum(_send_in_turn(pks, now=now, until=until)
               for endpoint_id, pks in by_endpoint.items() if endpoint_id not in resting)


def retry_webhook_deliveries(*, now: datetime | None = None) -> int:
    """Send what is due (scheduled every minute): failed deliveries whose wait is over, new ones
    their task missed, and claims left by a worker that died. Endpoints resting after a failure
    wait; the others go in the order of their oldest due delivery. How many went out."""
    current = now or timezone.now()
    tasks.give_up_interrupted(WebhookDelivery.objects, now=current, max_attempts=MAX_ATTEMPTS)
    due = WebhookDelivery.objects.filter(tasks.due(current, MAX_ATTEMPTS)).exclude(
        endpoint__backoff_until__gt=current)
    endpoints = (due.order_by().values("endpoint_id").annotate(first=Min("pk"))
                 .order_by("first").values_list("endpoint_id", flat=True))
    until = time.monotonic() + TASK_SECONDS
    sent = 0
    for endpoint_id in list(endpoints):
        if time.monotonic() >= until:
            break
        pks = list(due.filter(endpoint_id=endpoint_id).order_by("pk")
                   .values_list("pk", flat=True)[:PER_ENDPOINT])
        sent += _send_in_turn(pks, now=now, until=until)
    return sent


def _send_in_turn(delivery_ids: Iterable[int], *, now: datetime | None, until: float) -> int:
    """One endpoint's deliveries in order; stop at its first failure (it rests) or at ``until``."""
    sent = 0
    for pk in delivery_ids:
        if time.monotonic() >= until:
            break
        try:
            outcome = attempt(pk, now=now)
        except Exception:  # a database hiccup: leave the rest to the retry
            logger.exception("Webhook delivery %s: could not be attempted", pk)
            break
        if outcome == FAILED:
            break
        sent += outcome == SENT
    return sent


def attempt(pk: int, *, now: datetime | None = None, retry: bool = True) -> str:
    """Claim the delivery if it is due and POST it; "sent", "failed" or "skipped" (not due,
    another worker has it, or its endpoint is inactive). ``retry=False``: no retry if it fails
    (the admin's test event)."""
    started = now or timezone.now()
    if not tasks.claim(WebhookDelivery.objects, pk, now=started, max_attempts=MAX_ATTEMPTS):
        return SKIPPED
    delivery = WebhookDelivery.objects.select_related(
        "endpoint", "endpoint__follow_up_boss").filter(pk=pk).first()
    if delivery is None:  # its endpoint was deleted meanwhile
        return SKIPPED
    endpoint = delivery.endpoint
    mine = WebhookDelivery.objects.filter(pk=pk, status=S.SENDING, attempts=delivery.attempts)
    if not endpoint.active and not delivery.payload.get("test"):
        mine.update(status=S.FAILED, next_attempt_at=None,
                    last_error="Not sent: the endpoint is inactive (retry it once active).")
        return SKIPPED
    code, error, millis = post(endpoint, delivery, now=started)
    finished = now or timezone.now()
    log = [*delivery.attempt_log, {"attempt": delivery.attempts, "at": iso(started),
                                   "status": code, "error": error, "ms": millis}]
    if not error:
        mine.update(status=S.SENT, sent_at=finished, last_status_code=code, last_error="",
                    next_attempt_at=None, attempt_log=log)
        if endpoint.failing_since or endpoint.backoff_until:
            _recovered(endpoint, finished)
        return SENT
    gave_up = not retry or delivery.attempts >= MAX_ATTEMPTS
    retry_at = None if gave_up else finished + BACKOFF[delivery.attempts - 1]
    mine.update(status=S.FAILED, last_status_code=code, last_error=error,
                next_attempt_at=retry_at, attempt_log=log)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        backoff_until=finished + ENDPOINT_REST, failing_since=Coalesce(F("failing_since"),
                                                                        finished))
    logger.warning("Webhook delivery %s (%s to %s, attempt %s) failed%s: %s", pk,
                   delivery.event, endpoint.url, delivery.attempts,
                   "; giving up" if gave_up else "", error)
    return FAILED


def _recovered(endpoint: WebhookEndpoint, now: datetime) -> None:
    """The endpoint answers again: healthy, and its waiting deliveries are due at once."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None, backoff_until=None)
    WebhookDelivery.objects.filter(endpoint=endpoint, status=S.FAILED,
                                   next_attempt_at__gt=now).update(next_attempt_at=now)


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) only (no file: or ftp: URLs), to checked public addresses only, no proxy (it
    would reach what the checks refuse), no redirects followed (a 3xx is a failure), and no
    exception for error statuses: the status is recorded as it is."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(), GuardedHTTPHandler(),
                    GuardedHTTPSHandler()):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, *, now: datetime | None = None
         ) -> tuple[int | None, str, int]:
    """POST the signed delivery once: (HTTP status or None, error or "" on 2xx, duration ms).
    Signed with every secret valid at ``now`` (an old one during its rotation's grace period).

    The error says only what a manager may see: the status code, the refused address's kind, or
    that it could not connect (details in the server log); never the answer's body, so a
    webhook cannot be used to read or map what answers behind the server."""
    request = _request(endpoint, delivery, now=now or timezone.now())
    start = time.monotonic()
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            code = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts too
        millis = round((time.monotonic() - start) * 1000)
        logger.info("Webhook delivery %s to %s: %r", delivery.pk, endpoint.url, exc)
        return None, connection_error(exc)[:ERROR_CHARS], millis
    millis = round((time.monotonic() - start) * 1000)
    return code, "" if 200 <= code < 300 else f"HTTP {code}", millis


def _request(endpoint: WebhookEndpoint, delivery: WebhookDelivery, *, now: datetime
             ) -> urllib.request.Request:
    """The delivery's request: signed JSON of its payload, or, for the Follow Up Boss
    integration's endpoint, FUB's event with its Basic auth."""
    integration = integration_of(endpoint)
    if integration is not None:
        url, event, auth = request_parts(integration, delivery.payload)
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        return urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **auth})
    body = body_of(delivery)
    timestamp = int(time.time())
    current, *old = endpoint.signing_secrets(now)
    return urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: signature_header(current, body, timestamp=timestamp, also=old),
        **standard_headers(current, delivery.pk, body, timestamp=timestamp, also=old),
    })


def connection_error(exc: BaseException) -> str:
    """A failed connection in words that tell nothing of what is behind the address."""
    reason = getattr(exc, "reason", exc)  # urllib wraps the socket's error
    if isinstance(reason, RefusedAddress):
        return f"Refused: {reason}"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"{COULD_NOT_CONNECT}: timed out"
    return COULD_NOT_CONNECT


def send_test_event(endpoint: WebhookEndpoint, *, now: datetime | None = None
                    ) -> WebhookDelivery:
    """Send a sample event (``"test": true``, a made-up lead) to the endpoint now, once, even if
    inactive: the manager's check that the receiver answers and verifies the signature."""
    moment = now or timezone.now()
    event = next((e for e in endpoint.events if e in WebhookEvent.values),
                 WebhookEvent.LEAD_CREATED)
    sample = Lead(first_name="Pat", last_name="Example", email="pat@example.org",
                  phone="+13125550101", source="Test", lead_type=Lead.LeadType.BUYER,
                  price=Decimal("450000"), status=Lead.Status.ASSIGNED, received_at=moment,
                  message="A test event from leadrouter.")
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=event, event_id=event_id, created_at=moment,
        payload={"id": str(event_id), "event": event, "created_at": iso(moment), "test": True,
                 "data": {"lead": lead_data(sample)}})
    attempt(delivery.pk, now=now, retry=False)
    delivery.refresh_from_db()
    return delivery
