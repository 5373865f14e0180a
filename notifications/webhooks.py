"""Outbound webhooks: lead events, signed and POSTed to the endpoints managers register.

* **Emitting** (``emit`` / ``emit_many``, called by the services where things happen): one
  ``WebhookDelivery`` row per active endpoint subscribed to the event, written in the caller's
  transaction, all endpoints sharing the event's id; a task is queued once the transaction
  commits, so a rolled-back change sends nothing. Nothing is sent in the request. The endpoint
  list is read once per routing snapshot (an endpoint change renews the snapshot's token), so
  routing pays no query for webhooks while nobody subscribes, and one insert per batch when
  someone does.
* **Sending** (``send_webhook_deliveries``, the queued task, and ``retry_webhook_deliveries``,
  scheduled every minute): a worker claims a delivery with the conditional update of
  ``notifications.tasks`` before POSTing it, so two workers never send one delivery twice.
  A 2xx answer is success; anything else, or no answer within ``TIMEOUT``, is a failed attempt,
  recorded in ``attempt_log`` and retried after ``BACKOFF``, then given up.
* **A failing endpoint costs little**: after a failed attempt it gets nothing else for a minute
  (``backoff_until``), so a dead receiver sees one attempt a minute, not one per event, and
  never ties up the cluster that runs the claim clock; its first success sends the backlog.
* **Signature** (Stripe style): ``Leadrouter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
  "<t>.<body>" keyed with the endpoint's secret>``. Receivers check it with
  ``verify_signature`` (standard library only: copy it).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_q.tasks import async_task

from agents.models import Agent
from leads.models import Lead
from notifications import tasks
from notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from routing.engine import AgentInfo, Decision, RoutingConfig
from routing.selectors import routing_config
from routing.signals import bump_config_token

logger = logging.getLogger(__name__)

# Wait before attempt 2 to 6; after the sixth failed attempt the delivery gives up.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT = 10.0  # seconds per attempt (connect, and each read)
ENDPOINT_REST = timedelta(minutes=1)  # a failing endpoint gets nothing else for this long
TASK_SECONDS = 60.0  # no new attempt after this: the task ends well before the cluster's timeout
PER_ENDPOINT = 500  # deliveries per endpoint and retry run
RESPONSE_BYTES = 300  # kept from a failed answer's body
ERROR_CHARS = 2000
SIGNATURE_TOLERANCE = 300  # seconds; what ``verify_signature`` accepts by default
SIGNATURE_HEADER = "Leadrouter-Signature"
EVENT_HEADER = "Leadrouter-Event"
DELIVERY_HEADER = "Leadrouter-Delivery"
USER_AGENT = "leadrouter-webhooks/1"

S = WebhookDelivery.Status
SENT, FAILED, SKIPPED = "sent", "failed", "skipped"  # what one attempt did


# --- Signatures ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes | str,
                     tolerance: int = SIGNATURE_TOLERANCE, *, now: float | None = None) -> bool:
    """Whether the raw request ``body`` was signed with ``secret`` at most ``tolerance`` seconds
    ago (an old signature is refused, so a captured request cannot be replayed later).

    For receivers: pass the body exactly as received (before any JSON parsing) and the
    ``Leadrouter-Signature`` header. Several ``v1`` values are accepted (any may match).
    """
    raw = body.encode() if isinstance(body, str) else body
    fields = [part.strip().partition("=") for part in (header or "").split(",")]
    stamp = next((value for key, _, value in fields if key == "t"), "")
    signatures = [value for key, _, value in fields if key == "v1"]
    if not stamp.isdigit() or not signatures:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = sign(secret, int(stamp), raw)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# --- Who subscribes to what ------------------------------------------------------------------

_subscribers: tuple[RoutingConfig, dict[str, tuple[int, ...]]] | None = None


def subscribers(config: RoutingConfig | None = None) -> Mapping[str, tuple[int, ...]]:
    """The active endpoints (ids) of each event: one query per routing snapshot.

    Any save or delete of an endpoint renews the snapshot's token (below), so every process sees
    the change at its next routing read; in between, routing pays nothing for webhooks.
    """
    global _subscribers
    config = config or routing_config()
    cached = _subscribers
    if cached is not None and cached[0] is config:
        return cached[1]
    by_event: dict[str, list[int]] = defaultdict(list)
    for pk, events in WebhookEndpoint.objects.filter(active=True).order_by("pk").values_list(
            "pk", "events"):
        for event in dict.fromkeys(events or ()):
            if event in WebhookEvent.values:
                by_event[event].append(pk)
    result = {event: tuple(ids) for event, ids in by_event.items()}
    _subscribers = (config, result)
    return result


def wanted(event: str, config: RoutingConfig | None = None) -> bool:
    """Whether any active endpoint subscribes to the event (to skip work nobody needs)."""
    return bool(subscribers(config).get(event))


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-changed")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-gone")
def _endpoints_changed(**_: Any) -> None:
    """Renew the routing snapshot's token: the cached subscriber lists expire everywhere."""
    bump_config_token()


