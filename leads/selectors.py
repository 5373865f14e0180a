"""Which leads a person may open from the agent pages and the agent API."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from leads.models import Lead


def visible_leads(request: HttpRequest) -> QuerySet[Lead]:
    """The leads this user may open: their own, or every lead for a manager."""
    leads = Lead.objects.select_related("owner")
    if request.is_manager:
        return leads
    return leads.filter(owner=request.agent)


def get_visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    """One of ``visible_leads``; 404 for any other (never say whose it is)."""
    lead = visible_leads(request).filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead
