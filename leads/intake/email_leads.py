"""Reading a lead out of a portal's lead e-mail: pure, no database (message -> fields or reason).

Three sources of fields, in order: the leadmetadata.org ``<meta>`` tags that portals put in
the HTML part; else the first of the managers' parsing rules (``email_rules``) that matches the
sender, recipient and subject; else a labelled body ("Name: ...", "Email: ...", "Phone: ...").
An e-mail that yields none is no lead: the caller keeps it with the reason.
"""

from __future__ import annotations

import email
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser
from typing import Any

from leads.intake.email_rules import (
    ParsingRule,
    apply_rule,
    has_contact,
    mismatches,
    no_contact_reason,
)
from leads.intake.services import validate_lead

# leadmetadata.org names (with or without the ``lead_info:`` prefix) -> lead fields.
META_FIELDS = {
    "lead_source": "source", "lead_type": "lead_type", "lead_name": "name",
    "lead_first_name": "first_name", "lead_last_name": "last_name", "lead_email": "email",
    "lead_phone": "phone", "lead_message": "message", "lead_comments": "message",
    "lead_property_city": "city", "lead_property_zip": "zip_code",
    "lead_property_listing_id": "listing_ref", "lead_property_price": "price",
}
LABELS = {
    "name": "name", "full name": "name", "first name": "first_name", "last name": "last_name",
    "email": "email", "e-mail": "email", "email address": "email", "phone": "phone",
    "phone number": "phone", "message": "message", "comments": "message", "mls": "listing_ref",
    "mls #": "listing_ref", "listing id": "listing_ref", "city": "city", "zip": "zip_code",
    "price": "price",
}
LABEL_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z #-]{0,20}?)\s*:\s*(.+?)\s*$")
NO_LEAD = ("No lead found: no leadmetadata.org tags, no parsing rule for this sender, recipient "
           "or subject, and no labelled Name/Email/Phone lines.")


@dataclass
class ParsedEmail:
    """What one message held: the lead's fields, or the reason it holds none."""

    message_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    method: str = ""  # leadmetadata | rule | labels
    rule: str = ""  # the parsing rule that read it
    rule_source: str = ""  # the source that rule gives its leads
    missing: list[str] = field(default_factory=list)  # what the rule looked for, not found


def parse_bytes(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


class _MetaReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            raw_name = (values.get("name") or "").strip().lower()
            name = raw_name.removeprefix("lead_info:")
            if raw_name.startswith("lead_info:") and not name.startswith("lead_"):
                name = f"lead_{name}"  # lead_info:first_name -> lead_first_name
            content = (values.get("content") or "").strip()
            if name in META_FIELDS and content:
                self.meta[name] = content
        elif tag in ("br", "p", "tr", "div", "li"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) bodies, transfer encodings (quoted-printable, base64) decoded."""
    plain = html = ""
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and not plain:
            plain = str(part.get_content())  # type: ignore[attr-defined]
        elif ctype == "text/html" and not html:
            html = str(part.get_content())  # type: ignore[attr-defined]
    return plain, html


def _split_name(found: dict[str, Any]) -> dict[str, Any]:
    name = str(found.pop("name", "") or "").strip()
    if name and not found.get("first_name") and not found.get("last_name"):
        first, _, last = name.partition(" ")
        found["first_name"], found["last_name"] = first, last
    return found


def labelled_fields(text: str) -> dict[str, Any]:
    """Fields from "Label: value" lines; the first value of each field wins."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        match = LABEL_LINE.match(line)
        if match and (name := LABELS.get(match.group(1).strip().lower())):
            found.setdefault(name, match.group(2))
    return _split_name(found)


def headers(message: EmailMessage) -> dict[str, str]:
    """The sender, the recipients and the subject, as a parsing rule matches them."""
    recipients = " ".join(str(message.get(name) or "") for name in
                          ("Delivered-To", "X-Original-To", "To", "Cc"))
    return {"sender": str(message.get("From") or ""), "recipients": recipients,
            "subject": str(message.get("Subject") or "")}


def matching_rule(message: EmailMessage, rules: Sequence[ParsingRule]) -> ParsingRule | None:
    """The first rule whose sender, recipient and subject conditions the message meets."""
    found = headers(message)
    return next((rule for rule in rules if not mismatches(rule, **found)), None)


def read_by_rule(parsed: ParsedEmail, rule: ParsingRule, plain: str, html: str) -> ParsedEmail:
    reading = apply_rule(rule, plain=plain, html=html)
    parsed.rule, parsed.rule_source, parsed.missing = rule.name, rule.source, reading.missing
    if not has_contact(reading.fields):
        parsed.reason = no_contact_reason(rule, reading)
        return parsed
    found: dict[str, Any] = dict(reading.fields)
    if rule.tags:
        found["tags"] = list(rule.tags)
    parsed.fields, parsed.method = _split_name(found), "rule"
    return parsed


def read_lead(message: EmailMessage, rules: Sequence[ParsingRule] = ()) -> ParsedEmail:
    """The lead in one message (leadmetadata tags, else the first matching parsing rule, else
    labelled lines), or why none."""
    parsed = ParsedEmail(message_id=str(message.get("Message-ID", "") or "").strip())
    plain, html = _parts(message)
    reader = _MetaReader()
    if html:
        reader.feed(html)
    if reader.meta:
        found = {META_FIELDS[k]: v for k, v in reader.meta.items()}
        if found.get("lead_type"):
            found["lead_type"] = str(found["lead_type"]).lower()
        parsed.fields, parsed.method = _split_name(found), "leadmetadata"
        return parsed
    rule = matching_rule(message, rules)
    if rule is not None:
        return read_by_rule(parsed, rule, plain, html)
    found = labelled_fields(plain or "".join(reader.text))
    if any(found.get(k) for k in ("first_name", "last_name", "email", "phone")):
        parsed.fields, parsed.method = found, "labels"
    else:
        parsed.reason = NO_LEAD
    return parsed


@dataclass
class Preview:
    """A rule tried on a pasted message (the admin's "Try it"): nothing is saved."""

    parsed: ParsedEmail
    mismatches: list[str]  # why the rule would not read this message (empty: it would)
    errors: dict[str, str]  # the lead's fields the intake would refuse


def preview_rule(rule: ParsingRule, raw: bytes) -> Preview:
    """What ``rule`` reads in a raw message, whether it would be picked for it, and what the
    intake would refuse in the result (``validate_lead``: no database for these fields)."""
    message = parse_bytes(raw)
    parsed = ParsedEmail(message_id=str(message.get("Message-ID", "") or "").strip())
    plain, html = _parts(message)
    read_by_rule(parsed, rule, plain, html)
    errors: dict[str, str] = {}
    if parsed.fields:
        errors = validate_lead({**parsed.fields, "source": rule.source})[1] or {}
    return Preview(parsed, mismatches(rule, **headers(message)), errors)


def recipient_source(message: EmailMessage) -> str:
    """The source named by the recipient's local part (zillow@leads.example.com -> zillow)."""
    to = str(message.get("Delivered-To") or message.get("To") or "")
    match = re.search(r"([A-Za-z0-9._+-]+)@", to)
    return match.group(1).split("+")[0] if match else ""
