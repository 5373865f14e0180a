"""Pages show times in the brokerage's time zone (the one its rules and shifts are written in),
and a request reads the routing configuration once (``held_for_request``)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from routing.selectors import held_for_request, routing_config


class BrokerageTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with held_for_request():
            timezone.activate(ZoneInfo(routing_config().timezone))
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
