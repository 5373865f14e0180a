"""Other CRMs' CSV exports read as leadrouter's intake fields: a header -> field mapping per
export format, and one row -> intake record. Pure (no database) so that the command stays
thin and every format is testable from a header line alone."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agents.directory import AgentDirectory
from leads.forms import KNOWN_FIELDS
from leads.intake.mapping import keep_first_contacts, plain_price

# Pseudo-fields: a row's pieces that need joining before they are an intake field.
FULL_NAME = "_full_name"
EXTRA_EMAIL = "_email"  # Email 2.., kept in the note after the first becomes the lead's
EXTRA_PHONE = "_phone"
NOTE = "_note"  # Notes/Background: joined into the lead's message
STREET = "_street"
STATE = "_state"
AGENT = "_agent"  # an agent's name or e-mail: assigned_to when it is (or names) an agent
PSEUDO_FIELDS = (FULL_NAME, EXTRA_EMAIL, EXTRA_PHONE, NOTE, STREET, STATE, AGENT)


def norm(header: str) -> str:
    """A header as compared: case, spaces, dots, dashes and underscores do not count."""
    return re.sub(r"[\s_.\-/]+", "", header).lower()


_COMMON: dict[str, str] = {
    "firstname": "first_name", "first": "first_name",
    "lastname": "last_name", "last": "last_name",
    "fullname": FULL_NAME, "name": FULL_NAME, "contactname": FULL_NAME,
    "email": EXTRA_EMAIL, "emailaddress": EXTRA_EMAIL,
    "phone": EXTRA_PHONE, "phonenumber": EXTRA_PHONE, "mobile": EXTRA_PHONE,
    "mobilephone": EXTRA_PHONE, "cellphone": EXTRA_PHONE, "homephone": EXTRA_PHONE,
    "workphone": EXTRA_PHONE, "cell": EXTRA_PHONE,
    "source": "source", "leadsource": "source",
    "tags": "tags", "tag": "tags",
    "price": "price", "budget": "price",
    "city": "city", "zip": "zip_code", "zipcode": "zip_code", "postalcode": "zip_code",
    "state": STATE, "address": STREET, "street": STREET, "streetaddress": STREET,
    "notes": NOTE, "note": NOTE, "background": NOTE, "message": NOTE, "comments": NOTE,
    "assignedto": AGENT, "agent": AGENT, "assignedagent": AGENT, "agentname": AGENT,
    "leadtype": "lead_type", "type": "lead_type",
}

FORMATS: dict[str, dict[str, str]] = {
    # Follow Up Boss people export: Email 1..n / Phone 1..n, Address fields, Background.
    "fub": {
        **_COMMON, "stage": NOTE, "assignedto": AGENT, "background": NOTE,
        "addressstreet": STREET, "addresscity": "city", "addressstate": STATE,
        "addresszip": "zip_code", "propertyaddress": STREET, "propertycity": "city",
        "propertystate": STATE, "propertypostalcode": "zip_code", "propertyprice": "price",
        "propertymlsnumber": "listing_ref", "leadtype": "lead_type",
    },
    # kvCORE / BoldTrail contacts export.
    "kvcore": {
        **_COMMON, "primaryemail": EXTRA_EMAIL, "secondaryemail": EXTRA_EMAIL,
        "cellphone": EXTRA_PHONE, "homephone": EXTRA_PHONE, "workphone": EXTRA_PHONE,
        "assignedagent": AGENT, "agent": AGENT, "leadsource": "source", "hashtags": "tags",
        "avgprice": "price", "averageprice": "price", "pricemax": "price",
        "maxprice": "price", "leadtype": "lead_type", "status": NOTE,
    },
    # Sierra Interactive leads export.
    "sierra": {
        **_COMMON, "email2": EXTRA_EMAIL, "phone2": EXTRA_PHONE, "leadstatus": NOTE,
        "assignedagent": AGENT, "agent": AGENT, "sourcename": "source", "leadsource": "source",
        "maxprice": "price", "pricemax": "price", "leadtype": "lead_type", "note": NOTE,
    },
    # Lofty (formerly Chime) leads export.
    "lofty": {
        **_COMMON, "leadsource": "source", "assignee": AGENT, "assignedagent": AGENT,
        "agent": AGENT, "leadtype": "lead_type", "stage": NOTE, "pipeline": NOTE,
        "budgetmax": "price", "maxprice": "price", "segments": "tags", "tags": "tags",
    },
    "plain": dict(_COMMON),
}

# Headers only one format writes: the detection's evidence, strongest first.
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "fub": ("email1", "phone1", "background", "stage", "assignedto"),
    "kvcore": ("primaryemail", "cellphone", "hashtags", "avgprice", "assignedagent"),
    "sierra": ("leadstatus", "sourcename", "email2", "phone2"),
    "lofty": ("assignee", "segments", "pipeline", "budgetmax"),
}


def _numbered(key: str) -> str:
    """``email3`` -> ``email``; ``phone1`` -> ``phone``: numbered columns read as their kind."""
    return re.sub(r"\d+$", "", key)


def detect_format(headers: Sequence[str]) -> str:
    """The export format whose own headers this header line has most of (``plain`` if none)."""
    keys = {norm(h) for h in headers}
    best, score = "plain", 0
    for name, signature in _SIGNATURES.items():
        hits = sum(1 for key in signature if key in keys)
        if hits > score:
            best, score = name, hits
    return best


@dataclass
class ColumnMap:
    """Each header's field (None: ignored on purpose) and the headers nobody knows."""

    fmt: str
    fields: dict[str, str | None]
    unknown: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        lines = [f"Mapping: {self.fmt}"]
        for header, target in self.fields.items():
            lines.append(f"  {header} -> {target if target else '(ignored)'}")
        if self.unknown:
            lines.append(f"  Unknown columns (kept in each row's note): {', '.join(self.unknown)}")
        return lines


