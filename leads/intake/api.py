"""The lead intake API (``POST /api/v1/leads/``): a vendor sends one lead with a source's key.

The view checks the key, the rate limit, the size and the JSON, keeping even refused requests
in the inbound log, and hands the lead to ``take_lead`` (exactly once per key or external id).
"""

from __future__ import annotations

import contextlib
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone
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
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.intake.cleaning import (
    LENGTH_REQUIRED,
    bad_string,
    parse_json_object,
    read_body,
    read_chunked,
    too_large,
)
from leads.intake.idempotency import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX,
    Answer,
    Inbound,
    take_lead,
)
from leads.intake.keys import SCHEME, check_header, take_key
from leads.intake.serializers import (
    IntakeErrorsSerializer,
    LeadIntakeAnswerSerializer,
    LeadIntakeRequestSerializer,
)
from leads.models import LeadSource, SourceKey, Submission
from routing.middleware import reads_config_with_key


class SourceKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``: a lead source's key. ``request.auth`` is the key."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, SourceKey] | None:
        check = check_header(request.META.get("HTTP_AUTHORIZATION"))
        if check.key is None:
            raise exceptions.AuthenticationFailed(check.error)
        return AnonymousUser(), check.key

    def authenticate_header(self, request: Request) -> str:
        return SCHEME


class SourceKeyScheme(OpenApiAuthenticationExtension):
    target_class = SourceKeyAuthentication
    name = "SourceApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`: one of the lead source's keys."}


class FirstRenderer(BaseContentNegotiation):
    """Always JSON, whatever the client's ``Accept`` says."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: list, format_suffix: Any = None):
        return renderers[0], renderers[0].media_type


def _error(name: str, description: str, example: dict[str, str]) -> OpenApiResponse:
    return OpenApiResponse(IntakeErrorsSerializer, description=description, examples=[
        OpenApiExample(name, value={"errors": example}, response_only=True)])


InboundT = TypeVar("InboundT", bound=Inbound)


@reads_config_with_key
class KeyedIntakeView(APIView, Generic[InboundT]):
    """What the JSON intake endpoints share: the source's key checked and counted in its rate
    limit, the size, the JSON and the idempotency key, every request kept in the inbound log
    (refused ones too), then ``take`` for the body. Subclasses say how the key is sent, which
    channel and inbound they keep, and what takes the body."""

    authentication_classes = [SourceKeyAuthentication]
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer
    channel = Submission.Channel.API
    inbound_class: type[InboundT]
    challenge = SCHEME  # WWW-Authenticate of a 401

    def perform_authentication(self, request: Request) -> None:
        """Done in ``post`` instead, so that refused requests are logged too."""

    def authorization(self, http: HttpRequest) -> tuple[str | None, str]:
        """The ``Api-Key <key>`` header to check, or why there is none."""
        return http.META.get("HTTP_AUTHORIZATION"), ""

    def body_problem(self, problem: str) -> str:
        """Why the body is not a JSON object, in this endpoint's words."""
        return problem

    def take(self, payload: dict[str, Any], source: LeadSource, inbound: InboundT,
             http: HttpRequest) -> Answer:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        http = request._request
        inbound = self.inbound_class(
            self.channel, timezone.now(),
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, "").strip())
        try:
            answer = self._answer(http, inbound)
        except Exception:  # keep even this request (if the database lets us), then surface it
            with contextlib.suppress(Exception):
                inbound.refuse(500, {"server": "Internal error."})
            raise
        headers = answer.headers
        if answer.status == 401:
            headers["WWW-Authenticate"] = self.challenge
        elif answer.status in (200, 201):
            headers["Location"] = answer.body["url"]
            headers["Idempotent-Replayed"] = "true" if answer.replayed else "false"
        body = None if answer.status == 204 else answer.body
        return Response(body, status=answer.status, headers=headers)

    def _answer(self, http: HttpRequest, inbound: InboundT) -> Answer:
        limit = settings.INTAKE_MAX_BODY_BYTES
        readable = read_chunked(http, limit)
        raw, inbound.raw_body = read_body(http, limit) if readable else (None, "")
        header, problem = self.authorization(http)
        if problem:
            return inbound.refuse(401, {"key": problem})
        rate = settings.INTAKE_RATE_PER_MINUTE
        check = take_key(header, limit=rate, now=inbound.received_at)
        inbound.key_prefix = check.prefix
        if check.key is None:
            return inbound.refuse(401, {"key": check.error})
        inbound.source_key, inbound.source_name = check.key, check.key.source.name
        if check.wait is not None:
            answer = inbound.refuse(
                429, {"rate": f"More than {rate} requests in a minute for this key."})
            answer.headers["Retry-After"] = str(check.wait)
            return answer
        if not readable:
            return inbound.refuse(411, LENGTH_REQUIRED)
        if raw is None:
            return inbound.refuse(413, too_large(limit))
        payload, problem = parse_json_object(raw)
        if payload is None:
            return inbound.refuse(400, {"body": self.body_problem(problem)})
        key = inbound.idempotency_key
        if len(key) > IDEMPOTENCY_KEY_MAX or bad_string(key):
            return inbound.refuse(400, {IDEMPOTENCY_HEADER: f"Use up to {IDEMPOTENCY_KEY_MAX} "
                                                            "printable characters."}, payload)
        return self.take(payload, check.key.source, inbound, http)


