"""The agent's own settings: pause or resume receiving leads."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from agents.pages import agent_required, render_page
from agents.services import set_accepting_leads


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
