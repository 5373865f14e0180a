"""Absolute links to our pages, for messages read outside the site (email, SMS, webhooks)."""

from __future__ import annotations

from typing import overload

from django.conf import settings
from django.urls import NoReverseMatch, reverse


def site_url(path: str = "/") -> str:
    """``settings.SITE_URL`` joined with an absolute path."""
    return settings.SITE_URL.rstrip("/") + path


@overload
def absolute_url(name: str, *args: object, fallback: str) -> str: ...
@overload
def absolute_url(name: str, *args: object, fallback: None = None) -> str | None: ...
def absolute_url(name: str, *args: object, fallback: str | None = None) -> str | None:
    """The named page (``reverse(name, args=args)``) as an absolute URL.

    When the name does not resolve (a deployment without that page): the site's ``fallback``
    path if one is given, else None.
    """
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        if fallback is None:
            return None
        path = fallback
    return site_url(path)
