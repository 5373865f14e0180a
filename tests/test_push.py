"""Web push to the agents' phones: each device turns alerts on, the task cluster encrypts every
offer, reminder, assignment, escalation and hand-off for it (aes128gcm, VAPID-signed) after the
commit, and a device its push service calls gone (404/410) is forgotten.

The push service is a local HTTP server on 127.0.0.1 that records what it receives; the test
plays the phone: it holds the subscription's private key and auth secret and decrypts."""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from zoneinfo import ZoneInfo

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.urls import reverse
from django_q.models import OrmQ
from py_vapid import Vapid02

from agents.models import Agent
from leads.intake import receive_lead
from leads.isa.handoffs import hand_off
from leads.models import Lead
from notifications import push
from notifications.models import Delivery, Notification, PushSubscription
from notifications.tasks import send_notifications
from routing.claims import assign_lead
from routing.clock import run_clock
from routing.models import Rule
from tests.factories import AgentFactory, LeadFactory, RosterFactory, RuleFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
MIN = timedelta(minutes=1)
E = Notification.Event
LEAD_EMAIL, LEAD_PHONE = "jordan.secret@example.org", "+12015550123"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """A push service on 127.0.0.1: records each request; answers 201, or a set status."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status_for: dict[str, int] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.received.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(service.status_for.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Phone:
    """A browser's push subscription: the key pair and auth secret only the device holds."""

    def __init__(self, service: PushService, name: str) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.path = f"/push/{name}"
        self.endpoint = service.origin + self.path
        self.service = service

    def subscription(self) -> dict:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def requests(self) -> list[dict]:
        return [r for r in self.service.received if r["path"] == self.path]

    def messages(self) -> list[dict]:
        """Every payload this phone received, decrypted with its own keys."""
        return [json.loads(http_ece.decrypt(r["body"], private_key=self.private_key,
                                            auth_secret=self.auth, version="aes128gcm"))
                for r in self.requests()]


@pytest.fixture
def vapid(settings):
    public, private = push.generate_vapid_keys()
    settings.WEBPUSH_VAPID_PUBLIC_KEY = public
    settings.WEBPUSH_VAPID_PRIVATE_KEY = private
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:ops@leads.example.com"
    settings.WEBPUSH_BACKEND = "notifications.push.WebPushBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://leads.example.com"
    return public


@pytest.fixture
def service(settings, vapid):
    running = PushService()
    settings.WEBPUSH_ENDPOINT_HOSTS = [running.origin]
    yield running
    running.close()


def subscribe(client, agent: Agent, phone: Phone, device: str = "Pixel 8 Chrome"):
    client.force_login(agent.user)
    return client.post(reverse("push-subscribe"), json.dumps(phone.subscription()),
                       content_type="application/json", HTTP_USER_AGENT=device)


def run_queued_tasks(at: datetime) -> None:
    """What the task cluster does with the queued send tasks (each run at most once)."""
    for task in OrmQ.objects.order_by("id"):
        if task.func() == "notifications.tasks.send_notifications":
            send_notifications(*task.args(), now=at)
        task.delete()


def catch_all(agents: list[Agent], **kw) -> Rule:
    kw.setdefault("delivery", Rule.Delivery.CLAIM)
    return RuleFactory(name="Everything else", is_catch_all=True,
                       roster=RosterFactory.with_members(agents), **kw)


def arrive(at: datetime = NOW, **fields) -> Lead:
    data = {"email": LEAD_EMAIL, "phone": LEAD_PHONE, "lead_type": "buyer", "city": "Hoboken",
            "zip_code": "07030", "price": "450000", "source": "Zillow", **fields}
    return Lead.objects.get(pk=receive_lead(data, channel="api", received_at=at).lead.pk)


# --- Turning alerts on and off ---------------------------------------------------------------


