"""Rotating an endpoint's secret without a gap: the old secret keeps signing, beside the new
one, for a grace period, so the receiver can switch to the new secret at its own pace.

During the grace period each delivery carries two signatures (``signing``); once it ends only
the new secret signs. A manager rotates from the endpoint list ("Rotate secret", which shows
the new secret once) or by typing a new secret on the endpoint's form.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from notifications.models import WebhookEndpoint, new_webhook_secret

#: How long the old secret keeps signing after a rotation.
ROTATION_GRACE = timedelta(hours=24)


def rotate_secret(endpoint: WebhookEndpoint, *, now: datetime, new_secret: str | None = None,
                  grace: timedelta = ROTATION_GRACE) -> str:
    """Give the endpoint a new secret (a fresh one unless given) and keep its current one
    valid until ``now + grace``. Returns the new secret (shown to the manager once)."""
    secret = new_secret or new_webhook_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        keep_old(locked, locked.secret, now=now, grace=grace)
        locked.secret = secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    endpoint.secret, endpoint.previous_secret = locked.secret, locked.previous_secret
    endpoint.previous_secret_expires_at = locked.previous_secret_expires_at
    return secret


def keep_old(endpoint: WebhookEndpoint, old_secret: str, *, now: datetime,
             grace: timedelta = ROTATION_GRACE) -> None:
    """Set (not save) ``old_secret`` as the endpoint's previous secret, valid until
    ``now + grace``; a blank old secret ends any grace period instead."""
    endpoint.previous_secret = old_secret
    endpoint.previous_secret_expires_at = now + grace if old_secret else None
