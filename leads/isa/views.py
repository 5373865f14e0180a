"""The ISA's pages: the queue, a lead (log, stage, qualification, hand off), the leads they
handed off, and the ISA figures for managers.

Mobile first and plain form posts, like the agent pages (``leads.views``), whose helpers they
share. ISAs and managers only; a manager sees every ISA's leads and may act for the ISA.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.models import Agent
from agents.pages import agent_required, render_page
from leads.display import area, duration, money, short_age
from leads.forms import ActivityForm
from leads.isa import queue as isa_service
from leads.isa.figures import isa_figures
from leads.isa.handoffs import HandoffRefused, hand_off, preview_handoff
from leads.isa.progress import latest_steps
from leads.isa.queue import IsaRefused, Stage
from leads.models import Activity, Lead, Qualification
from leads.selectors import why_chapters
from leads.services import current_stage, speed_to_lead
from routing.models import Handoff, HandoffTarget

QUEUE_PER_PAGE = 50
FIGURE_PERIODS = ((7, "7 days"), (30, "30 days"), (90, "90 days"), (0, "All time"))


def isa_required(view):
    """Logged in as an ISA or a manager; anyone else gets a plain 403."""

    @agent_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.agent.role != Agent.Role.ISA and not request.is_manager:
            return render_page(request, "isa/forbidden.html", {}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def lead_name(lead: Lead) -> str:
    return str(lead)


# --- Forms -----------------------------------------------------------------------------------


class CardForm(forms.Form):
    STAGES = [(s, Stage(s).label) for s in (*isa_service.OPEN_STAGES, Stage.DEAD)]
    TEMPERATURES = [("", "Not set"), *Lead.Temperature.choices]

    stage = forms.ChoiceField(choices=STAGES)
    dead_reason = forms.CharField(required=False, max_length=200, label="Why is it dead?")
    temperature = forms.ChoiceField(choices=TEMPERATURES, required=False,
                                    widget=forms.RadioSelect)
    follow_up_on = forms.DateField(required=False, label="Follow up on",
                                   widget=forms.DateInput(attrs={"type": "date"},
                                                          format="%Y-%m-%d"))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("stage") == Stage.DEAD and not cleaned.get("dead_reason", "").strip():
            self.add_error("dead_reason", "Say why the lead is dead.")
        return cleaned


class QualificationForm(forms.Form):
    timeframe = forms.ChoiceField(choices=[("", "Not known"), *Qualification.Timeframe.choices],
                                  required=False)
    pre_approved = forms.ChoiceField(choices=[("", "Not known"), ("yes", "Yes"), ("no", "No")],
                                     required=False, label="Pre-approved")
    budget = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2,
                                widget=forms.NumberInput(attrs={"inputmode": "numeric",
                                                                "step": "any"}))
    areas = forms.CharField(required=False, max_length=300, label="Areas")
    side = forms.ChoiceField(choices=[("", "Not known"), *Qualification.Side.choices],
                             required=False, label="Buyer or seller")

    def values(self) -> dict:
        """The facts posted, and only those: a field the post did not carry is kept as it is,
        so that saving one part of the page never clears another."""
        data = {name: value for name, value in self.cleaned_data.items() if name in self.data}
        if "pre_approved" in data:
            data["pre_approved"] = {"yes": True, "no": False}.get(data["pre_approved"])
        return data

    @classmethod
    def initial_for(cls, qualification: Qualification | None) -> dict:
        if qualification is None:
            return {}
        return {"timeframe": qualification.timeframe,
                "pre_approved": {True: "yes", False: "no"}.get(qualification.pre_approved, ""),
                "budget": qualification.budget, "areas": qualification.areas,
                "side": qualification.side}


class HandoffForm(forms.Form):
    """Who receives the lead: ``t<id>`` a hand-off target, ``a<id>`` an agent by name."""

    to = forms.ChoiceField(label="Hand off to")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000,
                           label="Note for the agent",
                           error_messages={"required": "Write a note for the agent."})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        targets = [(f"t{t.pk}", f"{t.name} ({t.get_selection_display().split(' (')[0].lower()})")
                   for t in HandoffTarget.objects.filter(is_active=True)]
        agents = [(f"a{a.pk}", a.name) for a in Agent.objects.filter(
            is_active=True, role__in=(Agent.Role.AGENT, Agent.Role.MANAGER)).order_by("name")]
        groups = [(label, choices) for label, choices in (("Hand-off targets", targets),
                                                          ("Agents", agents)) if choices]
        self.fields["to"].choices = [("", "Choose…"), *groups]  # no empty group shown

    def receiver(self) -> dict:
        to = self.cleaned_data["to"]
        return {"target": int(to[1:])} if to[0] == "t" else {"agent": int(to[1:])}


# --- The queue -------------------------------------------------------------------------------


def _viewed_isa(request: HttpRequest) -> Agent | None:
    """Whose leads: the ISA's own; a manager sees every ISA's, or one's (``?isa=``)."""
    if request.agent.role == Agent.Role.ISA:
        return request.agent
    isa_id = request.GET.get("isa", "")
    if isa_id.isdigit():
        return Agent.objects.filter(pk=isa_id, role=Agent.Role.ISA).first()
    return None