def test_each_device_turns_alerts_on_once_and_off_again(client, service):
    ann = AgentFactory(name="Ann")
    phone, tablet = Phone(service, "phone"), Phone(service, "tablet")

    assert subscribe(client, ann, phone).status_code == 201
    assert subscribe(client, ann, phone).status_code == 200  # every page load: the same row
    assert subscribe(client, ann, tablet, device="iPad Safari").status_code == 201
    assert sorted(ann.push_subscriptions.values_list("device", flat=True)) == [
        "Pixel 8 Chrome", "iPad Safari"]
    page = client.get(reverse("notifications")).content.decode()
    assert "Phone alerts" in page and "iPad Safari" in page and "Pixel 8 Chrome" in page

    answer = client.post(reverse("push-unsubscribe"), json.dumps({"endpoint": phone.endpoint}),
                         content_type="application/json")
    assert answer.json() == {"on": False, "devices": 1}
    ipad = ann.push_subscriptions.get()
    client.post(reverse("push-unsubscribe"), {"device": ipad.pk})  # from the list, elsewhere
    assert not PushSubscription.objects.exists()


def test_a_shared_browser_follows_whoever_logs_in(client, service):
    ann, bob = AgentFactory(name="Ann"), AgentFactory(name="Bob")
    phone = Phone(service, "shared")
    subscribe(client, ann, phone)
    subscribe(client, bob, phone)
    assert PushSubscription.objects.get().agent == bob


def test_bad_subscriptions_are_refused(client, service, settings):
    ann = AgentFactory()
    client.force_login(ann.user)
    url = reverse("push-subscribe")
    good = Phone(service, "x").subscription()
    elsewhere = {**good, "endpoint": "http://10.0.0.5/steal"}
    short_auth = {**good, "keys": {**good["keys"], "auth": b64url(b"short")}}
    for body in ("not json", json.dumps({"endpoint": good["endpoint"]}), json.dumps(elsewhere),
                 json.dumps(short_auth)):
        assert client.post(url, body, content_type="application/json").status_code == 400
    assert not PushSubscription.objects.exists()

    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    answer = client.post(url, json.dumps(good), content_type="application/json")
    assert answer.status_code == 409 and not PushSubscription.objects.exists()


def test_only_known_push_services_are_accepted(settings):
    settings.WEBPUSH_ENDPOINT_HOSTS = push.DEFAULT_ENDPOINT_HOSTS
    assert push.endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc")
    assert push.endpoint_allowed("https://web.push.apple.com/QGx")
    assert push.endpoint_allowed("https://updates.push.services.mozilla.com/wpush/v2/x")
    assert not push.endpoint_allowed("http://fcm.googleapis.com/fcm/send/abc")  # https only
    assert not push.endpoint_allowed("https://evilfcm.googleapis.com.attacker.net/x")
    assert not push.endpoint_allowed("https://127.0.0.1/x")


# --- What reaches the phone ------------------------------------------------------------------


def test_an_offer_reaches_the_phone_after_the_commit_encrypted_and_signed(
        client, service, vapid, django_capture_on_commit_callbacks):
    ann = AgentFactory(name="Ann")
    phone = Phone(service, "ann")
    subscribe(client, ann, phone)
    catch_all([ann])

    with django_capture_on_commit_callbacks(execute=True):
        lead = arrive(message="Looking for a 2-bed near the PATH")
        assert not service.received  # nothing inside the change's transaction
    assert not service.received  # nor in the request: only a task was queued
    run_queued_tasks(NOW + timedelta(seconds=1))

    [request] = phone.requests()
    [message] = phone.messages()
    assert message == {
        "title": "Lead offered: Buyer lead, Hoboken, 07030",
        "body": "Buyer · $450,000 · Hoboken, 07030 · Zillow\nClaim it by Wed 10:05",
        "url": "https://leads.example.com/offers/",
        "tag": f"lead-{lead.pk}",
        "event": "lead_offered",
        "lead_id": lead.pk,
        "notification_id": Notification.objects.get(recipient=ann, lead=lead).pk,
        "urgent": True,
    }
    headers = request["headers"]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["urgency"] == "high" and int(headers["ttl"]) == push.TTL_SECONDS
    # The VAPID signature verifies with the server's public key, for this push service.
    auth = headers["authorization"]
    assert Vapid02.verify(auth)
    token = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
    assert token["k"] == vapid
    claims = json.loads(b64url_decode(token["t"].split(".")[1]))
    assert claims["aud"] == service.origin and claims["sub"] == "mailto:ops@leads.example.com"
    delivery = Delivery.objects.get(channel=Delivery.Channel.PUSH)
    assert delivery.status == Delivery.Status.SENT
    assert PushSubscription.objects.get().last_sent_at is not None