# --- Events and their payload ----------------------------------------------------------------


@dataclass
class Event:
    """One thing that happened to one lead; ``data`` holds the event's own facts."""

    name: str
    lead: Lead | int
    data: dict[str, Any] = field(default_factory=dict)


def emit(event: str, leads: Lead | int | Iterable[Lead | int], *, now: datetime,
         data: Mapping[str, Any] | None = None,
         config: RoutingConfig | None = None) -> list[WebhookDelivery]:
    """Tell the endpoints subscribed to ``event`` about each of these leads (see module doc)."""
    many = leads if isinstance(leads, Iterable) else [leads]
    return emit_many([Event(event, lead, dict(data or {})) for lead in many], now=now,
                     config=config)


def emit_many(events: Iterable[Event], *, now: datetime,
              config: RoutingConfig | None = None) -> list[WebhookDelivery]:
    """Write the deliveries of these events in the caller's transaction and queue their sending
    for when it commits. Nobody subscribed: nothing happens (and no query, snapshot cached)."""
    config = config or routing_config()
    subscribed = subscribers(config)
    if not subscribed:
        return []
    wanted = [e for e in events if subscribed.get(e.name)]
    if not wanted:
        return []
    ids = [e.lead for e in wanted if isinstance(e.lead, int)]
    fetched = Lead.objects.in_bulk(ids) if ids else {}
    rows = []
    for event in wanted:
        lead = fetched.get(event.lead) if isinstance(event.lead, int) else event.lead
        if lead is None:
            continue
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "event": event.name, "created_at": _iso(now),
                   "data": {"lead": lead_data(lead, config), **_jsonable(event.data, config)}}
        rows.extend(WebhookDelivery(endpoint_id=endpoint_id, event=event.name,
                                    event_id=event_id, lead_id=lead.pk, payload=payload,
                                    created_at=now)
                    for endpoint_id in subscribed[event.name])
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows)
    delivery_ids = [row.pk for row in rows]
    transaction.on_commit(lambda: queue_sending(delivery_ids), robust=True)
    return rows


def queue_sending(delivery_ids: list[int]) -> None:
    """After the commit: one task sends them (if the broker is down, the retry will)."""
    async_task("notifications.webhooks.send_webhook_deliveries", delivery_ids,
               task_name="send webhooks")


def decision_events(lead: Lead, decision: Decision, config: RoutingConfig,
                    offers: Sequence[Any] = (), **extra: Any) -> list[Event]:
    """The events of a routing decision: assigned, offered, escalated (to an agent: also
    assigned; to the pond: escalated alone). A lead merely left in the pond on arrival: none."""
    base = {"reason": decision.reason, "rule": decision.rule_name or None,
            "summary": decision.summary, **extra}
    if decision.outcome == "assigned":
        agent = _agent(decision.agent_id, config)
        events = [Event(WebhookEvent.LEAD_ASSIGNED, lead, {**base, "agent": agent})]
        if decision.reason == "escalated":
            events.insert(0, Event(WebhookEvent.LEAD_ESCALATED, lead,
                                   {**base, "escalated_to": agent}))
        return events
    if decision.outcome == "offered":
        mine = [o for o in offers if o.lead_id == lead.pk]
        return [Event(WebhookEvent.LEAD_OFFERED, lead, {
            **base, "delivery": decision.delivery,
            "offered_to": [_agent(a, config) for a in decision.offered_to],
            "offers": [{"agent": _agent(o.agent_id, config),
                        "deadline": o.deadline, "clock_starts_at": o.clock_starts_at}
                       for o in mine],
        })]
    if decision.outcome == "unassigned" and decision.reason == "escalated":
        return [Event(WebhookEvent.LEAD_ESCALATED, lead, {**base, "escalated_to": None})]
    return []


