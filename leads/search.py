"""Finding leads: the one search by name, email or phone (written any way) that the admin's lead
list, the manager API, My leads and the agent API all use, and My leads' filters and sorts.

The words are matched in one text of the lead's name, email and phone, the expression the
trigram index of migration leads 0011 holds on PostgreSQL (SQLite reads the same expression,
without an index). A term that looks like a phone number also matches its digits, however the
number was written: "(555) 123-4567", "555.123.4567" and "+15551234567" find the same lead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Contains
from django.utils.text import smart_split, unescape_string_literal

from leads.models import Activity, Lead, Stage

PHONE_LIKE = re.compile(r"^[\d\s()+.\-/]+$")
MIN_PHONE_DIGITS = 4

#: A lead's name, email and phone as one text, as the trigram index on PostgreSQL reads it
#: (migration leads 0011 writes the same expression).
LEAD_SEARCH_SQL = "upper({})".format(" || ' ' || ".join(
    f'"leads_lead"."{column}"'
    for column in ("first_name", "last_name", "email", "email_normalized", "phone_normalized")))


def words_query(term: str) -> Q:
    """Every word of the term (or "quoted phrase") somewhere in the lead's name, email or
    phone, in any case."""
    text = RawSQL(LEAD_SEARCH_SQL, [], output_field=models.CharField())
    query = Q()
    for bit in smart_split(term or ""):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        query &= Q(Contains(text, bit.upper()))
    return query


def phone_query(term: str) -> Q | None:
    """A search term that looks like a phone number, however written, as a query."""
    term = (term or "").strip()
    if not term or not PHONE_LIKE.match(term):
        return None
    digits = re.sub(r"\D", "", term)
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    query = Q(phone_normalized__contains=digits)
    try:
        number = phonenumbers.parse(term, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return query
    if phonenumbers.is_possible_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        query |= Q(phone_normalized=e164)
    return query


def search_leads(leads: QuerySet[Lead], term: str) -> QuerySet[Lead]:
    """The leads whose name, email or phone has every word of ``term`` (all, for none)."""
    term = " ".join((term or "").split())
    if not term:
        return leads
    phone = phone_query(term)
    words = words_query(term)
    return leads.filter(words | phone if phone is not None else words)


# --- My leads: filters and sorts ---------------------------------------------------------------


class Sort(models.TextChoices):
    NEWEST = "newest", "Newest"
    FOLLOW_UP = "follow_up", "Next follow-up"
    ACTIVITY = "activity", "Last activity"


ORDERS = {
    Sort.NEWEST: ("-received_at", "-id"),
    Sort.FOLLOW_UP: (F("follow_up_at").asc(nulls_last=True), "-received_at", "-id"),
    Sort.ACTIVITY: (F("last_activity_at").desc(nulls_last=True), "-received_at", "-id"),
}


@dataclass(frozen=True)
class LeadFilters:
    """What a list of leads was asked for (My leads, the agent API): unknown values read as
    no filter, so an old link still opens a list."""

    q: str = ""
    stage: str = ""
    source: str = ""
    status: str = ""
    attention: bool = False
    sort: str = Sort.NEWEST

    @classmethod
    def from_params(cls, params: Mapping[str, str], stages: Sequence[Stage]) -> LeadFilters:
        stage = params.get("stage", "")
        status = params.get("status", "")
        sort = params.get("sort", "")
        return cls(
            q=" ".join(params.get("q", "").split())[:200],
            stage=stage if stage in {s.key for s in stages} else "",
            source=params.get("source", "").strip()[:100],
            status=status if status in Lead.Status.values else "",
            attention=params.get("attention", "") in ("1", "true", "on"),
            sort=sort if sort in Sort.values else Sort.NEWEST,
        )

    @property
    def narrowed(self) -> bool:
        """Whether anything filters the list (an empty list then says so)."""
        return bool(self.q or self.stage or self.source or self.status or self.attention)


def stage_query(key: str, stages: Sequence[Stage]) -> Q:
    """The leads in this stage; a lead never moved is in the first stage."""
    query = Q(stage__key=key)
    if stages and stages[0].key == key:
        query |= Q(stage__isnull=True)
    return query


def needs_attention(now: datetime) -> Q:
    """An open lead whose follow-up is overdue, or with nothing on its timeline for
    ``LEADS_QUIET_DAYS`` days."""
    since = now - timedelta(days=settings.LEADS_QUIET_DAYS)
    recent = Activity.objects.filter(lead=OuterRef("pk"), created_at__gte=since)
    return Q(status__in=Lead.OPEN_STATUSES) & (Q(follow_up_at__lt=now) | ~Exists(recent))


def attention_reason(lead: Lead, now: datetime) -> str:
    """Why a listed lead (with ``last_activity_at``) needs attention, in words ("" if not):
    the row's side of ``needs_attention``."""
    if lead.status not in Lead.OPEN_STATUSES:
        return ""
    if lead.follow_up_at is not None and lead.follow_up_at < now:
        return "Follow-up overdue"
    last = getattr(lead, "last_activity_at", None)
    if last is None or last < now - timedelta(days=settings.LEADS_QUIET_DAYS):
        return f"Quiet for {settings.LEADS_QUIET_DAYS}+ days"
    return ""


def with_last_activity(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Each lead's latest timeline entry's time, as ``last_activity_at``."""
    latest = (Activity.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-id")
              .values("created_at")[:1])
    return leads.annotate(last_activity_at=Subquery(latest))


def find_leads(leads: QuerySet[Lead], filters: LeadFilters, *, stages: Sequence[Stage],
               now: datetime) -> QuerySet[Lead]:
    """``leads`` searched, filtered and sorted as asked, each with ``last_activity_at``."""
    leads = search_leads(leads, filters.q)
    if filters.stage:
        leads = leads.filter(stage_query(filters.stage, stages))
    if filters.source:
        leads = leads.filter(source__iexact=filters.source)
    if filters.status:
        leads = leads.filter(status=filters.status)
    if filters.attention:
        leads = leads.filter(needs_attention(now))
    return with_last_activity(leads).order_by(*ORDERS[Sort(filters.sort)])
