"""The voice provider's webhooks of an instant call: answered, key pressed, call ended.

Each request must carry a valid ``X-Twilio-Signature`` (``RequestValidator`` with
``TWILIO_AUTH_TOKEN``, over the address the provider was given: ``SITE_URL`` and the path);
anything else is refused with 403. The answers are TwiML.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from notifications.links import site_url
from routing import call_flow
from routing.models import OfferCall


def signed(request: HttpRequest) -> bool:
    """Whether the request comes from the provider (its signature over URL and form)."""
    token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    return RequestValidator(token).validate(site_url(request.get_full_path()),
                                            request.POST.dict(), signature)


def _webhook(handler: Callable[[HttpRequest, int], HttpResponse]
             ) -> Callable[[HttpRequest, int], HttpResponse]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, call_id: int) -> HttpResponse:
        if not signed(request):
            return HttpResponseForbidden("Invalid signature")
        get_object_or_404(OfferCall, pk=call_id)
        return handler(request, call_id)

    view.__doc__ = handler.__doc__
    return view


def _twiml(response: object) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


@_webhook
def call_answer(request: HttpRequest, call_id: int) -> HttpResponse:
    """The agent's phone was answered (by them or a machine)."""
    return _twiml(call_flow.answer(call_id, answered_by=request.POST.get("AnsweredBy", ""),
                                   now=timezone.now()))


@_webhook
def call_press(request: HttpRequest, call_id: int) -> HttpResponse:
    """The key the agent pressed (empty: none)."""
    return _twiml(call_flow.press(call_id, digits=request.POST.get("Digits", "").strip(),
                                  now=timezone.now()))


@_webhook
def call_status(request: HttpRequest, call_id: int) -> HttpResponse:
    """How the call ended."""
    call_flow.status(call_id, call_status=request.POST.get("CallStatus", ""),
                     answered_by=request.POST.get("AnsweredBy", ""), now=timezone.now())
    return HttpResponse(status=204)
