"""The agent's day: a lead's next follow-up, its appointments, the Today list and the agent's
calendar (an appointment's ``.ics`` and a personal feed behind a secret address).

The decisions (quick-pick times, the Today order) are ``leads.agenda``; the iCalendar text is
``leads.calendar_ics``; the reminders the clock sends are ``leads.reminders``. Every change is
written with its timeline entry in one transaction. Wall-clock times are the brokerage's.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from agents.models import Agent
from leads.agenda import (
    PICK_LABELS,
    Day,
    Entry,
    day_bounds,
    plan_day,
    quick_picks,
    tomorrow_same_time,
)
from leads.calendar_ics import CalendarEvent, calendar_bytes
from leads.display import clock_time, day_time
from leads.models import Activity, Appointment, CalendarFeed, Lead
from notifications.links import absolute_url, site_url
from routing.selectors import routing_config

DEFAULT_MINUTES = 60
MAX_MINUTES = 12 * 60
#: The feed lists appointments and follow-ups from this long ago on.
FEED_PAST_DAYS = 30


class FollowUpRefused(ValueError):
    """The follow-up or appointment cannot be set as asked; the message says why."""


def tz_name() -> str:
    return routing_config().timezone


# --- follow-ups -------------------------------------------------------------------------------


def pick_time(pick: str, now: datetime) -> datetime:
    """The moment a quick pick stands for right now."""
    picks = quick_picks(now, tz_name())
    if pick not in picks:
        if pick in PICK_LABELS:
            raise FollowUpRefused(f"{PICK_LABELS[pick]} is over: pick another time.")
        raise FollowUpRefused(f"Unknown quick pick {pick!r}.")
    return picks[pick]


def _who_follows_up(lead: Lead) -> None:
    if lead.owner_id is None:
        raise FollowUpRefused("This lead has no agent yet: a follow-up needs one.")


def set_follow_up(lead: Lead, actor: Agent, at: datetime, *, note: str = "",
                  now: datetime) -> Lead:
    """Set (or move) the lead's next follow-up; its reminder will go to the owner at that
    time, once. A time already past is refused: the Today list would show it overdue at once."""
    _who_follows_up(lead)
    if at <= now - timedelta(minutes=1):
        raise FollowUpRefused(f"{day_time(at, now, tz_name())} has passed: pick a later time.")
    note = " ".join(note.split())[:200]
    with transaction.atomic():
        moved = lead.follow_up_at is not None
        Lead.objects.filter(pk=lead.pk).update(follow_up_at=at, follow_up_note=note,
                                               follow_up_reminded_at=None)
        lead.follow_up_at, lead.follow_up_note, lead.follow_up_reminded_at = at, note, None
        verb = "Moved to" if moved else "Follow up"
        body = f"{verb} {day_time(at, now, tz_name())}" + (f": {note}" if note else "")
        Activity.objects.record(lead=lead, kind=Activity.Kind.FOLLOW_UP, actor=actor,
                                created_at=now, body=body,
                                data={"follow_up_at": at.isoformat(), "note": note})
    return lead


def follow_up_done(lead: Lead, actor: Agent, *, note: str = "", now: datetime) -> Lead:
    """The follow-up was made: it leaves the Today list and is logged on the timeline."""
    if lead.follow_up_at is None:
        raise FollowUpRefused("This lead has no follow-up to mark done.")
    due = lead.follow_up_at
    note = note.strip()
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(follow_up_at=None, follow_up_note="",
                                               follow_up_reminded_at=None)
        body = f"Was due {day_time(due, now, tz_name())}" + (f". {note}" if note else "")
        if lead.follow_up_note:
            body += f" ({lead.follow_up_note})"
        Activity.objects.record(lead=lead, kind=Activity.Kind.FOLLOW_UP_DONE, actor=actor,
                                created_at=now, body=body, data={"was_due": due.isoformat()})
        lead.follow_up_at, lead.follow_up_note, lead.follow_up_reminded_at = None, "", None
    return lead


def move_to_tomorrow(lead: Lead, actor: Agent, *, now: datetime) -> Lead:
    """Tomorrow, at the follow-up's own time of day."""
    if lead.follow_up_at is None:
        raise FollowUpRefused("This lead has no follow-up to move.")
    at = tomorrow_same_time(lead.follow_up_at, now, tz_name())
    return set_follow_up(lead, actor, at, note=lead.follow_up_note, now=now)


