"""Outbound webhooks: lead events, signed and POSTed to the endpoints managers register.

* ``events``: the services where things happen ``emit`` events; their deliveries are written in
  the caller's transaction and their sending queued once it commits. Nothing is sent in the
  request.
* ``subscribers``: which active endpoints want which event, read once per routing snapshot, so
  routing pays no query for webhooks while nobody subscribes, and one insert per batch when
  someone does.
* ``sending``: the queued task and the every-minute retry POST the deliveries, with back-off;
  a failing endpoint rests a minute between attempts.
* ``signing``: the ``Leadrouter-Signature`` header and ``verify_signature`` for receivers, and
  the Standard Webhooks headers (``standard_headers``).
* ``follow_up_boss``: the built-in push to Follow Up Boss, an endpoint of its own whose
  requests are FUB's Events API.
* ``rotation``: a new secret while the old one keeps signing for a grace period.
* ``addresses``: public addresses only (SSRF), unless ``WEBHOOK_ALLOWED_HOSTS`` allows a host;
  checked on the admin's form and again at every connection.

The names below are this package's API (``from notifications import webhooks``); the task
paths ``notifications.webhooks.send_webhook_deliveries`` and
``notifications.webhooks.retry_webhook_deliveries`` (stored in the schedule) resolve here.
"""

from notifications.webhooks.addresses import RefusedAddress, check_url
from notifications.webhooks.events import (
    SEND_TASK,
    Event,
    Names,
    decision_events,
    emit,
    emit_many,
    iso,
    lead_data,
    lead_url,
    person,
    queue_sending,
)
from notifications.webhooks.follow_up_boss import (
    FUB_EVENTS,
    fub_event,
    integration_of,
    save_integration,
)
from notifications.webhooks.rotation import ROTATION_GRACE, keep_old, rotate_secret
from notifications.webhooks.sending import (
    BACKOFF,
    COULD_NOT_CONNECT,
    DELIVERY_HEADER,
    ENDPOINT_REST,
    ERROR_CHARS,
    EVENT_HEADER,
    FAILED,
    MAX_ATTEMPTS,
    PER_ENDPOINT,
    SENT,
    SKIPPED,
    TASK_SECONDS,
    TIMEOUT,
    USER_AGENT,
    attempt,
    body_of,
    post,
    retry_webhook_deliveries,
    send_test_event,
    send_webhook_deliveries,
)
from notifications.webhooks.signing import (
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE,
    sign,
    signature_header,
    standard_headers,
    standard_key,
    verify_signature,
)
from notifications.webhooks.subscribers import endpoints_changed, subscribers, wanted

__all__ = [
    "standard_headers",
    "standard_key",
    "ROTATION_GRACE", "keep_old", "rotate_secret",
    "FUB_EVENTS", "fub_event", "integration_of", "save_integration",
    "BACKOFF", "COULD_NOT_CONNECT", "DELIVERY_HEADER", "ENDPOINT_REST", "ERROR_CHARS",
    "EVENT_HEADER", "FAILED", "MAX_ATTEMPTS", "PER_ENDPOINT", "RefusedAddress", "SEND_TASK", "SENT",
    "SIGNATURE_HEADER", "SIGNATURE_TOLERANCE", "SKIPPED", "TASK_SECONDS", "TIMEOUT", "USER_AGENT",
    "Event", "Names", "attempt", "body_of", "check_url", "decision_events", "emit", "emit_many",
    "endpoints_changed", "iso", "lead_data", "lead_url", "person", "post", "queue_sending",
    "retry_webhook_deliveries", "send_test_event", "send_webhook_deliveries", "sign",
    "signature_header", "subscribers", "verify_signature", "wanted",
]
