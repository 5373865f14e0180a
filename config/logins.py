"""Password guessing on the web logins (``/accounts/login/`` and ``/admin/login/``) is limited
per username and per client address, in the shared cache (``CACHES``: the database or Redis),
so that every server process counts against the same limit.

Each try counts before the password is checked, in one-minute windows (a window's tries add
to the last one's, so a burst across the minute's turn is still one burst); the try after
``LOGIN_RATE_PER_MINUTE`` for one name (or ``LOGIN_ADDRESS_RATE_PER_MINUTE`` from one address)
is refused with a message, even with the right password. A successful login clears the name's
count. (The API's token login has its own DRF throttle on the same cache: config/api/agent.py.)
"""

from __future__ import annotations

import hashlib
import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 60


def client_address(request: HttpRequest | None) -> str:
    """The client's address: the proxy's header when one is configured, else REMOTE_ADDR."""
    if request is None:
        return ""
    header = settings.CLIENT_ADDRESS_HEADER
    value = request.META.get(header, "") if header else ""
    return (value.split(",")[0].strip() if value else "") or request.META.get("REMOTE_ADDR", "")


def _key(kind: str, ident: str, window: int) -> str:
    # Hashed: any text may come in, and a cache key must stay short and plain.
    digest = hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()
    return f"login:{kind}:{digest}:{window}"


def _hit(kind: str, ident: str, window: int, limit: int) -> bool:
    """Count one try in this minute's window; True while this window's tries and the last
    one's stay within ``limit`` (so a burst across the minute's turn is still one burst)."""
    key = _key(kind, ident, window)
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    return count + (cache.get(_key(kind, ident, window - 1)) or 0) <= limit


def count_login_try(*, username: str, address: str) -> int | None:
    """Count one login try; None if allowed, else the seconds until the next one may come."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    checks = [("name", username.strip().lower(), settings.LOGIN_RATE_PER_MINUTE),
              ("address", address, settings.LOGIN_ADDRESS_RATE_PER_MINUTE)]
    allowed = True
    for kind, ident, limit in checks:
        if ident and limit > 0 and not _hit(kind, ident, window, limit):
            allowed = False
    if allowed:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))  # the last window expires


def clear_login_tries(*, username: str) -> None:
    """After a successful login the name starts again from zero (its address count stays)."""
    window = int(time.time() // WINDOW_SECONDS)
    name = username.strip().lower()
    cache.delete_many([_key("name", name, window), _key("name", name, window - 1)])


class LimitedLoginMixin:
    """An authentication form that counts the try before it checks the password."""

    request: HttpRequest | None
    data: dict
    rate_limited = False  # the page says so instead of "didn't match"

    def clean(self) -> dict:
        username = str(self.data.get("username") or "")
        wait = count_login_try(username=username, address=client_address(self.request))
        if wait is not None:
            self.rate_limited = True
            raise forms.ValidationError(
                "Too many login attempts. Please wait %(seconds)s seconds and try again.",
                code="rate_limited", params={"seconds": wait})
        cleaned = super().clean()  # type: ignore[misc]
        clear_login_tries(username=username)
        return cleaned


class LoginForm(LimitedLoginMixin, AuthenticationForm):
    """The agents' login page (``/accounts/login/``)."""


class AdminLoginForm(LimitedLoginMixin, AdminAuthenticationForm):
    """The admin's login page (``/admin/login/``)."""
