"""Page plumbing every app's views share: who the signed-in agent is, and the header's bell
(so that no app's views import another app's views)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from agents.access import sees_every_lead
from agents.models import Agent
from notifications.services import unread_for


def agent_required(view=None, *, superuser_ok: bool = False):
    """Login required, and the user must be an active agent (``request.agent``); else a 403
    with the no-agent page (an inactive agent, who left, reads why).

    ``superuser_ok``: a superuser without an agent profile may still read the page (with
    ``request.agent`` None). ``request.is_manager`` says whether every lead may be seen.
    """

    def decorate(view_func):
        @login_required
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args, **kwargs):
            user = request.user
            agent: Agent | None = getattr(user, "agent", None)
            request.agent = agent
            request.is_manager = sees_every_lead(user)
            if agent is None and not (superuser_ok and user.is_superuser):
                return render_page(request, "no_agent.html", {}, status=403)
            if agent is not None and not agent.is_active:  # left the brokerage
                return render_page(request, "no_agent.html", {"inactive": True}, status=403)
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def render_page(request: HttpRequest, template: str, context: dict, *,
                status: int = 200) -> HttpResponse:
    """Render a page with what the header needs (the bell's unread count)."""
    agent = getattr(request, "agent", None)
    if agent is None and request.user.is_authenticated:
        agent = getattr(request.user, "agent", None)
    context.setdefault("header_agent", agent)
    context.setdefault("unread_count", unread_for(agent.pk).count() if agent else 0)
    return render(request, template, context, status=status)
