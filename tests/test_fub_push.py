"""Push to Follow Up Boss: a lead that gets its agent is sent to FUB's Events API with the agent
as ``assignedTo``, retried like a webhook, every attempt logged; tried against a fake FUB on
127.0.0.1 that records what it is sent."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django_q.conf import Conf

from notifications import webhooks
from notifications.models import FollowUpBossIntegration, WebhookDelivery, WebhookEndpoint
from routing.claims import claim_offer
from routing.models import Offer, Rule
from tests.receivers import FakeFub
from tests.test_webhooks import NOW, agent, catch_all, endpoint, receive

pytestmark = pytest.mark.django_db

API_KEY = "fka_0abcdEFGH5678"


# FakeFub and the ``fub`` fixture: tests/receivers.py, tests/conftest.py.


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://leads.example.com"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the fake FUB


def switch_on(fub: FakeFub, **kw) -> FollowUpBossIntegration:
    return webhooks.save_integration(FollowUpBossIntegration(
        enabled=True, api_key=API_KEY, base_url=fub.base_url, system_name="leadrouter",
        system_key="sys-key-1", **kw))


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_a_routed_lead_goes_to_follow_up_boss_with_its_agent(
        fub, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)  # the cluster runs the task at once
    ann = agent("Ann")
    catch_all([ann])
    switch_on(fub)

    with django_capture_on_commit_callbacks(execute=True):
        lead = receive(first_name="Dana", last_name="Reyes", email="dana@example.org",
                       phone="312-555-0142", source="Zillow", lead_type="buyer", price="450000",
                       city="Evanston", zip_code="60201", listing_ref="MLS-88123",
                       message="Is it still available?", tags=["hot"])

    [request] = fub.requests
    assert request["path"] == "/v1/events"
    headers = request["headers"]
    assert headers["authorization"] == basic(API_KEY)
    assert (headers["x-system"], headers["x-system-key"]) == ("leadrouter", "sys-key-1")
    assert headers["content-type"] == "application/json"
    event = request["body"]
    assert (event["source"], event["system"], event["type"]) == (
        "Zillow", "leadrouter", "Property Inquiry")
    assert event["message"] == "Is it still available?"
    assert event["person"] == {
        "firstName": "Dana", "lastName": "Reyes", "emails": [{"value": "dana@example.org"}],
        "phones": [{"value": "+13125550142"}], "tags": ["hot"], "assignedTo": "Ann"}
    assert event["property"] == {"city": "Evanston", "code": "60201", "mlsNumber": "MLS-88123",
                                 "price": 450000}
    assert event["description"] == (
        f"Rule 'Everything else' -> Ann. In leadrouter: https://leads.example.com/leads/{lead.pk}/")
    [push] = WebhookDelivery.objects.filter(endpoint__follow_up_boss__isnull=False)
    assert (push.status, push.lead_id, push.last_status_code) == ("sent", lead.pk, 201)


def test_a_claimed_lead_goes_with_the_agent_who_claimed_it(fub):
    ann, bob = agent("Ann"), agent("Bob")
    catch_all([ann, bob], delivery=Rule.Delivery.FIRST_TO_CLAIM)
    integration = switch_on(fub)
    lead = receive(lead_type="seller")
    assert not WebhookDelivery.objects.filter(endpoint=integration.endpoint).exists()  # offered

    claim_offer(Offer.objects.get(lead=lead, agent=bob).pk, bob, now=NOW + timedelta(minutes=1))
    [push] = WebhookDelivery.objects.filter(endpoint=integration.endpoint)
    assert webhooks.attempt(push.pk, now=NOW + timedelta(minutes=1)) == "sent"

    [request] = fub.requests
    assert request["body"]["type"] == "Seller Inquiry"
    assert request["body"]["person"]["assignedTo"] == "Bob"


def test_a_failed_push_is_retried_and_both_attempts_are_logged_and_shown(fub, manager_client):  # noqa: F811 (the fixture)
    catch_all([agent("Ann")])
    integration = switch_on(fub)
    fub.statuses = [500]
    lead = receive()
    [push] = WebhookDelivery.objects.filter(endpoint=integration.endpoint)

    assert webhooks.attempt(push.pk, now=NOW) == "failed"
    push.refresh_from_db()
    assert (push.status, push.last_error) == ("failed", "HTTP 500")
    assert webhooks.retry_webhook_deliveries(now=NOW + timedelta(minutes=2)) == 1

    assert len(fub.requests) == 2
    assert fub.requests[0]["body"] == fub.requests[1]["body"]
    assert all(r["headers"]["authorization"] == basic(API_KEY) for r in fub.requests)
    push.refresh_from_db()
    assert push.status == "sent"
    assert [(a["attempt"], a["status"], a["error"]) for a in push.attempt_log] == [
        (1, 500, "HTTP 500"), (2, 201, "")]

    page = manager_client.get(reverse("admin:notifications_followupbossintegration_change",
                                      args=[integration.pk])).content.decode()
    assert lead.full_name in page and "<td>Sent</td><td>2</td><td>201</td>" in page
    log = manager_client.get(reverse("admin:notifications_webhookdelivery_change",
                                     args=[push.pk])).content.decode()
    assert "<td>500</td>" in log and "HTTP 500" in log and "<td>201</td>" in log


def test_a_refused_key_is_named_on_the_integration_page(fub, manager_client):  # noqa: F811 (the fixture)
    catch_all([agent("Ann")])
    integration = switch_on(fub)
    fub.statuses = [401]
    receive()
    [push] = WebhookDelivery.objects.filter(endpoint=integration.endpoint)

    assert webhooks.attempt(push.pk, now=NOW) == "failed"

    page = manager_client.get(reverse("admin:notifications_followupbossintegration_change",
                                      args=[integration.pk])).content.decode()
    assert "Follow Up Boss refuses the API key (HTTP 401)" in page


def test_switched_off_nothing_is_written_for_follow_up_boss(fub):
    catch_all([agent("Ann")])
    integration = switch_on(fub)
    integration.enabled = False
    webhooks.save_integration(integration)

    receive()

    assert not WebhookDelivery.objects.filter(endpoint=integration.endpoint).exists()


def test_a_manager_switches_it_on_and_sees_only_the_keys_last_4(fub, manager_client):  # noqa: F811 (the fixture)
    add = reverse("admin:notifications_followupbossintegration_add")
    response = manager_client.post(add, {
        "enabled": "on", "api_key": API_KEY, "base_url": fub.base_url,
        "system_name": "leadrouter", "system_key": ""})
    assert response.status_code == 302, response.content
    integration = FollowUpBossIntegration.objects.get()
    assert integration.endpoint.active and integration.endpoint.url == fub.base_url + "/v1/events"

    change = reverse("admin:notifications_followupbossintegration_change",
                     args=[integration.pk])
    page = manager_client.get(change).content.decode()
    assert "ending in 5678" in page and API_KEY not in page
    listing = manager_client.get(
        reverse("admin:notifications_followupbossintegration_changelist")).content.decode()
    assert "…5678" in listing and API_KEY not in listing
    assert manager_client.get(add).status_code == 403  # one per brokerage

    # Saved again without typing the key: the key on file stays.
    response = manager_client.post(change, {"api_key": "", "base_url": fub.base_url,
                                            "system_name": "leadrouter", "system_key": ""})
    assert response.status_code == 302, response.content
    integration.refresh_from_db()
    assert integration.api_key == API_KEY and not integration.enabled
    assert not integration.endpoint.active

    # Its endpoint is not among the brokerage's webhooks; removing it removes the endpoint.
    endpoint(events=["lead.created"])
    hooks = manager_client.get(
        reverse("admin:notifications_webhookendpoint_changelist")).content.decode()
    assert "/v1/events" not in hooks
    endpoint_id = integration.endpoint_id
    integration.delete()
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


def test_a_buyer_without_a_property_is_a_general_inquiry():
    assert webhooks.fub_event({"data": {"lead": {"lead_type": "buyer"}}}, system="x") == {
        "source": "leadrouter", "system": "x", "type": "General Inquiry", "message": "",
        "person": {"firstName": "", "lastName": ""}}
