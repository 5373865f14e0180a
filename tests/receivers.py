"""Real HTTP receivers on 127.0.0.1, in a thread, for the tests that send to other systems
(webhook endpoints, Follow Up Boss): each records every request and answers the statuses it
is given, in turn."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


class RecordingServer(ThreadingHTTPServer):
    """Records each request (path, headers in lower case, body as ``read_body`` makes it);
    answers ``statuses`` in turn, then ``default_status``, after ``delay`` seconds."""

    daemon_threads = True
    default_status = 200

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.lock = threading.Lock()

    def read_body(self, raw: bytes) -> Any:
        return raw

    def answer(self, status: int) -> tuple[bytes, str]:
        """The body and content type answered with ``status``."""
        return (b"ok" if status < 300 else b"nope"), "text/plain"


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append({
                "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self.server.read_body(raw)})
            status = (self.server.statuses.pop(0) if self.server.statuses
                      else self.server.default_status)
        time.sleep(self.server.delay)
        body, content_type = self.server.answer(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the sender stopped waiting
            pass

    def log_message(self, *args: Any) -> None:
        pass


class Receiver(RecordingServer):
    """A webhook receiver: records every request; answers ``statuses`` in turn (then 200)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hooks"


class FakeFub(RecordingServer):
    """Follow Up Boss's Events API as far as a push needs: records each request (its JSON
    body), answers ``statuses`` in turn, then 201 (a new person)."""

    default_status = 201

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def read_body(self, raw: bytes) -> Any:
        return json.loads(raw)

    def answer(self, status: int) -> tuple[bytes, str]:
        return (b'{"id": 101}' if status < 300 else b'{"errorMessage": "down"}',
                "application/json")


ServerT = TypeVar("ServerT", bound=RecordingServer)


def serving(server: ServerT) -> Iterator[ServerT]:
    """A fixture's body: the server answers in a thread until the test ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
