"""Where a person lands, and the agent's own settings: pause or resume receiving leads."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from agents.models import Agent
from agents.pages import agent_required, render_page
from agents.services import set_accepting_leads

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
    agent = request.agent
    if request.method == "POST":
        accepting = request.POST.get("accepting") == "1"
        if accepting != agent.accepting_leads:
            set_accepting_leads(agent, accepting)
        messages.success(request, "You are receiving new leads again." if accepting else
                         "Paused: you will not receive new leads until you resume.")
        return redirect("availability")
    return render_page(request, "agents/availability.html", {"agent": agent})
