"""Reading a request's body, and what no database column can hold (NULs, lone surrogates).

Shared by the REST endpoint, web forms and the admin's replay of a rejected lead: every
request is kept in the inbound log, so whatever it held must be made storable first.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest

MAX_DEPTH = 20  # nesting of the JSON body
CHUNKED_BODY = "leadrouter.chunked_body"  # in META: a chunked body as read (up to limit + 1)
LENGTH_REQUIRED = {"body": "Send the body with a Content-Length header: this server cannot "
                           "read a chunked body."}


def bad_string(value: str) -> str:
    """Why no column can hold this text, or "" when it can."""
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Invalid characters (unpaired surrogates) are not allowed."
    return ""


def _first_bad(value: Any) -> str:
    if isinstance(value, str):
        return bad_string(value)
    if isinstance(value, list):
        return next((p for p in map(_first_bad, value) if p), "")
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := bad_string(k) or _first_bad(v))), "")
    return ""


def text_errors(payload: dict[str, Any]) -> dict[str, str]:
    """Fields holding text no database column can store, with the reason (the field names
    made storable themselves)."""
    return {storable(k): p for k, v in payload.items() if (p := bad_string(k) or _first_bad(v))}


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


def read_chunked(request: HttpRequest, limit: int) -> bool:
    """Read a chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) into memory,
    up to ``limit`` + 1 bytes, so that the rest of Django sees an ordinary body of that length.

    Django reads only as many bytes as ``CONTENT_LENGTH`` says, so a chunked body otherwise
    reads as empty and the lead is lost. A server that de-chunks and ends the input
    (``wsgi.input_terminated``: gunicorn) can be read to its end; with any other server where
    the body ends is unknown: False, to be answered 411 so that the sender retries with a
    length. Must run before anything reads the body.
    """
    meta = request.META
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower() or \
            meta.get("CONTENT_LENGTH") or CHUNKED_BODY in meta:
        return True
    if not meta.get("wsgi.input_terminated"):
        return False
    stream, data = meta["wsgi.input"], bytearray()
    while len(data) <= limit:
        piece = stream.read(limit + 1 - len(data))
        if not piece:
            break
        data += piece
    meta[CHUNKED_BODY] = body = bytes(data)
    meta["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return True


def read_body(request: HttpRequest, limit: int) -> tuple[bytes | None, str]:
    """The raw body if within ``limit`` bytes (checked before reading), else None and its text
    for the log: its first ``limit`` bytes when it was read already (chunked), else empty
    (the declared length alone is too much: it is not read)."""
    if declared_length(request) > limit:
        return None, oversized_text(request, limit)
    raw = request.read(limit + 1)
    text = storable(raw[:limit].decode("utf-8", "replace"))
    return (None if len(raw) > limit else raw), text


def oversized_text(request: HttpRequest, limit: int) -> str:
    """What the log keeps of a body over the limit: what was read of it, up to the limit."""
    read = request.META.get(CHUNKED_BODY, b"")
    return storable(read[:limit].decode("utf-8", "replace"))


def too_large(limit: int) -> dict[str, str]:
    return {"body": f"The body is larger than {limit} bytes."}
