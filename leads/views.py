"""The agent's pages: offers to claim, their leads, the pond.

Every page works with plain form posts; ``static/js/app.js`` only adds the live countdown and
refreshes the offers list. The helpers at the top (``agent_required``, ``render_page``) are
shared with the availability and notification pages.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from functools import wraps
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.access import sees_every_lead
from agents.models import Agent
from leads.display import area
from leads.forms import ActivityForm
from leads.models import Activity, Lead
from leads.services import log_activity, speed_to_lead
from notifications.services import unread_for
from routing.claims import (
    ClaimRefused,
    claim_from_pond,
    claim_offer,
    decline_offer,
    open_offers_for,
    pond_leads,
)
from routing.engine import render_trace
from routing.models import Brokerage, Offer
from routing.selectors import countdown, routing_config

LEADS_PER_PAGE = 50

# --- Page plumbing (shared by the other apps' views) -----------------------------------------


def agent_required(view=None, *, superuser_ok: bool = False):
    """Login required, and the user must be an agent (``request.agent``); else a plain 403.

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


def local(moment: datetime, tz_name: str | None = None) -> datetime:
    return timezone.localtime(moment, ZoneInfo(tz_name) if tz_name else None)


def clock_time(moment: datetime, now: datetime, tz_name: str | None = None) -> str:
    """``8:00`` today, ``Mon 8:00`` another day (brokerage time)."""
    at, today = local(moment, tz_name), local(now, tz_name)
    text = f"{at.hour}:{at.minute:02d}"
    return text if at.date() == today.date() else f"{at:%a} {text}"


def short_age(since: datetime, now: datetime) -> str:
    """How long ago, in a word: ``<1 min``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return "<1 min"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def duration(span: timedelta) -> str:
    """A duration a person reads: ``45 s``, ``12 min``, ``1 h 5 min``, ``2 d 3 h``."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours % 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def money(price: Decimal | None) -> str:
    return f"${price:,.0f}" if price is not None else ""


def time_left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def essentials(lead: Lead) -> dict:
    """What an agent sees of a lead before deciding: no contact details."""
    return {
        "lead": lead,
        "name": lead.full_name or "(no name)",
        "source": lead.source,
        "type": lead.get_lead_type_display() if lead.lead_type else "",
        "price": money(lead.price),
        "area": area(lead),
        "message": lead.message,
        "tags": lead.tags,
    }


def visible_leads(request: HttpRequest):
    """The leads this user may open: their own, or every lead for a manager."""
    leads = Lead.objects.select_related("owner")
    if request.is_manager:
        return leads
    return leads.filter(owner=request.agent)


# --- Offers --------------------------------------------------------------------------------


def offer_items(agent: Agent, now: datetime) -> list[dict]:
    config = routing_config()
    hide_contact = Brokerage.load().hide_contact_until_claimed
    items = []
    for offer in open_offers_for(agent):
        clock = countdown(offer.deadline, now, config)
        segments = clock["segments"]
        paused_until = ""
        if clock["seconds_left"] > 0 and not clock["running"] and segments:
            start = datetime.fromtimestamp(segments[0][0] / 1000, tz=ZoneInfo(config.timezone))
            paused_until = clock_time(start, now, config.timezone)
        if clock["seconds_left"] <= 0:
            text = "Time is up"
        else:
            text = f"{time_left(clock['seconds_left'])} left"
            if paused_until:
                text += f" · paused until {paused_until}"
        items.append({
            **essentials(offer.lead),
            "offer": offer,
            "hide_contact": hide_contact,
            "countdown_text": text,
            "paused": bool(paused_until),
            "over": clock["seconds_left"] <= 0,
            "segments_json": json.dumps(segments),
            "deadline_text": clock_time(offer.deadline, now, config.timezone),
            "tz": config.timezone,
            "age": short_age(offer.offered_at, now),
        })
    return items


@agent_required
def offers(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "items": offer_items(request.agent, now),
        "now_ms": int(now.timestamp() * 1000),
        "refresh_seconds": getattr(settings, "OFFERS_REFRESH_SECONDS", 15),
    }
    if getattr(request, "htmx", False):
        context["unread_count"] = unread_for(request.agent.pk).count()
        return render(request, "offers/_list.html", context)
    return render_page(request, "offers/offers.html", context)


