"""The agent and manager APIs' common ground: authentication, permissions, ids, the documented
error answers.

Token or session authentication, JSON (and the browsable API), page-numbered lists (the
``REST_FRAMEWORK`` defaults) and errors as ``{"errors": {field: message}}`` (``config.api.errors``),
declared in the schema so that schemathesis can hold every answer to it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from agents.services import INACTIVE_MESSAGE
from config.api.serializers import ApiErrorsSerializer

MAX_ID = 2**63 - 1  # the largest id a database column holds; larger ones are simply not found

# --- the documented errors --------------------------------------------------------------------


def api_error(description: str, example: dict[str, str]) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorsSerializer, description=description, examples=[
        OpenApiExample(next(iter(example)), value={"errors": example}, response_only=True)])


ERRORS: dict[int, OpenApiResponse] = {
    400: api_error("Invalid body or parameters: every field's error.",
                   {"kind": '"visit" is not a valid choice.'}),
    401: api_error("No credentials, or an unknown token: send `Authorization: Token <key>`.",
                   {"auth": "Authentication credentials were not provided."}),
    403: api_error("Logged in, but not allowed here.",
                   {"permission": "Your login is not linked to an agent."}),
    404: api_error("No such object (on the agent API, also another agent's lead, offer or "
                   "activity: it never says which), or a page past the end of the list.",
                   {"not_found": "No such lead."}),
    409: api_error("Too late: someone else claimed it first, or the claim window closed.",
                   {"claim": "Another agent claimed this lead first."}),
    415: api_error("The body is not JSON (`Content-Type: application/json`).",
                   {"body": 'Unsupported media type "text/plain" in request.'}),
    429: api_error("Too many attempts; retry after `Retry-After` seconds.",
                   {"rate": "Request was throttled. Expected available in 42 seconds."}),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation."""
    return {code: ERRORS[code] for code in codes}


# --- ids --------------------------------------------------------------------------------------


def id_param(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                            OpenApiParameter.PATH, description=f"The {what}'s id.")


def checked_id(value: int, what: str) -> int:
    """Ids past any column's range are not found (SQLite would overflow on them)."""
    if value > MAX_ID:
        raise exceptions.NotFound({"not_found": f"No such {what}."})
    return value


# --- authentication and the agent permission --------------------------------------------------


class ApiMixin:
    """Token or session authentication, JSON (and the browsable API), errors as ours."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    error_envelope = True  # errors as {"errors": {field: message}} (config.api.errors)


class IsAgent(BasePermission):
    """A login linked to an active agent (as the pages' ``agent_required``); a superuser without one
    may read leads where the view allows it (``superuser_reads``), as on the pages."""

    message = "Your login is not linked to an agent."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        agent = getattr(user, "agent", None)
        if agent is not None:
            if not agent.is_active:  # left the brokerage (their login is normally closed too)
                self.message = INACTIVE_MESSAGE
                return False
            return True
        return (request.method in SAFE_METHODS and user.is_superuser
                and getattr(view, "superuser_reads", False))



class DocsPermission(BasePermission):
    """The schema needs a login (session or token) unless DEBUG is on: it maps the whole API
    for whoever asks. Read per request, so that a test can turn DEBUG on."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.DEBUG or (request.user and request.user.is_authenticated))


def docs_page(view: Any) -> Any:
    """The docs pages (Swagger UI, ReDoc): the login page first unless DEBUG is on."""
    from django.contrib.auth.views import redirect_to_login

    def page(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not settings.DEBUG and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return page