def test_every_device_of_the_agent_gets_it_and_nobody_elses(client, service):
    ann, bob = AgentFactory(name="Ann"), AgentFactory(name="Bob")
    ann_phone, ann_tablet, bob_phone = (Phone(service, n) for n in ("a1", "a2", "b1"))
    subscribe(client, ann, ann_phone)
    subscribe(client, ann, ann_tablet)
    subscribe(client, bob, bob_phone)
    catch_all([ann], delivery=Rule.Delivery.ASSIGN)

    lead = arrive()
    send_notifications(list(Notification.objects.values_list("pk", flat=True)), now=NOW)

    for device in (ann_phone, ann_tablet):
        [message] = device.messages()
        assert message["title"] == "New lead: Buyer lead, Hoboken, 07030"
        assert message["url"] == f"https://leads.example.com/leads/{lead.pk}/"  # hers now
    assert bob_phone.requests() == []


def test_reminder_escalation_assignment_and_hand_off_reach_the_phone_without_contact_details(
        client, service):
    ann, cy = AgentFactory(name="Ann"), AgentFactory(name="Cy")
    ann_phone, cy_phone = Phone(service, "ann"), Phone(service, "cy")
    subscribe(client, ann, ann_phone)
    subscribe(client, cy, cy_phone)
    catch_all([ann], escalate_to=cy)

    escalated = arrive()
    run_clock(NOW + 3 * MIN)  # Ann's reminder
    run_clock(NOW + 11 * MIN)  # nobody claimed: escalated to Cy
    pond_lead = LeadFactory(first_name="", last_name="", email="other@example.org",
                            lead_type="seller", city="Jersey City", received_at=NOW)
    assign_lead(pond_lead.pk, ann, by=None, now=NOW + 12 * MIN)
    send_notifications(list(Notification.objects.values_list("pk", flat=True)),
                       now=NOW + 12 * MIN)

    ann_titles = sorted(m["title"] for m in ann_phone.messages())
    assert ann_titles == ["About 2 min left to claim: Buyer lead, Hoboken, 07030",
                          "Lead offered: Buyer lead, Hoboken, 07030",
                          "New lead: Seller lead, Jersey City"]
    [cy_message] = cy_phone.messages()
    assert cy_message["title"] == "New lead: Buyer lead, Hoboken, 07030"
    assert cy_message["event"] == "lead_escalated"
    assert cy_message["url"] == f"https://leads.example.com/leads/{escalated.pk}/"
    for message in ann_phone.messages() + cy_phone.messages():
        text = json.dumps(message)
        for secret in (LEAD_EMAIL, "jordan.secret", "5550123", "other@example.org"):
            assert secret not in text


def test_a_hand_off_reaches_the_receiving_agents_phone(client, service):
    ivy = AgentFactory(name="Ivy Isa", role=Agent.Role.ISA)
    ann = AgentFactory(name="Ann")
    phone = Phone(service, "ann")
    subscribe(client, ann, phone)
    catch_all([ivy], delivery=Rule.Delivery.ASSIGN)
    lead = arrive(first_name="Pat", last_name="Buyer")

    hand_off(lead.pk, isa=ivy, agent=ann, note="Pre-approved, call after 5", now=NOW + 5 * MIN)
    send_notifications(list(Notification.objects.filter(recipient=ann).values_list(
        "pk", flat=True)), now=NOW + 5 * MIN)

    [message] = phone.messages()
    assert message["title"] == "Hand-off: Pat Buyer"
    assert "From ISA Ivy Isa." in message["body"]
    assert "Note: Pre-approved, call after 5" in message["body"]
    assert message["url"] == f"https://leads.example.com/leads/{lead.pk}/"


def test_a_device_its_push_service_calls_gone_is_removed(client, service):
    ann = AgentFactory(name="Ann")
    old, new = Phone(service, "old"), Phone(service, "new")
    subscribe(client, ann, old)
    subscribe(client, ann, new)
    service.status_for[old.path] = 410
    catch_all([ann])

    arrive()
    send_notifications(list(Notification.objects.values_list("pk", flat=True)), now=NOW)

    assert len(old.requests()) == 1 and len(new.messages()) == 1
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [new.endpoint]
    assert Delivery.objects.get(channel=Delivery.Channel.PUSH).status == Delivery.Status.SENT