@require_POST
@agent_required
def offer_claim(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        lead = claim_offer(offer_id, request.agent, now=timezone.now())
    except Offer.DoesNotExist:
        raise Http404("No such offer.") from None
    except ClaimRefused as refused:
        messages.error(request, str(refused))
        return redirect("offers")
    messages.success(request, f"You claimed {lead}. Make the first contact now.")
    return redirect("lead-detail", lead.pk)


@require_POST
@agent_required
def offer_decline(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        decline_offer(offer_id, request.agent, now=timezone.now())
    except Offer.DoesNotExist:
        raise Http404("No such offer.") from None
    except ClaimRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.info(request, "You passed on this lead; it goes to the next agent.")
    return redirect("offers")


# --- My leads ------------------------------------------------------------------------------


@agent_required(superuser_ok=True)
def my_leads(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    leads = visible_leads(request).order_by("-received_at", "-id")
    mine_only = request.is_manager and request.agent is not None and request.GET.get("mine")
    if mine_only:
        leads = leads.filter(owner=request.agent)
    status = request.GET.get("status", "")
    if status in Lead.Status.values:
        leads = leads.filter(status=status)
    else:
        status = ""
    page = Paginator(leads, LEADS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "lead": lead,
            "name": str(lead),
            "age": short_age(lead.received_at, now),
            "overdue": bool(lead.first_contact_due_at and lead.first_contact_at is None
                            and lead.first_contact_due_at <= now),
            "area": area(lead),
            "price": money(lead.price),
        }
        for lead in page
    ]
    return render_page(request, "leads/my_leads.html", {
        "rows": rows,
        "page": page,
        "status": status,
        "statuses": Lead.Status.choices,
        "show_owner": request.is_manager and not mine_only,
        "mine_only": bool(mine_only),
        "can_see_all": request.is_manager and request.agent is not None,
    })


def get_visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = visible_leads(request).filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


@agent_required(superuser_ok=True)
def lead_detail(request: HttpRequest, lead_id: int, form: ActivityForm | None = None,
                status: int = 200) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)
    now = timezone.now()
    speed = speed_to_lead(lead)
    records = [
        {"record": r, "lines": render_trace(r.trace)}
        for r in lead.routing_records.select_related("agent").order_by("created_at", "id")
    ]
    return render_page(request, "leads/lead_detail.html", {
        "lead": lead,
        "name": str(lead),
        "price": money(lead.price),
        "area": area(lead),
        "age": short_age(lead.received_at, now),
        "overdue": bool(lead.first_contact_due_at and lead.first_contact_at is None
                        and lead.first_contact_due_at <= now),
        "speed": duration(speed) if speed is not None else "",
        "activities": lead.activities.select_related("actor"),
        "records": records,
        "form": form or ActivityForm(),
        "can_log": request.agent is not None,
        "is_owner": request.agent is not None and lead.owner_id == request.agent.pk,
    }, status=status)


@require_POST
@agent_required
def lead_log(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_visible_lead(request, lead_id)
    form = ActivityForm(request.POST)
    if not form.is_valid():
        return lead_detail(request, lead_id, form=form, status=400)
    kind = form.cleaned_data["kind"]
    had_contact = lead.first_contact_at is not None
    log_activity(lead, request.agent, kind, form.cleaned_data["body"].strip(),
                 now=timezone.now())
    text = f"{Activity.Kind(kind).label} logged."
    if not had_contact and lead.first_contact_at is not None:
        text += f" Speed to lead: {duration(speed_to_lead(lead))}."
    messages.success(request, text)
    return redirect("lead-detail", lead.pk)


# --- The pond --------------------------------------------------------------------------------


@agent_required
def pond(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    items = [{**essentials(lead), "age": short_age(lead.received_at, now)}
             for lead in pond_leads()[:200]]
    return render_page(request, "leads/pond.html", {"items": items})


@require_POST
@agent_required
def pond_claim(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        lead = claim_from_pond(lead_id, request.agent, now=timezone.now())
    except Lead.DoesNotExist:
        raise Http404("No such lead.") from None
    except ClaimRefused as refused:
        messages.error(request, str(refused))
        return redirect("pond")
    messages.success(request, f"You claimed {lead} from the pond. Make the first contact now.")
    return redirect("lead-detail", lead.pk)