def build_map(headers: Sequence[str], fmt: str | None = None,
              overrides: Mapping[str, str | None] | None = None) -> ColumnMap:
    """Map a header line: ``overrides`` (a --map file) win, then our own field names, then
    the format's names. Raises ValueError for an unknown format or override target."""
    fmt = fmt or detect_format(headers)
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r} (known: {', '.join(FORMATS)}).")
    table = FORMATS[fmt]
    wanted = {norm(k): v for k, v in (overrides or {}).items()}
    for target in wanted.values():
        if target is not None and target not in KNOWN_FIELDS and target not in PSEUDO_FIELDS:
            known = ", ".join(KNOWN_FIELDS)
            raise ValueError(f"--map: {target!r} is no lead field (known: {known}).")
    result = ColumnMap(fmt, {})
    own = {norm(f): f for f in KNOWN_FIELDS}
    for header in headers:
        name = header.strip()
        if not name:
            continue
        key = norm(name)
        if key in wanted:
            result.fields[name] = wanted[key]
        elif name in KNOWN_FIELDS:
            result.fields[name] = name
        elif key in table:
            result.fields[name] = table[key]
        elif key in own:
            result.fields[name] = own[key]
        elif _numbered(key) in table:
            result.fields[name] = table[_numbered(key)]
        else:
            result.unknown.append(name)
    return result


def map_row(row: Mapping[str, str], columns: ColumnMap,
            agents: AgentDirectory | None = None) -> dict[str, str]:
    """One CSV row as an intake record. The first e-mail and phone are the lead's, the rest,
    the stage, notes, address and unknown columns go into its message so nothing is lost;
    an agent column becomes ``assigned_to`` when it names an agent (by e-mail or name), else
    it goes into the note with the reason and the lead is routed by the rules."""
    record: dict[str, str] = {}
    emails: list[str] = []
    phones: list[str] = []
    notes: list[str] = []
    tags: list[str] = []
    street = state = ""
    for header, target in columns.fields.items():
        value = (row.get(header) or "").strip()
        if not value or target is None:
            continue
        if target in ("email", EXTRA_EMAIL):
            emails += [v.strip() for v in re.split(r"[;,]", value) if v.strip()]
        elif target in ("phone", EXTRA_PHONE):
            phones.append(value)
        elif target == FULL_NAME:
            first, _, last = value.partition(" ")
            record.setdefault("first_name", first)
            if last.strip():
                record.setdefault("last_name", last.strip())
        elif target == "tags":
            tags.append(value)
        elif target == NOTE:
            notes.append(f"{header}: {value}")
        elif target == STREET:
            street = value
        elif target == STATE:
            state = value
        elif target == "price":
            record["price"] = plain_price(value)  # "$1,250,000", as the CRMs export it
        elif target == AGENT:
            found = (agents or AgentDirectory()).find(value)
            if found.email:
                record["assigned_to"] = found.email
            else:
                notes.append(f"{header}: {value}. {found.problem}")
        else:
            record[target] = value
    keep_first_contacts(record, notes, emails=emails, phones=phones)
    if tags:
        record["tags"] = ", ".join(tags)
    if street or state:
        notes.append("Address: " + ", ".join(p for p in (street, record.get("city", ""), state,
                                                         record.get("zip_code", "")) if p))
    for header in columns.unknown:
        value = (row.get(header) or "").strip()
        if value:
            notes.append(f"{header}: {value}")
    if notes:
        record["message"] = "\n".join(filter(None, [record.get("message", ""), *notes]))
    return record
