"""Outbound webhooks: signed, emitted by the services where things happen, sent by the task
cluster (never in the request), retried with back-off, never sent twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import OrmQ

from agents.models import Agent
from leads.intake import receive_lead, receive_leads
from leads.intake.keys import create_key
from leads.isa.handoffs import hand_off
from leads.isa.queue import log_contact
from leads.models import Lead
from leads.services import log_activity
from notifications import tasks, webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from notifications.webhooks import sending
from routing.claims import (
    assign_lead,
    claim_from_pond,
    claim_offer,
    decline_offer,
    return_to_routing,
)
from routing.clock import run_clock
from routing.models import HandoffTarget, Offer, Rule
from routing.selectors import routing_config
from tests.factories import AgentFactory, RosterFactory, RuleFactory, WebhookEndpointFactory
from tests.threads import together

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=NY)  # a Wednesday morning, inside 08:00-21:00
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)
SECRET = "whsec_test_secret"
SEND_TASK = "notifications.webhooks.send_webhook_deliveries"
E = WebhookEvent


# A real receiver on 127.0.0.1: ``Receiver`` (tests/receivers.py), the ``receiver`` fixture
# (tests/conftest.py).


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://leads.example.com"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the test receiver


_counter = iter(range(1, 1_000_000))


def agent(name: str, **kw) -> Agent:
    return AgentFactory(name=name, email=f"{name.lower()}@example.com", user=None, **kw)


def catch_all(agents: list[Agent], **kw) -> Rule:
    return RuleFactory(name=kw.pop("name", "Everything else"), is_catch_all=True,
                       roster=RosterFactory.with_members(agents), **kw)


def lead_fields(**fields) -> dict[str, Any]:
    n = next(_counter)
    return {"first_name": "Pat", "last_name": f"Buyer{n}", "email": f"pat{n}@example.org",
            **fields}


def receive(at: datetime = NOW, **fields) -> Lead:
    result = receive_lead(lead_fields(**fields), channel="api", received_at=at)
    assert result.lead is not None, result.as_dict()
    return Lead.objects.get(pk=result.lead.pk)


def endpoint(url: str = "https://crm.example.com/hooks", events=None, **kw) -> WebhookEndpoint:
    return WebhookEndpointFactory(url=url, secret=SECRET, **kw,
                                  events=list(E.values) if events is None else list(events))


def told(ep: WebhookEndpoint | None = None, lead: Lead | None = None) -> list[str]:
    """The events written for the endpoint (or all), in order."""
    return [d.event for d in deliveries(ep, lead)]


def deliveries(ep: WebhookEndpoint | None = None, lead: Lead | None = None):
    qs = WebhookDelivery.objects.order_by("pk")
    if ep is not None:
        qs = qs.filter(endpoint=ep)
    if lead is not None:
        qs = qs.filter(lead=lead)
    return list(qs)


def data_of(event: str, lead: Lead | None = None, nth: int = -1) -> dict[str, Any]:
    """The ``data`` of the event's (last) payload."""
    rows = [d for d in deliveries(lead=lead) if d.event == event]
    assert rows, f"no {event}"
    return rows[nth].payload["data"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def person(a: Agent) -> dict[str, Any]:
    return {"id": a.pk, "name": a.name, "email": a.email, "role": a.role}


def retry(at: datetime) -> int:
    return webhooks.retry_webhook_deliveries(now=at)


def send_all(at: datetime = NOW) -> int:
    """What the queued task does for everything written so far."""
    return webhooks.send_webhook_deliveries(
        [d.pk for d in WebhookDelivery.objects.order_by("pk")], now=at)


def webhook_tasks() -> list[OrmQ]:
    return [task for task in OrmQ.objects.all() if task.func() == SEND_TASK]


# --- Signatures -------------------------------------------------------------------------------


def test_signature_verifies_and_a_tampered_body_fails():
    body = b'{"id":"e1","event":"lead.created","data":{"lead":{"id":7}}}'
    t = int(time.time())
    header = webhooks.signature_header(SECRET, body, timestamp=t)

    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"
    assert webhooks.verify_signature(SECRET, header, body)
    assert webhooks.verify_signature(SECRET, header, body.decode())
    assert not webhooks.verify_signature(SECRET, header, body.replace(b'"id":7', b'"id":8'))
    assert not webhooks.verify_signature("whsec_someone_else", header, body)
    assert not webhooks.verify_signature(SECRET, header.replace(f"t={t}", f"t={t + 1}"), body)
    old = webhooks.signature_header(SECRET, body, timestamp=t - 301)
    assert not webhooks.verify_signature(SECRET, old, body)  # a replay, later
    assert webhooks.verify_signature(SECRET, old, body, tolerance=400)
    for broken in ("", "garbage", f"t=soon,v1={expected}", f"t={t}", f"v1={expected}"):
        assert not webhooks.verify_signature(SECRET, broken, body)
    assert webhooks.verify_signature(SECRET, f"t={t},v1={'0' * 64},v1={expected}", body)


def _readme_verify():
    """The receiver's snippet from the README, run as written."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("**Webhooks.**"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 (our own documentation)
    return namespace["verify"]


def test_the_readme_snippet_verifies_a_real_delivery(receiver, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        receive()

    [request] = receiver.requests
    verify = _readme_verify()
    header = request["headers"]["leadrouter-signature"]
    assert verify(SECRET, header, request["body"])
    assert not verify(SECRET, header, request["body"] + b" ")


# --- Sending: the queued task ------------------------------------------------------------------


def test_the_queued_task_sends_signed_json_the_receiver_verifies(
        receiver, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)  # the cluster runs the task at once
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_ASSIGNED])

    with django_capture_on_commit_callbacks(execute=True):
        lead = receive()

    delivery = WebhookDelivery.objects.get()
    [request] = receiver.requests
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == webhooks.USER_AGENT
    assert headers["leadrouter-event"] == "lead.assigned"
    assert headers["leadrouter-delivery"] == str(delivery.pk)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["leadrouter-signature"])
    assert webhooks.verify_signature(SECRET, headers["leadrouter-signature"], request["body"])
    body = json.loads(request["body"])
    assert body == delivery.payload
    assert (body["event"], body["id"], body["data"]["lead"]["id"]) == (
        "lead.assigned", str(delivery.event_id), lead.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error,
            delivery.next_attempt_at) == ("sent", 1, 200, "", None)
    [entry] = delivery.attempt_log
    assert (entry["attempt"], entry["status"], entry["error"]) == (1, 200, "")
    assert isinstance(entry["ms"], int) and entry["at"]


# --- Emitted where things happen, with what a receiver needs ----------------------------------


def test_a_new_lead_tells_created_then_assigned_one_event_id_for_every_endpoint():
    ann = agent("Ann")
    catch_all([ann])
    crm, dialer = endpoint(), endpoint("https://dialer.example.com/hooks")

    lead = receive(phone="(312) 555-0101", source="Zillow", lead_type="buyer",
                   price="450000", tags=["luxury"], zip_code="60601", message="2 beds")

    assert told(crm) == told(dialer) == ["lead.created", "lead.assigned"]
    for event in ("lead.created", "lead.assigned"):
        rows = WebhookDelivery.objects.filter(event=event)
        assert rows.count() == 2 and len({d.event_id for d in rows}) == 1  # shared id
        assert {d.lead_id for d in rows} == {lead.pk}
    created, assigned = (d.payload for d in deliveries(crm))
    assert created["id"] != assigned["id"]
    assert (created["event"], created["created_at"]) == ("lead.created", iso(NOW))
    assert set(created["data"]) == {"lead"}
    assert created["data"]["lead"] == {
        "id": lead.pk, "name": lead.full_name, "first_name": "Pat",
        "last_name": lead.last_name, "email": lead.email, "phone": "+13125550101",
        "source": "Zillow", "tags": ["luxury"], "lead_type": "buyer", "price": "450000.00",
        "city": "", "zip_code": "60601", "property_type": "", "listing_ref": "",
        "message": "2 beds", "external_id": "", "status": "assigned",
        "received_at": iso(NOW), "assigned_at": iso(NOW), "first_contact_at": None,
        "owner": person(ann), "lender": None, "rule": "Everything else",
        "url": f"https://leads.example.com/leads/{lead.pk}/",
    }
    data = assigned["data"]
    assert (data["agent"], data["reason"], data["rule"]) == (person(ann), "rule",
                                                            "Everything else")
    assert all((d.status, d.attempts) == ("pending", 0) for d in deliveries())


def test_only_active_endpoints_subscribed_to_the_event_get_it():
    catch_all([agent("Ann")], delivery=Rule.Delivery.CLAIM)
    created = endpoint(events=[E.LEAD_CREATED])
    offered = endpoint(events=[E.LEAD_OFFERED, E.LEAD_CLAIMED])
    nothing = endpoint(events=[])
    paused = endpoint(active=False)

    receive()

    assert told(created) == ["lead.created"]
    assert told(offered) == ["lead.offered"]
    assert told(nothing) == told(paused) == []


def test_nobody_subscribed_costs_routing_no_query_and_a_subscriber_one_insert_per_batch():
    catch_all([agent("Ann")])
    receive()
    receive()  # the snapshot is loaded, the rotation exists
    with CaptureQueriesContext(connection) as quiet:
        receive()
    assert not [q for q in quiet if "webhook" in q["sql"]]
    assert not WebhookDelivery.objects.exists()

    endpoint(events=[E.LEAD_ASSIGNED])  # saved: routing sees it at its next lead
    receive()
    with CaptureQueriesContext(connection) as subscribed:
        receive()
    webhook_sql = [q["sql"] for q in subscribed if "webhook" in q["sql"]]
    assert len(webhook_sql) == 1 and webhook_sql[0].startswith("INSERT")
    assert len(subscribed) == len(quiet) + 2  # the deliveries and their sending task

    with CaptureQueriesContext(connection) as batch:
        receive_leads([lead_fields() for _ in range(50)], channel="file", received_at=NOW)
    assert len([q for q in batch if "webhook" in q["sql"]]) == 1
    assert WebhookDelivery.objects.count() == 52


def test_without_the_routing_snapshot_a_caller_pays_one_query_while_nobody_subscribes():
    catch_all([agent("Ann")])
    lead = receive()
    config = routing_config()
    webhooks.emit(E.LEAD_ASSIGNED, lead, now=NOW)  # the endpoints are read once per token
    with CaptureQueriesContext(connection) as given:
        assert webhooks.emit(E.LEAD_ASSIGNED, lead, now=NOW, config=config) == []
    with CaptureQueriesContext(connection) as without:
        assert webhooks.emit(E.LEAD_ASSIGNED, lead, now=NOW) == []
    assert len(given) == 0
    assert len(without) == 1 and "webhook" not in without[0]["sql"]  # the config token


def test_without_the_routing_snapshot_the_names_are_read_from_the_models_alike():
    ann, lou = agent("Ann"), agent("Lou", role=Agent.Role.LENDER)
    catch_all([ann])
    lead = receive()
    Lead.objects.filter(pk=lead.pk).update(lender=lou)
    lead.refresh_from_db()
    from_snapshot = webhooks.lead_data(lead, routing_config())
    with CaptureQueriesContext(connection) as read:
        from_models = webhooks.lead_data(lead)
    assert from_models == from_snapshot
    assert (from_models["owner"], from_models["lender"], from_models["rule"]) == (
        person(ann), person(lou), "Everything else")
    assert len(read) == 2  # the agents, the rule


def test_endpoint_changes_reach_routing_at_the_next_lead():
    catch_all([agent("Ann")])
    crm = endpoint(events=[E.LEAD_CREATED])
    receive()
    crm.events = [E.LEAD_CREATED, E.LEAD_ASSIGNED]
    crm.save()
    receive()
    crm.active = False
    crm.save()
    receive()
    assert told(crm) == ["lead.created", "lead.created", "lead.assigned"]
    crm.delete()
    receive()
    assert not WebhookDelivery.objects.exists()


def test_offers_then_a_claim_and_the_claim_tells_who_won():
    ann, bob = agent("Ann"), agent("Bob")
    catch_all([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    endpoint()

    lead = receive()
    assert told() == ["lead.created", "lead.offered"]
    offered = data_of("lead.offered")
    assert offered["delivery"] == "first_to_claim"
    assert offered["offered_to"] == [person(ann), person(bob)]
    assert offered["offers"] == [
        {"agent": person(a), "deadline": iso(NOW + 5 * MIN), "clock_starts_at": iso(NOW)}
        for a in (ann, bob)]
    assert data_of("lead.created")["lead"]["status"] == "offered"

    offer = Offer.objects.get(lead=lead, agent=bob)
    claim_offer(offer.pk, bob, now=NOW + MIN)

    assert told() == ["lead.created", "lead.offered", "lead.claimed"]
    claimed = data_of("lead.claimed")
    assert (claimed["agent"], claimed["via"], claimed["offer_id"]) == (person(bob), "offer",
                                                                      offer.pk)
    assert (claimed["lead"]["status"], claimed["lead"]["owner"]) == ("assigned", person(bob))


def test_a_refused_claim_tells_nothing():
    ann, bob = agent("Ann"), agent("Bob")
    catch_all([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    endpoint()
    lead = receive()
    claim_offer(Offer.objects.get(lead=lead, agent=ann).pk, ann, now=NOW + MIN)
    with pytest.raises(Exception, match="Another agent claimed"):
        claim_offer(Offer.objects.get(lead=lead, agent=bob).pk, bob, now=NOW + MIN)
    assert told().count("lead.claimed") == 1


def test_declines_offer_the_next_agent_and_escalation_tells_escalated_and_assigned():
    ann, bob, esc = agent("Ann"), agent("Bob"), agent("Esc", role=Agent.Role.MANAGER)
    catch_all([ann, bob], delivery=Rule.Delivery.CLAIM, escalate_to=esc)
    endpoint()
    lead = receive()

    decline_offer(Offer.objects.get(lead=lead, agent=ann).pk, ann, now=NOW + MIN)
    again = data_of("lead.offered")
    assert again["offered_to"] == [person(bob)] and again["why"] == "Ann declined the offer"
    run_clock(NOW + 6 * MIN)  # Bob lets it expire

    assert told() == ["lead.created", "lead.offered", "lead.offered", "lead.escalated",
                      "lead.assigned"]
    escalated = data_of("lead.escalated")
    assert (escalated["escalated_to"], escalated["reason"]) == (person(esc), "escalated")
    assert escalated["why"] == "The offer to Bob expired"
    assigned = data_of("lead.assigned")
    assert (assigned["agent"], assigned["reason"]) == (person(esc), "escalated")
    assert assigned["lead"]["owner"] == person(esc)


def test_left_in_the_pond_after_everyone_passed_then_claimed_from_the_pond():
    ann, cy = agent("Ann"), agent("Cy")
    catch_all([ann], delivery=Rule.Delivery.CLAIM)
    endpoint()
    lead = receive()

    decline_offer(Offer.objects.get(lead=lead).pk, ann, now=NOW + MIN)
    escalated = data_of("lead.escalated")
    assert escalated["escalated_to"] is None
    assert escalated["lead"]["status"] == "unassigned" and escalated["lead"]["owner"] is None

    claim_from_pond(lead.pk, cy, now=NOW + 2 * MIN)

    assert told()[-2:] == ["lead.escalated", "lead.claimed"]
    claimed = data_of("lead.claimed")
    assert (claimed["agent"], claimed["via"]) == (person(cy), "pond")


def test_arriving_with_nobody_to_take_it_tells_created_only():
    catch_all([agent("Ann", accepting_leads=False)])
    endpoint()
    lead = receive()
    assert lead.status == Lead.Status.UNASSIGNED
    assert told() == ["lead.created"]


def test_idle_reassignment_manager_assignment_and_return_to_routing_tell_assigned():
    ann, bob, cy = agent("Ann"), agent("Bob"), agent("Cy")
    meg = agent("Meg", role=Agent.Role.MANAGER)
    catch_all([ann, bob], first_contact_minutes=30)
    endpoint(events=[E.LEAD_ASSIGNED])
    lead = receive()

    run_clock(NOW + 30 * MIN)  # Ann logged no first contact
    idle = data_of("lead.assigned")
    assert (idle["agent"], idle["previous_owner"]) == (person(bob), person(ann))
    assert idle["why"] == "Ann logged no first contact in time"

    assign_lead(lead.pk, cy, by=meg, now=NOW + 40 * MIN)
    manual = data_of("lead.assigned")
    assert (manual["agent"], manual["reason"], manual["by"]) == (person(cy), "manager",
                                                                person(meg))
    assert manual["lead"]["owner"] == person(cy)

    return_to_routing(lead.pk, by=meg, now=NOW + 50 * MIN)
    routed = data_of("lead.assigned")
    assert (routed["agent"], routed["reason"], routed["by"], routed["why"]) == (
        person(ann), "rule", person(meg), "Returned to routing by Meg")
    assert told() == ["lead.assigned"] * 4


def test_the_owner_first_contact_tells_contacted_once():
    ann, bob = agent("Ann"), agent("Bob")
    catch_all([ann])
    endpoint(events=[E.LEAD_CONTACTED])
    lead = receive()

    log_activity(lead, ann, "note", "Looked at the listing", now=NOW + MIN)
    log_activity(lead, bob, "call", "Not the owner", now=NOW + 2 * MIN)
    assert told() == []
    log_activity(lead, ann, "call", "Left a voicemail", now=NOW + 4 * MIN)
    log_activity(lead, ann, "text", "And a text", now=NOW + 5 * MIN)

    assert told() == ["lead.contacted"]
    data = data_of("lead.contacted")
    assert (data["agent"], data["kind"], data["contacted_at"], data["speed_to_lead_seconds"]) \
        == (person(ann), "call", iso(NOW + 4 * MIN), 240)
    assert (data["lead"]["status"], data["lead"]["first_contact_at"]) == (
        "contacted", iso(NOW + 4 * MIN))


def test_isa_contact_hand_off_and_the_agent_first_contact():
    ivy = agent("Ivy", role=Agent.Role.ISA)
    ann = agent("Ann")
    catch_all([ivy], name="ISA team")
    endpoint()
    lead = receive()
    log_contact(lead, ivy, "call", "Pre-approved", now=NOW + MIN)
    assert data_of("lead.contacted")["agent"] == person(ivy)

    hand_off(lead.pk, isa=ivy, agent=ann, note="Call her after 5", now=NOW + 10 * MIN)

    handed = data_of("lead.handed_off")
    assert (handed["isa"], handed["by"], handed["target"], handed["outcome"], handed["note"]) \
        == (person(ivy), person(ivy), None, "assigned", "Call her after 5")
    assert handed["lead"]["owner"] == person(ann)
    assigned = data_of("lead.assigned")
    assert (assigned["agent"], assigned["reason"]) == (person(ann), "handoff")

    log_activity(Lead.objects.get(pk=lead.pk), ann, "call", "Booked a showing",
                 now=NOW + 20 * MIN)

    assert told() == ["lead.created", "lead.assigned", "lead.contacted", "lead.handed_off",
                      "lead.assigned", "lead.contacted"]
    contacted = data_of("lead.contacted")
    assert (contacted["agent"], contacted["after_handoff"]) == (person(ann), True)
    assert contacted["lead"]["status"] == "contacted"


def test_a_hand_off_to_a_claim_target_tells_offered():
    ivy, ann = agent("Ivy", role=Agent.Role.ISA), agent("Ann")
    catch_all([ivy], name="ISA team")
    target = HandoffTarget.objects.create(name="Closers", delivery="claim",
                                          roster=RosterFactory.with_members([ann]))
    endpoint(events=[E.LEAD_HANDED_OFF, E.LEAD_OFFERED])
    lead = receive()

    hand_off(lead.pk, isa=ivy, target=target, note="", now=NOW + 10 * MIN)

    assert told() == ["lead.handed_off", "lead.offered"]
    assert data_of("lead.handed_off")["target"] == "Closers"
    offered = data_of("lead.offered")
    assert offered["offered_to"] == [person(ann)] and offered["reason"] == "handoff"


# --- Transactions: a rolled-back change sends nothing ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_writes_and_queues_nothing():
    catch_all([agent("Ann")])
    endpoint()

    with pytest.raises(RuntimeError), transaction.atomic():
        receive()
        assert WebhookDelivery.objects.count() == 2
        raise RuntimeError("the caller failed after routing")

    assert not Lead.objects.exists() and not WebhookDelivery.objects.exists()
    assert webhook_tasks() == []

    receive()  # committed: one task for both deliveries, queued after the commit
    [task] = webhook_tasks()
    assert list(task.args()[0]) == [d.pk for d in deliveries()]


def test_sending_is_queued_after_the_commit_and_a_lost_task_is_made_up_by_the_retry(
        receiver, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("notifications.queueing.Conf.ORM", None)  # Redis: after the commit
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_CREATED])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receive()
        assert webhook_tasks() == []  # not before the commit (a Redis worker would find nothing)
    assert len(callbacks) == 2  # the webhooks' and the notifications' sending
    # The task is lost (broker down at the commit): the every-minute retry sends the delivery.
    assert retry(NOW + MIN) == 1 and len(receiver.requests) == 1
    assert retry(NOW + 2 * MIN) == 0 and len(receiver.requests) == 1


# --- Never in the request: a failing or hanging endpoint does not slow intake -----------------


def test_intake_does_no_http_and_a_hanging_endpoint_only_costs_the_task_one_timeout(
        receiver, monkeypatch, django_capture_on_commit_callbacks):
    receiver.delay = 3.0  # hangs
    monkeypatch.setattr(sending, "TIMEOUT", 0.3)
    catch_all([agent("Ann")])
    endpoint(receiver.url)
    key = create_key("Website")[1]

    def no_http(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("HTTP in the request")

    with monkeypatch.context() as patched, django_capture_on_commit_callbacks(execute=True):
        patched.setattr(sending, "post", no_http)
        started = time.monotonic()
        response = Client().post(
            "/api/v1/leads/", data=json.dumps(lead_fields()), content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}")
        elapsed = time.monotonic() - started

    assert response.status_code == 201, response.content
    assert elapsed < 1.0
    assert receiver.requests == []
    [task] = webhook_tasks()  # queued for the cluster, not run
    ids = list(task.args()[0])
    assert ids == [d.pk for d in deliveries()] and len(ids) == 2

    started = time.monotonic()
    assert webhooks.send_webhook_deliveries(ids, now=NOW) == 0  # what the cluster runs
    assert time.monotonic() - started < 2.0  # one timeout, not one per delivery

    first, second = deliveries()
    assert (first.status, first.last_status_code) == ("failed", None)
    assert "timed out" in first.last_error
    assert first.attempt_log[0]["status"] is None and first.attempt_log[0]["ms"] >= 250
    assert (second.status, second.attempts) == ("pending", 0)  # the endpoint rests
    assert len(receiver.requests) == 1


# --- Retries ----------------------------------------------------------------------------------


def test_a_failing_endpoint_is_retried_with_back_off_and_every_attempt_recorded(receiver):
    receiver.statuses = [500, 503]
    catch_all([agent("Ann")])
    crm = endpoint(receiver.url, events=[E.LEAD_CREATED])
    receive()
    delivery = WebhookDelivery.objects.get()

    assert send_all(NOW) == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code,
            delivery.next_attempt_at) == ("failed", 1, 500, NOW + MIN)
    assert delivery.last_error == "HTTP 500"
    crm.refresh_from_db()
    assert (crm.failing_since, crm.backoff_until) == (NOW, NOW + MIN)

    assert retry(NOW + MIN - SEC) == 0 and len(receiver.requests) == 1  # not yet
    assert retry(NOW + MIN) == 0
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code, delivery.next_attempt_at) == (
        2, 503, NOW + 6 * MIN)
    assert retry(NOW + 6 * MIN) == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code,
            delivery.last_error, delivery.sent_at, delivery.next_attempt_at) == (
        "sent", 3, 200, "", NOW + 6 * MIN, None)
    assert [(e["attempt"], e["at"], e["status"], e["error"]) for e in delivery.attempt_log] == [
        (1, iso(NOW), 500, "HTTP 500"),
        (2, iso(NOW + MIN), 503, "HTTP 503"),
        (3, iso(NOW + 6 * MIN), 200, ""),
    ]
    assert all(isinstance(e["ms"], int) for e in delivery.attempt_log)
    assert len({r["body"] for r in receiver.requests}) == 1  # the same event each time
    assert len({r["headers"]["leadrouter-delivery"] for r in receiver.requests}) == 1
    crm.refresh_from_db()
    assert (crm.failing_since, crm.backoff_until) == (None, None)  # healthy again
    assert retry(NOW + timedelta(days=1)) == 0 and len(receiver.requests) == 3


def test_the_back_off_is_1_5_30_minutes_2_and_12_hours_then_it_gives_up(receiver):
    receiver.statuses = [500] * 10
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_CREATED])
    receive()
    delivery = WebhookDelivery.objects.get()
    backoff = [wait.total_seconds() / 60 for wait in webhooks.BACKOFF]
    assert backoff == [1, 5, 30, 120, 720]

    at = NOW
    send_all(at)
    for wait in webhooks.BACKOFF:
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == at + wait
        assert retry(at + wait - SEC) == 0
        at += wait
        retry(at)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 6, None)
    assert len(delivery.attempt_log) == 6 == len(receiver.requests)
    assert retry(at + timedelta(days=2)) == 0 and len(receiver.requests) == 6


def test_a_dead_endpoint_gets_one_attempt_a_minute_and_its_backlog_once_it_answers(receiver):
    receiver.statuses = [500, 500]
    catch_all([agent("Ann")])
    crm = endpoint(receiver.url, events=[E.LEAD_CREATED])
    for _ in range(3):
        receive()
    ids = [d.pk for d in deliveries()]

    for pk in ids:  # each lead's task, as the cluster runs them
        webhooks.send_webhook_deliveries([pk], now=NOW)
    assert len(receiver.requests) == 1
    assert [d.status for d in deliveries()] == ["failed", "pending", "pending"]

    assert retry(NOW + 30 * SEC) == 0 and len(receiver.requests) == 1  # resting
    assert retry(NOW + MIN) == 0  # the first one's retry: 500 again, the others wait
    assert len(receiver.requests) == 2
    assert [d.status for d in deliveries()] == ["failed", "pending", "pending"]

    assert retry(NOW + 2 * MIN) == 2  # it answers: the waiting ones go
    assert retry(NOW + 2 * MIN) == 1  # and the failed one is due at once, not in 5 minutes
    assert [d.status for d in deliveries()] == ["sent", "sent", "sent"]
    crm.refresh_from_db()
    assert crm.failing_since is None


def test_an_inactive_endpoint_gets_nothing_already_written(receiver):
    catch_all([agent("Ann")])
    crm = endpoint(receiver.url, events=[E.LEAD_CREATED])
    receive()
    crm.active = False
    crm.save()

    assert send_all() == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    assert "inactive" in delivery.last_error and receiver.requests == []


# --- Exactly once ------------------------------------------------------------------------------


def test_a_claimed_delivery_is_not_sent_by_a_second_worker_until_its_claim_lapses(receiver):
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_CREATED])
    receive()
    delivery = WebhookDelivery.objects.get()

    # A worker claims it (conditional update), then dies before sending.
    assert tasks.claim(WebhookDelivery.objects, delivery.pk, now=NOW,
                       max_attempts=webhooks.MAX_ATTEMPTS)
    assert not tasks.claim(WebhookDelivery.objects, delivery.pk, now=NOW,
                           max_attempts=webhooks.MAX_ATTEMPTS)
    assert webhooks.attempt(delivery.pk, now=NOW) == "skipped"
    assert send_all(NOW) == 0 and retry(NOW + tasks.CLAIM - SEC) == 0
    assert receiver.requests == []

    assert retry(NOW + tasks.CLAIM) == 1  # the lapsed claim is taken again
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("sent", 2, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_senders_at_once_send_one_delivery_once(receiver):
    receiver.delay = 0.3  # the first sender is still waiting while the others try
    catch_all([agent("Ann")])
    endpoint(receiver.url, events=[E.LEAD_CREATED])
    receive()
    pk = WebhookDelivery.objects.get().pk
    results = together([lambda: webhooks.attempt(pk)] * 8)

    assert Counter(results) == {"sent": 1, "skipped": 7}
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().attempts == 1


# --- Admin ------------------------------------------------------------------------------------


def test_managers_may_manage_webhooks():
    granted = set(Group.objects.get(name="Managers").permissions.filter(
        content_type__app_label="notifications").values_list("codename", flat=True))
    assert {f"{action}_webhookendpoint" for action in ("add", "change", "delete", "view")} \
        <= granted
    assert {"view_webhookdelivery", "change_webhookdelivery"} <= granted


def test_admin_endpoint_form_has_event_checkboxes_and_shows_the_secret(manager_client,
                                                                       monkeypatch):
    real = socket.getaddrinfo  # the form checks the host's addresses: a public one, offline
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **kw: (
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        if host == "crm.example.com" else real(host, port, *a, **kw)))
    url = reverse("admin:notifications_webhookendpoint_add")
    page = manager_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for value in E.values:
        assert f'type="checkbox" name="events" value="{value}"' in html
    response = manager_client.post(url, {
        "name": "CRM", "url": "https://crm.example.com/hooks", "secret": "whsec_abc",
        "events": [E.LEAD_CREATED, E.LEAD_CLAIMED], "active": "on"})
    assert response.status_code == 302, response.content
    crm = WebhookEndpoint.objects.get()
    assert (crm.name, crm.events, crm.secret, crm.active) == (
        "CRM", ["lead.created", "lead.claimed"], "whsec_abc", True)

    page = manager_client.get(reverse("admin:notifications_webhookendpoint_change",
                                      args=[crm.pk]))
    assert 'value="whsec_abc"' in page.content.decode()
    assert manager_client.get(
        reverse("admin:notifications_webhookendpoint_changelist")).status_code == 200
    refused = manager_client.post(url, {"name": "x", "url": "ftp://files.example.com/",
                                        "secret": "s", "events": []})
    assert refused.status_code == 200 and WebhookEndpoint.objects.count() == 1


def test_admin_send_test_event(manager_client, receiver):
    crm = endpoint(receiver.url, events=[E.LEAD_ASSIGNED], active=False)
    response = manager_client.post(
        reverse("admin:notifications_webhookendpoint_changelist"),
        {"action": "send_test_event", "_selected_action": [crm.pk]}, follow=True)

    assert "test event answered 200" in response.content.decode()
    [request] = receiver.requests
    assert webhooks.verify_signature(SECRET, request["headers"]["leadrouter-signature"],
                                     request["body"])
    body = json.loads(request["body"])
    assert (body["event"], body["test"], body["data"]["lead"]["email"]) == (
        "lead.assigned", True, "pat@example.org")
    assert WebhookDelivery.objects.get().status == "sent"


def test_admin_deliveries_open_on_failed_ones_show_attempts_and_retry_now(manager_client,
                                                                         receiver):
    receiver.statuses = [500]
    catch_all([agent("Ann")])
    crm = endpoint(receiver.url, events=[E.LEAD_CREATED, E.LEAD_ASSIGNED])
    receive()
    send_all(NOW)  # created: fails; assigned: waits (the endpoint rests)
    failed, waiting = deliveries()
    WebhookDelivery.objects.filter(pk=failed.pk).update(attempts=webhooks.MAX_ATTEMPTS,
                                                        next_attempt_at=None)  # gave up

    changelist = reverse("admin:notifications_webhookdelivery_changelist")
    page = manager_client.get(changelist)
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [failed]
    detail = manager_client.get(reverse("admin:notifications_webhookdelivery_change",
                                        args=[failed.pk])).content.decode()
    assert "<td>HTTP 500</td>" in detail and "&quot;event&quot;: &quot;lead.created" \
        in detail
    assert manager_client.get(reverse("admin:notifications_webhookdelivery_add")) \
        .status_code == 403

    manager_client.post(changelist, {"action": "retry_now", "_selected_action": [failed.pk]})

    failed.refresh_from_db()
    crm.refresh_from_db()
    assert failed.attempts == webhooks.MAX_ATTEMPTS - 1 and failed.next_attempt_at is not None
    assert crm.backoff_until is None
    assert retry(failed.next_attempt_at) == 2  # the retried one and the waiting one
    assert [d.status for d in deliveries()] == ["sent", "sent"]