# --- appointments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentFields:
    starts_at: datetime
    minutes: int = DEFAULT_MINUTES
    location: str = ""
    with_whom: str = ""
    note: str = ""

    def checked(self) -> AppointmentFields:
        if not 5 <= self.minutes <= MAX_MINUTES:
            raise FollowUpRefused(
                f"An appointment lasts from 5 minutes to {MAX_MINUTES // 60} hours.")
        return self


def _appointment_text(fields: AppointmentFields, now: datetime) -> str:
    parts = [day_time(fields.starts_at, now, tz_name()), f"{fields.minutes} min"]
    if fields.location:
        parts.append(f"at {fields.location}")
    if fields.with_whom:
        parts.append(f"with {fields.with_whom}")
    return ", ".join(parts)


def book_appointment(lead: Lead, actor: Agent, fields: AppointmentFields, *,
                     now: datetime) -> Appointment:
    """Book it for the lead's agent (the actor when the lead has none, e.g. a manager's)."""
    fields = fields.checked()
    if fields.starts_at <= now - timedelta(minutes=1):
        raise FollowUpRefused("That time has passed: book the appointment for a later time.")
    with transaction.atomic():
        appointment = Appointment.objects.create(
            lead=lead, agent_id=lead.owner_id or actor.pk, starts_at=fields.starts_at,
            ends_at=fields.starts_at + timedelta(minutes=fields.minutes),
            location=fields.location.strip(), with_whom=fields.with_whom.strip(),
            note=fields.note.strip(), created_at=now, updated_at=now)
        Activity.objects.record(lead=lead, kind=Activity.Kind.APPOINTMENT, actor=actor,
                                created_at=now, body=_appointment_text(fields, now),
                                data={"appointment": appointment.pk})
    return appointment


def change_appointment(appointment: Appointment, actor: Agent, fields: AppointmentFields, *,
                       now: datetime) -> Appointment:
    """A new time, place or note; a new time is reminded again."""
    fields = fields.checked()
    if appointment.cancelled_at is not None:
        raise FollowUpRefused("This appointment was cancelled: book a new one.")
    with transaction.atomic():
        moved = fields.starts_at != appointment.starts_at
        appointment.starts_at = fields.starts_at
        appointment.ends_at = fields.starts_at + timedelta(minutes=fields.minutes)
        appointment.location = fields.location.strip()
        appointment.with_whom = fields.with_whom.strip()
        appointment.note = fields.note.strip()
        appointment.updated_at = now
        appointment.sequence += 1
        if moved:
            appointment.reminded_at = None
        appointment.save()
        Activity.objects.record(lead=appointment.lead, kind=Activity.Kind.APPOINTMENT_EDIT,
                                actor=actor, created_at=now,
                                body=_appointment_text(fields, now),
                                data={"appointment": appointment.pk})
    return appointment


def cancel_appointment(appointment: Appointment, actor: Agent, *, now: datetime) -> Appointment:
    """Cancelled: off the Today list and the feed, no reminder; kept on the timeline."""
    with transaction.atomic():
        if not Appointment.objects.filter(pk=appointment.pk, cancelled_at__isnull=True).update(
                cancelled_at=now, updated_at=now, sequence=appointment.sequence + 1):
            raise FollowUpRefused("This appointment was already cancelled.")
        appointment.refresh_from_db()
        Activity.objects.record(
            lead=appointment.lead, kind=Activity.Kind.APPOINTMENT_CANCEL, actor=actor,
            created_at=now, body=f"Was {day_time(appointment.starts_at, now, tz_name())}",
            data={"appointment": appointment.pk})
    return appointment


def appointment_minutes(appointment: Appointment) -> int:
    return round((appointment.ends_at - appointment.starts_at).total_seconds() / 60)


def upcoming_appointments(lead: Lead, now: datetime) -> list[Appointment]:
    """The lead's appointments not cancelled and not over, soonest first."""
    return list(lead.appointments.select_related("agent")
                .filter(cancelled_at__isnull=True, ends_at__gt=now).order_by("starts_at", "id"))


# --- the Today list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayLine:
    entry: Entry
    lead: Lead
    appointment: Appointment | None
    when: str
    overdue: bool


