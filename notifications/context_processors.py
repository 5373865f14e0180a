"""What every page's template needs for phone alerts (templates/base.html)."""

from __future__ import annotations

from django.http import HttpRequest

from notifications import push


def web_push(request: HttpRequest) -> dict[str, str]:
    """The VAPID public key the page's script subscribes with; empty when push is off."""
    user = getattr(request, "user", None)  # absent on pages rendered before authentication
    if user is None or not user.is_authenticated or not push.push_enabled():
        return {"webpush_public_key": ""}
    return {"webpush_public_key": push.vapid_public_key()}
