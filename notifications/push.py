"""Web Push to the agents' phones (VAPID), through a backend chosen like the SMS backends.

``settings.WEBPUSH_BACKEND`` is the dotted path of the backend class:

``notifications.push.WebPushBackend`` (default)
    encrypts the payload for the device (aes128gcm) and POSTs it to the device's push service
    (Google's, Mozilla's, Apple's, Microsoft's) with a VAPID signature, using ``pywebpush``.
``notifications.push.LocmemPushBackend``
    keeps each message in this module's ``outbox`` list; for tests.

The VAPID key pair identifies this server to the push services: ``WEBPUSH_VAPID_PRIVATE_KEY``
(32 raw bytes, base64url) and ``WEBPUSH_VAPID_PUBLIC_KEY`` (the uncompressed P-256 point,
base64url: the browsers' ``applicationServerKey``); ``manage.py generate_vapid_keys`` makes a
pair. ``WEBPUSH_VAPID_SUBJECT`` (``mailto:`` or ``https:``) tells the push services whom to
contact. Without both keys push is off: nobody is offered phone alerts, nothing is sent.

A device's endpoint comes from its browser, so it is only accepted (and only sent to) when it
belongs to a push service in ``WEBPUSH_ENDPOINT_HOSTS``: the task cluster never POSTs to an
address an agent made up.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "notifications.push.WebPushBackend"
# The push services of Chrome/Android and Edge (FCM), Firefox, Safari/iOS, Windows.
DEFAULT_ENDPOINT_HOSTS = ("fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com",
                          "notify.windows.com")
TIMEOUT_SECONDS = 10  # well under the task cluster's timeout
# A push service keeps a message this long for a phone that is off, then drops it.
TTL_SECONDS = 60 * 60


class SubscriptionGone(Exception):
    """The push service answered 404 or 410: this device will never receive again."""


class PushFailed(Exception):
    """The push service did not take the message (retrying later may help)."""


@dataclass(frozen=True)
class Target:
    """Where one message goes: a device's subscription as the browser gave it."""

    endpoint: str
    p256dh: str
    auth: str

    def subscription_info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True)
class PushMessage:
    target: Target
    payload: dict[str, Any]
    urgency: str = "normal"
    headers: dict[str, str] = field(default_factory=dict)


# --- Keys ---------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (public key, private key), both base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    raw = private.private_numbers().private_value.to_bytes(32, "big")
    public = private.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
    return b64url(public), b64url(raw)


@lru_cache(maxsize=4)
def _public_key_of(private_key: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    vapid = Vapid.from_string(private_key=private_key)
    return b64url(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def key_problem() -> str:
    """Why the configured VAPID keys cannot be used ("" when they can, or when none are set)."""
    public = getattr(settings, "WEBPUSH_VAPID_PUBLIC_KEY", "")
    private = getattr(settings, "WEBPUSH_VAPID_PRIVATE_KEY", "")
    if not public and not private:
        return ""
    if not (public and private):
        return "set both WEBPUSH_VAPID_PUBLIC_KEY and WEBPUSH_VAPID_PRIVATE_KEY, or neither"
    try:
        derived = _public_key_of(private)
    except Exception as exc:  # not base64, not a P-256 key...
        return f"WEBPUSH_VAPID_PRIVATE_KEY is not a VAPID private key ({exc})"
    if derived != public.rstrip("="):
        return "WEBPUSH_VAPID_PUBLIC_KEY is not the public half of WEBPUSH_VAPID_PRIVATE_KEY"
    return ""


def push_enabled() -> bool:
    """Both VAPID keys are set and belong together: phone alerts can be offered and sent."""
    return bool(getattr(settings, "WEBPUSH_VAPID_PRIVATE_KEY", "")) and not key_problem()


def vapid_public_key() -> str:
    """The browsers' ``applicationServerKey`` (base64url, no padding)."""
    return settings.WEBPUSH_VAPID_PUBLIC_KEY.rstrip("=")


def vapid_subject() -> str:
    subject = getattr(settings, "WEBPUSH_VAPID_SUBJECT", "")
    return subject or f"mailto:{settings.DEFAULT_FROM_EMAIL}"


# --- Endpoints ----------------------------------------------------------------------------------


def endpoint_allowed(endpoint: str) -> bool:
    """The endpoint belongs to a known push service: an https URL whose host is (a subdomain
    of) an entry of ``WEBPUSH_ENDPOINT_HOSTS``, or starts with an entry written as an origin
    (``http://127.0.0.1:8123``, for a push service of one's own or a test's)."""
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    for entry in getattr(settings, "WEBPUSH_ENDPOINT_HOSTS", DEFAULT_ENDPOINT_HOSTS):
        entry = entry.strip().lower()
        if "://" in entry:
            if endpoint.lower().startswith(entry.rstrip("/") + "/"):
                return True
        elif parts.scheme == "https" and (host == entry or host.endswith("." + entry)):
            return True
    return False


# --- Backends -----------------------------------------------------------------------------------


class BasePushBackend:
    """Sends one message to one device; ``send`` raises ``SubscriptionGone`` when the device is
    gone for good and any other exception when the message did not go out."""

    def send(self, message: PushMessage) -> None:
        raise NotImplementedError("push backends must implement send(message)")


class WebPushBackend(BasePushBackend):
    """The real thing: pywebpush encrypts (aes128gcm) and signs (VAPID) the message."""

    def send(self, message: PushMessage) -> None:
        import requests
        from py_vapid import Vapid
        from pywebpush import WebPushException, webpush

        target = message.target
        if not endpoint_allowed(target.endpoint):
            raise SubscriptionGone(f"not a push service in WEBPUSH_ENDPOINT_HOSTS: "
                                   f"{target.endpoint}")
        session = requests.Session()
        session.max_redirects = 0  # a push service answers; it never sends us elsewhere
        try:
            webpush(
                target.subscription_info(),
                data=json.dumps(message.payload, separators=(",", ":")),
                vapid_private_key=Vapid.from_string(settings.WEBPUSH_VAPID_PRIVATE_KEY),
                vapid_claims={"sub": vapid_subject()},
                ttl=TTL_SECONDS,
                timeout=TIMEOUT_SECONDS,
                headers={"Urgency": message.urgency, **message.headers},
                requests_session=session,
            )
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", None)
            if status in (404, 410):
                raise SubscriptionGone(f"the push service answered {status}") from exc
            raise PushFailed(str(exc).splitlines()[0]) from exc
        except requests.TooManyRedirects as exc:
            raise PushFailed("the push service answered with a redirect") from exc


outbox: list[PushMessage] = []
_outbox_lock = threading.Lock()


class LocmemPushBackend(BasePushBackend):
    """Keeps each message in ``notifications.push.outbox``; for tests (clear it between them)."""

    def send(self, message: PushMessage) -> None:
        with _outbox_lock:
            outbox.append(message)


def get_push_backend(path: str | None = None) -> BasePushBackend:
    """An instance of the configured backend (``settings.WEBPUSH_BACKEND``), or of ``path``."""
    backend = path or getattr(settings, "WEBPUSH_BACKEND", None) or DEFAULT_BACKEND
    return import_string(backend)()