def agent_day(agent: Agent, now: datetime) -> tuple[Day, list[DayLine], list[DayLine]]:
    """The agent's calls to make: overdue follow-ups, then today's follow-ups and
    appointments in time order (``leads.agenda.plan_day``), with their leads."""
    tz = tz_name()
    start, end = day_bounds(now, tz)
    leads = {lead.pk: lead for lead in Lead.objects.filter(owner=agent, follow_up_at__lt=end)}
    appointments = {a.pk: a for a in Appointment.objects.select_related("lead").filter(
        agent=agent, cancelled_at__isnull=True, starts_at__gte=start, starts_at__lt=end)}
    entries = [Entry("follow_up", lead.pk, lead.follow_up_at, lead.pk)
               for lead in leads.values() if lead.follow_up_at is not None]
    entries += [Entry("appointment", a.pk, a.starts_at, a.lead_id) for a in appointments.values()]
    day = plan_day(entries, now, tz)

    def line(entry: Entry, overdue: bool) -> DayLine:
        appointment = appointments.get(entry.ref) if entry.kind == "appointment" else None
        lead = appointment.lead if appointment is not None else leads[entry.lead_id]
        # Today's lines are under "Today": their clock time says it all.
        when = day_time(entry.at, now, tz) if overdue else clock_time(entry.at, now, tz)
        return DayLine(entry, lead, appointment, when, overdue)

    return (day, [line(e, True) for e in day.overdue], [line(e, False) for e in day.today])


# --- the calendar -----------------------------------------------------------------------------


def _host() -> str:
    return site_url("/").split("://", 1)[-1].strip("/").split("/")[0] or "leadrouter"


def _lead_description(lead: Lead, extra: str = "") -> str:
    lines = [extra] if extra else []
    if lead.phone:
        lines.append(f"Phone: {lead.phone.as_national}")
    if lead.email:
        lines.append(f"Email: {lead.email}")
    lines.append(absolute_url("lead-detail", lead.pk, fallback="/"))
    return "\n".join(lines)


def appointment_event(appointment: Appointment) -> CalendarEvent:
    lead = appointment.lead
    extra = "\n".join(p for p in (
        f"With {appointment.with_whom}" if appointment.with_whom else "", appointment.note) if p)
    return CalendarEvent(
        uid=f"appointment-{appointment.pk}@{_host()}", starts_at=appointment.starts_at,
        ends_at=appointment.ends_at, summary=f"Appointment: {lead.title}",
        stamp=appointment.updated_at, location=appointment.location,
        description=_lead_description(lead, extra),
        url=absolute_url("lead-detail", lead.pk, fallback="/"),
        sequence=appointment.sequence, cancelled=appointment.cancelled_at is not None)


def follow_up_event(lead: Lead, stamp: datetime) -> CalendarEvent:
    assert lead.follow_up_at is not None
    return CalendarEvent(
        uid=f"follow-up-{lead.pk}@{_host()}", starts_at=lead.follow_up_at,
        ends_at=lead.follow_up_at + timedelta(minutes=15), summary=f"Follow up: {lead.title}",
        stamp=stamp, description=_lead_description(lead, lead.follow_up_note),
        url=absolute_url("lead-detail", lead.pk, fallback="/"))


def appointment_ics(appointment: Appointment) -> bytes:
    """One appointment's file; a cancelled one's tells the calendar to remove it."""
    return calendar_bytes([appointment_event(appointment)],
                          cancel=appointment.cancelled_at is not None)


def feed_ics(agent: Agent, now: datetime) -> bytes:
    """The agent's appointments and follow-ups, from a month ago on."""
    since = now - timedelta(days=FEED_PAST_DAYS)
    appointments = Appointment.objects.select_related("lead").filter(
        agent=agent, cancelled_at__isnull=True, starts_at__gte=since).order_by("starts_at")
    leads = Lead.objects.filter(owner=agent, follow_up_at__gte=since).order_by("follow_up_at")
    events = [appointment_event(a) for a in appointments]
    events += [follow_up_event(lead, now) for lead in leads]
    return calendar_bytes(events, name=f"Leads: {agent.name}")


def feed_of(agent: Agent) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(agent=agent).first()


def new_feed_token(agent: Agent, *, now: datetime) -> CalendarFeed:
    """A new secret address for the agent's feed; the old one stops working at once."""
    token = secrets.token_urlsafe(30)
    feed, _ = CalendarFeed.objects.update_or_create(
        agent=agent, defaults={"lookup": token[:8], "token": token, "created_at": now})
    return feed


def agent_for_token(token: str) -> Agent | None:
    """The active agent whose feed this token opens, else None; the token is compared in
    constant time (the lookup prefix only finds the candidates)."""
    if len(token) < 16:
        return None
    for feed in CalendarFeed.objects.select_related("agent").filter(
            Q(lookup=token[:8]), agent__is_active=True):
        if hmac.compare_digest(feed.token.encode(), token.encode()):
            return feed.agent
    return None
