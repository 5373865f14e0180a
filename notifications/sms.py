"""Text messages through a pluggable backend, chosen like Django's email backends.

``settings.SMS_BACKEND`` is the dotted path of the backend class:

``notifications.sms.ConsoleSmsBackend`` (default)
    prints each message to standard output; for development.
``notifications.sms.FileSmsBackend``
    appends each message as one JSON line to ``settings.SMS_FILE_PATH``.
``notifications.sms.LocmemSmsBackend``
    keeps messages in this module's ``outbox`` list; for tests.

Sending through a real provider: write a class implementing ``BaseSmsBackend`` -- its
``send(to, body)`` calls the provider's API and raises on any failure (the delivery is then
recorded as failed and retried with back-off) -- and point ``SMS_BACKEND`` at it, e.g.
``SMS_BACKEND=myproject.sms.ProviderSmsBackend``. Provider credentials belong in that class's
own settings. ``settings.SMS_FROM`` is the sender number or ID, available as
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
from django.utils import timezone
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "notifications.sms.ConsoleSmsBackend"


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    from_number: str = ""


class BaseSmsBackend:
    """Sends one text message; ``send`` returns nothing and raises when the message failed."""

    def __init__(self, *, from_number: str | None = None, **options) -> None:
        self.from_number = (
            from_number if from_number is not None else getattr(settings, "SMS_FROM", "")
        )

    def send(self, to: str, body: str) -> None:
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


def get_sms_backend(path: str | None = None, **options) -> BaseSmsBackend:
    """An instance of the configured backend (``settings.SMS_BACKEND``), or of ``path``."""
    backend = path or getattr(settings, "SMS_BACKEND", None) or DEFAULT_BACKEND
    return import_string(backend)(**options)


def send_sms(to: str, body: str) -> None:
    """Send one text message through the configured backend; raises when it failed."""
    get_sms_backend().send(to, body)
