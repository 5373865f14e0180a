"""Where a person lands, and the agent's own settings: pause or resume receiving leads, and
time off set ahead."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import dateformat, timezone
from django.views.decorators.http import require_POST

from agents.away_feed import set_away_calendar
from agents.forms import AwayCalendarForm, TimeOffForm
from agents.models import Agent, TimeOff
from agents.pages import agent_required, render_page
from agents.services import set_accepting_leads
from agents.time_off import (
    TimeOffRefused,
    add_time_off,
    cancel_time_off,
    time_off_of,
    upcoming_time_off,
)

#: The page each role starts its day on (the home page and the login lead there).
LANDING = {Agent.Role.ISA: "isa-queue"}


def landing_page(agent: Agent | None) -> str:
    """The URL name of the person's first page: an ISA's queue; everyone else's offers."""
    return LANDING.get(agent.role, "offers") if agent is not None else "offers"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/``, and where the login sends people (``LOGIN_REDIRECT_URL``): by role. Anonymous
    visitors log in first and come back here, so an ISA never lands on the offers."""
    return redirect(landing_page(getattr(request.user, "agent", None)))


@agent_required
def availability(request: HttpRequest) -> HttpResponse:
    """Pause or resume now, and time off set ahead: listed, added, cancelled."""
    agent = request.agent
    if request.method == "POST":
        accepting = request.POST.get("accepting") == "1"
        if accepting != agent.accepting_leads:
            set_accepting_leads(agent, accepting)
        messages.success(request, "You are receiving new leads again." if accepting else
                         "Paused: you will not receive new leads until you resume.")
        return redirect("availability")
    return _availability_page(request, TimeOffForm())


def _availability_page(request: HttpRequest, form: TimeOffForm, *, status: int = 200,
                       calendar_form: AwayCalendarForm | None = None) -> HttpResponse:
    agent, now = request.agent, timezone.now()
    calendar_form = calendar_form or AwayCalendarForm(initial={"url": agent.away_calendar_url})
    upcoming = list(upcoming_time_off(agent, now))
    away = next((t for t in upcoming if t.starts_at <= now), None)
    return render_page(request, "agents/availability.html", {
        "agent": agent, "form": form, "time_off": upcoming, "away_now": away,
        "calendar_form": calendar_form,
    }, status=status)


@agent_required
@require_POST
def time_off_add(request: HttpRequest) -> HttpResponse:
    form = TimeOffForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            added = add_time_off(agent=request.agent, starts_at=data["starts_at"],
                                 ends_at=data["ends_at"], note=data["note"], by=request.user,
                                 now=timezone.now())
        except TimeOffRefused as refused:
            form.add_error(None, refused.message)
        else:
            # As the page beneath writes it ("Fri 4 Dec 18:00").
            back = dateformat.format(timezone.localtime(added.ends_at), "D j M H:i")
            messages.success(request, f"Time off set: you get leads again from {back}, "
                                      f"in your usual place.")
            return redirect("availability")
    return _availability_page(request, form, status=400)


@agent_required
@require_POST
def time_off_cancel(request: HttpRequest, time_off_id: int) -> HttpResponse:
    try:
        kept = cancel_time_off(time_off=time_off_of(request.agent, time_off_id),
                               by=request.user, now=timezone.now())
    except TimeOff.DoesNotExist:
        raise Http404("No such time off.") from None
    except TimeOffRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Time off ended: you receive leads again." if kept else
                         "Time off cancelled.")
    return redirect("availability")


@agent_required
@require_POST
def away_calendar(request: HttpRequest) -> HttpResponse:
    form = AwayCalendarForm(request.POST)
    if not form.is_valid():
        return _availability_page(request, TimeOffForm(), calendar_form=form, status=400)
    set_away_calendar(request.agent, form.cleaned_data["url"])
    messages.success(request, "Away calendar saved: its away events show here in a minute."
                     if form.cleaned_data["url"] else "Away calendar removed.")
    return redirect("availability")
