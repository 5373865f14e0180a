"""Receiving leads: validate, normalise, route, and keep whatever was rejected.

The one way in for every channel (file import, the REST API, web forms, the admin's test
lead): each validates with ``LeadForm`` and routes through ``routing.services``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from phonenumber_field.phonenumber import PhoneNumber

from config.collector import collector_paused
from config.rows import new_row
from leads.forms import AGENT_FIELDS, TEXT_FIELDS, LeadForm
from leads.models import Lead, Submission
from routing.selectors import routing_config
from routing.services import NO_LOCKS, Locks, RoutingResult, route_leads, route_new_lead

logger = logging.getLogger(__name__)
BATCH_SIZE = 200


@dataclass
class IntakeResult:
    status: str  # assigned | offered | existing | unassigned | rejected
    lead: Lead | None = None
    routing: RoutingResult | None = None
    errors: dict[str, str] | None = None
    submission: Submission | None = None

    @property
    def returning(self) -> bool:
        """The person was known already: the lead is their first one (routed again or not)."""
        return self.routing is not None and self.routing.decision.existing_lead_id is not None

    def as_dict(self) -> dict[str, Any]:
        """The answer printed by ``ingest_leads`` (and returned by the API)."""
        routing = self.routing
        answer = {
            "lead": self.lead.pk if self.lead else None,
            "status": self.status,
            "agent": routing.agent.email if routing and routing.agent else None,
            "rule": routing.rule_name if routing else None,
            "lender": routing.lender.email if routing and routing.lender else None,
            "errors": self.errors,
        }
        if routing and routing.status == "offered":
            answer["offered_to"] = routing.offered_to
        return answer


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def build_lead(cleaned: dict[str, Any], *, received_at: datetime) -> Lead:
    """An unsaved lead from validated fields, with its contact details normalised (built
    from its values at once, ``new_row``: every request builds one)."""
    values = {}
    for name in (*TEXT_FIELDS, "lead_type", "price", "score", "assigned_to", "tracking_agent",
                 "listing_agent"):
        value = cleaned.get(name)
        values[name] = value.strip() if isinstance(value, str) else value
    email = normalize_email(cleaned.get("email") or "")
    phone = cleaned.get("phone")
    # A validated number or "": asked by type, since its truth is its validation run again.
    given = isinstance(phone, PhoneNumber)
    return new_row(Lead, received_at=received_at, **values, email=email, email_normalized=email,
                   phone=phone if given else "", phone_normalized=phone.as_e164 if given else "",
                   tags=cleaned.get("tags") or [], consent=bool(cleaned.get("consent")))


def validate_lead(data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """Cleaned fields, or every field's error."""
    if not isinstance(data, dict):
        return None, {"lead": "Expected an object with the lead's fields."}
    needs_agents = any(data.get(name) for name in AGENT_FIELDS)
    emails = routing_config().agent_emails if needs_agents else frozenset()
    form = LeadForm(data, known_agent_emails=emails)
    valid = form.is_valid()
    errors = {**_column_errors(form.cleaned_data), **form.error_map()}
    if valid and not errors:
        return form.cleaned_data, None
    return None, errors


def _column_errors(cleaned: dict[str, Any]) -> dict[str, str]:
    """Values the form accepts but the lead's columns cannot hold (an email of 255-320
    characters): refused here rather than failing on save."""
    errors = {}
    for name, limit in _column_limits():
        value = cleaned.get(name)
        if isinstance(value, str) and limit and len(value.strip()) > limit:
            errors[name] = (f"Ensure this value has at most {limit} characters "
                            f"(it has {len(value.strip())}).")
    return errors


@cache
def _column_limits() -> tuple[tuple[str, int | None], ...]:
    """Each text column's ``max_length`` (``_column_errors``, for every lead received)."""
    return tuple((name, Lead._meta.get_field(name).max_length)
                 for name in ("email", *TEXT_FIELDS, *AGENT_FIELDS))