@extend_schema_view(post=extend_schema(
    operation_id="leads_intake",
    summary="Send a lead",
    description=(
        "Validates the lead, routes it like every other lead and says where it went. The "
        "lead's source is the key's source.\n\n"
        "**Exactly once**: a retry with the same `Idempotency-Key` header, or the same "
        "`external_id` for the source, returns the first answer with status 200 instead of "
        "making a second lead, even when the retries arrive at the same time. The same "
        "`Idempotency-Key` with a different body is refused with 422.\n\n"
        "**Limits**: bodies up to `INTAKE_MAX_BODY_BYTES` (64 KB; chunked bodies are read "
        "under gunicorn, else 411: send a `Content-Length`), "
        "`INTAKE_RATE_PER_MINUTE` requests per key and minute (429 with `Retry-After`)."
    ),
    tags=["intake"],
    request=LeadIntakeRequestSerializer,
    parameters=[OpenApiParameter(
        IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
        description="Any unique string per lead (e.g. a UUID), up to 255 characters.")],
    responses={
        201: OpenApiResponse(LeadIntakeAnswerSerializer, description="Received and routed."),
        200: OpenApiResponse(LeadIntakeAnswerSerializer,
                             description="A retry: the first answer, same lead."),
        400: _error("Invalid", "Invalid lead or body: every field's error.",
                    {"email": "Enter a valid email address.",
                     "lead_type": "Unknown lead type 'renter': use buyer or seller."}),
        401: _error("Unauthorized", "Missing, unknown or revoked key.",
                    {"key": "Invalid API key."}),
        411: _error("LengthRequired", "A chunked body this server cannot read: send it "
                    "again with a `Content-Length`.", LENGTH_REQUIRED),
        413: _error("TooLarge", "Body too large.",
                    {"body": "The body is larger than 65536 bytes."}),
        422: _error("KeyReused", "This `Idempotency-Key` was used with a different body: "
                    "the lead is kept, not routed; send it with a new key.",
                    {"Idempotency-Key": "This key was used with a different request."}),
        429: _error("RateLimited", "Rate limit exceeded; retry after `Retry-After` seconds.",
                    {"rate": "More than 600 requests in a minute for this key."}),
    },
))
class LeadIntakeView(KeyedIntakeView[Inbound]):
    """``POST /api/v1/leads/``: a vendor sends one lead."""

    inbound_class = Inbound

    def take(self, payload: dict[str, Any], source: LeadSource, inbound: Inbound,
             http: HttpRequest) -> Answer:
        return take_lead(payload, source, inbound)
