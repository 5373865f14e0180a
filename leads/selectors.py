"""Which leads a person may open from the agent pages and the agent API, and what they read
of why the lead came to them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from agents.models import Agent
from leads.models import Activity, Lead
from leads.why import Chapter, Event, People, why_story
from routing.selectors import routing_config


def visible_leads(request: HttpRequest) -> QuerySet[Lead]:
    """The leads this user may open: their own, or every lead for a manager."""
    leads = Lead.objects.select_related("owner", "stage")
    if request.is_manager:
        return leads
    return leads.filter(owner=request.agent)


def get_visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    """One of ``visible_leads``; 404 for any other (never say whose it is)."""
    lead = visible_leads(request).filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


def why_chapters(lead: Lead, viewer: Agent | None) -> list[Chapter]:
    """"Why did I get this lead?": the lead's decisions and claims in the reader's words (the
    same on the lead's page and in the agent API)."""
    config = routing_config()
    people = People.of(viewer.pk if viewer else None,
                       ((a.id, a.name, a.email) for a in config.agents.values()))
    events = [Event(kind, actor_id, at) for kind, actor_id, at in lead.activities.filter(
        kind__in=[Activity.Kind.CLAIMED, Activity.Kind.REASSIGNED]
    ).values_list("kind", "actor_id", "created_at")]
    return why_story(list(lead.routing_records.order_by("created_at", "id")), events, people)
