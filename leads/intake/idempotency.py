"""Taking a lead exactly once: the one way in for API posts and web forms.

``take_lead`` answers a retry (same ``Idempotency-Key`` header or same ``external_id`` for the
source) with the first answer, validates and routes anything new (``route_valid_lead``), and
keeps every request in the inbound log (``Submission``), accepted or not. An
``Idempotency-Key`` names one request: sent again with another body (compared by the digest
kept with the answer) it is refused with 422 and the new request kept, rejected, so that a
vendor reusing keys never silently loses a person. The same ``external_id`` with changed
details is still a retry: the vendor's id names the lead, not the request.

Exactly once: the first answer for each key is stored in ``IdempotencyRecord`` (unique per
source and key), in the same transaction as the lead. On PostgreSQL a transaction-scoped
advisory lock on the keys makes a concurrent retry wait for the first request to commit and
then find its answer; on SQLite, transactions are serial already. Should two requests ever pass
the lock, the unique constraint refuses the second and it answers from the first. The keys'
locks and the ones routing takes (the person, the capped agents) are one statement, the keys'
first: the lead is validated before the transaction (no database), and its rejection, if any,
is answered after the retry check, as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import NoReverseMatch, reverse

from config import cursors
from config.rows import new_row
from leads.forms import external_id_text
from leads.intake.cleaning import storable, text_errors
from leads.intake.services import (
    IntakeResult,
    build_lead,
    reject,
    route_valid_lead,
    validate_lead,
)
from leads.models import IdempotencyRecord, Lead, LeadSource, SourceKey, Submission, WebForm
from routing import statements
from routing.cap_locks import NearCap
from routing.services import NO_LOCKS, Locks, arrival_locks, serialize_on

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
KEY_REUSED = "This key was used with a different request."


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
    returning_status: int = 201  # a person already known (Follow Up Boss events: 200)
    invalid_status: int = 400  # a lead that fails validation (Follow Up Boss events: 422)

    def error_body(self, errors: dict[str, str]) -> dict[str, Any]:
        """The body of a refusal (each field's error)."""
        return {"errors": errors}

    def log_fields(self, status: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "http_status": self.status_map.get(status, status), "raw_body": self.raw_body,
            "source_key": self.source_key, "key_prefix": self.key_prefix,
            "idempotency_key": storable(self.idempotency_key)[:IDEMPOTENCY_KEY_MAX],
            "response": body, "web_form": self.web_form,
        }

    def refuse(self, status: int, errors: dict[str, str], payload: Any = None) -> Answer:
        """Keep a request refused before routing (no key, rate limit, size, not JSON...)."""
        body = self.error_body(errors)
        submission = Submission.objects.create(
            channel=self.channel, source=self.source_name, received_at=self.received_at,
            payload=storable(payload) if isinstance(payload, dict) else {},
            outcome=Submission.Outcome.REJECTED, errors=errors, **self.log_fields(status, body))
        return Answer(status, body, submission)


@dataclass
class Answer:
    status: int  # 201 new, 200 a retry's first answer (or a known person's), 4xx refused
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
    digest = request_digest(payload)
    data = {**payload, "source": source.name}
    cleaned, errors = validate_lead(data)  # no database: answered after the retry check
    # Its transaction is this lead's alone: capped agents far from their caps may be locked
    # shared (once: on ``NearCap`` the lead is routed again, exclusive).
    share = not connection.in_atomic_block
    retried_integrity = False
    while True:
        try:
            with transaction.atomic():
                lead = (build_lead(cleaned, received_at=inbound.received_at)
                        if cleaned is not None else None)
                # The keys' locks, then the person's and the capped agents', in one statement.
                locks = (arrival_locks([lead], share=share)
                         if lead is not None and keys else NO_LOCKS)
                answers = answers_for(source, keys, then=locks) if keys else []
                if any(a.kind == IdempotencyRecord.Kind.HEADER and a.request_digest
                       and a.request_digest != digest for a in answers):
                    return inbound.refuse(422, {IDEMPOTENCY_HEADER: KEY_REUSED}, payload)
                if answers:
                    return _retry(answers[0], payload, inbound)
                if lead is None:
                    kept = reject(data, errors or {}, channel=inbound.channel,
                                  received_at=inbound.received_at, source=source.name)
                    return _rejected(kept.submission, inbound)
                result = route_valid_lead(lead, locks_held=locks)
                body = answer_body(result)
                status = inbound.returning_status if result.returning else 201
                submission = new_row(
                    Submission, channel=inbound.channel, source=source.name,
                    received_at=inbound.received_at, payload=payload, lead=result.lead,
                    outcome=(Submission.Outcome.EXISTING if result.status == "existing"
                             else Submission.Outcome.ACCEPTED),
                    **inbound.log_fields(status, body))
                keep_with_answer(submission, source, keys, body=body, lead=result.lead,
                                 at=inbound.received_at, digest=digest)
                return Answer(status, body, submission)
        except IntegrityError:  # another request kept this key's answer: read it
            if retried_integrity or not keys:
                raise
            retried_integrity = True
        except NearCap:  # a capped agent locked shared is near a cap: again, exclusive
            if not share:
                raise
            share = False


def _retry(first: IdempotencyRecord, payload: dict[str, Any], inbound: Inbound) -> Answer:
    submission = Submission.objects.create(
        channel=inbound.channel, source=inbound.source_name, received_at=inbound.received_at,
        payload=payload, lead_id=first.lead_id, outcome=Submission.Outcome.DUPLICATE,
        **inbound.log_fields(200, first.response))
    return Answer(200, first.response, submission)


def _rejected(submission: Submission, inbound: Inbound) -> Answer:
    """Complete the rejected submission ``reject`` kept with the request's details."""
    body = inbound.error_body(submission.errors)
    fields = inbound.log_fields(inbound.invalid_status, body)
    for name, value in fields.items():
        setattr(submission, name, value)
    submission.save(update_fields=list(fields))
    return Answer(inbound.invalid_status, body, submission)


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
    external_id = external_id_text(payload.get("external_id"))
    if external_id and len(external_id) <= 200:
        keys.append((IdempotencyRecord.Kind.EXTERNAL_ID, external_id))
    return [(kind, hashlib.sha256(f"{kind}:{value}".encode()).hexdigest())
            for kind, value in keys]


def request_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of the body normalised (keys sorted, no spacing): the same request written
    differently is the same request."""
    text = json.dumps(storable(payload), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def answers_for(source: LeadSource, keys: list[tuple[str, str]], *,
                then: Locks = NO_LOCKS) -> list[IdempotencyRecord]:
    """The answers kept under any of these keys, oldest first, after whoever holds the keys
    committed.

    Must be called inside a transaction: the advisory lock on the keys (PostgreSQL) is held
    until it ends, so that the answer about to be kept is the only one. ``then``: the locks
    routing the lead takes (``routing.services.arrival_locks``), taken after the keys' in the
    same statement.
    """
    serialize_on([f"intake:{source.pk}:{digest}" for _, digest in keys], then=then.keys,
                 shared=then.shared)
    hashes = [digest for _, digest in keys]
    # In SQL: every request to the API reads them, and the ORM's query cost more CPU than the
    # database spends answering it; prepared on PostgreSQL (``bound_cursor``).
    with cursors.bound_cursor() as cursor:
        cursor.execute(_answers_sql(len(hashes), connection.vendor), [source.pk, *hashes])
        rows = cursor.fetchall()
    if not rows:  # a new request: the common case
        return []
    names, converting = _answer_columns(connection.vendor)
    return [IdempotencyRecord.from_db(connection.alias, names, [
        value if not converters else _converted(value, converters)
        for value, converters in zip(row, converting, strict=True)]) for row in rows]


def _converted(value: Any, converters: list[tuple[Any, Any]]) -> Any:
    """A column's value as the ORM reads it (JSON decoded, dates on SQLite)."""
    for convert, column in converters:
        value = convert(value, column, connection)
    return value


@cache
def _answer_columns(vendor: str) -> tuple[list[str], list[list[tuple[Any, Any]]]]:
    """The answers' field names, and each column's converters as the ORM applies them (the
    database's: worked out once per process)."""
    fields = IdempotencyRecord._meta.concrete_fields
    converting = []
    for f in fields:
        column = f.get_col(IdempotencyRecord._meta.db_table)
        converting.append([(convert, column) for convert in
                           connection.ops.get_db_converters(column)
                           + f.get_db_converters(connection)])
    return [f.attname for f in fields], converting


@cache
def _answers_sql(count: int, vendor: str) -> str:
    """The answers of a source under ``count`` key hashes, oldest first (in the database's
    quoting: written once per process)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in IdempotencyRecord._meta.concrete_fields)
    return (f"SELECT {columns} FROM {quote(IdempotencyRecord._meta.db_table)} "
            f"WHERE {quote('source_id')} = %s "
            f"AND {quote('key_hash')} IN ({', '.join(['%s'] * count)}) ORDER BY {quote('id')}")


def first_answer(source: LeadSource, keys: list[tuple[str, str]]) -> IdempotencyRecord | None:
    """The first answer kept under any of these keys (see ``answers_for``)."""
    return next(iter(answers_for(source, keys)), None)


def keep_answer(source: LeadSource, keys: list[tuple[str, str]], *, body: dict[str, Any],
                lead: Lead | None, submission: Submission, at: datetime, digest: str) -> None:
    """Keep the first answer (201) under every key, with the request's digest, for the
    retries to come."""
    IdempotencyRecord.objects.bulk_create(
        _answers(source, keys, body=body, lead=lead, submission=submission, at=at,
                 digest=digest))


def keep_with_answer(submission: Submission, source: LeadSource, keys: list[tuple[str, str]],
                     *, body: dict[str, Any], lead: Lead | None, at: datetime,
                     digest: str) -> None:
    """Save the request's log entry (unsaved) and keep its answer under every key
    (``keep_answer``): in one statement on PostgreSQL."""
    if not keys or not statements.together():
        submission.save()
        if keys:
            keep_answer(source, keys, body=body, lead=lead, submission=submission, at=at,
                        digest=digest)
        return
    answers = _answers(source, keys, body=body, lead=lead, submission=None, at=at,
                       digest=digest)
    for answer in answers:
        answer.submission_id = statements.returned_id("kept_submission")
    ids = statements.run([statements.insert("kept_submission", [submission], returning=True),
                          statements.insert("kept_answers", answers, prepared=True)],
                         returning=["kept_submission"])
    statements.saved([submission], ids["kept_submission"])
    for answer in answers:
        answer.submission = submission
    statements.saved(answers)


def _answers(source: LeadSource, keys: list[tuple[str, str]], *, body: dict[str, Any],
             lead: Lead | None, submission: Submission | None, at: datetime,
             digest: str) -> list[IdempotencyRecord]:
    return [new_row(IdempotencyRecord, source=source, kind=kind, key_hash=key_hash,
                    status_code=201, response=body, lead=lead, submission=submission,
                    created_at=at, request_digest=digest)
            for kind, key_hash in keys]
