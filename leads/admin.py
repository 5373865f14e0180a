"""The managers' admin for leads: find them, see why they went where they went, move them.

Leads come in through intake, never through the admin; the admin changes who holds a lead
only through the routing services (reassign, return to routing, pond), which record it on the
lead's timeline with the manager's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, models
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from agents.admin import (
    CommaListField,
    availability_text,
    brokerage_tz,
    local_text,
    rendered_in_zone,
)
from agents.models import Agent
from config.text import plural
from leads import export as lead_export
from leads.autoresponder import PLACEHOLDERS, unknown_placeholders
from leads.forms import KNOWN_FIELDS
from leads.intake import keys as source_keys
from leads.intake.email_leads import preview_rule
from leads.intake.email_rules import CONTACT_FIELDS, RULE_FIELDS, pattern_problem
from leads.intake.email_service import as_rule
from leads.intake.replay import replay_submission
from leads.intake.services import normalize_email
from leads.intake.web_forms import FORM_FIELDS, HONEYPOT_FIELD
from leads.models import (
    Activity,
    Appointment,
    AutoReply,
    AutoResponse,
    EmailParsingRule,
    Lead,
    LeadSource,
    SourceKey,
    Stage,
    Submission,
    WebForm,
)
from leads.search import search_leads
from notifications.models import Notification
from routing.claims import assign_lead, move_to_pond, return_to_routing
from routing.engine import render_trace
from routing.models import Offer
from routing.reports.dashboard import EXPIRING_MINUTES


def acting_agent(request: HttpRequest) -> Agent | None:
    """The manager's own Agent, recorded as who moved a lead (None for a bare superuser)."""
    try:
        return request.user.agent
    except (AttributeError, Agent.DoesNotExist):
        return None


# --- Filters ----------------------------------------------------------------------------------


class PondFilter(admin.SimpleListFilter):
    title = "pond"
    parameter_name = "pond"

    def lookups(self, request, model_admin):
        return [("yes", "In the pond (no owner)"), ("no", "Not in the pond")]

    def queryset(self, request, queryset):
        pond = Q(status=Lead.Status.UNASSIGNED, owner__isnull=True)
        if self.value() == "yes":
            return queryset.filter(pond)
        if self.value() == "no":
            return queryset.exclude(pond)
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "first contact"
    parameter_name = "first_contact"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("made", "Made")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(first_contact_at__isnull=True,
                                   first_contact_due_at__lt=timezone.now())
        if self.value() == "made":
            return queryset.filter(first_contact_at__isnull=False)
        return queryset


class OfferEndingFilter(admin.SimpleListFilter):
    """Leads whose live offer runs out within minutes (the dashboard links here)."""

    title = "offer"
    parameter_name = "offer"

    def lookups(self, request, model_admin):
        return [("ending", f"Offer ends within {EXPIRING_MINUTES} minutes"),
                ("live", "Offer open")]

    def queryset(self, request, queryset):
        live = Offer.objects.filter(status=Offer.Status.OFFERED)
        if self.value() == "ending":
            now = timezone.now()
            live = live.filter(deadline__gte=now,
                               deadline__lte=now + timedelta(minutes=EXPIRING_MINUTES))
        elif self.value() != "live":
            return queryset
        return queryset.filter(pk__in=live.values("lead_id"))


# --- The change page's history ------------------------------------------------------------------


@dataclass
class TraceBlock:
    when: str
    summary: str
    lines: list[tuple[bool, str]]  # (indented, text)


class ActivityInline(admin.TabularInline):
    model = Activity
    extra = 0
    fields = ("when", "kind", "actor", "body")
    readonly_fields = fields
    can_delete = False
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    classes = ("collapse",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="when")
    def when(self, activity: Activity) -> str:
        return local_text(activity.created_at)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class LeadForm(forms.ModelForm):
    tags = CommaListField(lower=True, help_text="Comma separated.")

    class Meta:
        model = Lead
        fields = ("first_name", "last_name", "email", "phone", "source", "lead_type", "tags",
                  "price", "score", "city", "county", "neighborhood", "zip_code", "mls_region",
                  "property_type", "site", "listing_ref", "external_id", "message",
                  "assigned_to", "tracking_agent", "listing_agent")


