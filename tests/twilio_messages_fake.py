"""A local fake of Twilio's REST API (Messages) on 127.0.0.1, and signed webhook posts.

The backend under test talks to it through the real ``twilio`` client (``TWILIO_API_BASE``
points the client's HTTP requests here): nothing reaches the network.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from django.test import Client
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM = "+12015550100"
SITE = "https://leads.example.com"


@dataclass
class FakeTwilio:
    """Records each message it is asked to send; refuses numbers in ``opted_out`` (21610)."""

    url: str = ""
    messages: list[dict] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    unauthorized: int = 0

    def answer(self, path: str, auth: str, form: dict) -> tuple[int, dict]:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if auth != expected:
            self.unauthorized += 1
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return 404, {"code": 20404, "message": "Not found", "status": 404}
        if form.get("To") in self.opted_out:
            return 400, {"code": 21610, "status": 400,
                         "message": "Attempt to send to unsubscribed recipient"}
        sid = "SM" + uuid.uuid4().hex
        self.messages.append(form | {"sid": sid})
        return 201, {"sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"),
                     "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                     "num_segments": "1", "direction": "outbound-api"}


def serve() -> tuple[FakeTwilio, ThreadingHTTPServer]:
    fake = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            status, payload = fake.answer(self.path, self.headers.get("Authorization", ""),
                                          form)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


def signed_post(client: Client, path: str, data: dict, *, token: str = AUTH_TOKEN,
                signature: str | None = None):
    """POST ``data`` as Twilio would: form-encoded, signed over SITE + path."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(SITE + path, data)
    return client.post(path, data, headers={"X-Twilio-Signature": signature})
