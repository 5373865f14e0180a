"""The managers' admin for people: agents (logins, pause / resume, caps), rosters, shifts.

- Agents: availability, caps, territory and today's load at a glance (counted in the list's
  one query); pause / resume actions; adding an agent gives them a login in their role's group.
  An agent who leaves is deactivated (a page: where their open leads go), never deleted once
  they have history (``routing.departures``); reactivating reopens their login.
- Rosters: members drag-ordered with their leads per round, and where each rule's rotation
  over the roster stands: whose turn it is and who would get the next lead.
- Shifts: by agent and weekday, and "who is on duty" at any moment (brokerage time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from adminsortable2.admin import SortableAdminBase, SortableTabularInline
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from agents.models import Agent, Roster, RosterMember, Shift, TimeOff
from agents.services import end_logins, ensure_login, set_accepting_leads, sync_access
from config.text import plural
from leads.models import Lead
from routing import engine
from routing.departures import (
    DepartureRefused,
    Release,
    deactivate_agent,
    history_of,
    live_offers_of,
    open_leads_of,
    reactivate_agent,
)
from routing.models import Brokerage, RotationState
from routing.selectors import routing_config
from routing.windows import DAY_NAMES, WeeklyWindow, describe_days, parse_days

DAY_CHOICES = [(day, day.title()) for day in DAY_NAMES]
LIST_PREVIEW = 5  # zip codes / specialties shown in the agent list before "+N more"


def brokerage_tz() -> ZoneInfo:
    return ZoneInfo(Brokerage.load().tz_name)


#: The brokerage's zone, read once for a page that shows many moments (see ``rendered_in_zone``).
PAGE_ZONE: ContextVar[ZoneInfo | None] = ContextVar("page_zone", default=None)


def local_text(moment: datetime | None) -> str:
    """A moment in brokerage time, as the admin shows it."""
    if moment is None:
        return "-"
    return f"{moment.astimezone(PAGE_ZONE.get() or brokerage_tz()):%a %Y-%m-%d %H:%M}"


def rendered_in_zone(view: Callable[[], HttpResponse]) -> HttpResponse:
    """The admin page, rendered with the brokerage's zone read once (not once a row)."""
    token = PAGE_ZONE.set(brokerage_tz())
    try:
        response = view()
        if isinstance(response, TemplateResponse):
            response.render()
        return response
    finally:
        PAGE_ZONE.reset(token)


