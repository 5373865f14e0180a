"""The in-app notifications behind the header's bell."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.pages import agent_required, render_page
from notifications.models import Notification
from notifications.services import mark_read

SHOWN = 100


@agent_required
def notification_list(request: HttpRequest) -> HttpResponse:
    agent = request.agent
    shown = list(Notification.objects.filter(recipient=agent).select_related("lead")[:SHOWN])
    rows = []
    for n in shown:
        link = ""
        if n.lead_id and (request.is_manager or n.lead.owner_id == agent.pk):
            link = "lead"
        elif n.event in (Notification.Event.LEAD_OFFERED, Notification.Event.OFFER_REMINDER):
            link = "offers"
        elif n.event == Notification.Event.LEAD_UNASSIGNED:
            link = "pond"
        rows.append({"n": n, "link": link})
    return render_page(request, "notifications/list.html", {"rows": rows})


@require_POST
@agent_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("notification") if v.isdigit()]
    count = mark_read(request.agent.pk, now=timezone.now(), ids=ids or None)
    if not ids:
        messages.info(request, f"{count} marked read." if count else "Nothing unread.")
    return redirect("notifications")
