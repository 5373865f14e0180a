"""Webhook signatures (Stripe style), so a receiver knows a request came from us, unaltered.

``Leadrouter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
endpoint's secret>``. Receivers check it with ``verify_signature`` (standard library only: copy
it).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_TOLERANCE = 300  # seconds; what ``verify_signature`` accepts by default
SIGNATURE_HEADER = "Leadrouter-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``Leadrouter-Signature`` value of this body signed at ``timestamp``."""
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