def brokerage_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Today in brokerage time, as the caps count it (``routing.services.agent_loads``)."""
    start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def availability_text(agent: Agent | engine.AgentInfo) -> str:
    """Inactive, paused, away on time off (from the request's routing snapshot: no query per
    row), or accepting."""
    if not agent.is_active:
        return "✖ Inactive"
    if not agent.accepting_leads:
        return "⏸ Paused"
    info = agent if isinstance(agent, engine.AgentInfo) else routing_config().agents.get(agent.pk)
    away = info.away_at(timezone.now()) if info is not None else None
    if away is not None:
        return f"✈ Away until {timezone.localtime(away.ends_at):%a %d %b %H:%M}"
    return "✔ Accepting"


def day_names(days) -> list[str]:
    """The stored weekday list in week order and short form; unknown names are dropped."""
    found = set()
    for name in days or ():
        try:
            found |= parse_days([str(name)])
        except ValueError:
            continue
    return [DAY_NAMES[i] for i in sorted(found)]


def shift_window(shift: Shift) -> WeeklyWindow:
    return WeeklyWindow(frozenset(DAY_NAMES.index(d) for d in day_names(shift.days)),
                        shift.start, shift.end)


# --- Form fields ------------------------------------------------------------------------------


class CommaListField(forms.CharField):
    """A JSON list of short strings typed as ``10001, 10002`` (commas or spaces)."""

    def __init__(self, *args, lower: bool = False, **kwargs) -> None:
        self.lower = lower
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60}))
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            items = [str(v) for v in value]
        else:
            items = re.split(r"[,\s;]+", super().to_python(value) or "")
        items = [item.strip().lower() if self.lower else item.strip() for item in items]
        return list(dict.fromkeys(item for item in items if item))


class DaysField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=DAY_CHOICES, **kwargs)

    def clean(self, value) -> list[str]:
        chosen = set(super().clean(value))
        return [day for day in DAY_NAMES if day in chosen]


# --- Agents -----------------------------------------------------------------------------------


class ShiftForm(forms.ModelForm):
    days = DaysField(help_text="Weekdays the shift starts on.")

    class Meta:
        model = Shift
        fields = ("agent", "days", "start", "end")
        help_texts = {"end": "Before the start: runs past midnight. 23:59: the end of the day."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["days"] = day_names(self.instance.days)


class ShiftInline(admin.TabularInline):
    model = Shift
    form = ShiftForm
    extra = 0
    fields = ("days", "start", "end")
    classes = ("collapse",)


class TimeOffInline(admin.TabularInline):
    """Time off on the agent's page: a manager sets it ahead (saved as a manager's)."""

    model = TimeOff
    extra = 0
    fields = ("starts_at", "ends_at", "note", "source", "created_by")
    readonly_fields = ("source", "created_by")
    classes = ("collapse",)
    verbose_name_plural = "time off (the agent is skipped for exactly that time)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimeOff]:
        return super().get_queryset(request).filter(ends_at__gt=timezone.now())


class AgentForm(forms.ModelForm):
    zip_codes = CommaListField(label="Territory zip codes",
                               help_text="Comma separated, e.g. 60601, 60602.")
    specialties = CommaListField(lower=True, help_text="Matched against lead tags, e.g. luxury.")
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Optional. Without one, the agent sets a password with “Forgot password” "
        "on the login page.",
    )

    class Meta:
        model = Agent
        fields = ("name", "email", "phone", "role", "is_active", "accepting_leads",
                  "max_open_leads", "max_leads_per_day", "zip_codes", "specialties",
                  "quiet_hours_start", "quiet_hours_end", "away_calendar_url")

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        taken = get_user_model().objects.filter(username=email, agent__isnull=False)
        if self.instance.pk:
            taken = taken.exclude(agent=self.instance)
        if taken.exists():
            raise forms.ValidationError("Another agent already logs in with this email.")
        return email

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            password_validation.validate_password(password)
        return password


class DeactivateForm(forms.Form):
    """Where a departing agent's open leads go."""

    release = forms.ChoiceField(label="Their open leads", choices=Release.choices,
                                initial=Release.ROUTING, widget=forms.RadioSelect)
    to_agent = forms.ModelChoiceField(
        label="Agent", required=False, queryset=Agent.objects.none(),
        help_text="With “To one agent”: the active agent who gets every open lead.")

    def __init__(self, *args, leaving: Agent, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_agent"].queryset = Agent.objects.filter(is_active=True).exclude(
            pk=leaving.pk)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("release") == Release.AGENT and not data.get("to_agent"):
            self.add_error("to_agent", "Choose the agent who gets the open leads.")
        return data