@isa_required
def queue_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    today = timezone.localdate(now)
    isa = _viewed_isa(request)
    stage = request.GET.get("stage", "")
    stage = stage if stage in Stage.values and stage != Stage.HANDED_OFF else ""
    temperature = request.GET.get("temperature", "")
    temperature = temperature if temperature in (*Lead.Temperature.values, "none") else ""
    sources = isa_service.queue_sources(isa)
    source = request.GET.get("source", "")
    source = source if source in sources else ""
    leads = isa_service.queue(isa, today=today, stage=stage, source=source,
                              temperature=temperature)
    page = Paginator(leads, QUEUE_PER_PAGE).get_page(request.GET.get("page"))
    rows, previous = [], None
    for lead in page:
        group = isa_service.queue_group(lead.isa_stage, lead.follow_up_on, today)
        speed = speed_to_lead(lead)
        rows.append({
            "lead": lead,
            "name": lead_name(lead),
            "heading": isa_service.QUEUE_GROUPS[group] if group != previous else "",
            "stage": Stage(isa_service.stage_of(lead)).label,
            "stage_value": isa_service.stage_of(lead),
            "age": short_age(lead.received_at, now),
            "new": group == 0,
            "speed": duration(speed) if speed is not None else "",
            "follow_up_overdue": bool(lead.follow_up_on and lead.follow_up_on < today),
            "area": area(lead),
            "price": money(lead.price),
        })
        previous = group
    query = {k: v for k, v in (("stage", stage), ("source", source),
                               ("temperature", temperature),
                               ("isa", str(isa.pk) if isa and request.is_manager else ""))
             if v}
    return render_page(request, "isa/queue.html", {
        "rows": rows,
        "page": page,
        "stage": stage,
        "stages": [(s, Stage(s).label) for s in (*isa_service.OPEN_STAGES, Stage.DEAD)],
        "source": source,
        "sources": sources,
        "temperature": temperature,
        "temperatures": [*Lead.Temperature.choices, ("none", "Not set")],
        "isa": isa,
        "isas": Agent.objects.filter(role=Agent.Role.ISA) if request.is_manager else [],
        "show_isa": request.is_manager and isa is None,
        "query": urlencode(query),
        "heading": ("My queue" if request.agent.role == Agent.Role.ISA
                    else f"{isa.name}'s queue" if isa else "Every ISA's queue"),
        "today": today,
    })


# --- A lead ----------------------------------------------------------------------------------


def _visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = Lead.objects.select_related("owner", "isa").filter(pk=lead_id).first()
    if lead is None or not isa_service.may_see(lead, request.agent):
        raise Http404("No such lead.")
    return lead


