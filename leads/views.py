"""The agent's pages: offers to claim, their leads, the pond.

Every page works with plain form posts; htmx refreshes the offers list and ``static/js/app.js``
adds the live countdown. Page plumbing is ``agents.pages``; words and numbers shown are
``leads.display``; which leads a person may open is ``leads.selectors``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, F, Max
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_POST

from agents.access import is_manager
from agents.models import Agent
from agents.pages import agent_required, render_page
from leads.day_pages import day_context
from leads.display import (
    area,
    clock_time,
    day_time,
    duration,
    essentials,
    money,
    short_age,
    time_left,
)
from leads.forms import ActivityForm
from leads.isa.progress import second_contact
from leads.models import Activity, Lead, LeadSource, Stage
from leads.search import LeadFilters, Sort, attention_reason, find_leads
from leads.selectors import get_visible_lead, visible_leads, why_chapters
from leads.services import StageRefused, log_activity, set_stage, speed_to_lead
from notifications.services import unread_for
from routing.claims import (
    ClaimRefused,
    PassRefused,
    claim_from_pond,
    claim_offer,
    decline_offer,
    open_offers_for,
    pond_leads,
)
from routing.models import Brokerage, Handoff, Offer
from routing.selectors import countdown, routing_config

LEADS_PER_PAGE = 50
#: The reasons the offer card's pass sheet offers as one tap each ("other" has its own field).
PASS_REASONS = [(value, label) for value, label in Offer.PassReason.choices
                if value not in (Offer.PassReason.NOT_GIVEN, Offer.PassReason.OTHER)]

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


#: How often an open offers page asks for changes (seconds); a page without script reloads
#: itself no more often than every NOSCRIPT_REFRESH_MIN seconds.
DEFAULT_REFRESH_SECONDS = 1
NOSCRIPT_REFRESH_MIN = 15


def offers_etag(agent: Agent) -> str:
    """A fingerprint of what the offers list shows that can change on its own: the agent's open
    offers (ids and deadlines) and their unread notices (count and newest id). Two tiny
    indexed queries, so the page can ask every second and get an empty 304 while nothing
    changed; a new offer, an ended one or a new notice changes it."""
    offers = list(Offer.objects.filter(agent=agent, status=Offer.Status.OFFERED)
                  .order_by("pk").values_list("pk", "deadline"))
    unread = unread_for(agent.pk).order_by().aggregate(n=Count("pk"), last=Max("pk"))
    raw = repr((offers, unread["n"], unread["last"])).encode()
    return '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


def offers_unchanged(request: HttpRequest, etag: str) -> bool:
    """Whether the list the page holds (its If-None-Match) is still the current one."""
    asked = request.headers.get("If-None-Match", "")
    return etag in [tag.strip().removeprefix("W/") for tag in asked.split(",")]


@agent_required
def offers(request: HttpRequest) -> HttpResponse:
    """The agent's open offers; the page polls its list fragment (htmx) with If-None-Match and
    gets an empty 304 unless something changed, so a new offer shows within about a second."""
    fragment = bool(getattr(request, "htmx", False))
    etag = offers_etag(request.agent)
    if fragment and offers_unchanged(request, etag):
        response = HttpResponseNotModified()
    else:
        now = timezone.now()
        items = offer_items(request.agent, now)
        refresh = getattr(settings, "OFFERS_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS)
        context = {
            "items": items,
            "etag": etag,
            "now_ms": int(now.timestamp() * 1000),
            "refresh_seconds": refresh,
            "noscript_refresh_seconds": max(refresh, NOSCRIPT_REFRESH_MIN),
            "unread_count": unread_for(request.agent.pk).count(),
            "pass_reasons": PASS_REASONS,
        }
        if fragment:
            response = render(request, "offers/_list.html", context)
        else:
            response = render_page(request, "offers/offers.html", context)
    response["ETag"] = etag
    patch_vary_headers(response, ["HX-Request"])
    patch_cache_control(response, private=True, no_cache=True)
    return response


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
    """A pass, with the reason tapped on the offer card's sheet (kept on the offer)."""
    try:
        decline_offer(offer_id, request.agent, now=timezone.now(),
                      reason=request.POST.get("reason", ""), note=request.POST.get("note", ""))
    except Offer.DoesNotExist:
        raise Http404("No such offer.") from None
    except (ClaimRefused, PassRefused) as refused:
        messages.error(request, str(refused))
    else:
        messages.info(request, "You passed on this lead; it goes to the next agent.")
    return redirect("offers")


