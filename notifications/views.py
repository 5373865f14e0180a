"""The in-app notifications behind the header's bell, and the phone alerts (web push)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from agents.pages import agent_required, render_page
from notifications import push
from notifications.models import Notification, PushSubscription
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
    devices = list(PushSubscription.objects.filter(agent=agent)) if agent else []
    return render_page(request, "notifications/list.html", {
        "rows": rows, "devices": devices, "push_enabled": push.push_enabled()})


@require_POST
@agent_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("notification") if v.isdigit()]
    count = mark_read(request.agent.pk, now=timezone.now(), ids=ids or None)
    if not ids:
        messages.info(request, f"{count} marked read." if count else "Nothing unread.")
    return redirect("notifications")


# --- Phone alerts (web push) ---------------------------------------------------------------------

MAX_DEVICES = 10  # per person: subscribing an eleventh device forgets the oldest


def _subscription_fields(data: object) -> tuple[str, str, str] | str:
    """(endpoint, p256dh, auth) from a browser's PushSubscription JSON, or what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        return "Send the browser's subscription: {endpoint, keys: {p256dh, auth}}."
    endpoint, keys = data.get("endpoint"), data["keys"]
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not all(isinstance(v, str) and v for v in (endpoint, p256dh, auth)):
        return "The subscription needs an endpoint and both keys."
    if len(endpoint) > 1000 or not push.endpoint_allowed(endpoint):
        return "That endpoint is not a push service this server sends to."
    try:
        point, secret = push.b64url_decode(p256dh), push.b64url_decode(auth)
    except (ValueError, TypeError):
        return "The keys must be base64url."
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        return "The keys must be a P-256 public key and a 16-byte auth secret."
    return endpoint, p256dh, auth


def _json_body(request: HttpRequest) -> object:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


@require_POST
@agent_required
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """This device turns phone alerts on (or confirms them, on every page load): the browser's
    subscription is stored for the signed-in agent, taking it over from whoever used the same
    browser before."""
    if not push.push_enabled():
        return JsonResponse({"error": "Phone alerts are not set up on this server."}, status=409)
    fields = _subscription_fields(_json_body(request))
    if isinstance(fields, str):
        return JsonResponse({"error": fields}, status=400)
    endpoint, p256dh, auth = fields
    device = request.headers.get("User-Agent", "")[:200]
    with transaction.atomic():
        known = PushSubscription.objects.select_for_update().filter(
            endpoint=endpoint, agent=request.agent).first()
        if known is not None:  # confirmed on a page load: who has phone alerts is unchanged,
            created = False    # so a plain update (no signal renews routing's snapshot)
            PushSubscription.objects.filter(pk=known.pk).update(p256dh=p256dh, auth=auth,
                                                               device=device)
        else:
            _, created = PushSubscription.objects.update_or_create(
                endpoint=endpoint, defaults={"agent": request.agent, "p256dh": p256dh,
                                             "auth": auth, "device": device})
        mine = PushSubscription.objects.filter(agent=request.agent).order_by("-created_at", "-id")
        stale = list(mine.values_list("pk", flat=True)[MAX_DEVICES:])
        if stale:
            PushSubscription.objects.filter(pk__in=stale).delete()
    return JsonResponse({"on": True, "devices": mine.count()}, status=201 if created else 200)


@require_POST
@agent_required
def push_unsubscribe(request: HttpRequest) -> HttpResponse:
    """Phone alerts off: this device (JSON ``{endpoint}`` from the page's script), or one of the
    person's devices from the list on the notifications page (form field ``device``)."""
    mine = PushSubscription.objects.filter(agent=request.agent)
    device_id = request.POST.get("device", "")
    if device_id.isdigit():
        removed, _ = mine.filter(pk=int(device_id)).delete()
        messages.info(request, "Phone alerts turned off on that device." if removed
                      else "That device had no phone alerts on.")
        return redirect("notifications")
    data = _json_body(request)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        return JsonResponse({"error": "Send {endpoint} or the form field device."}, status=400)
    mine.filter(endpoint=endpoint).delete()
    return JsonResponse({"on": False, "devices": mine.count()})


@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """static/sw.js served from the site's root, so that it controls every page (a worker under
    /static/ could only control /static/)."""
    response = HttpResponse(_service_worker_source(), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@lru_cache(maxsize=1)
def _service_worker_source() -> bytes:
    path = finders.find("sw.js")
    if path is None:
        raise Http404("static/sw.js is missing")
    return Path(path).read_bytes()
