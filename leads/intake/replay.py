"""Correcting a rejected lead: a manager's admin action routes the submission again."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from leads.intake.cleaning import storable, text_errors
from leads.intake.idempotency import (
    answer_body,
    first_answer,
    idempotency_keys,
    keep_answer,
    request_digest,
)
from leads.intake.services import IntakeResult, receive_lead, validate_lead
from leads.models import Lead, LeadSource, Submission


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
        first = first_answer(source, keys) if keys else None
        if first is not None:
            result = IntakeResult("existing", lead=Lead.objects.filter(pk=first.lead_id).first())
        else:
            result = receive_lead(payload, channel=locked.channel, received_at=now,
                                  source=locked.source if fixed_source else None)
            if keys and result.lead is not None:
                keep_answer(source, keys, body=answer_body(result), lead=result.lead,
                            submission=locked, at=now, digest=request_digest(payload))
        locked.lead = result.lead
        locked.replayed_at = now
        locked.replayed_by = by if getattr(by, "pk", None) else None
        locked.replay_payload = storable(corrected_payload)
        locked.save(update_fields=["lead", "replayed_at", "replayed_by", "replay_payload"])
    submission.refresh_from_db()
    result.submission = submission
    return result
