"""Links people follow from emails, texts and webhook payloads: absolute, on ``SITE_URL``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse


def absolute_url(name: str, *args: Any) -> str:
    """The page named ``name`` (a URL name) as an address on the site."""
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args or None)
