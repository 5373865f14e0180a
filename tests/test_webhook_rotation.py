"""Rotating a webhook secret: during the grace period every delivery carries a signature made
with the new secret and one with the old, so a receiver that still has the old secret and one
that has the new both verify (with the standardwebhooks library); afterwards only the new."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, new_webhook_secret
from tests.factories import WebhookEndpointFactory
from tests.receivers import Receiver
from tests.test_webhooks import NOW, _readme_verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://leads.example.com"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the test receiver


def deliver(endpoint: WebhookEndpoint, *, now) -> None:
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=WebhookEvent.LEAD_CREATED, event_id=uuid.uuid4(),
        created_at=now, payload={"id": "e1", "event": "lead.created", "data": {"lead": {"id": 7}}})
    assert webhooks.attempt(delivery.pk, now=now) == "sent"


def test_both_secrets_verify_during_the_grace_period_then_only_the_new(receiver: Receiver):
    old = new_webhook_secret()
    endpoint = WebhookEndpointFactory(url=receiver.url, secret=old,
                                      events=[WebhookEvent.LEAD_CREATED])

    new = webhooks.rotate_secret(endpoint, now=NOW)

    assert new != old and new.startswith("whsec_")
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (new, old)
    assert endpoint.previous_secret_expires_at == NOW + webhooks.ROTATION_GRACE

    deliver(endpoint, now=NOW + timedelta(hours=23))
    during = receiver.requests[-1]
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    readme_verify = _readme_verify()  # the receiver's check the README gives
    for secret in (new, old):  # a receiver with either secret accepts it
        assert Webhook(secret).verify(during["body"], during["headers"])["id"] == "e1"
        assert webhooks.verify_signature(secret, during["headers"]["leadrouter-signature"],
                                         during["body"])
        assert readme_verify(secret, during["headers"]["leadrouter-signature"], during["body"])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(during["body"], during["headers"])

    deliver(endpoint, now=NOW + timedelta(hours=25))
    after = receiver.requests[-1]
    assert " " not in after["headers"]["webhook-signature"]
    assert Webhook(new).verify(after["body"], after["headers"])["id"] == "e1"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after["body"], after["headers"])
    assert not webhooks.verify_signature(old, after["headers"]["leadrouter-signature"],
                                         after["body"])
    assert not readme_verify(old, after["headers"]["leadrouter-signature"], after["body"])


def test_the_admin_rotates_a_secret_and_shows_the_new_one_once(manager_client):  # noqa: F811
    old = new_webhook_secret()
    endpoint = WebhookEndpointFactory(name="CRM", secret=old)

    response = manager_client.post(reverse("admin:notifications_webhookendpoint_changelist"), {
        "action": "rotate_secret", "_selected_action": [endpoint.pk]})

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"CRM: the new secret is {endpoint.secret}" in message
    assert "The old secret keeps signing too until" in message
    page = manager_client.get(reverse("admin:notifications_webhookendpoint_change",
                                      args=[endpoint.pk])).content.decode()
    assert "Still signs too, until" in page
    assert old not in page  # the old secret itself is never shown again


def test_a_secret_typed_over_the_old_one_keeps_the_old_one_for_the_grace_period(
        manager_client, settings):  # noqa: F811
    settings.WEBHOOK_ALLOWED_HOSTS = ["crm.example.com"]
    endpoint = WebhookEndpointFactory(name="CRM", url="https://crm.example.com/hooks",
                                      secret="whsec_b2xk", events=[WebhookEvent.LEAD_CREATED])

    response = manager_client.post(
        reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk]),
        {"name": "CRM", "url": "https://crm.example.com/hooks", "secret": "whsec_bmV3",
         "events": [WebhookEvent.LEAD_CREATED], "active": "on"})

    assert response.status_code == 302, response.content
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == ("whsec_bmV3", "whsec_b2xk")
    assert endpoint.signing_secrets(endpoint.previous_secret_expires_at - timedelta(minutes=1)
                                    ) == ["whsec_bmV3", "whsec_b2xk"]
    assert endpoint.signing_secrets(endpoint.previous_secret_expires_at) == ["whsec_bmV3"]
