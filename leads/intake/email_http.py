"""Lead e-mails over HTTP: ``POST /intake/email/`` from an inbound-mail service.

The body is the raw message, however the service sends it: as is (``message/rfc822``), in the
``email`` field of SendGrid Inbound Parse's form post ("POST the raw, full MIME message"), in
Mailgun's ``body-mime`` field (a route forwarding to a URL ending in ``mime``), or in the
``RawEmail`` field of Postmark's JSON ("Include raw email content"). The source's key comes in
an ``Authorization`` header (``Api-Key``, ``Bearer``, or HTTP Basic with the key as the user
name or the password, as these services allow in the URL they post to) or in the URL itself
(``/intake/email/<key>/``) for services that can set neither. Every request is kept in the
inbound log, refused or not; the message is then taken by ``receive_email``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leads.intake.cleaning import LENGTH_REQUIRED, read_body, read_chunked, too_large
from leads.intake.email_service import RAW_LIMIT, EmailResult, receive_email
from leads.intake.idempotency import Inbound
from leads.intake.keys import KEY_START, SCHEME, take_key
from leads.models import Submission
from routing.middleware import reads_config_with_key

MAX_BYTES = 10 * 1024 * 1024  # a lead e-mail with its photos; INTAKE_EMAIL_MAX_BODY_BYTES
RAW_FIELDS = ("email", "body-mime", "RawEmail")  # SendGrid, Mailgun, Postmark
MISSING_KEY = ("Missing key: send the source's key as 'Authorization: Bearer <key>', as the "
               "user name of HTTP Basic, or in the address (/intake/email/<key>/).")


def key_sent(request: HttpRequest, url_key: str) -> str:
    """The source key the request carries (in the address, or in ``Authorization``), or ""."""
    if url_key:
        return url_key
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme in (SCHEME.lower(), "bearer"):
        return value
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return user if user.startswith(KEY_START) or not password else password
    return ""


def form_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """A form post's fields as bytes, read without Django's in-memory limit on fields (a raw
    message with its photos is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return {name.decode("latin-1"): value
                for name, value in parse_qsl(body, keep_blank_values=True)}
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    form = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    if not isinstance(form, EmailMessage) or not form.is_multipart():
        return fields
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, payload)
    return fields


def raw_message(content_type: str, body: bytes) -> tuple[bytes | None, str]:
    """The raw RFC 822 message in a request's body, or None and why not (pure)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            return None, "The body is not valid JSON."
        raw = data.get("RawEmail") if isinstance(data, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            return None, ("No RawEmail in the JSON: switch on \"Include raw email content\" "
                          "in the inbound settings.")
        return raw.encode("utf-8"), ""
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return (body, "") if body.strip() else (None, "The body is empty: send the raw message.")
    fields = form_fields(content_type, body)
    for name in RAW_FIELDS:
        if (value := fields.get(name)) and value.strip():
            return value, ""
    return None, ("No raw message in the form: send it in an 'email' field (SendGrid: \"POST "
                  "the raw, full MIME message\") or 'body-mime' (Mailgun: a URL ending in mime).")


def answer(result: EmailResult) -> tuple[int, dict]:
    """The HTTP status and body for what became of the message."""
    body = dict(result.submission.response or {})
    body["submission"] = result.submission.pk
    if result.status == "duplicate":
        return 200, body
    if result.status == "rejected":
        return 422, {"errors": result.errors, "submission": result.submission.pk}
    return 201, body


def _refused(inbound: Inbound, status: int, errors: dict[str, str]) -> JsonResponse:
    kept = inbound.refuse(status, errors)
    return JsonResponse({**kept.body, "submission": kept.submission.pk}, status=status)


@reads_config_with_key
@csrf_exempt
@require_POST
def email_intake(request: HttpRequest, key: str = "") -> HttpResponse:
    limit = getattr(settings, "INTAKE_EMAIL_MAX_BODY_BYTES", MAX_BYTES)
    inbound = Inbound(Submission.Channel.EMAIL, timezone.now())
    readable = read_chunked(request, limit)
    body, text = read_body(request, limit) if readable else (None, "")
    inbound.raw_body = text[:RAW_LIMIT]
    rate = settings.INTAKE_RATE_PER_MINUTE
    raw_key = key_sent(request, key)
    check = take_key(f"{SCHEME} {raw_key}" if raw_key else None, limit=rate,
                     now=inbound.received_at)
    inbound.key_prefix = check.prefix
    if check.key is None:
        response = _refused(inbound, 401, {"key": check.error if raw_key else MISSING_KEY})
        response["WWW-Authenticate"] = 'Basic realm="leadrouter"'
        return response
    inbound.source_key, inbound.source_name = check.key, check.key.source.name
    if check.wait is not None:
        response = _refused(inbound, 429, {
            "rate": f"More than {rate} requests in a minute for this key."})
        response["Retry-After"] = str(check.wait)
        return response
    if not readable:
        return _refused(inbound, 411, LENGTH_REQUIRED)
    if body is None:
        return _refused(inbound, 413, too_large(limit))
    raw, problem = raw_message(request.META.get("CONTENT_TYPE", ""), body)
    if raw is None:
        return _refused(inbound, 400, {"body": problem})
    try:
        result = receive_email(raw, received_at=inbound.received_at,
                               fallback=check.key.source.name, key=check.key,
                               key_prefix=check.prefix)
    except Exception:  # keep even this message (if the database lets us), then surface it
        with contextlib.suppress(Exception):
            inbound.refuse(500, {"server": "Internal error."})
        raise
    status, content = answer(result)
    return JsonResponse(content, status=status)
