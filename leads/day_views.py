"""The agent's day on the pages: a lead's follow-up and appointments (posted from the lead's
page), the Today list, the ``.ics`` files and the personal calendar feed.

Thin: every change is ``leads.followups``; a refused one comes back as the lead's page with
the form as typed and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.pages import agent_required, render_page
from leads import followups
from leads.display import day_time
from leads.forms import AppointmentForm, FollowUpForm
from leads.models import Appointment, Lead
from leads.selectors import get_visible_lead
from leads.views import lead_detail
from notifications.links import absolute_url


def _back(request: HttpRequest, lead: Lead) -> HttpResponse:
    """Back to the Today list when the action came from there, else to the lead."""
    if request.POST.get("next") == "today":
        return redirect("today")
    return redirect("lead-detail", lead.pk)


def _refused(request: HttpRequest, lead: Lead, refused: Exception, **forms) -> HttpResponse:
    """The reason, and the lead's page again with the form as typed (nothing lost)."""
    messages.error(request, str(refused))
    if request.POST.get("next") == "today" and not forms:
        return redirect("today")
    return lead_detail(request, lead.pk, status=400, extra=forms)


def _change(request: HttpRequest, lead: Lead, change: Callable[[], str],
            **forms: Any) -> HttpResponse:
    """Run one change of the lead's follow-up or appointments: its sentence as the message and
    back where the agent was, or the refusal with the forms as typed."""
    try:
        said = change()
    except followups.FollowUpRefused as refused:
        return _refused(request, lead, refused, **forms)
    messages.success(request, said)
    return _back(request, lead)


@require_POST
@agent_required
def follow_up_set(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)
    form = FollowUpForm(request.POST)
    now = timezone.now()
    if not form.is_valid():
        return _refused(request, lead, ValueError("Check the follow-up's time."),
                        follow_up_form=form)
    data = form.cleaned_data

    def change() -> str:
        at = followups.pick_time(data["pick"], now) if data["pick"] else data["at"]
        followups.set_follow_up(lead, request.agent, at, note=data["note"], now=now)
        return f"Follow up {day_time(at, now, followups.tz_name())}."

    return _change(request, lead, change, follow_up_form=form)


@require_POST
@agent_required
def follow_up_done(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)

    def change() -> str:
        followups.follow_up_done(lead, request.agent, note=request.POST.get("note", ""),
                                 now=timezone.now())
        return f"Follow-up with {lead} done."

    return _change(request, lead, change)


@require_POST
@agent_required
def follow_up_tomorrow(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)
    now = timezone.now()

    def change() -> str:
        followups.move_to_tomorrow(lead, request.agent, now=now)
        assert lead.follow_up_at is not None
        return f"{lead}: follow up {day_time(lead.follow_up_at, now, followups.tz_name())}."

    return _change(request, lead, change)


def _fields(form: AppointmentForm) -> followups.AppointmentFields:
    data = form.cleaned_data
    return followups.AppointmentFields(
        starts_at=data["starts_at"], minutes=data["minutes"], location=data["location"],
        with_whom=data["with_whom"], note=data["note"])


@require_POST
@agent_required
def appointment_new(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)
    form = AppointmentForm(request.POST)
    now = timezone.now()
    if not form.is_valid():
        return _refused(request, lead, ValueError("Check the appointment's details."),
                        appointment_form=form)

    def change() -> str:
        appointment = followups.book_appointment(lead, request.agent, _fields(form), now=now)
        when = day_time(appointment.starts_at, now, followups.tz_name())
        return f"Appointment booked for {when}."

    return _change(request, lead, change, appointment_form=form)


def _visible_appointment(request: HttpRequest, appointment_id: int) -> Appointment:
    appointment = Appointment.objects.select_related("lead", "agent").filter(
        pk=appointment_id).first()
    if appointment is None:
        raise Http404("No such appointment.")
    if request.agent is not None and appointment.agent_id == request.agent.pk:
        return appointment
    get_visible_lead(request, appointment.lead_id)  # 404 unless the lead is theirs
    return appointment


@agent_required
def appointment_edit(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = _visible_appointment(request, appointment_id)
    now = timezone.now()
    if request.method == "POST":
        form = AppointmentForm(request.POST)
        if form.is_valid():
            try:
                followups.change_appointment(appointment, request.agent, _fields(form), now=now)
            except followups.FollowUpRefused as refused:
                messages.error(request, str(refused))
            else:
                messages.success(request, "Appointment changed: "
                                 f"{day_time(appointment.starts_at, now, followups.tz_name())}.")
                return redirect("lead-detail", appointment.lead_id)
        status = 400
    else:
        form = AppointmentForm(initial={
            "starts_at": timezone.localtime(appointment.starts_at),
            "minutes": followups.appointment_minutes(appointment),
            "location": appointment.location, "with_whom": appointment.with_whom,
            "note": appointment.note})
        status = 200
    return render_page(request, "leads/appointment_edit.html", {
        "appointment": appointment, "lead": appointment.lead, "form": form,
        "when": day_time(appointment.starts_at, now, followups.tz_name())}, status=status)


@require_POST
@agent_required
def appointment_cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = _visible_appointment(request, appointment_id)
    try:
        followups.cancel_appointment(appointment, request.agent, now=timezone.now())
    except followups.FollowUpRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "Appointment cancelled.")
    return redirect("lead-detail", appointment.lead_id)


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-cache"
    return response


@agent_required(superuser_ok=True)
def appointment_ics(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = _visible_appointment(request, appointment_id)
    return _ics(followups.appointment_ics(appointment), f"appointment-{appointment.pk}.ics")


@agent_required
def today(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    day, overdue, later = followups.agent_day(request.agent, now)
    feed = followups.feed_of(request.agent)
    feed_url = absolute_url("calendar-feed", feed.token, fallback="/") if feed else ""
    return render_page(request, "leads/today.html", {
        "overdue": overdue, "later": later, "empty": day.empty,
        "today_text": f"{timezone.localtime(now):%A %B} {timezone.localtime(now).day}",
        "feed_url": feed_url,
        "webcal_url": "webcal://" + feed_url.split("://", 1)[-1] if feed_url else "",
    })


@require_POST
@agent_required
def calendar_feed_new(request: HttpRequest) -> HttpResponse:
    had = followups.feed_of(request.agent) is not None
    followups.new_feed_token(request.agent, now=timezone.now())
    messages.success(request, "New calendar address made: the old one no longer works."
                     if had else "Your calendar address is ready: add it to your phone.")
    return redirect("today")


def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The agent's feed for a phone's calendar: no login, the secret address is the key."""
    agent = followups.agent_for_token(token)
    if agent is None:
        raise Http404("No such calendar.")
    return _ics(followups.feed_ics(agent, timezone.now()), "leads.ics")