@isa_required
def lead_page(request: HttpRequest, lead_id: int, *, bound: dict | None = None,
              status: int = 200) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    now = timezone.now()
    bound = bound or {}
    qualification = isa_service.qualification_of(lead)
    can_work = isa_service.may_work(lead, request.agent)
    speed = speed_to_lead(lead)
    handoffs = list(lead.handoffs.select_related("agent", "target", "isa", "by"))
    steps = latest_steps(handoffs)
    return render_page(request, "isa/lead.html", {
        "lead": lead,
        "name": lead_name(lead),
        "stage": Stage(isa_service.stage_of(lead)).label,
        "stage_value": isa_service.stage_of(lead),
        # Once an agent has it: their stage, part of the progress the ISA follows.
        "agent_stage": current_stage(lead) if handoffs and lead.owner_id != lead.isa_id else None,
        "price": money(lead.price),
        "area": area(lead),
        "age": short_age(lead.received_at, now),
        "speed": duration(speed) if speed is not None else "",
        "facts": isa_service.facts_lines(isa_service.qualification_facts(lead)),
        "can_work": can_work,
        "can_log": can_work or lead.isa_id == request.agent.pk,
        "log_form": bound.get("log") or ActivityForm(),
        "card_form": bound.get("card") or CardForm(initial={
            "stage": isa_service.stage_of(lead), "dead_reason": lead.dead_reason,
            "temperature": lead.temperature, "follow_up_on": lead.follow_up_on}),
        "qualification_form": bound.get("qualification") or QualificationForm(
            initial=QualificationForm.initial_for(qualification)),
        "handoff_form": bound.get("handoff") or HandoffForm(),
        "handoffs": [{**_handoff_row(h, now), "steps": steps.get(h.pk, [])} for h in handoffs],
        "activities": lead.activities.select_related("actor"),
        # The agents' own story of the routing (first names, no emails), not the engine's trace.
        "records": why_chapters(lead, request.agent),
    }, status=status)


def _refused(request: HttpRequest, lead_id: int, error: Exception | str) -> HttpResponse:
    messages.error(request, str(error))
    return redirect("isa-lead", lead_id)


