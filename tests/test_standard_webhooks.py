"""The Standard Webhooks headers: a receiver verifies our deliveries with the standardwebhooks
library, the id stays the same on a retry, and an altered body is refused."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEvent, new_webhook_secret
from tests.factories import WebhookEndpointFactory
from tests.receivers import Receiver
from tests.test_webhooks import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://leads.example.com"
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the test receiver


def delivery_to(url: str, secret: str) -> WebhookDelivery:
    endpoint = WebhookEndpointFactory(url=url, secret=secret, events=[WebhookEvent.LEAD_CREATED])
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event=WebhookEvent.LEAD_CREATED, event_id=uuid.uuid4(), created_at=NOW,
        payload={"id": "e1", "event": "lead.created", "data": {"lead": {"id": 7}}})


def test_a_real_delivery_verifies_with_the_standard_webhooks_library(receiver: Receiver):
    secret = new_webhook_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 24
    delivery = delivery_to(receiver.url, secret)

    assert webhooks.attempt(delivery.pk) == "sent"

    [request] = receiver.requests
    headers: dict[str, Any] = request["headers"]
    assert headers["webhook-id"] == f"msg_{delivery.pk}"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(request["body"], headers) == delivery.payload
    assert webhooks.verify_signature(secret, headers["leadrouter-signature"], request["body"])


def test_a_retry_keeps_the_webhook_id_and_a_tampered_body_fails(receiver: Receiver):
    secret = new_webhook_secret()
    receiver.statuses = [500]
    delivery = delivery_to(receiver.url, secret)

    assert webhooks.attempt(delivery.pk, now=NOW) == "failed"
    assert webhooks.retry_webhook_deliveries(now=NOW + timedelta(minutes=2)) == 1

    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == f"msg_{delivery.pk}"
    hook = Webhook(secret)
    hook.verify(second["body"], second["headers"])
    with pytest.raises(WebhookVerificationError):
        hook.verify(second["body"].replace(b'"id":7', b'"id":8'), second["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(second["body"], second["headers"])


def test_an_older_url_safe_secret_keeps_its_key():
    old = "whsec_" + "a-b_" * 10 + "xyz"  # token_urlsafe(32): 43 URL-safe characters, no padding
    raw = old[6:]
    assert webhooks.standard_key(old) == base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    assert webhooks.standard_key("whsec_not base64!") == b"not base64!"
    body = b'{"id":"e1"}'
    headers = webhooks.standard_headers(old, 5, body, timestamp=int(time.time()))
    assert headers["webhook-id"] == "msg_5"
    assert Webhook(webhooks.standard_key(old)).verify(body, headers) == {"id": "e1"}