class ReassignForm(forms.Form):
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.filter(is_active=True).order_by("name"),
        help_text="Paused agents can be chosen: a manager's assignment is not a rotation turn.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"].label_from_instance = (
            lambda a: f"{a.name} ({a.get_role_display()}, {availability_text(a)})")


# --- The lead list at a million leads -----------------------------------------------------------
# Django's admin asks the whole table for its counts, its filters' choices and its date
# years; each of these answers them from indexes (or the planner's estimate) instead.


class UsedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """The people (or rules) that hold at least one lead, asked one index probe each rather
    than by reading every lead's owner."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        used = Exists(model_admin.model._default_manager.filter(**{field.name: OuterRef("pk")}))
        return field.get_choices(include_blank=False, limit_choices_to=Q(used),
                                 ordering=ordering)


class SourceFilter(admin.AllValuesFieldListFilter):
    """Every source a lead came from; on PostgreSQL read by hopping along the source index
    (one probe a source) instead of reading every lead."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if connection.vendor == "postgresql" and field_path == "source":
            self.lookup_choices = distinct_sources()


def distinct_sources() -> list[str]:
    table = Lead._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH RECURSIVE s(source) AS (
                (SELECT source FROM {table} ORDER BY source LIMIT 1)
                UNION ALL
                SELECT (SELECT l.source FROM {table} l WHERE l.source > s.source
                        ORDER BY l.source LIMIT 1)
                FROM s WHERE s.source IS NOT NULL)
            SELECT source FROM s WHERE source IS NOT NULL""")
        return [source for (source,) in cursor.fetchall()]


#: Below this many rows (as the planner estimates them) every list is counted exactly.
ESTIMATE_FROM_ROWS = 100_000


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, the unfiltered list's count of a big table is the planner's estimate
    (pg_class), not a count of every row; a small table, a filtered or a searched list is
    still counted exactly."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                               [self.object_list.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] >= ESTIMATE_FROM_ROWS:
                return int(row[0])
        return super().count


class LeadListQuerySet(QuerySet):
    """The date hierarchy's years from the first and last lead (indexed) and one indexed
    probe a year, instead of truncating every lead's date."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind != "year":
            return super().datetimes(field_name, kind, order, tzinfo)
        span = self.aggregate(first=Min(field_name), last=Max(field_name))
        if span["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (timezone.localtime(span[end], zone).year for end in ("first", "last"))
        years = [datetime(year, 1, 1, tzinfo=zone) for year in range(first, last + 1)
                 if self.filter(**{f"{field_name}__year": year}).exists()]
        return years[::-1] if order == "DESC" else years


class LeadChangeList(ChangeList):
    """While searching, no date drill-down: the first and last date of a few found leads
    would be read by walking the date index through a million leads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.query:
            self.date_hierarchy = None


# --- The lead admin ---------------------------------------------------------------------------


ROUTING_FIELDS = ("status", "stage", "lost_reason", "owner", "lender", "rule", "routing_round",
                  "received_at", "assigned_at", "first_contact_due_at", "first_contact_at")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadForm
    # Fits 1,366 px: email and phone share a column, the owner is a name, times are short.
    list_display = ("__str__", "contact", "source", "status", "owner_name", "rule",
                    "received", "first_contact")
    list_filter = ("status", "stage", PondFilter, OverdueFilter, OfferEndingFilter,
                   ("source", SourceFilter), ("owner", UsedRelatedFilter),
                   ("rule", UsedRelatedFilter))
    list_select_related = ("owner", "rule")
    show_full_result_count = False  # a second count of a million rows on every filtered list
    paginator = EstimatedCountPaginator
    search_fields = ("first_name", "last_name", "email", "email_normalized", "phone_normalized")
    search_help_text = "Name, email or phone (written any way)."
    date_hierarchy = "received_at"
    actions = ["reassign", "return_to_routing_action", "move_to_pond_action", "export_csv"]
    change_list_template = "admin/leads/lead/change_list.html"  # "Export the filtered leads"
    readonly_fields = (*ROUTING_FIELDS, "routing_trace", "offers_history", "notifications_sent")
    # Who and where first; the long records (decisions, offers, notices, details) fold away.
    fieldsets = [
        ("Contact", {"fields": ("first_name", "last_name", "email", "phone")}),
        ("Routing", {"fields": ROUTING_FIELDS}),
        ("Why it went where it went", {"fields": ("routing_trace",), "classes": ("collapse",)}),
        ("Offers", {"fields": ("offers_history",), "classes": ("collapse",)}),
        ("Notifications sent", {"fields": ("notifications_sent",), "classes": ("collapse",)}),
        ("The lead", {"fields": ("source", "lead_type", "tags", "price", "score", "city",
                                 "county", "neighborhood", "zip_code", "mls_region",
                                 "property_type", "site", "listing_ref", "external_id",
                                 "message"), "classes": ("collapse",)}),
        ("From the vendor", {"fields": ("assigned_to", "tracking_agent", "listing_agent"),
                             "classes": ("collapse",)}),
    ]
    inlines = [ActivityInline]

    # --- who may do what

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads arrive through intake

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    # --- list

    @admin.display(description="contact", ordering="email")
    def contact(self, lead: Lead) -> str:
        return format_html('<span class="contact-line">{}</span><br>'
                           '<span class="contact-line">{}</span>',
                           lead.email or "-", lead.phone or "-")

    @admin.display(description="owner", ordering="owner__name")
    def owner_name(self, lead: Lead) -> str:
        return lead.owner.name if lead.owner else "-"

    @admin.display(description="received", ordering="received_at")
    def received(self, lead: Lead) -> str:
        return local_text(lead.received_at)

    @admin.display(description="first contact", ordering="first_contact_due_at")
    def first_contact(self, lead: Lead) -> str:
        if lead.first_contact_at:
            return f"made {local_text(lead.first_contact_at)}"
        if lead.first_contact_due_at is None:
            return "-"
        if lead.first_contact_due_at < timezone.now():
            return f"⚠ overdue since {local_text(lead.first_contact_due_at)}"
        return f"due {local_text(lead.first_contact_due_at)}"

    def get_changelist(self, request, **kwargs):
        return LeadChangeList

    def changelist_view(self, request, extra_context=None):
        return rendered_in_zone(partial(super().changelist_view, request, extra_context))

    def get_queryset(self, request):
        leads = super().get_queryset(request)
        return LeadListQuerySet(model=leads.model, query=leads.query, using=leads.db)

    def get_search_results(self, request, queryset, search_term):
        """The one lead search (``leads.search``): on PostgreSQL read from one index."""
        return search_leads(queryset, search_term), False

    # --- change page

    def save_model(self, request, obj: Lead, form, change: bool) -> None:
        obj.email = normalize_email(obj.email)
        obj.email_normalized = obj.email
        obj.phone_normalized = obj.phone.as_e164 if obj.phone else ""
        super().save_model(request, obj, form, change)

    @admin.display(description="routing decisions (oldest first)")
    def routing_trace(self, lead: Lead) -> str:
        blocks = [
            TraceBlock(local_text(record.created_at), record.summary,
                       [(line.startswith(" "), line.strip())
                        for line in render_trace(record.trace)])
            for record in lead.routing_records.order_by("created_at", "id")
        ]
        return render_to_string("admin/leads/lead/trace.html", {"blocks": blocks})

    @admin.display(description="offers")
    def offers_history(self, lead: Lead) -> str:
        offers = [
            {"offer": offer, "offered_at": local_text(offer.offered_at),
             "deadline": local_text(offer.deadline),
             "responded_at": local_text(offer.responded_at)}
            for offer in lead.offers.select_related("agent").order_by("offered_at", "id")
        ]
        return render_to_string("admin/leads/lead/offers.html", {"offers": offers})

    @admin.display(description="notifications")
    def notifications_sent(self, lead: Lead) -> str:
        rows = [
            {"n": n, "created_at": local_text(n.created_at), "read_at": local_text(n.read_at),
             "deliveries": list(n.deliveries.all())}
            for n in Notification.objects.filter(lead=lead).select_related("recipient")
            .prefetch_related("deliveries").order_by("created_at", "id")
        ]
        return render_to_string("admin/leads/lead/notifications.html", {"rows": rows})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "routing_actions_url": reverse(
            "admin:leads_lead_routing_actions", args=[object_id])}
        if str(object_id).isdigit():  # the lead as its agent sees it (managers see every lead)
            extra_context["agent_page_url"] = reverse("lead-detail", args=[int(object_id)])
        return rendered_in_zone(partial(super().change_view, request, object_id, form_url,
                                        extra_context))

    # --- moving leads: shared by the list's actions and the lead's own page

    def _reassign(self, request, leads, agent: Agent) -> None:
        by, now = acting_agent(request), timezone.now()
        for lead in leads:
            assign_lead(lead.pk, agent, by=by, now=now)
        self.message_user(request, f"{plural(len(leads), 'lead')} assigned to {agent.name}.",
                          messages.SUCCESS)

    def _return(self, request, leads) -> None:
        by, now = acting_agent(request), timezone.now()
        for lead in leads:
            decision = return_to_routing(lead.pk, by=by, now=now)
            self.message_user(request, f"{lead}: returned to routing. {decision.summary}",
                              messages.SUCCESS)

    def _pond(self, request, leads) -> None:
        by, now = acting_agent(request), timezone.now()
        for lead in leads:
            move_to_pond(lead.pk, by=by, now=now)
        self.message_user(request, f"{plural(len(leads), 'lead')} moved to the pond.",
                          messages.SUCCESS)

    @admin.action(description="Reassign to an agent…", permissions=["change"])
    def reassign(self, request: HttpRequest, queryset: QuerySet[Lead]):
        form = ReassignForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._reassign(request, list(queryset), form.cleaned_data["agent"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign leads",
            "opts": self.model._meta,
            "leads": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/leads/lead/reassign.html", context)

    @admin.action(description="Return to routing (through the rules again, as if new)",
                  permissions=["change"])
    def return_to_routing_action(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self._return(request, list(queryset))

    @admin.action(description="Move to the pond (no owner, any agent may claim)",
                  permissions=["change"])
    def move_to_pond_action(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self._pond(request, list(queryset))

    def get_urls(self):
        view = self.admin_site.admin_view(self.routing_actions_view)
        export_view = self.admin_site.admin_view(self.export_view)
        return [path("export/", export_view, name="leads_lead_export"),
                path("<path:object_id>/routing/", view, name="leads_lead_routing_actions"),
                *super().get_urls()]

    # --- CSV export (leads.export: the columns and the writer)

    @admin.action(description="Export the selected leads (CSV)", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return lead_export.csv_response(queryset.order_by("received_at", "pk"),
                                        now=timezone.now())

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every lead of the list as filtered, searched and sorted (its query string), not
        only the page shown."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.GET = request.GET.copy()
        request.GET.pop(PAGE_VAR, None)
        changelist = self.get_changelist_instance(request)
        return lead_export.csv_response(changelist.queryset, now=timezone.now())

    def routing_actions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One lead: reassign it, return it to routing or move it to the pond."""
        lead = self.get_object(request, unquote(object_id))
        if lead is None:
            raise Http404
        if not self.has_change_permission(request, lead):
            raise PermissionDenied
        change_url = reverse("admin:leads_lead_change", args=[lead.pk])
        form = ReassignForm(request.POST if request.POST.get("do") == "reassign" else None)
        if request.method == "POST":
            do = request.POST.get("do")
            if do == "reassign" and form.is_valid():
                self._reassign(request, [lead], form.cleaned_data["agent"])
                return HttpResponseRedirect(change_url)
            if do == "return":
                self._return(request, [lead])
                return HttpResponseRedirect(change_url)
            if do == "pond":
                self._pond(request, [lead])
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move lead {lead}",
            "opts": self.model._meta,
            "original": lead,
            "change_url": change_url,
            "form": form,
        }
        return TemplateResponse(request, "admin/leads/lead/routing_actions.html", context)