class AvailabilityFilter(admin.SimpleListFilter):
    title = "availability"
    parameter_name = "availability"

    def lookups(self, request, model_admin):
        return [("accepting", "Accepting leads"), ("paused", "Paused"), ("inactive", "Inactive")]

    def queryset(self, request, queryset):
        if self.value() == "accepting":
            return queryset.filter(is_active=True, accepting_leads=True)
        if self.value() == "paused":
            return queryset.filter(accepting_leads=False)
        if self.value() == "inactive":
            return queryset.filter(is_active=False)
        return queryset


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = ("name", "email", "role", "availability", "caps", "territory",
                    "specialty_list", "open_leads", "leads_today")
    list_filter = ("role", "is_active", AvailabilityFilter)
    search_fields = ("name", "email", "phone")
    actions = ["pause", "resume", "deactivate", "reactivate"]
    readonly_fields = ("login", "active")
    inlines = [ShiftInline, TimeOffInline]

    def get_fieldsets(self, request, obj=None):
        person = ("name", "email", "phone", "role") + (("login",) if obj else ("password",))
        # An existing agent is deactivated through its page (their leads must go somewhere).
        active = "active" if obj else "is_active"
        # Most used first; the rarely changed settings fold away.
        return [
            (None, {"fields": person}),
            ("Availability", {"fields": (active, "accepting_leads", "away_calendar_url")}),
            ("Caps", {"fields": ("max_open_leads", "max_leads_per_day"),
                      "classes": ("collapse",)}),
            ("Territory and specialties", {"fields": ("zip_codes", "specialties"),
                                           "classes": ("collapse",)}),
            ("Quiet hours", {"fields": ("quiet_hours_start", "quiet_hours_end"),
                             "classes": ("collapse",),
                             "description": "Non-urgent notices wait until they end; offers, "
                             "reminders, escalations and new leads reach the agent anyway."}),
        ]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is TimeOff:
            for row in formset.save(commit=False):
                if row.pk is None:
                    row.source, row.created_by = TimeOff.Source.MANAGER, request.user
                row.save()
            for gone in formset.deleted_objects:
                gone.delete()
            return
        super().save_formset(request, form, formset, change)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        start, end = brokerage_day(timezone.now(), brokerage_tz())
        return super().get_queryset(request).annotate(
            open_count=Count("leads", filter=Q(leads__status__in=Lead.OPEN_STATUSES)),
            today_count=Count("leads", filter=Q(leads__assigned_at__gte=start,
                                                leads__assigned_at__lt=end)),
        )

    @admin.display(description="availability", ordering="accepting_leads")
    def availability(self, agent: Agent) -> str:
        return availability_text(agent)

    @admin.display(description="caps")
    def caps(self, agent: Agent) -> str:
        parts = []
        if agent.max_open_leads is not None:
            parts.append(f"{agent.max_open_leads} open")
        if agent.max_leads_per_day is not None:
            parts.append(f"{agent.max_leads_per_day}/day")
        return " · ".join(parts) or "-"

    @staticmethod
    def _preview(values) -> str:
        values = [str(v) for v in values or ()]
        shown = ", ".join(values[:LIST_PREVIEW])
        more = len(values) - LIST_PREVIEW
        return (shown + (f" +{more} more" if more > 0 else "")) or "-"

    @admin.display(description="territory")
    def territory(self, agent: Agent) -> str:
        return self._preview(agent.zip_codes)

    @admin.display(description="specialties")
    def specialty_list(self, agent: Agent) -> str:
        return self._preview(agent.specialties)

    @admin.display(description="open leads", ordering="open_count")
    def open_leads(self, agent: Agent) -> int:
        return agent.open_count

    @admin.display(description="leads today", ordering="today_count")
    def leads_today(self, agent: Agent) -> int:
        return agent.today_count

    @admin.display(description="login")
    def login(self, agent: Agent) -> str:
        if agent.user is None:
            return "No login"
        groups = ", ".join(agent.user.groups.order_by("name").values_list("name", flat=True))
        return f"{agent.user.get_username()} ({groups or 'no group'})"

    @admin.display(description="active")
    def active(self, agent: Agent) -> str:
        if not agent.pk:
            return "-"
        if not agent.is_active:
            return "✖ Inactive (left): use the “Reactivate” action in the list to bring them back"
        return format_html('✔ Active · <a href="{}">Deactivate (the agent leaves)…</a>',
                           reverse("admin:agents_agent_deactivate", args=[agent.pk]))

    def save_model(self, request, obj: Agent, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            ensure_login(obj, password=form.cleaned_data.get("password") or None)
            if not obj.is_active:
                end_logins(obj)  # added as inactive: no way in until reactivated
            return
        if obj.user is not None and "email" in form.changed_data:
            users = get_user_model().objects
            if not users.filter(username=obj.email).exclude(pk=obj.user_id).exists():
                obj.user.username = obj.user.email = obj.email
                obj.user.save(update_fields=["username", "email"])
        sync_access(obj)  # the role may have changed: the login moves to that role's group

    @admin.action(description="Pause: skip them in rotations, keeping their place",
                  permissions=["change"])
    def pause(self, request, queryset) -> None:
        self._set_accepting(request, queryset, False)

    @admin.action(description="Resume: send them leads again", permissions=["change"])
    def resume(self, request, queryset) -> None:
        self._set_accepting(request, queryset, True)

    @admin.action(description="Deactivate: the agent leaves (their leads move on)…",
                  permissions=["change"])
    def deactivate(self, request, queryset) -> HttpResponse | None:
        agents = list(queryset[:2])
        if len(agents) != 1:
            self.message_user(request, "Deactivate one agent at a time: you choose where "
                              "each one's open leads go.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:agents_agent_deactivate",
                                            args=[agents[0].pk]))

    @admin.action(description="Reactivate: back at the brokerage, login reopened",
                  permissions=["change"])
    def reactivate(self, request, queryset) -> None:
        names = [reactivate_agent(agent_id=agent.pk).name
                 for agent in queryset.filter(is_active=False)]
        who = ", ".join(names) or "nobody (no change needed)"
        self.message_user(request, f"Reactivated: {who}.",
                          messages.SUCCESS if names else messages.INFO)

    def get_urls(self):
        view = self.admin_site.admin_view(self.deactivate_view)
        return [path("<path:object_id>/deactivate/", view, name="agents_agent_deactivate"),
                *super().get_urls()]

    def deactivate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The agent leaves: the manager chooses where their open leads go, then confirms."""
        agent = self.get_object(request, object_id)
        if agent is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, agent):
            raise PermissionDenied
        form = DeactivateForm(request.POST if request.method == "POST" else None,
                              leaving=agent)
        if form.is_bound and form.is_valid():
            by = getattr(request.user, "agent", None)
            try:
                departure = deactivate_agent(
                    agent_id=agent.pk, release=form.cleaned_data["release"],
                    to_agent=form.cleaned_data.get("to_agent"), by=by, now=timezone.now())
            except DepartureRefused as refused:
                form.add_error(None, refused.message)
            else:
                self.message_user(request, f"{agent.name} deactivated: {departure.summary}",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:agents_agent_change",
                                                    args=[agent.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Deactivate {agent.name}",
            "opts": self.model._meta,
            "agent": agent,
            "form": form,
            "offers_text": plural(live_offers_of(agent).count(), "live offer"),
            "leads_text": plural(open_leads_of(agent).count(), "open lead"),
        }
        return TemplateResponse(request, "admin/agents/agent/deactivate.html", context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        """An agent with history is deactivated instead: deleting would lose it."""
        agent = self.get_object(request, object_id)
        if agent is not None and self.has_delete_permission(request, agent):
            history = history_of(agent)
            if history:
                return self._keep_history_page(request, agent, history)
        return super().delete_view(request, object_id, extra_context)

    def _keep_history_page(self, request: HttpRequest, agent: Agent,
                           history: list[str]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"{agent.name} cannot be deleted",
            "opts": self.model._meta,
            "agent": agent,
            "history": history,
            "deactivate_url": reverse("admin:agents_agent_deactivate", args=[agent.pk]),
        }
        return TemplateResponse(request, "admin/agents/agent/keep_history.html", context)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (AgentAdmin.delete_without_history, name, description)
        return actions

    def delete_without_history(self, request, queryset):
        """Django's bulk delete, refused for agents with history (deactivate them)."""
        kept = [agent for agent in queryset if history_of(agent)]
        if kept:
            links = mark_safe(", ").join(  # noqa: S308 (a constant)
                format_html('<a href="{}">{}</a>',
                            reverse("admin:agents_agent_deactivate", args=[a.pk]), a.name)
                for a in kept)
            self.message_user(request, format_html(
                "Nothing deleted: {} {} history (offers, leads, timeline). Deactivate them "
                "instead: {}.", ", ".join(a.name for a in kept),
                "has" if len(kept) == 1 else "have", links), messages.ERROR)
            return None
        return delete_selected(self, request, queryset)

    def _set_accepting(self, request, queryset, accepting: bool) -> None:
        changed = list(queryset.filter(accepting_leads=not accepting))
        for agent in changed:
            set_accepting_leads(agent, accepting)
        names = ", ".join(agent.name for agent in changed) or "nobody (no change needed)"
        self.message_user(request, f"{'Resumed' if accepting else 'Paused'}: {names}.",
                          messages.SUCCESS if changed else messages.INFO)


# --- Rosters ----------------------------------------------------------------------------------


class RosterMemberInline(SortableTabularInline):
    model = RosterMember
    extra = 0
    fields = ("agent", "leads_per_round")
    autocomplete_fields = ("agent",)


@dataclass
class MemberRow:
    position: int
    name: str
    leads_per_round: int
    status: str
    eligible: bool
    current: str = ""  # "2 of 3 leads given" when the turn is theirs
    is_next: bool = False


@dataclass
class RotationView:
    rule_name: str
    rule_url: str | None
    kind: str  # "agents" | "lenders"
    selection: str
    turn: str
    next_text: str
    notes: list[str] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)


def rotation_overview(roster: Roster, *, now: datetime | None = None) -> list[RotationView]:
    """For every rule using the roster: whose turn it is and who the next lead would go to.

    The next pick is the engine's (``engine.preview_rotation``), over the members who could
    receive a lead arriving now (active, not paused, on duty, under their caps); territory
    rules depend on the lead's zip code, so there only the order is shown.
    """
    from routing.selectors import routing_config
    from routing.services import agent_loads

    now = now or timezone.now()
    config = routing_config()
    rules = [(r, engine.AGENT) for r in config.rules if r.roster_id == roster.pk]
    rules += [(r, engine.LENDER) for r in config.rules if r.lender_roster_id == roster.pk]
    if not rules:
        return []
    info = config.rosters.get(roster.pk)
    members = info.members if info else ()
    states = {(s.rule_id, s.kind): s for s in RotationState.objects.filter(
        rule_id__in={r.id for r, _ in rules}).select_related("agent")}
    local = engine.to_local(now, config.timezone)
    loads = agent_loads(engine.agents_needing_loads(config, [r for r, _ in rules]), now,
                        config.timezone)
    views = []
    for rule, kind in rules:
        state = states.get((rule.id, kind))
        views.append(_rotation_view(config, rule, kind, members, state, local, loads))
    return views


