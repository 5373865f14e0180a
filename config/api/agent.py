"""The agent API (``/api/v1/agent/...``) for the phone app, and the token login.

Thin on purpose: each view calls what the agent's web pages call (``routing.claims``,
``leads.services.log_activity``, ``agents.services.set_accepting_leads``) and picks leads with
the pages' own ``leads.selectors.visible_leads``, so the API and the pages never disagree. An
agent reaches only their own leads and offers: anyone else's answers 404, exactly like an id
that does not exist. Managers (and superusers, for reading) see every lead, as on the pages.
A refused claim (``ClaimRefused``) is answered by the API's exception handler: 409.

The plumbing shared with ``config.api.manager`` is in ``config.api.base``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from agents.access import is_manager
from agents.models import Agent, TimeOff
from agents.services import set_accepting_leads
from agents.time_off import add_time_off, cancel_time_off, time_off_of, upcoming_time_off
from config.api.base import ApiMixin, IsAgent, api_error, checked_id, errors, id_param
from config.api.serializers import (
    ActivityCreateSerializer,
    ActivitySerializer,
    AgentLeadDetailSerializer,
    AgentLeadSerializer,
    AppointmentSerializer,
    AppointmentWriteSerializer,
    AvailabilitySerializer,
    DeclineAnswerSerializer,
    DeclineSerializer,
    FollowUpDoneSerializer,
    FollowUpSerializer,
    FollowUpSetSerializer,
    LeadEssentialsSerializer,
    MyFairnessSerializer,
    OfferSerializer,
    StageSetSerializer,
    TimeOffSerializer,
    TimeOffWriteSerializer,
    TodaySerializer,
    TokenAnswerSerializer,
    TokenRequestSerializer,
)
from leads import followups
from leads.models import Activity, Appointment, Lead, Stage
from leads.search import search_leads, stage_query
from leads.selectors import get_visible_lead, visible_leads
from leads.services import log_activity, set_stage
from routing.claims import (
    claim_from_pond,
    claim_offer,
    decline_offer,
    open_offers_for,
    pond_leads,
)
from routing.fairness import agent_standing, week_start
from routing.models import Brokerage, Offer
from routing.selectors import countdown, routing_config


class AgentMixin(ApiMixin):
    """Sets ``request.agent`` and ``request.is_manager`` as the pages do, for their helpers."""

    permission_classes = [IsAgent]
    superuser_reads = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        request.agent = getattr(request.user, "agent", None)
        request.is_manager = request.user.is_superuser or is_manager(request.agent)


class AgentView(AgentMixin, APIView):
    pass


def visible_lead(request: Request, lead_id: int) -> Lead:
    """The lead if this user may open it (the pages' rule), else 404."""
    return get_visible_lead(request, checked_id(lead_id, "lead"))


def lead_answer(lead: Lead, viewer: Agent | None) -> Response:
    """The lead's detail; its routing told in ``viewer``'s words."""
    lead = Lead.objects.select_related("owner", "rule", "stage").get(pk=lead.pk)
    return Response(AgentLeadDetailSerializer(lead, context={"viewer": viewer}).data)


# --- offers -----------------------------------------------------------------------------------


def offer_rows(offers: Any, now: datetime) -> list[dict[str, Any]]:
    """Open offers with their running countdown; contact details only if the brokerage shows
    them before the claim."""
    config = routing_config()
    hide_contact = Brokerage.load().hide_contact_until_claimed
    rows = []
    for offer in offers:
        clock = countdown(offer.deadline, now, config)
        rows.append({
            "id": offer.pk, "status": offer.status, "offered_at": offer.offered_at,
            "clock_starts_at": offer.clock_starts_at, "deadline": offer.deadline,
            "seconds_left": int(clock["seconds_left"]), "clock_running": bool(clock["running"]),
            "lead": offer.lead, "contact": None if hide_contact else offer.lead,
        })
    return rows


class OffersView(AgentView):
    @extend_schema(
        operation_id="agent_offers", summary="My open offers", tags=["agent"],
        description="Leads offered to me, nearest deadline first. The countdown runs only "
                    "inside the brokerage's actionable window.",
        responses={200: OfferSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        rows = offer_rows(open_offers_for(request.agent), timezone.now())
        return Response(OfferSerializer(rows, many=True).data)


class OfferClaimView(AgentView):
    @extend_schema(
        operation_id="agent_offer_claim", summary="Claim an offer", tags=["agent"],
        description="The first claim wins; a late or lost claim answers 409 with the reason. "
                    "The answer is the lead, with its contact details.",
        request=None, parameters=[id_param("id", "offer")],
        responses={200: AgentLeadDetailSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        try:
            lead = claim_offer(checked_id(id, "offer"), request.agent, now=timezone.now())
        except Offer.DoesNotExist:
            raise exceptions.NotFound({"not_found": "No such offer."}) from None
        return lead_answer(lead, request.agent)


class OfferDeclineView(AgentView):
    refusal_key = "decline"  # a refused decline says so, not "claim"
    # The reason came later: a client that posts no body (or a form) still passes.
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        operation_id="agent_offer_decline", summary="Pass on an offer", tags=["agent"],
        description="Pass on the lead, saying why (`reason`; `other` with a `note`): it goes "
                    "to the next agent at once (or escalates). The reason is kept on the offer "
                    "and counted in the offers report.",
        request=DeclineSerializer, parameters=[id_param("id", "offer")],
        responses={200: DeclineAnswerSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, id: int) -> Response:
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        try:
            decline_offer(checked_id(id, "offer"), request.agent, now=timezone.now(),
                          reason=reason, note=body.validated_data["note"])
        except Offer.DoesNotExist:
            raise exceptions.NotFound({"not_found": "No such offer."}) from None
        return Response({"offer": id, "status": "declined", "reason": reason,
                         "message": "You passed on this lead; it goes to the next agent."})


# --- my leads ---------------------------------------------------------------------------------


class AgentLeadFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Lead.Status.choices)
    mine = filters.BooleanFilter(method="only_mine",
                                 help_text="Managers: only the leads I own (agents: always).")
    q = filters.CharFilter(method="name_email_or_phone",
                           help_text="Name, email or phone (written any way), as on My leads.")
    stage = filters.ModelChoiceFilter(
        queryset=Stage.objects.all(), to_field_name="key", method="in_stage",
        help_text="A stage's key (`new` also finds leads never moved).")

    class Meta:
        model = Lead
        fields = ["status", "mine", "q", "stage"]

    def name_email_or_phone(self, leads: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return search_leads(leads, value)

    def in_stage(self, leads: QuerySet[Lead], name: str, value: Stage | None) -> QuerySet[Lead]:
        if value is None:
            return leads
        return leads.filter(stage_query(value.key, list(Stage.objects.all()[:1])))

    def only_mine(self, leads: QuerySet[Lead], name: str, value: bool) -> QuerySet[Lead]:
        if not value:
            return leads
        agent = getattr(self.request, "agent", None)
        return leads.filter(owner=agent) if agent is not None else leads.none()


class AgentLeadsView(AgentMixin, generics.ListAPIView):
    queryset = Lead.objects.none()
    serializer_class = AgentLeadSerializer
    filterset_class = AgentLeadFilter
    superuser_reads = True

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator's dry run
            return Lead.objects.none()
        return visible_leads(self.request).order_by("-received_at", "-id")

    @extend_schema(
        operation_id="agent_leads", summary="My leads", tags=["agent"],
        description="My leads, newest first (managers: every lead); `q` searches names, "
                    "emails and phones as My leads does, `stage` keeps one stage.",
        responses={200: AgentLeadSerializer(many=True), **errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AgentLeadView(AgentView):
    superuser_reads = True

    @extend_schema(
        operation_id="agent_lead", summary="A lead", tags=["agent"],
        description="One of my leads, with its contact details and why it came to me.",
        parameters=[id_param("id", "lead")],
        responses={200: AgentLeadDetailSerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, id: int) -> Response:
        return lead_answer(visible_lead(request, id), request.agent)


class ActivitiesView(AgentMixin, generics.ListAPIView):
    queryset = Activity.objects.none()
    serializer_class = ActivitySerializer
    superuser_reads = True

    def get_queryset(self) -> QuerySet[Activity]:
        if getattr(self, "swagger_fake_view", False):
            return Activity.objects.none()
        lead = visible_lead(self.request, self.kwargs["id"])
        return lead.activities.select_related("actor").order_by("created_at", "id")

    @extend_schema(
        operation_id="agent_lead_activities", summary="A lead's timeline", tags=["agent"],
        parameters=[id_param("id", "lead")],
        responses={200: ActivitySerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="agent_lead_log", summary="Log an activity", tags=["agent"],
        description="A call, text, email or meeting (the owner's first one is the first "
                    "contact: it stops the first-contact clock), or a note.",
        parameters=[id_param("id", "lead")], request=ActivityCreateSerializer,
        responses={201: ActivitySerializer, **errors(400, 401, 403, 404, 415)},
    )
    def post(self, request: Request, id: int) -> Response:
        if request.agent is None:  # a superuser without an agent reads, but does not log
            self.permission_denied(request, IsAgent.message)
        lead = visible_lead(request, id)
        body = ActivityCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        activity = log_activity(lead, request.agent, body.validated_data["kind"],
                                body.validated_data["body"], now=timezone.now())
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)


class LeadStageView(AgentView):
    refusal_key = "stage"

    @extend_schema(
        operation_id="agent_lead_stage", summary="Set a lead's stage", tags=["agent"],
        description="One of the brokerage's stages by its key, on the lead's timeline. A won "
                    "(`closed`) or lost stage needs the first contact logged, lost needs a "
                    "`lost_reason`; either clears the follow-up and cancels the appointments "
                    "still to come. An open stage reopens a closed or lost lead. The answer "
                    "is the lead.",
        parameters=[id_param("id", "lead")], request=StageSetSerializer,
        responses={200: AgentLeadDetailSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def post(self, request: Request, id: int) -> Response:
        lead = visible_lead(request, id)
        body = StageSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        set_stage(lead, body.validated_data["stage"], request.agent,
                  body.validated_data["lost_reason"], now=timezone.now())
        return lead_answer(lead, request.agent)


class ActivityView(AgentView):
    superuser_reads = True

    @extend_schema(
        operation_id="agent_lead_activity", summary="One entry of a lead's timeline",
        tags=["agent"], parameters=[id_param("id", "lead"), id_param("activity_id", "activity")],
        responses={200: ActivitySerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, id: int, activity_id: int) -> Response:
        lead = visible_lead(request, id)
        activity = (lead.activities.select_related("actor")
                    .filter(pk=checked_id(activity_id, "activity")).first())
        if activity is None:
            raise exceptions.NotFound({"not_found": "No such activity."})
        return Response(ActivitySerializer(activity).data)


# --- the pond ---------------------------------------------------------------------------------


class PondView(AgentMixin, generics.ListAPIView):
    queryset = Lead.objects.none()
    serializer_class = LeadEssentialsSerializer

    def get_queryset(self) -> QuerySet[Lead]:
        return pond_leads()

    @extend_schema(
        operation_id="agent_pond", summary="The pond", tags=["agent"],
        description="Leads nobody has, oldest first; any agent may claim one. No contact "
                    "details until claimed.",
        responses={200: LeadEssentialsSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PondClaimView(AgentView):
    @extend_schema(
        operation_id="agent_pond_claim", summary="Claim a lead from the pond", tags=["agent"],
        description="The first claim wins; the others get 409.",
        request=None, parameters=[id_param("id", "lead")],
        responses={200: AgentLeadDetailSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, id: int) -> Response:
        try:
            lead = claim_from_pond(checked_id(id, "lead"), request.agent, now=timezone.now())
        except Lead.DoesNotExist:
            raise exceptions.NotFound({"not_found": "No such lead."}) from None
        return lead_answer(lead, request.agent)


# --- availability -----------------------------------------------------------------------------


class AvailabilityView(AgentView):
    @extend_schema(
        operation_id="agent_availability", summary="Am I receiving leads?", tags=["agent"],
        responses={200: AvailabilitySerializer, **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response({"accepting_leads": request.agent.accepting_leads})

    @extend_schema(
        operation_id="agent_availability_set", summary="Pause or resume", tags=["agent"],
        description="A paused agent keeps their place in rotations but is skipped.",
        request=AvailabilitySerializer,
        responses={200: AvailabilitySerializer, **errors(400, 401, 403, 415)},
    )
    def put(self, request: Request) -> Response:
        body = AvailabilitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        accepting = body.validated_data["accepting_leads"]
        if accepting != request.agent.accepting_leads:
            set_accepting_leads(request.agent, accepting)
        return Response({"accepting_leads": request.agent.accepting_leads})


# --- time off ---------------------------------------------------------------------------------


class TimeOffListView(AgentView):
    @extend_schema(
        operation_id="agent_time_off", summary="My time off", tags=["agent"],
        description="Time off under way or ahead, soonest first (yours, a manager's and your "
                    "away calendar's).",
        responses={200: TimeOffSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(TimeOffSerializer(upcoming_time_off(request.agent, timezone.now()),
                                          many=True).data)

    @extend_schema(
        operation_id="agent_time_off_add", summary="Set time off", tags=["agent"],
        description="You are skipped for exactly that time and get leads again by yourself "
                    "afterwards, keeping your place in every rotation.",
        request=TimeOffWriteSerializer,
        responses={201: TimeOffSerializer, **errors(400, 401, 403, 415)},
    )
    def post(self, request: Request) -> Response:
        body = TimeOffWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        added = add_time_off(agent=request.agent, starts_at=data["starts_at"],
                             ends_at=data["ends_at"], note=data["note"], by=request.user,
                             now=timezone.now())
        return Response(TimeOffSerializer(added).data, status=status.HTTP_201_CREATED)


class TimeOffView(AgentView):
    @extend_schema(
        operation_id="agent_time_off_cancel", summary="Cancel time off", tags=["agent"],
        description="Time off not begun is deleted (204); time off under way ends now (200, "
                    "the row as kept). Your away calendar's goes when you remove the event "
                    "there (400).",
        parameters=[id_param("id", "time off")], request=None,
        responses={200: TimeOffSerializer, 204: None, **errors(400, 401, 403, 404)},
    )
    def delete(self, request: Request, id: int) -> Response:
        try:
            time_off = time_off_of(request.agent, checked_id(id, "time off"))
        except TimeOff.DoesNotExist:
            raise exceptions.NotFound({"not_found": "No such time off."}) from None
        kept = cancel_time_off(time_off=time_off, by=request.user, now=timezone.now())
        if kept is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TimeOffSerializer(kept).data)


# --- my turn (fairness) -----------------------------------------------------------------------


class FairnessView(AgentView):
    @extend_schema(
        operation_id="agent_fairness", summary="Where do I stand in the rotations?",
        tags=["agent"],
        description="For each rotation you are in: whose turn is next, how many leads before "
                    "yours, this week's leads against your share, and each turn you missed "
                    "and why. Colleagues by first name only; no other lead.",
        responses={200: MyFairnessSerializer, **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        return Response(MyFairnessSerializer({
            "week_starts": week_start(now, routing_config().timezone),
            "rotations": agent_standing(request.agent, now),
        }).data)


# --- the agent's day: follow-ups, appointments, Today ------------------------------------------


def _refused(refused: followups.FollowUpRefused, field: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: str(refused)})


def _acting(view: AgentView, request: Request) -> None:
    if request.agent is None:  # a superuser without an agent reads, but does not change
        view.permission_denied(request, IsAgent.message)


class FollowUpView(AgentView):
    superuser_reads = True

    @extend_schema(
        operation_id="agent_lead_follow_up", summary="A lead's next follow-up", tags=["agent"],
        parameters=[id_param("id", "lead")],
        responses={200: FollowUpSerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, id: int) -> Response:
        return Response(FollowUpSerializer(visible_lead(request, id)).data)

    @extend_schema(
        operation_id="agent_lead_follow_up_set", summary="Set or move the next follow-up",
        tags=["agent"],
        description="At a date and time, or a quick pick; the owner is reminded at that time "
                    "through their channels, once. On the lead's timeline.",
        parameters=[id_param("id", "lead")], request=FollowUpSetSerializer,
        responses={200: FollowUpSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def put(self, request: Request, id: int) -> Response:
        _acting(self, request)
        lead = visible_lead(request, id)
        body = FollowUpSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data, now = body.validated_data, timezone.now()
        try:
            at = followups.pick_time(data["pick"], now) if data["pick"] else data["at"]
            followups.set_follow_up(lead, request.agent, at, note=data["note"], now=now)
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "pick" if data["pick"] else "at") from None
        return Response(FollowUpSerializer(lead).data)


class FollowUpDoneView(AgentView):
    @extend_schema(
        operation_id="agent_lead_follow_up_done", summary="The follow-up was made",
        tags=["agent"], description="Clears it, and logs it on the lead's timeline.",
        parameters=[id_param("id", "lead")], request=FollowUpDoneSerializer,
        responses={200: FollowUpSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def post(self, request: Request, id: int) -> Response:
        lead = visible_lead(request, id)
        body = FollowUpDoneSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            followups.follow_up_done(lead, request.agent, note=body.validated_data["note"],
                                     now=timezone.now())
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "follow_up") from None
        return Response(FollowUpSerializer(lead).data)


class FollowUpTomorrowView(AgentView):
    @extend_schema(
        operation_id="agent_lead_follow_up_tomorrow", summary="Move the follow-up to tomorrow",
        tags=["agent"], description="Tomorrow, at the follow-up's own time of day.",
        request=None, parameters=[id_param("id", "lead")],
        responses={200: FollowUpSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request: Request, id: int) -> Response:
        lead = visible_lead(request, id)
        try:
            followups.move_to_tomorrow(lead, request.agent, now=timezone.now())
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "follow_up") from None
        return Response(FollowUpSerializer(lead).data)


def _appointment_fields(data: dict[str, Any]) -> followups.AppointmentFields:
    return followups.AppointmentFields(
        starts_at=data["starts_at"], minutes=data["minutes"], location=data["location"],
        with_whom=data["with_whom"], note=data["note"])


class LeadAppointmentsView(AgentView):
    superuser_reads = True

    @extend_schema(
        operation_id="agent_lead_appointments", summary="A lead's appointments",
        tags=["agent"], description="Every appointment of the lead, cancelled ones too, "
                                    "in time order.",
        parameters=[id_param("id", "lead")],
        responses={200: AppointmentSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request: Request, id: int) -> Response:
        lead = visible_lead(request, id)
        return Response(AppointmentSerializer(
            lead.appointments.select_related("agent").order_by("starts_at", "id"),
            many=True).data)

    @extend_schema(
        operation_id="agent_lead_appointment_book", summary="Book an appointment",
        tags=["agent"], description="For the lead's agent; on the timeline, reminded "
                                    "before it starts.",
        parameters=[id_param("id", "lead")], request=AppointmentWriteSerializer,
        responses={201: AppointmentSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def post(self, request: Request, id: int) -> Response:
        _acting(self, request)
        lead = visible_lead(request, id)
        body = AppointmentWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            appointment = followups.book_appointment(
                lead, request.agent, _appointment_fields(body.validated_data),
                now=timezone.now())
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "starts_at") from None
        return Response(AppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED)


def visible_appointment(request: Request, appointment_id: int) -> Appointment:
    """The appointment if its lead is one this user may open, or it is theirs; else 404."""
    appointment = Appointment.objects.select_related("lead", "agent").filter(
        pk=checked_id(appointment_id, "appointment")).first()
    if appointment is None:
        raise exceptions.NotFound({"not_found": "No such appointment."})
    if request.agent is None or appointment.agent_id != request.agent.pk:
        visible_lead(request, appointment.lead_id)
    return appointment


class AppointmentView(AgentView):
    superuser_reads = True

    @extend_schema(
        operation_id="agent_appointment", summary="An appointment", tags=["agent"],
        parameters=[id_param("id", "appointment")],
        responses={200: AppointmentSerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, id: int) -> Response:
        return Response(AppointmentSerializer(visible_appointment(request, id)).data)

    @extend_schema(
        operation_id="agent_appointment_change", summary="Change an appointment",
        tags=["agent"], description="Its time, length, place, who comes, note (all given).",
        parameters=[id_param("id", "appointment")], request=AppointmentWriteSerializer,
        responses={200: AppointmentSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def put(self, request: Request, id: int) -> Response:
        _acting(self, request)
        appointment = visible_appointment(request, id)
        body = AppointmentWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            followups.change_appointment(appointment, request.agent,
                                         _appointment_fields(body.validated_data),
                                         now=timezone.now())
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "appointment") from None
        return Response(AppointmentSerializer(appointment).data)

    @extend_schema(
        operation_id="agent_appointment_cancel", summary="Cancel an appointment",
        tags=["agent"], description="Kept, with its cancellation, on the lead's timeline.",
        parameters=[id_param("id", "appointment")],
        responses={200: AppointmentSerializer, **errors(400, 401, 403, 404)},
    )
    def delete(self, request: Request, id: int) -> Response:
        _acting(self, request)
        appointment = visible_appointment(request, id)
        try:
            followups.cancel_appointment(appointment, request.agent, now=timezone.now())
        except followups.FollowUpRefused as refused:
            raise _refused(refused, "appointment") from None
        return Response(AppointmentSerializer(appointment).data)


class TodayView(AgentView):
    @extend_schema(
        operation_id="agent_today", summary="My calls to make today", tags=["agent"],
        description="Overdue follow-ups first, then today's follow-ups and appointments in "
                    "time order (the brokerage's day).",
        responses={200: TodaySerializer, **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        _, overdue, later = followups.agent_day(request.agent, timezone.now())

        def row(line: followups.DayLine) -> dict[str, Any]:
            return {"kind": line.entry.kind, "at": line.entry.at, "overdue": line.overdue,
                    "lead": line.lead, "appointment": line.appointment}

        return Response(TodaySerializer({"overdue": [row(x) for x in overdue],
                                         "today": [row(x) for x in later]}).data)


# --- the token login --------------------------------------------------------------------------


class LoginRateThrottle(SimpleRateThrottle):
    """Attempts per username and minute (``API_LOGIN_RATE_PER_MINUTE``): guessing one
    person's password stays slow from however many addresses."""

    scope = "login"

    def get_rate(self) -> str:
        return f"{settings.API_LOGIN_RATE_PER_MINUTE}/min"  # read per request: tests change it

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if hasattr(request.data, "get") else {}
        username = str(data.get("username") or "").strip().lower()
        ident = username or self.get_ident(request) or ""
        # Hashed: any text may come in, and a cache key must stay short and plain.
        digest = hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class TokenView(ObtainAuthToken):
    """``POST /api/v1/auth/token/``: username and password for the login's API token."""

    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]
    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]
    error_envelope = True  # errors as {"errors": {field: message}} (config.api.errors)

    @extend_schema(
        operation_id="auth_token", summary="Get my API token", tags=["auth"],
        description="The same login as the web pages (username: the agent's email). The "
                    "token stays valid until revoked, the password changes or the login is "
                    "deactivated; send it as `Authorization: Token <key>`. "
                    "`API_LOGIN_RATE_PER_MINUTE` tries per username and minute (429 after).",
        request=TokenRequestSerializer,
        responses={
            200: TokenAnswerSerializer,
            400: api_error("Missing fields, or wrong username or password.",
                           {"credentials": "Unable to log in with provided credentials."}),
            **errors(415, 429),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            problems = dict(serializer.errors)
            if "non_field_errors" in problems:
                problems["credentials"] = problems.pop("non_field_errors")
            raise exceptions.ValidationError(problems)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
