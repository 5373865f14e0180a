"""Twilio's webhooks into leadrouter: every one signed, checked with the package's validator.

Twilio signs each request with the account's auth token over the exact URL it called and the
posted fields (``X-Twilio-Signature``); ``twilio_signed`` answers 403 to any request whose
signature does not match, before the view runs. The URL checked is the public one
(``SITE_URL`` + the path, what is pasted in Twilio's console) and, behind a proxy that keeps
the host and scheme, the one Django sees.

``sms_status`` records Twilio's message status callbacks on the delivery they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from notifications.models import Delivery

SIGNATURE_HEADER = "X-Twilio-Signature"

# A message's statuses in the order they happen: a callback that arrives late (Twilio does
# not promise order) never moves a delivery back, e.g. from "delivered" to "sent".
STATUS_ORDER = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
                "delivered": 4, "undelivered": 4, "failed": 4, "read": 5, "canceled": 4}
NOT_DELIVERED = frozenset({"undelivered", "failed"})


def signature_is_valid(request: HttpRequest) -> bool:
    """Whether Twilio signed this request (POST fields, or the query for a GET)."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not token or not signature:
        return False
    params = request.POST if request.method == "POST" else {}
    validator = RequestValidator(token)
    urls = {settings.SITE_URL.rstrip("/") + request.get_full_path(),
            request.build_absolute_uri()}
    return any(validator.validate(url, params, signature) for url in urls)


def twilio_signed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A Twilio webhook: CSRF-exempt (Twilio has no cookie), refused with 403 unless signed."""

    @csrf_exempt
    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not signature_is_valid(request):
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request, *args, **kwargs)

    return checked


def record_message_status(*, message_sid: str, status: str, error_code: str = "") -> bool:
    """Keep Twilio's latest word about a message on its delivery; a message that did not
    reach the phone (undelivered, failed) marks the delivery failed with Twilio's reason.
    Whether a delivery took it."""
    status = status.lower()
    rank = STATUS_ORDER.get(status)
    if not message_sid or rank is None:
        return False
    not_later = [s for s, r in STATUS_ORDER.items() if r > rank]
    deliveries = Delivery.objects.filter(provider_message_id=message_sid).filter(
        ~Q(provider_status__in=not_later))
    changes: dict = {"provider_status": status, "provider_error_code": error_code[:10],
                     "provider_status_at": timezone.now()}
    if status in NOT_DELIVERED:
        reason = f"Twilio: {status}" + (f" (error {error_code})" if error_code else "")
        changes |= {"status": Delivery.Status.FAILED, "last_error": reason,
                    "next_attempt_at": None}  # the carrier refused it: sending again won't help
    return bool(deliveries.update(**changes))


@require_POST
@twilio_signed
def sms_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback for a text we sent (``MessageSid``, ``MessageStatus``)."""
    record_message_status(message_sid=request.POST.get("MessageSid", ""),
                          status=request.POST.get("MessageStatus", ""),
                          error_code=request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)