def _rotation_view(config, rule, kind, members, state, local, loads) -> RotationView:
    """The engine's preview of one rotation (``engine.preview_rotation``), in words."""
    cursor = engine.Cursor(state.agent_id, state.position, state.given) if state else (
        engine.Cursor())
    preview = engine.preview_rotation(config, rule, kind, members, cursor, loads, local)
    selection = preview.selection
    view = RotationView(
        rule_name=rule.name, rule_url=_rule_url(rule.id),
        kind="agents" if kind == engine.AGENT else "lenders",
        selection=selection.replace("_", " "), turn="", next_text="",
        notes=[_note_text(note, preview) for note in preview.notes],
    )
    for place, check in enumerate(preview.members, start=1):
        agent = config.agents.get(check.member.agent_id)
        view.members.append(MemberRow(
            position=place,  # 1-based, in the roster's order: the stored key may start at 0
            name=agent.name if agent else f"agent #{check.member.agent_id}",
            leads_per_round=check.member.leads_per_round,
            status="can receive" if check.eligible else check.why, eligible=check.eligible,
        ))
    rows = {m.agent_id: row for m, row in zip(members, view.members, strict=True)}
    if state is not None and state.agent_id:
        member = preview.current
        name = state.agent.name if state.agent else "a deleted agent"
        if member is None:
            given = plural(state.given, "lead")
            view.turn = (f"{name}'s turn, {given} given (no longer on the roster: "
                         "the next lead goes to the following position)")
        else:
            view.turn = f"{name}'s turn: {state.given} of {member.leads_per_round} leads given"
            rows[member.agent_id].current = f"{state.given} of {member.leads_per_round} given"
    else:
        view.turn = "Not started: the first lead goes to the first member who can receive it"
    if selection == engine.Selection.FIRST_IN_ROSTER:
        view.turn = "No rotation: always the first member in the roster who can receive it"
    if preview.first_to_claim:
        names = [rows[agent_id].name for agent_id in preview.eligible]
        view.turn = "No rotation: the rule offers each lead to everyone at once"
        view.next_text = ("Offered to everyone who can receive it, first to claim wins: "
                          + (", ".join(names) or "nobody"))
        for agent_id in preview.eligible:
            rows[agent_id].is_next = True
        return view
    chosen = preview.chosen
    if chosen is None:
        view.next_text = "Nobody on the roster can receive a lead now"
        return view
    rows[chosen.agent_id].is_next = True
    view.next_text = (f"{rows[chosen.agent_id].name} "
                      f"(position {rows[chosen.agent_id].position})")
    if selection != engine.Selection.FIRST_IN_ROSTER:
        view.next_text += f", lead {preview.cursor.given} of {chosen.leads_per_round} in the turn"
    return view


