"""The lead intake API (``POST /api/v1/leads/``) and what it shares with web forms.

``take_lead`` is the one way in for API posts and web forms: it answers a retry (same
``Idempotency-Key`` header or same ``external_id`` for the source) with the first answer, routes
anything new through ``leads.services.receive_lead``, and keeps every request in the inbound
log (``Submission``), accepted or not.

Exactly once: the first answer for each key is stored in ``IdempotencyRecord`` (unique per
source and key), in the same transaction as the lead. On PostgreSQL a transaction-scoped
advisory lock on the keys makes a concurrent retry wait for the first request to commit and
then find its answer; on SQLite, transactions are serial already. Should two requests ever pass
the lock, the unique constraint refuses the second and it answers from the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from phonenumber_field.phonenumber import to_python
from rest_framework import exceptions, generics
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.keys import SCHEME, check_header, hit_rate_limit
from leads.models import IdempotencyRecord, Lead, LeadSource, SourceKey, Submission, WebForm
from leads.serializers import (
    BareLeadSerializer,
    IntakeErrorsSerializer,
    LeadIntakeAnswerSerializer,
    LeadIntakeRequestSerializer,
)
from leads.services import IntakeResult, receive_lead, reject, validate_lead
from routing.services import serialize_on

MAX_DEPTH = 20  # nesting of the JSON body
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


# --- the shared intake ----------------------------------------------------------------------

@dataclass
class Inbound:
    """One request as received, for the inbound log."""

    channel: str
    received_at: datetime
    raw_body: str = ""
    source_key: SourceKey | None = None
    key_prefix: str = ""
    idempotency_key: str = ""
    web_form: WebForm | None = None
    source_name: str = ""
    status_map: dict[int, int] = field(default_factory=dict)  # answer status -> HTTP status

    def log_fields(self, status: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "http_status": self.status_map.get(status, status), "raw_body": self.raw_body,
            "source_key": self.source_key, "key_prefix": self.key_prefix,
            "idempotency_key": storable(self.idempotency_key)[:IDEMPOTENCY_KEY_MAX],
            "response": body, "web_form": self.web_form,
        }

    def refuse(self, status: int, errors: dict[str, str], payload: Any = None) -> Answer:
        """Keep a request refused before routing (no key, rate limit, size, not JSON...)."""
        body = {"errors": errors}
        submission = Submission.objects.create(
            channel=self.channel, source=self.source_name, received_at=self.received_at,
            payload=storable(payload) if isinstance(payload, dict) else {},
            outcome=Submission.Outcome.REJECTED, errors=errors, **self.log_fields(status, body))
        return Answer(status, body, submission)


@dataclass
class Answer:
    status: int  # 201 new, 200 a retry's first answer, 4xx refused
    body: dict[str, Any]
    submission: Submission
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def replayed(self) -> bool:
        return self.submission.outcome == Submission.Outcome.DUPLICATE


def take_lead(payload: dict[str, Any], source: LeadSource, inbound: Inbound) -> Answer:
    """Route a lead of this source exactly once per idempotency key or external id."""
    inbound.source_name = source.name
    bad = text_errors(payload)
    if bad:  # NUL characters or lone surrogates: no column can hold them
        clean = {k: v for k, v in payload.items() if storable(k) not in bad}
        errors = {**(validate_lead({**clean, "source": source.name})[1] or {}), **bad}
        kept = reject(storable(payload), errors, channel=inbound.channel,
                      received_at=inbound.received_at, source=source.name)
        return _rejected(kept.submission, inbound)
    keys = idempotency_keys(inbound.idempotency_key, payload)
    for attempt in range(2):
        try:
            with transaction.atomic():
                if keys:
                    serialize_on([f"intake:{source.pk}:{digest}" for _, digest in keys])
                    first = (IdempotencyRecord.objects
                             .filter(source=source, key_hash__in=[d for _, d in keys])
                             .order_by("id").first())
                    if first is not None:
                        return _retry(first, payload, inbound)
                result = receive_lead(payload, channel=inbound.channel,
                                      received_at=inbound.received_at, source=source.name)
                if result.status == "rejected":
                    return _rejected(result.submission, inbound)
                body = answer_body(result)
                submission = Submission.objects.create(
                    channel=inbound.channel, source=source.name, received_at=inbound.received_at,
                    payload=payload, lead=result.lead,
                    outcome=(Submission.Outcome.EXISTING if result.status == "existing"
                             else Submission.Outcome.ACCEPTED),
                    **inbound.log_fields(201, body))
                if keys:
                    IdempotencyRecord.objects.bulk_create([
                        IdempotencyRecord(source=source, kind=kind, key_hash=digest,
                                          status_code=201, response=body, lead=result.lead,
                                          submission=submission, created_at=inbound.received_at)
                        for kind, digest in keys
                    ])
                return Answer(201, body, submission)
        except IntegrityError:
            if attempt or not keys:
                raise
    raise AssertionError("unreachable")


def _retry(first: IdempotencyRecord, payload: dict[str, Any], inbound: Inbound) -> Answer:
    submission = Submission.objects.create(
        channel=inbound.channel, source=inbound.source_name, received_at=inbound.received_at,
        payload=payload, lead_id=first.lead_id, outcome=Submission.Outcome.DUPLICATE,
        **inbound.log_fields(200, first.response))
    return Answer(200, first.response, submission)


def _rejected(submission: Submission, inbound: Inbound) -> Answer:
    """Complete the rejected submission ``reject`` kept with the request's details."""
    body = {"errors": submission.errors}
    fields = inbound.log_fields(400, body)
    for name, value in fields.items():
        setattr(submission, name, value)
    submission.save(update_fields=list(fields))
    return Answer(400, body, submission)


