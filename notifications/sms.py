"""Text messages through a pluggable backend, chosen like Django's email backends.

``settings.SMS_BACKEND`` is the dotted path of the backend class:

``notifications.sms.ConsoleSmsBackend`` (default)
    prints each message to standard output; for development.
``notifications.sms.FileSmsBackend``
    appends each message as one JSON line to ``settings.SMS_FILE_PATH``.
``notifications.sms.LocmemSmsBackend``
    keeps messages in this module's ``outbox`` list; for tests.
``notifications.sms.TwilioSmsBackend``
    sends through Twilio's Messages API with the official ``twilio`` package
    (``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``SMS_FROM``), asking Twilio to post the
    message's status to ``sms-status`` (``notifications.twilio_webhooks``).

Another provider: write a class implementing ``BaseSmsBackend`` -- its ``send(to, body)``
calls the provider's API, returns the provider's id for the message (or None) and raises on
any failure (the delivery is then recorded as failed and retried with back-off) -- and point
``SMS_BACKEND`` at it. ``settings.SMS_FROM`` is the sender number or ID, available as
``self.from_number``. Keep the provider call's network timeout short (well under the task
cluster's timeout).
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client


def e164(phone: object) -> str:
    """A phone number field's value as providers take it, +15551234567 ("" when none)."""
    if not phone:
        return ""
    return phone.as_e164 if hasattr(phone, "as_e164") else str(phone)

DEFAULT_BACKEND = "notifications.sms.ConsoleSmsBackend"


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    from_number: str = ""


class RecipientOptedOut(Exception):
    """The provider refuses to text this number: it texted STOP (Twilio error 21610)."""


class BaseSmsBackend:
    """Sends one text message; ``send`` returns the provider's message id (or None) and raises
    when the message failed."""

    def __init__(self, *, from_number: str | None = None, **options) -> None:
        self.from_number = (
            from_number if from_number is not None else getattr(settings, "SMS_FROM", "")
        )

    def send(self, to: str, body: str) -> str | None:
        raise NotImplementedError("SMS backends must implement send(to, body)")


class ConsoleSmsBackend(BaseSmsBackend):
    """Prints each message; the development default."""

    def __init__(self, *, stream=None, **options) -> None:
        super().__init__(**options)
        self.stream = stream

    def send(self, to: str, body: str) -> None:
        stream = self.stream or sys.stdout
        sender = f" from {self.from_number}" if self.from_number else ""
        stream.write(f"SMS to {to}{sender}\n{body}\n{'-' * 79}\n")
        stream.flush()


_file_lock = threading.Lock()


class FileSmsBackend(BaseSmsBackend):
    """Appends each message as a JSON line (time, from, to, body) to a file."""

    def __init__(self, *, file_path: str | Path | None = None, **options) -> None:
        super().__init__(**options)
        path = file_path or getattr(settings, "SMS_FILE_PATH", None)
        self.file_path = Path(path) if path else Path(settings.BASE_DIR) / "var" / "sms.jsonl"

    def send(self, to: str, body: str) -> None:
        line = json.dumps({"at": timezone.now().isoformat(), "from": self.from_number,
                           "to": to, "body": body})
        self.file_path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, self.file_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


outbox: list[SmsMessage] = []


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps each message in ``notifications.sms.outbox``; for tests (clear it between them)."""

    def send(self, to: str, body: str) -> None:
        outbox.append(SmsMessage(to=to, body=body, from_number=self.from_number))


TWILIO_API = "https://api.twilio.com"
TWILIO_TIMEOUT_SECONDS = 10.0  # well under the task cluster's timeout
TWILIO_OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"


class ApiBaseHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending the Messages/Calls API's requests to ``api_base`` instead
    of api.twilio.com: a Twilio-compatible endpoint (a local fake in the tests, a proxy)."""

    def __init__(self, *, api_base: str, timeout: float = TWILIO_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.api_base = api_base.rstrip("/")

    def request(self, method, uri, *args, **kwargs):  # type: ignore[override]
        if uri.startswith(TWILIO_API):
            uri = self.api_base + uri[len(TWILIO_API):]
        return super().request(method, uri, *args, **kwargs)


def twilio_client(*, account_sid: str | None = None, auth_token: str | None = None,
                  http_client: TwilioHttpClient | None = None) -> Client:
    """A Twilio REST client from the settings, with a short network timeout; pointed at
    ``TWILIO_API_BASE`` when that is not Twilio's own API."""
    sid = account_sid or settings.TWILIO_ACCOUNT_SID
    token = auth_token or settings.TWILIO_AUTH_TOKEN
    if not sid or not token:
        raise RuntimeError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to use Twilio")
    if http_client is None:
        base = getattr(settings, "TWILIO_API_BASE", "") or TWILIO_API
        http_client = (TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS)
                       if base.rstrip("/") == TWILIO_API else ApiBaseHttpClient(api_base=base))
    return Client(sid, token, http_client=http_client)


def status_callback_url() -> str | None:
    """Where Twilio posts each message's status (the public ``SITE_URL``), if routed."""
    try:
        path = reverse("sms-status")
    except NoReverseMatch:
        return None
    return settings.SITE_URL.rstrip("/") + path


class TwilioSmsBackend(BaseSmsBackend):
    """Sends through Twilio's Messages API; returns the message SID (kept on the delivery, so
    Twilio's status callbacks can be matched to it)."""

    def __init__(self, *, client: Client | None = None, **options) -> None:
        super().__init__(**options)
        self.client = client

    def send(self, to: str, body: str) -> str | None:
        if not self.from_number:
            raise RuntimeError("SMS_FROM must be set to the Twilio number texts come from")
        client = self.client or twilio_client()
        extra = {}
        callback = status_callback_url()
        if callback:
            extra["status_callback"] = callback
        try:
            message = client.messages.create(to=to, from_=self.from_number, body=body, **extra)
        except TwilioRestException as exc:
            if exc.code == TWILIO_OPTED_OUT:
                raise RecipientOptedOut(str(exc)) from exc
            raise
        return message.sid


def get_sms_backend(path: str | None = None, **options) -> BaseSmsBackend:
    """An instance of the configured backend (``settings.SMS_BACKEND``), or of ``path``."""
    backend = path or getattr(settings, "SMS_BACKEND", None) or DEFAULT_BACKEND
    return import_string(backend)(**options)


def send_sms(to: str, body: str) -> str | None:
    """Send one text message through the configured backend; raises when it failed."""
    return get_sms_backend().send(to, body)