def lead_data(lead: Lead, config: RoutingConfig) -> dict[str, Any]:
    """What a receiver needs of the lead (agents from the routing snapshot: no query)."""
    rule = config.rule(lead.rule_id)
    return {
        "id": lead.pk,
        "name": lead.full_name,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": _phone(lead.phone),
        "source": lead.source,
        "tags": list(lead.tags or ()),
        "lead_type": lead.lead_type,
        "price": None if lead.price is None else f"{Decimal(lead.price):.2f}",
        "city": lead.city,
        "zip_code": lead.zip_code,
        "property_type": lead.property_type,
        "listing_ref": lead.listing_ref,
        "message": lead.message,
        "external_id": lead.external_id,
        "status": lead.status,
        "received_at": _iso(lead.received_at),
        "assigned_at": _iso(lead.assigned_at),
        "first_contact_at": _iso(lead.first_contact_at),
        "owner": _agent(lead.owner_id, config),
        "lender": _agent(lead.lender_id, config),
        "rule": rule.name if rule else None,
        "url": lead_url(lead.pk),
    }


def lead_url(lead_id: int | None) -> str | None:
    if lead_id is None:
        return None
    try:
        return settings.SITE_URL.rstrip("/") + reverse("lead-detail", args=[lead_id])
    except NoReverseMatch:
        return None


def _agent(value: Agent | AgentInfo | int | None, config: RoutingConfig) -> dict | None:
    if value is None:
        return None
    if isinstance(value, int):
        info = config.agents.get(value)
        return _agent(info, config) if info else {"id": value, "name": "", "email": "",
                                                   "role": ""}
    return {"id": value.pk if isinstance(value, Agent) else value.id, "name": value.name,
            "email": value.email, "role": value.role}


def _jsonable(value: Any, config: RoutingConfig) -> Any:
    if isinstance(value, Agent | AgentInfo):
        return _agent(value, config)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, config) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, config) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date | Decimal | uuid.UUID):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _phone(phone: Any) -> str:
    if not phone:
        return ""
    return phone.as_e164 if hasattr(phone, "as_e164") else str(phone)


# --- Sending ---------------------------------------------------------------------------------


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
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=pk).first()
    if delivery is None:  # its endpoint was deleted meanwhile
        return SKIPPED
    endpoint = delivery.endpoint
    mine = WebhookDelivery.objects.filter(pk=pk, status=S.SENDING, attempts=delivery.attempts)
    if not endpoint.active and not delivery.payload.get("test"):
        mine.update(status=S.FAILED, next_attempt_at=None,
                    last_error="Not sent: the endpoint is inactive (retry it once active).")
        return SKIPPED
    code, error, millis = post(endpoint, delivery)
    finished = now or timezone.now()
    log = [*delivery.attempt_log, {"attempt": delivery.attempts, "at": _iso(started),
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
    """HTTP(S) only (no file: or ftp: URLs), no redirects followed (a 3xx is a failure), and no
    exception for error statuses: the status is recorded as it is."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(),
                    urllib.request.HTTPHandler(), urllib.request.HTTPSHandler()):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    """POST the signed delivery once: (HTTP status or None, error or "" on 2xx, duration ms)."""
    body = body_of(delivery)
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: signature_header(endpoint.secret, body, timestamp=int(time.time())),
    })
    start = time.monotonic()
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            code = response.status
            detail = b"" if 200 <= code < 300 else response.read(RESPONSE_BYTES)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts too
        millis = round((time.monotonic() - start) * 1000)
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], millis
    millis = round((time.monotonic() - start) * 1000)
    if 200 <= code < 300:
        return code, "", millis
    text = detail.decode("utf-8", "replace").strip()
    return code, (f"HTTP {code}" + (f": {text}" if text else ""))[:ERROR_CHARS], millis


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
        payload={"id": str(event_id), "event": event, "created_at": _iso(moment), "test": True,
                 "data": {"lead": lead_data(sample, routing_config())}})
    attempt(delivery.pk, now=now, retry=False)
    delivery.refresh_from_db()
    return delivery