# --- My leads ------------------------------------------------------------------------------


@agent_required(superuser_ok=True)
def my_leads(request: HttpRequest) -> HttpResponse:
    """My leads (every lead for a manager): searched by name, email or phone, filtered by
    stage, source, status and "needs attention", sorted, paged (``leads.search``)."""
    now = timezone.now()
    stages = list(Stage.objects.all())
    filters = LeadFilters.from_params(request.GET, stages)
    leads = visible_leads(request)
    mine_only = request.is_manager and request.agent is not None and request.GET.get("mine")
    if mine_only:
        leads = leads.filter(owner=request.agent)
    page = Paginator(find_leads(leads, filters, stages=stages, now=now),
                     LEADS_PER_PAGE).get_page(request.GET.get("page"))
    # A handed-off lead's first contact is due by the hand-off's deadline, not the lead's.
    handoff_overdue = set(Handoff.objects.filter(
        lead__in=list(page), status=Handoff.Status.ASSIGNED, agent_id=F("lead__owner_id"),
        contact_due_at__lte=now).values_list("lead_id", flat=True))
    tz = routing_config().timezone
    rows = [
        {
            "lead": lead,
            "name": str(lead),
            "age": short_age(lead.received_at, now),
            "overdue": lead.pk in handoff_overdue or bool(
                lead.first_contact_due_at and lead.first_contact_at is None
                and lead.first_contact_due_at <= now),
            "area": area(lead),
            "price": money(lead.price),
            "stage": lead.stage or (stages[0] if stages else None),
            "attention": attention_reason(lead, now),
            "follow_up": day_time(lead.follow_up_at, now, tz) if lead.follow_up_at else "",
            "last_activity": (short_age(lead.last_activity_at, now)
                              if lead.last_activity_at else ""),
        }
        for lead in page
    ]
    return render_page(request, "leads/my_leads.html", {
        "rows": rows,
        "page": page,
        "filters": filters,
        "stages": stages,
        "sources": list(LeadSource.objects.values_list("name", flat=True)),
        "statuses": Lead.Status.choices,
        "sorts": Sort.choices,
        "quiet_days": settings.LEADS_QUIET_DAYS,
        "show_owner": request.is_manager and not mine_only,
        "mine_only": bool(mine_only),
        "can_see_all": request.is_manager and request.agent is not None,
    })


def first_contact_figures(lead: Lead, viewer: Agent | None, now: datetime) -> dict:
    """The first-contact deadline and speed to lead the lead page shows: the owner's own.

    After a hand-off the lead's first contact (and its speed to lead) was the ISA's; the agent
    who got it has the hand-off's deadline and is measured from the hand-off to their own
    first contact, so the page shows those, and the ISA's figure labelled as the ISA's.
    """
    handoff = None
    if lead.owner_id is not None:
        handoff = (lead.handoffs.select_related("isa", "agent")
                   .filter(agent_id=lead.owner_id,
                           status__in=(Handoff.Status.ASSIGNED, Handoff.Status.CONTACTED))
                   .first())
    if handoff is None:
        speed = speed_to_lead(lead)
        due = lead.first_contact_due_at if lead.first_contact_at is None else None
        return {"speed": duration(speed) if speed is not None else "", "speed_label":
                "Speed to lead", "contact_due": due, "handoff": None, "isa_speed": ""}
    own = handoff.contacted_at - handoff.created_at if handoff.contacted_at else None
    isa_first = lead.first_contact_at
    isa_speed = (duration(isa_first - lead.received_at)
                 if isa_first is not None and isa_first <= handoff.created_at else "")
    return {
        "speed": duration(own) if own is not None else "",
        "speed_label": ("Your speed to lead" if viewer is not None and viewer.pk == lead.owner_id
                        else f"{handoff.agent.name}'s speed to lead"),
        "contact_due": handoff.contact_due_at if handoff.status == Handoff.Status.ASSIGNED
        else None,
        "handoff": handoff,
        "isa_speed": isa_speed,
    }