def test_when_the_last_device_is_gone_the_push_gives_up_and_a_404_removes_it(client, service):
    ann = AgentFactory(name="Ann")
    phone = Phone(service, "expired")
    subscribe(client, ann, phone)
    service.status_for[phone.path] = 404
    catch_all([ann])

    arrive()
    send_notifications(list(Notification.objects.values_list("pk", flat=True)), now=NOW)

    assert not PushSubscription.objects.exists()
    delivery = Delivery.objects.get(channel=Delivery.Channel.PUSH)
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert mail_sent_to(ann)  # email still goes out


def mail_sent_to(agent: Agent) -> bool:
    from django.core import mail

    return any(agent.email in m.to for m in mail.outbox)


def test_a_push_service_error_is_retried_later(client, service):
    ann = AgentFactory(name="Ann")
    phone = Phone(service, "flaky")
    subscribe(client, ann, phone)
    service.status_for[phone.path] = 503
    catch_all([ann])

    arrive()
    send_notifications(list(Notification.objects.values_list("pk", flat=True)), now=NOW)
    delivery = Delivery.objects.get(channel=Delivery.Channel.PUSH)
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is not None
    assert "503" in delivery.last_error
    assert PushSubscription.objects.exists()  # a bad moment, not a gone device


def test_without_keys_nobody_is_offered_alerts_and_nothing_is_pushed(client, settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY = settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    ann = AgentFactory(name="Ann")
    PushSubscription.objects.create(agent=ann, endpoint="https://fcm.googleapis.com/fcm/send/x",
                                    p256dh="k", auth="a")
    catch_all([ann])
    arrive()
    send_notifications(list(Notification.objects.values_list("pk", flat=True)), now=NOW)
    assert not Delivery.objects.filter(channel=Delivery.Channel.PUSH).exists()
    client.force_login(ann.user)
    page = client.get(reverse("notifications")).content.decode()
    assert "webpush-key" not in page and "Phone alerts" not in page


# --- Keys, the installable app ---------------------------------------------------------------


def test_generated_keys_are_a_matching_pair_written_once_to_the_env_file(tmp_path, settings):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true")
    call_command("generate_vapid_keys", env_file=str(env_file), stdout=StringIO())
    first = env_file.read_text()
    call_command("generate_vapid_keys", env_file=str(env_file), stdout=StringIO())
    assert env_file.read_text() == first  # kept: the devices' subscriptions stay valid
    values = dict(line.split("=", 1) for line in first.splitlines()
                  if line and not line.startswith("#"))
    settings.WEBPUSH_VAPID_PUBLIC_KEY = values["WEBPUSH_VAPID_PUBLIC_KEY"]
    settings.WEBPUSH_VAPID_PRIVATE_KEY = values["WEBPUSH_VAPID_PRIVATE_KEY"]
    assert values["DEBUG"] == "true" and push.push_enabled() and push.key_problem() == ""
    settings.WEBPUSH_VAPID_PUBLIC_KEY = push.generate_vapid_keys()[0]
    assert not push.push_enabled() and "not the public half" in push.key_problem()
    from notifications.apps import check_web_push_keys
    [warning] = check_web_push_keys()
    assert warning.id == "notifications.W001" and "Phone alerts are off" in warning.msg


def test_pages_are_an_installable_app_with_a_root_service_worker(client, vapid):
    ann = AgentFactory()
    client.force_login(ann.user)
    page = client.get(reverse("offers")).content.decode()
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in page
    assert f'<meta name="webpush-key" content="{vapid}">' in page
    assert "Turn on phone alerts" in page  # the one-tap banner on the offers page
    assert "/static/js/push.js" in page

    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker["Content-Type"] == "text/javascript"
    assert worker["Service-Worker-Allowed"] == "/"
    source = worker.content.decode()
    assert 'addEventListener("push"' in source and "openWindow" in source

    from django.contrib.staticfiles import finders
    with open(finders.find("manifest.webmanifest")) as f:
        manifest = json.load(f)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/offers/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        path = finders.find(icon["src"].removeprefix("/static/"))
        with open(path, "rb") as f:
            head = f.read(24)
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]
