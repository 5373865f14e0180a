"""Webhook signatures (Stripe style), so a receiver knows a request came from us, unaltered.

``Leadrouter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
endpoint's secret>``. Receivers check it with ``verify_signature`` (standard library only: copy
it).

The same delivery also carries the `Standard Webhooks <https://www.standardwebhooks.com>`_
headers, so a receiver can verify it with any Standard Webhooks library:
``webhook-id: msg_<delivery id>`` (the same on every retry), ``webhook-timestamp: <unix time>``
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, keyed with the
secret's bytes (``standard_key``).

**Rotation**: while an endpoint's old secret is in its grace period (``rotation``), every
delivery is signed with both, the new one first: ``Leadrouter-Signature: t=..,v1=<new>,v1=<old>``
and ``webhook-signature: v1,<new> v1,<old>`` (space separated, as Standard Webhooks defines), so
a receiver verifies with either secret until it has switched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_TOLERANCE = 300  # seconds; what ``verify_signature`` accepts by default
SIGNATURE_HEADER = "Leadrouter-Signature"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int, also: Sequence[str] = ()
                     ) -> str:
    """The ``Leadrouter-Signature`` value of this body signed at ``timestamp``; one ``v1`` per
    secret (``also``: the old secrets still valid, after the current one)."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(key, timestamp, body)}"
                                          for key in dict.fromkeys([secret, *also]))])


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


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature: the secret without ``whsec_``,
    base64-decoded.

    New secrets are standard base64 (``new_webhook_secret``), as the libraries expect. Secrets
    made before were URL-safe base64 without padding: they are decoded as URL-safe base64 with
    the padding added back, so their receivers keep the same key; a secret a manager typed that
    is not base64 at all is keyed with its UTF-8 bytes.
    """
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            key = b""
    return key or text.encode()


def standard_message_id(delivery_id: int) -> str:
    """The ``webhook-id`` of a delivery: stable across its retries, so receivers can ignore a
    repeat."""
    return f"msg_{delivery_id}"


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(secret: str, delivery_id: int, body: bytes, *, timestamp: int,
                     also: Sequence[str] = ()) -> dict[str, str]:
    """The three Standard Webhooks headers of this delivery's body signed at ``timestamp``;
    ``also``: the old secrets still valid, signed after the current one."""
    message_id = standard_message_id(delivery_id)
    signatures = " ".join(standard_signature(key, message_id, timestamp, body)
                          for key in dict.fromkeys([secret, *also]))
    return {STANDARD_ID_HEADER: message_id, STANDARD_TIMESTAMP_HEADER: str(timestamp),
            STANDARD_SIGNATURE_HEADER: signatures}
