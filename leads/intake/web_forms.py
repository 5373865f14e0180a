"""Web form capture: ``POST /intake/<slug>/`` from the brokerage's sites.

An ordinary HTML form post (urlencoded or multipart), CSRF-exempt since it comes from other
sites; the form's slug stands in for an API key and gives the source. A filled honeypot field
(``website``) gets the usual redirect, but nothing is routed and the submission is kept as spam.
Valid input (or a retry of the same ``external_id``) is answered with a 303 to the form's
thank-you page. Invalid input renders a plain error page (status 400) listing every field's
problem with a link back, rather than a redirect, so that no personal data ends up in URLs.
A post nobody routes is still kept, with the reason: to an inactive form (410), with more
fields than Django parses (``DATA_UPLOAD_MAX_NUMBER_FIELDS``), too large (413), or chunked
where the server cannot end it (411).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leads.forms import KNOWN_FIELDS
from leads.intake.cleaning import (
    LENGTH_REQUIRED,
    declared_length,
    oversized_text,
    read_chunked,
    storable,
    too_large,
)
from leads.intake.events import SENTENCES
from leads.intake.idempotency import Inbound, take_lead
from leads.models import Submission, WebForm

HONEYPOT_FIELD = "website"
FORM_FIELDS = tuple(name for name in KNOWN_FIELDS if name != "source")


class SeeOther(HttpResponseRedirect):
    status_code = 303


@csrf_exempt
@require_POST
def web_form_intake(request: HttpRequest, slug: str) -> HttpResponse:
    form = WebForm.objects.select_related("source").filter(slug=slug).first()
    if form is None:
        raise Http404("No such form.")
    limit = settings.INTAKE_MAX_BODY_BYTES
    inbound = Inbound(Submission.Channel.FORM, timezone.now(), web_form=form,
                      source_name=form.source.name, status_map={200: 303, 201: 303})
    if not read_chunked(request, limit):
        return _refused(request, form, inbound, 411, LENGTH_REQUIRED)
    if declared_length(request) > limit:
        inbound.raw_body = oversized_text(request, limit)
        return _refused(request, form, inbound, 413, too_large(limit))
    inbound.raw_body = storable(request.body[:limit].decode("utf-8", "replace"))
    try:
        post = request.POST
    except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError) as exc:
        return _refused(request, form, inbound, 400, {"body": _unreadable(exc)},
                        form_payload(_fields_anyway(request)))
    payload = form_payload(post)
    if post.get(HONEYPOT_FIELD, "").strip():
        Submission.objects.create(
            channel=inbound.channel, source=form.source.name, received_at=inbound.received_at,
            payload=storable(payload), outcome=Submission.Outcome.SPAM,
            errors={HONEYPOT_FIELD: "Honeypot field filled in."},
            **inbound.log_fields(303, {"spam": True}))
        return SeeOther(form.thank_you_url)
    if not form.active:  # kept, so that a manager can still route it
        return _refused(request, form, inbound, 410, {"form": "This form is no longer in use."},
                        payload)
    answer = take_lead(payload, form.source, inbound)
    if answer.status in (200, 201):
        return SeeOther(form.thank_you_url)
    return _error_page(request, form, answer.body["errors"], status=answer.status)


def _refused(request: HttpRequest, form: WebForm, inbound: Inbound, status: int,
             errors: dict[str, str], payload: dict[str, object] | None = None) -> HttpResponse:
    """Keep the refused post in the inbound log and show the visitor why."""
    answer = inbound.refuse(status, errors, payload)
    return _error_page(request, form, answer.body["errors"], status=status)


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, TooManyFieldsSent):
        return f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    if isinstance(exc, TooManyFilesSent):
        return f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files."
    return f"The form's body could not be read: {exc}"


def _fields_anyway(request: HttpRequest) -> MultiValueDict:
    """The fields of a urlencoded body Django refused to parse (too many of them), read
    without the count limit (the body is within ``INTAKE_MAX_BODY_BYTES``), so that the
    kept submission holds the lead's own fields; other bodies give none."""
    if request.content_type != "application/x-www-form-urlencoded":
        return MultiValueDict()
    fields = MultiValueDict()
    text = request.body.decode(request.encoding or settings.DEFAULT_CHARSET, "replace")
    for name, value in parse_qsl(text, keep_blank_values=True):
        fields.appendlist(name, value)
    return fields


def form_payload(post: QueryDict | MultiValueDict) -> dict[str, object]:
    """The lead's fields of the post; several ``tags`` inputs make a list."""
    payload: dict[str, object] = {}
    for name in FORM_FIELDS:
        values = post.getlist(name)
        if not values:
            continue
        payload[name] = values if name == "tags" and len(values) > 1 else values[-1]
    return payload


def _error_page(request: HttpRequest, form: WebForm, errors: dict[str, str],
                status: int) -> HttpResponse:
    back = request.headers.get("Referer", "")
    if urlsplit(back).scheme not in ("http", "https"):  # only a page link, never a script
        back = ""
    # "Email: Enter a valid email address."; a sentence on its own ("Give at least a name...")
    # without its key's name.
    items = format_html_join("", "<li>{}</li>", (
        (message if name in SENTENCES
         else format_html("<strong>{}</strong>: {}", name.replace("_", " ").capitalize(), message),)
        for name, message in errors.items()))
    link = format_html('<p><a href="{}">Go back to the form</a></p>', back) if back else ""
    html = format_html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>'
        "<h1>Please check your details</h1><p>We could not send your request:</p>"
        "<ul>{}</ul>{}</body></html>",
        form.name, items, link)
    return HttpResponse(html, status=status)