# --- Stages -----------------------------------------------------------------------------------


@admin.register(Stage)
class StageAdmin(SortableAdminMixin, admin.ModelAdmin):
    """The agents' stages: renamed here, dragged into the order the lead page shows them. A
    stage that leads are in cannot be deleted (they would lose their place)."""

    list_display = ("name", "key", "outcome", "lead_count")
    list_display_links = ("name",)
    prepopulated_fields = {"key": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Stage]:
        return (super().get_queryset(request).annotate(lead_count=Count("leads"))
                .order_by("position", "id"))  # GROUP BY drops Meta.ordering

    def get_readonly_fields(self, request: HttpRequest, obj: Stage | None = None):
        return ("key",) if obj is not None else ()  # the API's name for it stays

    def get_prepopulated_fields(self, request: HttpRequest, obj: Stage | None = None):
        return {} if obj is not None else self.prepopulated_fields

    @admin.display(description="leads in it", ordering="lead_count")
    def lead_count(self, stage: Stage) -> int:
        return stage.lead_count


# --- Submissions ------------------------------------------------------------------------------


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """Everything received, rejected input included, with the reason: read only."""

    list_display = ("received_at", "channel", "source", "outcome", "reason", "lead")
    list_filter = ("outcome", "channel", "source")
    list_select_related = ("lead",)
    show_full_result_count = False
    search_fields = ("source", "lead__email_normalized")
    date_hierarchy = "received_at"
    fields = ("received_at", "channel", "source", "outcome", "errors", "payload", "lead")
    readonly_fields = fields

    @admin.display(description="reason")
    def reason(self, submission: Submission) -> str:
        errors = submission.errors
        if not errors:
            return "-"
        if isinstance(errors, dict):
            return "; ".join(f"{name}: {text}" for name, text in errors.items())
        return str(errors)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_urls(self):
        fix = self.admin_site.admin_view(self.fix_view)
        return [path("<path:object_id>/fix/", fix, name="leads_submission_fix"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        submission = self.get_object(request, unquote(object_id))
        fixable = bool(submission and submission.outcome == Submission.Outcome.REJECTED
                       and submission.replayed_at is None)
        context = {**(extra_context or {}), "fixable": fixable}
        if submission is not None:  # in brokerage time, as the list beside it
            context["subtitle"] = (f"{submission.get_channel_display()} "
                                   f"{local_text(submission.received_at)}: {submission.outcome}")
        with timezone.override(brokerage_tz()):  # the breadcrumb and fields too
            response = super().change_view(request, object_id, form_url, context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    def fix_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Fix and route again: the stored body in a form, intake's errors per field."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        submission = self.get_object(request, unquote(object_id))
        if submission is None:
            raise Http404
        back = reverse("admin:leads_submission_change", args=[submission.pk])
        if submission.outcome != Submission.Outcome.REJECTED or submission.replayed_at:
            messages.warning(request, "This submission is not a rejected one waiting for a fix.")
            return HttpResponseRedirect(back)
        body = submission.payload if isinstance(submission.payload, dict) else {}
        form = FixSubmissionForm(request.POST or None, initial=fix_initial(body))
        if request.method == "POST" and form.is_valid():
            try:
                result = replay_submission(submission, form.payload(), by=request.user)
            except ValueError as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(back)
            if result.lead is not None:
                messages.success(request, f"Routed again as lead {result.lead}.")
                return HttpResponseRedirect(back)
            for name, text in (result.errors or {}).items():
                form.add_error(name if name in form.fields else None, str(text))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "submission": submission, "form": form,
                   "title": "Fix and route again"}
        return TemplateResponse(request, "admin/leads/submission/fix.html", context)


def fix_initial(body: dict[str, Any]) -> dict[str, str]:
    """The stored body as the form's text: lists joined by commas, booleans as checkboxes."""
    initial: dict[str, Any] = {}
    for name in KNOWN_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        initial[name] = (", ".join(map(str, value)) if isinstance(value, list)
                         else value if name == "consent" else str(value))
    return initial


FIX_LABELS = {"zip_code": "ZIP code", "mls_region": "MLS region", "listing_ref": "Listing (MLS #)",
              "external_id": "External ID"}


class FixSubmissionForm(forms.Form):
    """One text field per lead field: validation is intake's own, run by the replay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in KNOWN_FIELDS:
            label = FIX_LABELS.get(name)
            if name == "consent":
                self.fields[name] = forms.BooleanField(required=False, label=label)
            elif name == "message":  # its lines kept (a CSV row's notes, an event's details)
                self.fields[name] = forms.CharField(
                    required=False, label=label,
                    widget=forms.Textarea(attrs={"rows": 5, "cols": 40}))
            else:
                self.fields[name] = forms.CharField(required=False, label=label)

    def payload(self) -> dict[str, Any]:
        """The corrected lead: empty fields left out, tags as a list."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name == "consent":
                if value:
                    data[name] = True
            elif value.strip():
                data[name] = ([t.strip() for t in value.split(",") if t.strip()]
                              if name == "tags" else value.strip().replace("\r\n", "\n"))
        return data


class AppointmentWhenFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("upcoming", "Upcoming"), ("past", "Past"), ("cancelled", "Cancelled")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "upcoming":
            return queryset.filter(cancelled_at__isnull=True, ends_at__gte=now)
        if self.value() == "past":
            return queryset.filter(cancelled_at__isnull=True, ends_at__lt=now)
        if self.value() == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        return queryset


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    """The brokerage's appointments, for managers to see who meets whom and when. Read only:
    agents book, change and cancel them on the lead's page (``leads.followups``), so that each
    step is on the timeline and the calendars get the change."""

    list_display = ["when", "lead", "agent", "location", "with_whom", "state"]
    list_filter = [AppointmentWhenFilter, ("agent", UsedRelatedFilter)]
    list_select_related = ["lead", "agent"]
    search_fields = ["lead__first_name", "lead__last_name", "lead__email_normalized",
                     "agent__name", "location", "with_whom"]
    date_hierarchy = "starts_at"
    ordering = ["-starts_at"]
    fields = ["lead", "agent", "when", "ends", "location", "with_whom", "note", "state",
              "sequence"]
    readonly_fields = fields

    @admin.display(description="when", ordering="starts_at")
    def when(self, appointment: Appointment) -> str:
        return local_text(appointment.starts_at)

    @admin.display(description="ends")
    def ends(self, appointment: Appointment) -> str:
        return local_text(appointment.ends_at)

    @admin.display(description="state")
    def state(self, appointment: Appointment) -> str:
        if appointment.cancelled_at is not None:
            return f"cancelled {local_text(appointment.cancelled_at)}"
        return "past" if appointment.ends_at < timezone.now() else "upcoming"

    def changelist_view(self, request, extra_context=None):
        return rendered_in_zone(partial(super().changelist_view, request, extra_context))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return rendered_in_zone(partial(super().change_view, request, object_id, form_url,
                                        extra_context))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


from leads.isa import admin as isa_admin  # noqa: E402,F401  (hand-off targets)

# --- The answer to the lead -------------------------------------------------------------------


class AutoResponseForm(forms.ModelForm):
    """Templates are checked before they are saved: an unknown placeholder would reach the
    lead as written."""

    class Meta:
        model = AutoResponse
        fields = ["rule", "active", "email_subject", "email_body", "sms_body"]
        help_texts = {
            "email_body": "Placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            + ". Empty: no email.",
        }

    def clean(self) -> dict:
        data = super().clean()
        for name in ("email_subject", "email_body", "sms_body"):
            bad = unknown_placeholders(data.get(name) or "")
            if bad:
                self.add_error(name, f"Unknown placeholders: {', '.join(bad)} (use "
                               + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + ").")
        if not (data.get("email_body") or "").strip() and not (data.get("sms_body") or "").strip():
            raise forms.ValidationError("Write an email, a text message, or both.")
        return data


@admin.register(AutoResponse)
class AutoResponseAdmin(admin.ModelAdmin):
    form = AutoResponseForm
    list_display = ["rule", "active", "email_subject", "has_text", "updated_at"]
    list_filter = ["active"]
    search_fields = ["rule__name", "email_subject", "email_body", "sms_body"]

    @admin.display(boolean=True, description="text")
    def has_text(self, obj: AutoResponse) -> bool:
        return bool(obj.sms_body.strip())


@admin.register(AutoReply)
class AutoReplyAdmin(admin.ModelAdmin):
    """What was sent to whom, and what waits for the window (read only)."""

    show_full_result_count = False
    list_display = ["lead", "channel", "status", "due_at", "sent_at", "to", "last_error"]
    list_filter = ["status", "channel"]
    search_fields = ["to", "lead__first_name", "lead__last_name"]
    readonly_fields = [f.name for f in AutoReply._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SourceKeyInline(admin.TabularInline):
    """A source's keys: read only here (created by the action, so the key is shown once)."""

    model = SourceKey
    extra = 0
    fields = readonly_fields = ["label", "prefix", "created_at", "last_used_at", "revoked_at",
                                "rate_limit"]
    can_delete = False
    show_change_link = True

    @admin.display(description="rate limit")
    def rate_limit(self, key: SourceKey) -> str:
        return f"{settings.INTAKE_RATE_PER_MINUTE}/min"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "requires_consent", "ignore_events", "created_at"]
    list_editable = ["requires_consent"]
    search_fields = ["name"]
    fields = ["name", "requires_consent", "ignore_events"]
    inlines = [SourceKeyInline]
    actions = ["create_key_action"]

    @admin.action(description="Create a key (shown once)")
    def create_key_action(self, request: HttpRequest, queryset: QuerySet[LeadSource]) -> None:
        for source in queryset:
            key, raw = source_keys.create_key(source, label=f"admin {request.user}")
            messages.warning(request, format_html(
                'New key for {}: <code class="source-key">{}</code> (copy it now: it is not '
                "stored and will not be shown again).", source, raw))


@admin.register(SourceKey)
class SourceKeyAdmin(admin.ModelAdmin):
    """Keys are made by "Create a key" on sources; here they are seen and revoked."""

    list_display = ["source", "label", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["source"]
    readonly_fields = ["source", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["source", "label", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_action"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke_action(self, request: HttpRequest, queryset: QuerySet[SourceKey]) -> None:
        for key in queryset:
            source_keys.revoke(key)
        count = queryset.count()
        keys_word = "key" if count == 1 else "keys"
        messages.success(request, f"Revoked {count} {keys_word}: the API refuses them.")


# What a visitor types on a contact form, with the input each wants; the other intake fields
# (FORM_FIELDS) are named in the snippet's comment, for a site that sends them too.
VISITOR_INPUTS: tuple[tuple[str, str, str], ...] = (
    ("first_name", "First name", '<input name="first_name" autocomplete="given-name">'),
    ("last_name", "Last name", '<input name="last_name" autocomplete="family-name">'),
    ("email", "Email", '<input name="email" type="email" autocomplete="email">'),
    ("phone", "Phone", '<input name="phone" type="tel" autocomplete="tel">'),
    ("message", "Message", '<textarea name="message" rows="4"></textarea>'),
)


def form_snippet(form: WebForm) -> str:
    """The HTML a brokerage pastes on its site: a visitor's contact form (name, email, phone,
    message, consent), the honeypot, and the other fields intake reads named in a comment."""
    rows = [f"  <p><label>{label}<br>{tag}</label></p>" for _, label, tag in VISITOR_INPUTS]
    rows.append('  <p><label><input name="consent" type="checkbox" value="true"> '
                "I agree to be contacted about my request</label></p>")
    shown = {name for name, _, _ in VISITOR_INPUTS} | {"consent"}
    others = ", ".join(name for name in FORM_FIELDS if name not in shown)
    # Absolute: the form lives on the brokerage's own site, not here.
    action = settings.SITE_URL.rstrip("/") + reverse("web-form-intake", args=[form.slug])
    return (f'<form method="post" action="{action}">\n'
            f"  <!-- Also read, as inputs or hidden fields: {others} -->\n"
            + "\n".join(rows) + "\n"
            f'  <input name="{HONEYPOT_FIELD}" tabindex="-1" autocomplete="off" '
            'style="position:absolute;left:-9999px" aria-hidden="true">\n'
            '  <p><button type="submit">Send</button></p>\n</form>')


@admin.register(WebForm)
class WebFormAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "source", "thank_you_url", "active"]
    list_filter = ["active", "source"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "slug", "source", "thank_you_url", "active", "snippet"]
    readonly_fields = ["snippet"]
    # "example.com/thanks" means https://example.com/thanks (and no Django 6 warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="HTML to paste on the site")
    def snippet(self, form: WebForm) -> str:
        if not form.pk:
            return "Save the form to get its HTML."
        return render_to_string("admin/leads/webform/snippet.html",
                                {"snippet": form_snippet(form)})


class EmailParsingRuleForm(forms.ModelForm):
    """Refuses a rule that could not read anything: a broken pattern, no contact field, or no
    condition (it would read every message, newsletters too)."""

    class Meta:
        model = EmailParsingRule
        fields = ["name", "source", "active", "position", "from_contains", "to_contains",
                  "subject_contains", *(f"{name}_pattern" for name in RULE_FIELDS),
                  "lead_type", "tags"]
        widgets = {f"{name}_pattern": forms.TextInput(attrs={"size": 60})
                   for name in RULE_FIELDS}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in RULE_FIELDS:
            field = f"{name}_pattern"
            if (value := (data.get(field) or "").strip()) and (problem := pattern_problem(value)):
                self.add_error(field, problem)
        if not any((data.get(f"{name}_pattern") or "").strip() for name in CONTACT_FIELDS):
            self.add_error("email_pattern", "Say where at least the name, the email or the "
                                            "phone is.")
        if not any((data.get(name) or "").strip()
                   for name in ("from_contains", "to_contains", "subject_contains")):
            self.add_error("from_contains", "Say which messages this rule reads: by their "
                                            "sender, recipient or subject.")
        return data


class TryRuleForm(forms.Form):
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "cols": 90, "spellcheck": "false"}),
        help_text="Paste the whole message (in your mail program: \"Show original\" or "
                  "\"View source\"), or just its text. Nothing is saved.")


@admin.register(EmailParsingRule)
class EmailParsingRuleAdmin(admin.ModelAdmin):
    """Where a portal's lead e-mails (without leadmetadata.org tags) keep each field, with a
    "Try it" page that reads a pasted message with the rule as saved."""

    form = EmailParsingRuleForm
    list_display = ["name", "source", "position", "active", "reads"]
    list_editable = ["position", "active"]
    list_filter = ["active", "source"]
    search_fields = ["name", "from_contains", "to_contains", "subject_contains"]
    fieldsets = [
        ("Which messages", {"fields": ["name", "source", "active", "position", "from_contains",
                                       "to_contains", "subject_contains"]}),
        ("Where each field is", {
            "fields": [f"{name}_pattern" for name in RULE_FIELDS],
            "description": "Per field, a label (the value is what follows it on its line, or "
                           "the next line when the label stands alone, as in a table) or a "
                           "regular expression with a named group, e.g. "
                           "<code>Call (?P&lt;phone&gt;[0-9 ().-]+)</code>. "
                           "Leave empty what the portal does not send."}),
        ("Given to every lead it reads", {"fields": ["lead_type", "tags"]}),
    ]

    @admin.display(description="reads messages where")
    def reads(self, rule: EmailParsingRule) -> str:
        parts = [f"{what} contains \"{value}\"" for what, value in (
            ("the sender", rule.from_contains), ("the recipient", rule.to_contains),
            ("the subject", rule.subject_contains)) if value.strip()]
        return " and ".join(parts)

    @staticmethod
    def field_label(name: str) -> str:
        """A lead field as the rule's form names it ("listing (MLS #)")."""
        if name in RULE_FIELDS:
            return str(EmailParsingRule._meta.get_field(f"{name}_pattern").verbose_name)
        return name.replace("_", " ")

    def get_urls(self) -> list:
        return [path("<path:object_id>/try/", self.admin_site.admin_view(self.try_view),
                     name="leads_emailparsingrule_try"), *super().get_urls()]

    def try_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        rule = self.get_object(request, unquote(object_id))
        if rule is None:
            raise Http404("No such rule.")
        if not self.has_view_or_change_permission(request, rule):
            raise PermissionDenied
        form = TryRuleForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            raw = form.cleaned_data["message"].lstrip().encode("utf-8", "replace")
            preview = preview_rule(as_rule(rule), raw)
        fields = preview.parsed.fields if preview else {}
        found = [(self.field_label(name), ", ".join(value) if isinstance(value, list) else value)
                 for name in (*RULE_FIELDS, "lead_type", "tags") if (value := fields.get(name))]
        return TemplateResponse(request, "admin/leads/emailparsingrule/try.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"Try \"{rule}\" on a message", "rule": rule, "form": form,
            "preview": preview, "found": found,
            "change_url": reverse("admin:leads_emailparsingrule_change", args=[rule.pk]),
        })