@agent_required(superuser_ok=True)
def lead_detail(request: HttpRequest, lead_id: int, form: ActivityForm | None = None,
                status: int = 200, extra: dict | None = None) -> HttpResponse:
    """The lead's page; ``extra``: the follow-up or appointment form as typed, when refused."""
    lead = get_visible_lead(request, lead_id)
    now = timezone.now()
    figures = first_contact_figures(lead, request.agent, now)
    records = why_chapters(lead, request.agent)
    return render_page(request, "leads/lead_detail.html", {
        "lead": lead,
        "name": str(lead),
        "price": money(lead.price),
        "area": area(lead),
        "age": short_age(lead.received_at, now),
        **figures,
        "overdue": bool(figures["contact_due"] and figures["contact_due"] <= now),
        "activities": lead.activities.select_related("actor"),
        "records": records,
        "second_contact": second_contact(lead),
        "form": form or ActivityForm(),
        "can_log": request.agent is not None,
        "is_owner": request.agent is not None and lead.owner_id == request.agent.pk,
        **day_context(lead, now, **(extra or {})),
        **stage_context(request, lead),
    }, status=status)


#: Lost in one tap: the reasons agents give most (any other in their own words).
LOST_REASONS = ["Went with another agent", "Not ready to move", "Never answered",
                "Wrong number or not real", "Outside our area"]


def stage_context(request: HttpRequest, lead: Lead, *, message: str = "",
                  error: str = "") -> dict:
    """What the lead page's stage card shows: every stage one tap away, the lost ones behind
    a sheet that asks why."""
    stages = list(Stage.objects.all())
    current = lead.stage if lead.stage_id is not None else (stages[0] if stages else None)
    agent = request.agent
    return {
        "stages": [s for s in stages if s.outcome != Stage.Outcome.LOST],
        "lost_stages": [s for s in stages if s.outcome == Stage.Outcome.LOST],
        "current_stage": current,
        "can_stage": agent is not None and lead.owner_id is not None
        and (lead.owner_id == agent.pk or is_manager(agent)),
        "lost_reasons": LOST_REASONS,
        "stage_message": message,
        "stage_error": error,
    }


@require_POST
@agent_required
def lead_stage(request: HttpRequest, lead_id: int) -> HttpResponse:
    """One tap sets the stage. htmx swaps the stage card, and with it (out of band) the status,
    the follow-up, the appointments and the timeline, which a closed or lost lead changes;
    without script, the lead's page again with the outcome on top."""
    lead = get_visible_lead(request, lead_id)
    stage = Stage.objects.filter(key=request.POST.get("stage", "")).first()
    reason = request.POST.get("lost_reason") or request.POST.get("lost_note", "")
    message = error = ""
    try:
        if stage is None:
            raise StageRefused("Pick one of the stages.")
        message = set_stage(lead, stage, request.agent, reason, now=timezone.now()).message
    except StageRefused as refused:
        error = str(refused)
    if not getattr(request, "htmx", False):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, message)
        return redirect("lead-detail", lead.pk)
    now = timezone.now()
    return render(request, "leads/_stage_swap.html", {
        "lead": lead,
        "can_log": True,
        "activities": lead.activities.select_related("actor"),
        **day_context(lead, now),
        **stage_context(request, lead, message=message, error=error),
    })


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
