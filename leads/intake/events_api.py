"""Follow Up Boss's Events API (``POST /api/v1/events``): any lead provider that posts to Follow
Up Boss posts to leadrouter by changing the host.

The view reads the request as Follow Up Boss's does (HTTP Basic auth, the source's key as the
user name, any password), with the leads API's limits (rate, size, JSON), keeps even refused
requests in the inbound log (all of it shared with the leads API: ``api.KeyedIntakeView``)
and hands the event to ``events.take_event``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from leads.intake.api import KeyedIntakeView
from leads.intake.cleaning import (
    LENGTH_REQUIRED,
)
from leads.intake.events import EventInbound, take_event
from leads.intake.idempotency import IDEMPOTENCY_HEADER, Answer
from leads.intake.keys import SCHEME, check_header
from leads.intake.serializers import (
    FubErrorSerializer,
    FubEventSerializer,
    LeadIntakeAnswerSerializer,
)
from leads.models import LeadSource, SourceKey, Submission

BASIC_CHALLENGE = 'Basic realm="leadrouter"'
NO_KEY = "Missing API key: send the source's key as the user name of HTTP Basic auth."


def api_key_header(header: str | None) -> tuple[str | None, str]:
    """``Authorization: Basic base64(key:)`` as the ``Api-Key <key>`` header the keys read,
    or why not (``Api-Key <key>`` itself is taken as it is)."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() == SCHEME.lower():
        return header, ""
    if scheme.lower() != "basic" or not value.strip():
        return None, NO_KEY
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, "The Basic credentials are not valid base64."
    user = decoded.partition(":")[0].strip()
    return (f"{SCHEME} {user}", "") if user else (None, NO_KEY)


class SourceKeyBasicAuthentication(BaseAuthentication):
    """HTTP Basic with a lead source's key as the user name (the password is ignored)."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, SourceKey] | None:
        header, problem = api_key_header(request.META.get("HTTP_AUTHORIZATION"))
        check = check_header(header) if header else None
        if check is None or check.key is None:
            raise exceptions.AuthenticationFailed(check.error if check else problem)
        return AnonymousUser(), check.key

    def authenticate_header(self, request: Request) -> str:
        return BASIC_CHALLENGE


class SourceKeyBasicScheme(OpenApiAuthenticationExtension):
    target_class = SourceKeyBasicAuthentication
    name = "SourceKeyBasic"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic",
                "description": "The lead source's key as the user name; the password is "
                               "ignored (send it empty)."}


def _error(name: str, description: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(FubErrorSerializer, description=description, examples=[
        OpenApiExample(name, value={"errorMessage": message}, response_only=True)])


@extend_schema_view(post=extend_schema(
    operation_id="fub_events",
    summary="Send a Follow Up Boss event",
    description=(
        "Follow Up Boss's Events API, so that a lead provider that posts to Follow Up Boss "
        "posts here by changing the host. The event's `type` gives the lead type and a tag "
        "(Seller Inquiry: seller; Property Inquiry, Viewed or Saved Property, Property "
        "Search, Visited Open House: buyer; Inquiry: Property Inquiry with a property, "
        "else General Inquiry), `person` the contact details and tags, `property` the "
        "city, zip, MLS number, price and type; the rest goes into the lead's message. "
        "`person.assignedTo` (an agent's name or email) pre-assigns the lead; an unknown "
        "agent is dropped, said in the message, and the lead routed by the rules.\n\n"
        "**Answers**: 201 a new person, 200 a person already known (registered again), "
        "204 an event that makes no lead (the source is set to ignore events, or an "
        "Unsubscribed event). Every event is kept in the inbound log.\n\n"
        "**Exactly once**: a retry with the same `Idempotency-Key` returns the first "
        "answer's body with status 200 and no second lead.\n\n"
        "**Limits**: as `POST /api/v1/leads/` (body size, rate per key)."
    ),
    tags=["intake"],
    request=FubEventSerializer,
    parameters=[OpenApiParameter(
        IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
        description="Any unique string per event (e.g. a UUID), up to 255 characters.")],
    responses={
        201: OpenApiResponse(LeadIntakeAnswerSerializer, description="A new person, routed."),
        200: OpenApiResponse(LeadIntakeAnswerSerializer,
                             description="A person already known, or a retry."),
        204: OpenApiResponse(description="Kept; makes no lead (ignored)."),
        400: _error("Invalid", "Not a JSON object.", "The body is not valid JSON."),
        401: _error("Unauthorized", "Missing, unknown or revoked key.", "Invalid API key."),
        411: _error("LengthRequired", "A chunked body this server cannot read: send it "
                    "again with a `Content-Length`.", LENGTH_REQUIRED["body"]),
        413: _error("TooLarge", "Body too large.", "The body is larger than 65536 bytes."),
        422: _error("Invalid", "The lead is invalid (kept, rejected, with every field's "
                    "error), or the `Idempotency-Key` was used with another body.",
                    "Give at least a name, an email or a phone number."),
        429: _error("RateLimited", "Rate limit exceeded; retry after `Retry-After` seconds.",
                    "More than 600 requests in a minute for this key."),
    },
))
class FubEventsView(KeyedIntakeView[EventInbound]):
    """``POST /api/v1/events``: a lead provider sends one Follow Up Boss event."""

    authentication_classes = [SourceKeyBasicAuthentication]
    channel = Submission.Channel.EVENTS
    inbound_class = EventInbound
    challenge = BASIC_CHALLENGE

    def authorization(self, http: HttpRequest) -> tuple[str | None, str]:
        return api_key_header(http.META.get("HTTP_AUTHORIZATION"))

    def body_problem(self, problem: str) -> str:
        return problem.replace("the lead's fields", "the event's fields")

    def take(self, payload: dict[str, Any], source: LeadSource, inbound: EventInbound,
             http: HttpRequest) -> Answer:
        return take_event(payload, source, inbound, system=http.headers.get("X-System", ""))


@extend_schema_view(post=extend_schema(exclude=True))
class FubEventsSlashView(FubEventsView):
    """``POST /api/v1/events/``: the same, for clients that add a slash (one operation in the
    schema)."""