@require_POST
@isa_required
def lead_log(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    form = ActivityForm(request.POST)
    if not form.is_valid():
        return lead_page(request, lead_id, bound={"log": form}, status=400)
    kind = form.cleaned_data["kind"]
    had_contact = lead.first_contact_at is not None
    try:
        isa_service.log_contact(lead, request.agent, kind, form.cleaned_data["body"].strip(),
                                now=timezone.now())
    except IsaRefused as refused:
        return _refused(request, lead_id, refused)
    text = f"{Activity.Kind(kind).label} logged."
    if not had_contact and lead.first_contact_at is not None:
        text += f" Speed to lead: {duration(speed_to_lead(lead))}."
    messages.success(request, text)
    return redirect("isa-lead", lead.pk)


@require_POST
@isa_required
def lead_card(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The status card and the qualification, posted by one form and saved together.

    Both are validated before anything is saved, and a refusal shows the page again with
    everything typed in either part; a post that carries no qualification field (an older
    page, a script) leaves the qualification as it is.
    """
    lead = _visible_lead(request, lead_id)
    form = CardForm(request.POST)
    qualification = QualificationForm(request.POST)
    if not (form.is_valid() & qualification.is_valid()):
        return lead_page(request, lead_id, bound={"card": form, "qualification": qualification},
                         status=400)
    data = form.cleaned_data
    facts = qualification.values()
    now = timezone.now()
    try:
        with transaction.atomic():
            changes = isa_service.update_card(
                lead, request.agent, stage=data["stage"], dead_reason=data["dead_reason"],
                temperature=data["temperature"] or "", follow_up_on=data["follow_up_on"],
                now=now)
            if facts:
                before = isa_service.facts_of_qualification(isa_service.qualification_of(lead))
                saved = isa_service.save_qualification(lead, request.agent, facts, now=now)
                if isa_service.facts_of_qualification(saved) != before:
                    changes.append("Qualification updated")
    except IsaRefused as refused:
        return _refused(request, lead_id, refused)
    messages.success(request, "Saved: " + "; ".join(changes) + "." if changes
                     else "Nothing changed.")
    return redirect("isa-lead", lead.pk)


@require_POST
@isa_required
def lead_qualify(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    form = QualificationForm(request.POST)
    if not form.is_valid():
        return lead_page(request, lead_id, bound={"qualification": form}, status=400)
    try:
        isa_service.save_qualification(lead, request.agent, form.values(), now=timezone.now())
    except IsaRefused as refused:
        return _refused(request, lead_id, refused)
    messages.success(request, "Qualification saved.")
    return redirect("isa-lead", lead.pk)


@require_POST
@isa_required
def lead_handoff(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Two steps: ``preview`` (who would get it, or why nobody can), then ``confirm``."""
    lead = _visible_lead(request, lead_id)
    form = HandoffForm(request.POST)
    if not form.is_valid():
        return lead_page(request, lead_id, bound={"handoff": form}, status=400)
    now = timezone.now()
    receiver = form.receiver()
    if "confirm" in request.POST:
        try:
            handoff = hand_off(lead.pk, isa=request.agent, note=form.cleaned_data["note"],
                               now=now, **receiver)
        except HandoffRefused as refused:  # e.g. nobody can take it any more: say so, and
            # show what a hand-off would do now, so that the ISA may pick another receiver
            return _preview(request, lead, form, receiver, now, status=409, error=str(refused))
        who = handoff.agent.name if handoff.agent else "the agents of " + handoff.target_name
        messages.success(request, f"{lead_name(lead)} handed off to {who}.")
        return redirect("isa-handed-off")
    return _preview(request, lead, form, receiver, now)


def _preview(request: HttpRequest, lead: Lead, form: HandoffForm, receiver: dict, now,
             *, status: int = 200, error: str = "") -> HttpResponse:
    try:
        preview = preview_handoff(lead.pk, isa=request.agent, now=now, **receiver)
    except HandoffRefused as refused:
        return _refused(request, lead.pk, error or refused)
    return render_page(request, "isa/handoff_preview.html", {
        "lead": lead,
        "name": lead_name(lead),
        "preview": preview,
        "form": form,
        "facts": isa_service.facts_lines(isa_service.qualification_facts(lead)),
        "error": error,
    }, status=status)


# --- Handed off ------------------------------------------------------------------------------


def _handoff_row(handoff: Handoff, now) -> dict:
    contact = ""
    if handoff.contacted_at:
        contact = duration(handoff.contacted_at - handoff.created_at) + " after the hand-off"
    return {
        "handoff": handoff,
        "to": (handoff.target_name or (handoff.agent.name if handoff.agent else "an agent")),
        "agent": handoff.agent,
        "status": handoff.get_status_display(),
        "open": handoff.status in Handoff.OPEN,
        "contact": contact,
        "in_time": handoff.contacted_in_time,
        "overdue": bool(handoff.status == Handoff.Status.ASSIGNED and handoff.contact_due_at
                        and handoff.contact_due_at <= now),
        "age": short_age(handoff.created_at, now),
    }


@isa_required
def handed_off_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    handoffs = Handoff.objects.select_related("lead", "lead__owner", "agent", "target", "isa")
    isa = _viewed_isa(request)
    if isa is not None:
        handoffs = handoffs.filter(isa=isa)
    page = Paginator(handoffs.order_by("-created_at", "-id"), QUEUE_PER_PAGE).get_page(
        request.GET.get("page"))
    steps = latest_steps(list(page))
    rows = [{**_handoff_row(h, now), "lead": h.lead, "name": lead_name(h.lead),
             "steps": steps.get(h.pk, [])} for h in page]
    return render_page(request, "isa/handed_off.html", {
        "rows": rows, "page": page, "show_isa": request.is_manager and isa is None,
    })


# --- Figures ---------------------------------------------------------------------------------


@isa_required
def figures_page(request: HttpRequest) -> HttpResponse:
    if not request.is_manager:
        return render_page(request, "isa/forbidden.html", {"managers_only": True}, status=403)
    days = request.GET.get("days", "30")
    days = int(days) if days.isdigit() and int(days) in dict(FIGURE_PERIODS) else 30
    since = timezone.now() - timedelta(days=days) if days else None
    rows = [{"figures": f,
             "median": duration(f.median_first_contact) if f.median_first_contact is not None
             else ""}
            for f in isa_figures(since=since)]
    return render_page(request, "isa/figures.html", {
        "rows": rows, "days": days, "periods": FIGURE_PERIODS,
    })
