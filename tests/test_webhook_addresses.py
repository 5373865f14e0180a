"""Webhooks reach public addresses only: a manager cannot make the server probe its own
database, the office network or the cloud's metadata service (SSRF), not even by changing a
name's DNS answer after saving it, and a failed test tells only the status code."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from agents.models import Agent
from agents.services import sync_access
from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint
from tests.factories import AgentFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
SECRET_ANSWER = b"PostgreSQL 16.2 FATAL: password authentication failed for user root"


class Answering(ThreadingHTTPServer):
    """A service on 127.0.0.1 that answers every request with ``status`` and a revealing body."""

    daemon_threads = True

    def __init__(self, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.hits = 0

    @property
    def port(self) -> int:
        return self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: Answering

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(SECRET_ANSWER)))
        self.end_headers()
        self.wfile.write(SECRET_ANSWER)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def service():
    server = Answering()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS answers for names under .example.test (a list: one answer per lookup, the last
    one repeated); every other name resolves as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = str(host).lower()
        if name in answers:
            queue = answers[name]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def manager_client(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    manager = AgentFactory(name="Mia Manager", role=Agent.Role.MANAGER)
    sync_access(manager)
    client.force_login(manager.user)
    return client


def add_endpoint(client, url: str):
    return client.post(reverse("admin:notifications_webhookendpoint_add"), {
        "name": "CRM", "url": url, "secret": "whsec_abc", "events": ["lead.created"],
        "active": "on"})


def send_test(client, endpoint: WebhookEndpoint) -> str:
    response = client.post(reverse("admin:notifications_webhookendpoint_changelist"),
                           {"action": "send_test_event", "_selected_action": [endpoint.pk]},
                           follow=True)
    return response.content.decode()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5432/", "http://localhost:8000/hooks", "http://[::1]/hooks",
    "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata",
    "http://10.0.0.5/hooks", "http://192.168.1.1/", "http://172.16.0.1/", "http://0.0.0.0:5432/",
    "http://100.100.100.200/latest/meta-data", "http://224.0.0.1/", "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://240.0.0.1/",
])
def test_the_endpoint_form_refuses_internal_addresses_with_a_clear_error(manager_client, url):
    response = add_endpoint(manager_client, url)

    assert response.status_code == 200
    assert "Webhooks go only to public internet addresses" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_name_is_checked_on_every_address_it_resolves_to(manager_client, dns):
    dns["crm.example.test"] = [PUBLIC]
    assert add_endpoint(manager_client, "https://crm.example.test/hooks").status_code == 302
    dns["sneaky.example.test"] = ["10.1.2.3"]
    response = add_endpoint(manager_client, "https://sneaky.example.test/hooks")
    assert "is a private or reserved address (10.1.2.3)" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 1


def test_an_allowed_host_is_accepted(manager_client, settings, service):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    response = add_endpoint(manager_client, f"http://127.0.0.1:{service.port}/hooks")
    assert response.status_code == 302
    assert "answered 200" in send_test(manager_client, WebhookEndpoint.objects.get())
    assert service.hits == 1


def test_an_endpoint_saved_past_the_form_still_cannot_reach_an_internal_service(
        manager_client, service):
    """An endpoint stored before the check (or written without the form) gets nothing out."""
    endpoint = WebhookEndpointFactory(url=f"http://127.0.0.1:{service.port}/hooks")

    page = send_test(manager_client, endpoint)

    assert service.hits == 0
    assert "test event failed: Refused: 127.0.0.1 is a loopback address" in page
    assert SECRET_ANSWER.decode() not in page


def test_a_dns_answer_changed_after_the_check_cannot_slip_through(manager_client, dns, service):
    dns["rebind.example.test"] = [PUBLIC, "127.0.0.1"]  # public for the form, then loopback
    assert add_endpoint(manager_client,
                        f"http://rebind.example.test:{service.port}/hooks").status_code == 302

    page = send_test(manager_client, WebhookEndpoint.objects.get())

    assert service.hits == 0
    assert "Refused: rebind.example.test is a loopback address (127.0.0.1)" in page


def test_a_failed_test_shows_the_status_code_never_the_answer(manager_client, settings,
                                                              service):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    service.status = 500
    endpoint = WebhookEndpointFactory(url=f"http://127.0.0.1:{service.port}/hooks")

    page = send_test(manager_client, endpoint)

    assert service.hits == 1
    assert "test event failed: HTTP 500." in page
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error == "HTTP 500"
    for shown in (page, str(delivery.attempt_log)):
        assert "PostgreSQL 16.2" not in shown and "authentication failed" not in shown


def test_a_closed_port_and_an_open_one_that_never_answers_http_read_alike(manager_client,
                                                                           settings):
    """Nothing tells an open port from a closed one: both "could not connect"."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    listening = socket.socket()  # open, but speaks no HTTP: closes at once
    listening.bind(("127.0.0.1", 0))
    listening.listen()

    def hang_up() -> None:
        conn, _ = listening.accept()
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        pages = [send_test(manager_client, WebhookEndpointFactory(url=f"http://127.0.0.1:{p}/"))
                 for p in (closed_port, listening.getsockname()[1])]
    finally:
        listening.close()

    for page in pages:
        assert "test event failed: could not connect." in page
    assert {d.last_error for d in WebhookDelivery.objects.all()} == {webhooks.COULD_NOT_CONNECT}
