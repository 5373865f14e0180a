"""Taking a lead e-mail in: parse, take it like any lead, keep what yields no lead.

A message is taken exactly once through the intake's one way in (``take_lead``), its
Message-ID standing for the request's idempotency key: a second delivery answers "duplicate"
with the first lead. A message that yielded no lead is not remembered, so once a parsing rule
reads it, the portal's or the mail service's next delivery routes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from leads.intake.cleaning import storable
from leads.intake.email_leads import parse_bytes, read_lead, recipient_source
from leads.intake.email_rules import RULE_FIELDS, ParsingRule
from leads.intake.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_MAX, Inbound, take_lead
from leads.models import EmailParsingRule, LeadSource, SourceKey, Submission

RAW_LIMIT = 200_000  # characters of the raw message kept with the submission
DEFAULT_SOURCE = "email"  # for a message that names no source (no recipient, no tag)
MESSAGE_ID_REUSED = "This Message-ID came before with other details: the message is kept."


@dataclass
class EmailResult:
    status: str  # assigned | offered | existing | unassigned | rejected | duplicate
    lead_id: int | None
    agent: str | None
    reason: str
    submission: Submission
    errors: dict[str, str] = field(default_factory=dict)  # a rejected message's, per field
    offered_to: list[str] = field(default_factory=list)  # the agents an offered lead waits on


def as_rule(row: EmailParsingRule) -> ParsingRule:
    """A manager's rule as plain data, for the parsing (``email_rules``)."""
    patterns = {name: value for name in RULE_FIELDS
                if (value := getattr(row, f"{name}_pattern").strip())}
    return ParsingRule(
        name=row.name, from_contains=row.from_contains, to_contains=row.to_contains,
        subject_contains=row.subject_contains, patterns=patterns, lead_type=row.lead_type,
        tags=tuple(t.strip() for t in row.tags.split(",") if t.strip()), source=row.source.name)


def parsing_rules() -> list[ParsingRule]:
    """The active parsing rules in the order they are tried."""
    rows = EmailParsingRule.objects.filter(active=True).select_related("source")
    return [as_rule(row) for row in rows.order_by("position", "id")]


def receive_email(raw: bytes, *, received_at: datetime, source: str | None = None,
                  fallback: str | None = None, key: SourceKey | None = None,
                  key_prefix: str = "") -> EmailResult:
    """Route the lead in one raw RFC 822 message, or keep the message with the reason.

    The lead's source: ``source`` if given (``--source``), else the parsing rule's that read
    the message, else ``fallback`` if given (the key's source over HTTP: the message's own
    claims are not trusted), else the message's lead tag or its recipient. The raw message is
    written with its submission, in ``take_lead``'s one transaction.
    """
    message = parse_bytes(raw)
    parsed = read_lead(message, parsing_rules())
    claimed = parsed.fields.pop("source", "") or recipient_source(message)
    chosen = LeadSource.objects.spelling(
        (source or parsed.rule_source or fallback or claimed or DEFAULT_SOURCE)[:100])
    inbound = Inbound(
        Submission.Channel.EMAIL, received_at, source_key=key, key_prefix=key_prefix,
        status_map={400: 422},
        raw_body=storable(raw.decode("utf-8", "replace"))[:RAW_LIMIT],
        idempotency_key=parsed.message_id[:IDEMPOTENCY_KEY_MAX], source_name=chosen)
    if parsed.reason:
        answer = inbound.refuse(422, {"email": parsed.reason},
                                {"subject": str(message.get("Subject", ""))})
        return EmailResult("rejected", None, None, f"email: {parsed.reason}", answer.submission,
                           {"email": parsed.reason})
    lead_source = LeadSource.objects.named(chosen)
    answer = take_lead(parsed.fields, lead_source, inbound)
    body, submission = answer.body, answer.submission
    if answer.replayed:
        return EmailResult("duplicate", submission.lead_id, body.get("agent"),
                           "Already received (same Message-ID).", submission)
    errors = dict(body.get("errors") or {})
    if IDEMPOTENCY_HEADER in errors:
        errors = {"email": MESSAGE_ID_REUSED}
    if errors:
        reason = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return EmailResult("rejected", None, None, reason, submission, errors)
    return EmailResult(body["status"], body["lead"], body.get("agent"), "", submission,
                       offered_to=list(body.get("offered_to") or []))
