"""The API's one exception handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).

DRF's own handler does the work (status, ``WWW-Authenticate``, ``Retry-After``, rollback);
this one adds two things. Every ``config.errors.ApplicationError`` a service raises (a lost
claim, a refused hand-off...) answers its ``status_code`` with its message, so views never map
domain errors by hand. And the views that declare ``error_envelope`` (the agent and manager
APIs, the token login) answer every error as ``{"errors": {field: message}}``, like the
intake API's own refusals; the intake endpoint and the schema views keep DRF's bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ApplicationError

# The key of a one-message error, by status (validation errors are keyed by field).
ERROR_KEYS = {400: "body", 401: "auth", 403: "permission", 404: "not_found", 405: "method",
              406: "accept", 409: "claim", 415: "body", 429: "rate"}


def _flatten(data: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for name, value in data.items():
            name = "body" if name == "non_field_errors" else str(name)
            yield from _flatten(value, f"{key}.{name}" if key else name)
    elif isinstance(data, list | tuple) and any(isinstance(v, dict | list) for v in data):
        for index, value in enumerate(data):
            yield from _flatten(value, f"{key}.{index}" if key else str(index))
    elif isinstance(data, list | tuple):
        yield key or "body", " ".join(str(v) for v in data)
    else:
        yield key or "body", str(data)


def error_map(data: Any, status_code: int) -> dict[str, str]:
    """DRF's error data as ``{field: message}``: one plain message per field."""
    if isinstance(data, dict) and set(data) == {"detail"}:
        return {ERROR_KEYS.get(status_code, "detail"): str(data["detail"])}
    return dict(_flatten(data, ""))


def refusal(error: ApplicationError, view: Any) -> exceptions.APIException:
    """A domain error as DRF's: its status, its message under the field it names
    (``extra["field"]``), else the view's ``refusal_key`` (else the status's key: ``claim``
    for 409)."""
    key = (error.extra.get("field") or getattr(view, "refusal_key", "")
           or ERROR_KEYS.get(error.status_code, "detail"))
    answer = exceptions.APIException({key: str(error)})
    answer.status_code = error.status_code
    return answer


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with domain errors answered and our error body where views ask for it."""
    view = context.get("view")
    if isinstance(exc, ApplicationError):
        exc = refusal(exc, view)
    response = exception_handler(exc, context)
    if response is not None and getattr(view, "error_envelope", False):
        response.data = {"errors": error_map(response.data, response.status_code)}
    return response