def answer_body(result: IntakeResult) -> dict[str, Any]:
    answer = result.as_dict()
    return {
        "lead": answer["lead"], "status": answer["status"], "agent": answer["agent"],
        "offered_to": answer.get("offered_to") or [], "rule": answer["rule"],
        "lender": answer["lender"], "url": lead_url(answer["lead"]),
    }


def lead_url(lead_id: int) -> str:
    """The lead's page, absolute (``settings.SITE_URL``)."""
    try:
        path = reverse("lead-detail", kwargs={"lead_id": lead_id})
    except NoReverseMatch:
        path = f"/leads/{lead_id}/"
    return settings.SITE_URL.rstrip("/") + path


def idempotency_keys(header: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, SHA-256) of the request's idempotency key and of the lead's external id."""
    keys = []
    if header:
        keys.append((IdempotencyRecord.Kind.HEADER, header))
    external_id = payload.get("external_id")
    if isinstance(external_id, str | int) and not isinstance(external_id, bool):
        external_id = str(external_id).strip()
        if external_id and len(external_id) <= 200:
            keys.append((IdempotencyRecord.Kind.EXTERNAL_ID, external_id))
    return [(kind, hashlib.sha256(f"{kind}:{value}".encode()).hexdigest())
            for kind, value in keys]


# --- what no column can hold ----------------------------------------------------------------

def _bad_string(value: str) -> str:
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Invalid characters (unpaired surrogates) are not allowed."
    return ""


def _first_bad(value: Any) -> str:
    if isinstance(value, str):
        return _bad_string(value)
    if isinstance(value, list):
        return next((p for p in map(_first_bad, value) if p), "")
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _bad_string(k) or _first_bad(v))), "")
    return ""


def text_errors(payload: dict[str, Any]) -> dict[str, str]:
    """Fields holding text no database column can store, with the reason (the field names
    made storable themselves)."""
    return {storable(k): p for k, v in payload.items() if (p := _bad_string(k) or _first_bad(v))}


def storable(value: Any) -> Any:
    """A copy that any database can store: NULs, surrogates, infinities replaced."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def nesting_depth(value: Any) -> int:
    """How deep objects and arrays nest (counted up to just past ``MAX_DEPTH``)."""
    depth, level = 0, [value]
    while True:
        containers = [v for v in level if isinstance(v, list | dict)]
        if not containers or depth > MAX_DEPTH:
            return depth
        depth += 1
        level = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]


