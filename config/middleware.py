"""A page route answering 405 (``require_POST`` and friends return an empty body) shows the
friendly page instead of the browser's bare "HTTP ERROR 405"; the API keeps its JSON."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class FriendlyMethodNotAllowedMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code != 405 or request.path.startswith("/api/")
                or getattr(response, "streaming", False) or response.content):
            return response
        friendly = HttpResponse(render_to_string("405.html", request=request), status=405)
        if response.has_header("Allow"):
            friendly["Allow"] = response["Allow"]
        return friendly