def _note_text(note: engine.PreviewNote, preview: engine.RotationPreview) -> str:
    return {
        engine.PreviewNote.PAUSED: "The rule is paused: it takes no leads.",
        engine.PreviewNote.OUTSIDE_HOURS: "Outside the rule's hours right now.",
        engine.PreviewNote.TERRITORY: "Territory: only members whose zip codes include the "
                                      "lead's are considered, in this rotation order.",
        engine.PreviewNote.FEWEST_OPEN: f"Fewest open leads first ({preview.fewest} now).",
    }[note]


def _rule_url(rule_id: int) -> str | None:
    try:
        return reverse("admin:routing_rule_change", args=[rule_id])
    except Exception:  # the rule admin is not registered
        return None


@admin.register(Roster)
class RosterAdmin(SortableAdminBase, SimpleHistoryAdmin):
    list_display = ("name", "member_count", "rule_count")
    search_fields = ("name",)
    readonly_fields = ("rotation",)
    fieldsets = [
        (None, {"fields": ("name",)}),
        ("Where the rotation stands", {"fields": ("rotation",), "classes": ("collapse",),
                                       "description": "Whose turn it is in every rule using "
                                       "this roster, and who would get a lead arriving now."}),
    ]
    inlines = [RosterMemberInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Roster]:
        return super().get_queryset(request).annotate(
            members_n=Count("members", distinct=True),
            rules_n=Count("rules", distinct=True) + Count("lender_rules", distinct=True),
        )

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj else [(None, {"fields": ("name",)})]

    @admin.display(description="members", ordering="members_n")
    def member_count(self, roster: Roster) -> int:
        return roster.members_n

    @admin.display(description="rules using it", ordering="rules_n")
    def rule_count(self, roster: Roster) -> int:
        return roster.rules_n

    @admin.display(description="rotation")
    def rotation(self, roster: Roster) -> str:
        if not roster.pk:
            return "-"
        return render_to_string("admin/agents/roster/rotation.html",
                                {"rotations": rotation_overview(roster)})


# --- Shifts -----------------------------------------------------------------------------------


class WeekdayFilter(admin.SimpleListFilter):
    """Shifts working on a weekday (the JSON list is read the way routing reads it)."""

    title = "weekday"
    parameter_name = "weekday"

    def lookups(self, request, model_admin):
        return DAY_CHOICES

    def queryset(self, request, queryset):
        day = self.value()
        if day not in DAY_NAMES:
            return queryset
        ids = [pk for pk, days in Shift.objects.values_list("pk", "days")
               if day in day_names(days)]
        return queryset.filter(pk__in=ids)


class OnDutyForm(forms.Form):
    at = forms.CharField(
        label="At", required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Brokerage time.",
    )

    def clean_at(self) -> datetime | None:
        value = (self.cleaned_data.get("at") or "").strip()
        if not value:
            return None
        for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
        raise forms.ValidationError("Enter a date and time, e.g. 2025-03-14T09:30.")