def _parse_float(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text  # 1e400: kept as written, refused later


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The body's JSON object, or why not."""
    try:
        data = json.loads(raw, parse_float=_parse_float, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        reason = f": {exc.msg}" if isinstance(exc, json.JSONDecodeError) else ""
        return None, f"The body is not valid JSON{reason}."
    if not isinstance(data, dict):
        return None, "Expected a JSON object with the lead's fields."
    if nesting_depth(data) > MAX_DEPTH:
        return None, f"The body is nested deeper than {MAX_DEPTH} levels."
    return data, ""


def declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def read_body(request: HttpRequest, limit: int) -> tuple[bytes | None, str]:
    """The raw body if within ``limit`` bytes (checked before reading), else None and its text
    for the log (empty when the declared length alone is too much: it is not read)."""
    if declared_length(request) > limit:
        return None, ""
    raw = request.read(limit + 1)
    text = storable(raw[:limit].decode("utf-8", "replace"))
    return (None if len(raw) > limit else raw), text


def too_large(limit: int) -> dict[str, str]:
    return {"body": f"The body is larger than {limit} bytes."}


# --- the REST endpoint ----------------------------------------------------------------------

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


class LeadIntakeView(APIView):
    """``POST /api/v1/leads/``: a vendor sends one lead."""

    authentication_classes = [SourceKeyAuthentication]
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer

    def perform_authentication(self, request: Request) -> None:
        """Done in ``post`` instead, so that refused requests are logged too."""

    @extend_schema(
        operation_id="leads_intake",
        summary="Send a lead",
        description=(
            "Validates the lead, routes it like every other lead and says where it went. The "
            "lead's source is the key's source.\n\n"
            "**Exactly once**: a retry with the same `Idempotency-Key` header, or the same "
            "`external_id` for the source, returns the first answer with status 200 instead of "
            "making a second lead, even when the retries arrive at the same time.\n\n"
            "**Limits**: bodies up to `INTAKE_MAX_BODY_BYTES` (64 KB), "
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
            413: _error("TooLarge", "Body too large.",
                        {"body": "The body is larger than 65536 bytes."}),
            429: _error("RateLimited", "Rate limit exceeded; retry after `Retry-After` seconds.",
                        {"rate": "More than 600 requests in a minute for this key."}),
        },
    )
    def post(self, request: Request) -> Response:
        http = request._request
        inbound = Inbound(Submission.Channel.API, timezone.now(),
                          idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, "").strip())
        try:
            answer = self._answer(http, inbound)
        except Exception:  # keep even this request (if the database lets us), then surface it
            with contextlib.suppress(Exception):
                inbound.refuse(500, {"server": "Internal error."})
            raise
        headers = answer.headers
        if answer.status == 401:
            headers["WWW-Authenticate"] = SCHEME
        elif answer.status in (200, 201):
            headers["Location"] = answer.body["url"]
            headers["Idempotent-Replayed"] = "true" if answer.replayed else "false"
        return Response(answer.body, status=answer.status, headers=headers)

    def _answer(self, http: HttpRequest, inbound: Inbound) -> Answer:
        limit = settings.INTAKE_MAX_BODY_BYTES
        raw, inbound.raw_body = read_body(http, limit)
        check = check_header(http.META.get("HTTP_AUTHORIZATION"))
        inbound.key_prefix = check.prefix
        if check.key is None:
            return inbound.refuse(401, {"key": check.error})
        inbound.source_key, inbound.source_name = check.key, check.key.source.name
        rate = settings.INTAKE_RATE_PER_MINUTE
        wait = hit_rate_limit(check.key, limit=rate, now=inbound.received_at)
        if wait is not None:
            answer = inbound.refuse(
                429, {"rate": f"More than {rate} requests in a minute for this key."})
            answer.headers["Retry-After"] = str(wait)
            return answer
        if raw is None:
            return inbound.refuse(413, too_large(limit))
        payload, problem = parse_json_object(raw)
        if payload is None:
            return inbound.refuse(400, {"body": problem})
        key = inbound.idempotency_key
        if len(key) > IDEMPOTENCY_KEY_MAX or _bad_string(key):
            return inbound.refuse(400, {IDEMPOTENCY_HEADER: f"Use up to {IDEMPOTENCY_KEY_MAX} "
                                                            "printable characters."}, payload)
        return take_lead(payload, check.key.source, inbound)


# --- the benchmark's baseline ---------------------------------------------------------------

@extend_schema(exclude=True)
class BareLeadCreateView(generics.CreateAPIView):
    """A bare DRF create (validate, save, no routing): mounted only when benchmarking."""

    serializer_class = BareLeadSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer

    def perform_create(self, serializer: BareLeadSerializer) -> None:
        email = (serializer.validated_data.get("email") or "").strip().lower()
        phone = to_python(serializer.validated_data.get("phone") or "")
        serializer.save(received_at=timezone.now(), email=email, email_normalized=email,
                        phone_normalized=phone.as_e164 if phone else "")


# --- correcting a rejected lead -------------------------------------------------------------

def replay_submission(submission: Submission, corrected_payload: dict[str, Any],
                      by: Any = None) -> IntakeResult:
    """Route a rejected submission again with corrected fields (a manager's admin action).

    Invalid corrections change nothing and come back as a ``rejected`` result with the errors.
    Otherwise the lead is received now through ``receive_lead``, the submission is linked to it
    and marked replayed (by whom, with what). The source stays the key's or the form's for API
    and web-form submissions. If the vendor's own retry already brought the same external id
    in meanwhile, the submission is linked to that lead instead of making a second one.
    """
    if not isinstance(corrected_payload, dict):
        raise ValueError("The corrected lead must be an object of fields.")
    now = timezone.now()
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.outcome != Submission.Outcome.REJECTED:
            raise ValueError("Only a rejected submission can be replayed.")
        if locked.replayed_at is not None:
            raise ValueError(f"Already replayed on {locked.replayed_at:%Y-%m-%d %H:%M}.")
        fixed_source = locked.channel != Submission.Channel.FILE and locked.source
        payload = {**corrected_payload, "source": locked.source} if fixed_source else \
            dict(corrected_payload)
        bad = text_errors(payload) or validate_lead(payload)[1]
        if bad:
            return IntakeResult("rejected", errors=bad)
        source = LeadSource.objects.filter(name=locked.source).first() if fixed_source else None
        keys = idempotency_keys("", payload) if source else []
        first = None
        if keys:
            serialize_on([f"intake:{source.pk}:{digest}" for _, digest in keys])
            first = IdempotencyRecord.objects.filter(
                source=source, key_hash__in=[d for _, d in keys]).order_by("id").first()
        if first is not None:
            result = IntakeResult("existing", lead=Lead.objects.filter(pk=first.lead_id).first())
        else:
            result = receive_lead(payload, channel=locked.channel, received_at=now,
                                  source=locked.source if fixed_source else None)
            if keys and result.lead is not None:
                IdempotencyRecord.objects.bulk_create([
                    IdempotencyRecord(source=source, kind=kind, key_hash=digest, status_code=201,
                                      response=answer_body(result), lead=result.lead,
                                      submission=locked, created_at=now)
                    for kind, digest in keys])
        locked.lead = result.lead
        locked.replayed_at = now
        locked.replayed_by = by if getattr(by, "pk", None) else None
        locked.replay_payload = storable(corrected_payload)
        locked.save(update_fields=["lead", "replayed_at", "replayed_by", "replay_payload"])
    submission.refresh_from_db()
    result.submission = submission
    return result
