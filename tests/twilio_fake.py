"""A local stand-in for Twilio's REST API (calls only) on 127.0.0.1, and signed webhooks.

The official ``twilio`` client is pointed at it through its ``http_client`` argument, so the
real client builds and sends every request and no test reaches the network.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

from django.conf import settings
from django.test import Client
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

from notifications.links import site_url
from routing.calls import TwilioVoiceBackend


class FakeTwilio:
    """Records each ``POST .../Calls.json`` form; answers like Twilio (201 and a call sid)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, list[str]]] = []
        self.paths: list[str] = []
        self.refuse: set[str] = set()  # numbers Twilio answers 400 for
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                fake.paths.append(self.path)
                if form.get("To", [""])[0] in fake.refuse:
                    body = json.dumps({"code": 21211, "message": "Invalid 'To' Phone Number",
                                       "status": 400}).encode()
                    self.send_response(400)
                else:
                    fake.calls.append(form)
                    body = json.dumps({"sid": f"CA{uuid.uuid4().hex}", "status": "queued",
                                       "to": form.get("To", [""])[0]}).encode()
                    self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LocalHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to the fake instead of api.twilio.com."""

    base: ClassVar[str] = ""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        assert url.startswith("https://api.twilio.com/"), url
        return super().request(method, url.replace("https://api.twilio.com", self.base),
                               *args, **kwargs)


class LocalTwilioBackend(TwilioVoiceBackend):
    """The Twilio Voice backend with the local HTTP client (``VOICE_BACKEND`` in tests)."""

    def __init__(self) -> None:
        super().__init__(http_client=LocalHttpClient())


def post_signed(client: Client, path: str, params: dict[str, str], *,
                token: str | None = None) -> Any:
    """POST a webhook as Twilio does: form body, ``X-Twilio-Signature`` over URL and form."""
    signature = RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(
        site_url(path), params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