@dataclass
class OnDuty:
    agent: Agent
    shifts: list[str]
    availability: str


def on_duty_at(moment: datetime) -> list[OnDuty]:
    """Agents whose shifts cover the (aware) moment, in brokerage time, by name."""
    local = moment.astimezone(brokerage_tz())
    found: dict[int, OnDuty] = {}
    for shift in Shift.objects.select_related("agent").order_by("agent__name", "start"):
        if shift_window(shift).contains(local):
            row = found.setdefault(shift.agent_id, OnDuty(shift.agent, [],
                                                          availability_text(shift.agent)))
            row.shifts.append(describe_shift(shift))
    return sorted(found.values(), key=lambda row: (row.agent.name.lower(), row.agent.pk))


def describe_shift(shift: Shift) -> str:
    days = describe_days(frozenset(DAY_NAMES.index(d) for d in day_names(shift.days)))
    return f"{days} {shift.start:%H:%M}-{shift.end:%H:%M}"


@admin.register(Shift)
class ShiftAdmin(SimpleHistoryAdmin):
    form = ShiftForm
    list_display = ("agent", "weekdays", "start", "end", "agent_availability")
    list_filter = (WeekdayFilter, ("agent", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("agent",)
    search_fields = ("agent__name", "agent__email")
    autocomplete_fields = ("agent",)
    ordering = ("agent__name", "start")

    @admin.display(description="days")
    def weekdays(self, shift: Shift) -> str:
        return describe_days(frozenset(DAY_NAMES.index(d) for d in day_names(shift.days)))

    @admin.display(description="availability")
    def agent_availability(self, shift: Shift) -> str:
        return availability_text(shift.agent)

    def get_urls(self):
        view = self.admin_site.admin_view(self.on_duty_view)
        return [path("on-duty/", view, name="agents_shift_on_duty"), *super().get_urls()]

    def on_duty_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        tz = brokerage_tz()
        now = timezone.now().astimezone(tz).replace(second=0, microsecond=0)
        form = OnDutyForm(request.GET if "at" in request.GET else None)
        moment = now
        if form.is_bound and form.is_valid() and form.cleaned_data["at"]:
            moment = form.cleaned_data["at"].replace(tzinfo=tz)
        if not form.is_bound:
            form = OnDutyForm(initial={"at": now.strftime("%Y-%m-%dT%H:%M")})
        context = {
            **self.admin_site.each_context(request),
            "title": "Who is on duty",
            "opts": self.model._meta,
            "form": form,
            "moment": moment,
            "moment_text": f"{moment:%a %Y-%m-%d %H:%M}",
            "is_now": moment == now,
            "timezone_name": tz.key,
            "on_duty": on_duty_at(moment),
        }
        return TemplateResponse(request, "admin/agents/shift/on_duty.html", context)


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    """Everyone's time off: set by the agent, a manager, or read from their away calendar."""

    list_display = ("agent", "starts", "ends", "note", "source")
    list_filter = (("agent", admin.RelatedOnlyFieldListFilter), "source")
    list_select_related = ("agent",)
    search_fields = ("agent__name", "agent__email", "note")
    autocomplete_fields = ("agent",)
    date_hierarchy = "starts_at"
    fields = ("agent", "starts_at", "ends_at", "note", "source", "created_by")
    readonly_fields = ("source", "created_by")
    ordering = ("-starts_at",)

    @admin.display(description="from", ordering="starts_at")
    def starts(self, time_off: TimeOff) -> str:
        return local_text(time_off.starts_at)

    @admin.display(description="until", ordering="ends_at")
    def ends(self, time_off: TimeOff) -> str:
        return local_text(time_off.ends_at)

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Brokerage time, as the agent's page and the lead list show it (the zone read once)."""
        return rendered_in_zone(partial(super().changelist_view, request, extra_context))

    def save_model(self, request: HttpRequest, obj: TimeOff, form: Any, change: bool) -> None:
        if obj.pk is None:
            obj.source, obj.created_by = TimeOff.Source.MANAGER, request.user
        super().save_model(request, obj, form, change)
