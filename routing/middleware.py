"""Pages show times in the brokerage's time zone (the one its rules and shifts are written in),
and a request reads the routing configuration once (``held_for_request``).

A view that reads the configuration's token in a statement of its own (the intake's API key
check, ``reads_config_with_key``) spares the request the separate read of the token: its time
zone is set once it has the token (``config_read_with_key``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from routing.selectors import held_for_request, hold_config_token, routing_config

#: The attribute that marks a view (function or class) as reading the token with its key.
WITH_KEY = "reads_config_with_key"

View = TypeVar("View")


def reads_config_with_key(view: View) -> View:
    """Mark a view that calls ``config_read_with_key`` (through ``take_key``)."""
    setattr(view, WITH_KEY, True)
    return view


def config_read_with_key(token: uuid.UUID | None) -> None:
    """The configuration's token, read with the request's API key: hold its snapshot for the
    request and set the brokerage's time zone (nothing outside a request)."""
    config = hold_config_token(token)
    if config is not None:
        timezone.activate(ZoneInfo(config.timezone))


class BrokerageTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with held_for_request():
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()

    def process_view(self, request: HttpRequest, view: Callable[..., Any], args: Any,
                     kwargs: Any) -> None:
        if not getattr(getattr(view, "view_class", view), WITH_KEY, False):
            timezone.activate(ZoneInfo(routing_config().timezone))
