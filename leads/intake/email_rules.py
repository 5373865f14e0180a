"""Parsing rules for lead e-mails without leadmetadata.org tags: pure, no database.

A manager sets up a rule per portal: which messages it reads (sender, recipient and subject
contain some text) and where each field is, as a label ("Phone:", the value after it on the
line or on the next one) or a regular expression with a named group. Constant lead type, tags
and source complete the lead. The rule as data (``ParsingRule``) is what the model hands over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from leads.intake.mapping import plain_price

# The lead fields a rule can read, in the order a person fills them in.
RULE_FIELDS = ("name", "first_name", "last_name", "email", "phone", "message", "city",
               "zip_code", "listing_ref", "price")
CONTACT_FIELDS = ("name", "first_name", "last_name", "email", "phone")
LABEL_END = ":-\u2013\u2014"  # what may separate a label from its value
QUOTES = ('""', "''", "\u201c\u201d")  # a quoted message is kept without its quotes
BLOCK_TAGS = {"br", "p", "tr", "td", "th", "div", "li", "table", "h1", "h2", "h3", "h4",
              "h5", "h6", "dt", "dd"}


@dataclass(frozen=True)
class ParsingRule:
    """One rule as plain data: what it matches, where each field is, what it adds."""

    name: str
    from_contains: str = ""
    to_contains: str = ""
    subject_contains: str = ""
    patterns: dict[str, str] = field(default_factory=dict)  # lead field -> label or regex
    lead_type: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""


@dataclass
class RuleReading:
    """What one rule read from one message: the fields found and the ones it did not find."""

    fields: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # "phone (label 'Phone:')"


def is_regex(pattern: str) -> bool:
    return "(?P<" in pattern


def pattern_problem(pattern: str) -> str:
    """Why a rule's pattern cannot be used, or "" (for the admin's form)."""
    if not is_regex(pattern):
        return "" if pattern.strip().rstrip(LABEL_END).strip() else "Give a label or a pattern."
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    return "" if compiled.groupindex else "Name the part to keep, e.g. (?P<value>...)."


def mismatches(rule: ParsingRule, *, sender: str, recipients: str, subject: str) -> list[str]:
    """What the message's headers lack for this rule (empty: the rule reads the message)."""
    wanted = (("sender", rule.from_contains, sender), ("recipient", rule.to_contains, recipients),
              ("subject", rule.subject_contains, subject))
    return [f"the {what} has no '{text}'" for what, text, value in wanted
            if text.strip() and text.strip().lower() not in value.lower()]


class _TextReader(HTMLParser):
    """An HTML body as lines of text: each cell, paragraph and row on its own line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self.hidden += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    reader = _TextReader()
    reader.feed(html)
    reader.close()
    return "".join(reader.parts)


def _lines(text: str) -> list[str]:
    cleaned = (" ".join(line.replace("\xa0", " ").split()) for line in text.splitlines())
    return [line for line in cleaned if line]


def find_label(lines: list[str], label: str) -> str:
    """The value after ``label`` on its line ("Phone: 555"), or on the next line when the label
    stands alone (a table's cell); "" when no line starts with the label."""
    wanted = label.strip().lower()
    bare = wanted.rstrip(LABEL_END).strip()
    for number, line in enumerate(lines):
        low = line.lower()
        if not low.startswith(bare):
            continue
        rest = line[len(bare):].lstrip()
        if rest and rest[0] in LABEL_END:
            rest = rest[1:].strip()
        elif rest:  # "Phone number: ..." does not start with the label "Phone"
            continue
        if rest:
            return rest
        return lines[number + 1] if number + 1 < len(lines) else ""
    return ""


def find_pattern(text: str, pattern: str) -> str:
    """The first named group's value of the regular expression's first match, or ""."""
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        return ""
    named = [v for v in match.groupdict().values() if v]
    return " ".join((named[0] if named else match.group(0)).split())


def clean_value(name: str, value: str) -> str:
    value = value.strip()
    if name == "email":
        value = value.removeprefix("mailto:").strip("<> ")
    elif name == "price":
        value = plain_price(value)
    elif name == "message" and len(value) > 1 and value[0] + value[-1] in QUOTES:
        value = value[1:-1].strip()
    return value


def apply_rule(rule: ParsingRule, *, plain: str, html: str) -> RuleReading:
    """The fields this rule finds in a message's text (plain part, then its HTML part)."""
    text = "\n".join(part for part in (plain, html_text(html) if html else "") if part)
    lines = _lines(text)
    reading = RuleReading()
    for name in RULE_FIELDS:
        pattern = (rule.patterns.get(name) or "").strip()
        if not pattern or pattern_problem(pattern):
            continue
        value = find_pattern(text, pattern) if is_regex(pattern) else find_label(lines, pattern)
        value = clean_value(name, value)
        if value:
            reading.fields[name] = value
        else:
            kind = "pattern" if is_regex(pattern) else "label"
            reading.missing.append(f"{name.replace('_', ' ')} ({kind} '{pattern}')")
    if rule.lead_type:
        reading.fields["lead_type"] = rule.lead_type
    return reading


def has_contact(fields: dict[str, object]) -> bool:
    return any(fields.get(name) for name in CONTACT_FIELDS)


def no_contact_reason(rule: ParsingRule, reading: RuleReading) -> str:
    """Why the rule's reading is no lead, naming what it looked for and did not find."""
    looked = [m for m in reading.missing if m.split(" (")[0].replace(" ", "_") in CONTACT_FIELDS]
    if not looked:
        return (f"Parsing rule '{rule.name}' reads no name, email or phone: give it a label "
                "or a pattern for at least one of them.")
    return (f"No lead found by parsing rule '{rule.name}': no name, email or phone. "
            f"Not in the message: {'; '.join(looked)}.")
