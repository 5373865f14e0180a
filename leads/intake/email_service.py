"""Taking a lead e-mail in: parse, route through the intake service, keep what yields no lead.

The same Message-ID is taken once: a second delivery answers "duplicate" with the first lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from leads.intake.email_leads import parse_bytes, read_lead, recipient_source
from leads.intake.services import receive_lead, reject
from leads.models import Submission
from routing.services import serialize_on

RAW_LIMIT = 200_000  # characters of the raw message kept with the submission


@dataclass
class EmailResult:
    status: str  # assigned | offered | existing | unassigned | rejected | duplicate
    lead_id: int | None
    agent: str | None
    reason: str
    submission: Submission


def receive_email(raw: bytes, *, received_at: datetime, source: str | None = None) -> EmailResult:
    """Route the lead in one raw RFC 822 message, or keep the message with the reason.

    One transaction: the lead, its submission and the raw message are kept together, and two
    deliveries of one Message-ID at once run one after the other (an advisory lock on
    PostgreSQL), so the second finds the first.
    """
    with transaction.atomic():
        return _receive_email(raw, received_at=received_at, source=source)


def _receive_email(raw: bytes, *, received_at: datetime, source: str | None) -> EmailResult:
    message = parse_bytes(raw)
    parsed = read_lead(message)
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")[:RAW_LIMIT]
    if parsed.message_id:
        serialize_on([f"email:{parsed.message_id}"])
        first = Submission.objects.filter(channel=Submission.Channel.EMAIL,
                                          idempotency_key=parsed.message_id[:255]).first()
        if first is not None:
            return EmailResult("duplicate", first.lead_id, None, "Already received (same "
                               "Message-ID).", first)
    chosen = source or parsed.fields.get("source") or recipient_source(message)
    if parsed.reason:
        result = reject({"subject": str(message.get("Subject", ""))}, {"email": parsed.reason},
                        channel=Submission.Channel.EMAIL, received_at=received_at,
                        source=str(chosen or ""))
    else:
        data = {**parsed.fields, "source": chosen or ""}
        result = receive_lead(data, channel=Submission.Channel.EMAIL, received_at=received_at,
                              keep_submission=True)
    submission = result.submission
    assert submission is not None
    submission.raw_body = text
    submission.idempotency_key = parsed.message_id[:255]
    submission.save(update_fields=["raw_body", "idempotency_key"])
    agent = result.routing.agent.email if result.routing and result.routing.agent else None
    reason = "; ".join(f"{k}: {v}" for k, v in (result.errors or {}).items())
    return EmailResult(result.status, result.lead.pk if result.lead else None, agent, reason,
                       submission)