def reject(
    payload: Any, errors: dict[str, str], *, channel: str, received_at: datetime, source: str = ""
) -> IntakeResult:
    """Keep a rejected submission with the reason: nobody's lead silently disappears."""
    stored = payload if isinstance(payload, dict) else {"raw": payload}
    submission = Submission.objects.create(
        channel=channel, source=source or str(stored.get("source", ""))[:100],
        received_at=received_at, payload=stored, outcome=Submission.Outcome.REJECTED,
        errors=errors,
    )
    return IntakeResult("rejected", errors=errors, submission=submission)


def receive_leads(
    records: Sequence[Any], *, channel: str, received_at: datetime, source: str | None = None,
) -> list[IntakeResult]:
    """Validate and route leads in order, one answer per record.

    Accepted leads are routed in batches (one transaction each); if a batch fails as a whole,
    its leads are routed one by one so that only the faulty one is rejected, with the reason.
    """
    results: list[IntakeResult | None] = [None] * len(records)
    accepted: list[tuple[int, Lead]] = []
    for index, data in enumerate(records):
        if isinstance(data, dict) and source is not None:
            data = {**data, "source": source}
        cleaned, errors = validate_lead(data)
        if errors is not None:
            results[index] = reject(data, errors, channel=channel, received_at=received_at,
                                    source=source or "")
        else:
            accepted.append((index, build_lead(cleaned, received_at=received_at)))
    for start in range(0, len(accepted), BATCH_SIZE):
        batch = accepted[start:start + BATCH_SIZE]
        try:
            with collector_paused():  # a batch's objects are freed by reference counting
                routed = route_leads([lead for _, lead in batch])
        except Exception:
            if len(batch) == 1:
                raise
            routed = None
        if routed is not None:
            for (index, _), routing in zip(batch, routed, strict=True):
                results[index] = IntakeResult(routing.status, routing.lead, routing)
            continue
        for index, lead in batch:
            results[index] = _route_alone(lead, records[index], channel=channel)
    return [r for r in results if r is not None]


def _route_alone(lead: Lead, data: Any, *, channel: str) -> IntakeResult:
    try:
        routing = route_new_lead(_unsaved_copy(lead))
    except Exception as exc:  # keep the lead with the reason rather than lose it
        logger.exception("Lead could not be routed")
        return reject(data, {"routing": f"Could not be routed: {exc}"}, channel=channel,
                      received_at=lead.received_at)
    return IntakeResult(routing.status, routing.lead, routing)


def _unsaved_copy(lead: Lead) -> Lead:
    """The lead as it was before a rolled-back attempt touched it."""
    copy = Lead(**{f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields})
    copy.pk = None
    copy.owner_id = copy.lender_id = copy.rule_id = copy.assigned_at = None
    copy.status = Lead.Status.UNASSIGNED
    return copy


def route_valid_lead(lead: Lead, *, locks_held: Locks = NO_LOCKS) -> IntakeResult:
    """Route one validated lead (``validate_lead``, ``build_lead``) in the caller's
    transaction, which any failure ends, so without a savepoint. ``locks_held``: the advisory
    locks the caller took already (see ``routing.services.route_leads``)."""
    routing = route_leads([lead], savepoint=False, locks_held=locks_held)[0]
    return IntakeResult(routing.status, routing.lead, routing)


def receive_lead(
    data: Any, *, channel: str, received_at: datetime, source: str | None = None,
    keep_submission: bool = False,
) -> IntakeResult:
    """Validate and route one lead. Rejected input is always kept; accepted input when asked."""
    result = receive_leads([data], channel=channel, received_at=received_at, source=source)[0]
    if keep_submission and result.status != "rejected":
        result.submission = Submission.objects.create(
            channel=channel, source=result.lead.source if result.lead else "",
            received_at=received_at, payload=data, lead=result.lead,
            outcome=(Submission.Outcome.EXISTING if result.status == "existing"
                     else Submission.Outcome.ACCEPTED),
        )
    return result
