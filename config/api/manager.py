"""The manager API (``/api/v1/manager/...``): read-only agents, rosters, rules and leads.

The people allowed are the admin's (``agents.access.may_use_admin``: superusers, and staff in the
Managers group), so whoever may run routing in the admin may read it here, and nobody else:
an agent's token answers 403. Lead filters mirror the admin's lead list (status, source,
owner, rule, pond, overdue first contact, search by name, email or phone written any way).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from agents.access import may_use_admin as may_run_routing
from agents.models import Agent, Roster, RosterMember
from config.api.base import MAX_ID, ApiMixin, checked_id, errors, id_param
from config.api.serializers import (
    ManagerAgentSerializer,
    ManagerLeadDetailSerializer,
    ManagerLeadSerializer,
    RosterSerializer,
    RuleSerializer,
)
from leads.models import Lead
from leads.search import search_leads
from routing.models import Rule

MANAGER_ERRORS = (401, 403)

# --- filters ----------------------------------------------------------------------------------


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """A whole number in a database id's range (else 400, never an overflow)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(min_value=1, max_value=MAX_ID)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, read as UTC: PostgreSQL refuses offsets Python accepts (``+16:00``), and a
    moment past year 1 or 9999 once in UTC is invalid rather than an overflow."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ManagerLeadFilter(filters.FilterSet):
    # distinct=False: a lead has one status, so no DISTINCT over a million rows.
    status = filters.MultipleChoiceFilter(choices=Lead.Status.choices, distinct=False,
                                          help_text="One or more statuses.")
    source = filters.CharFilter(lookup_expr="iexact")
    owner = IdFilter(field_name="owner_id", help_text="The owner's agent id.")
    rule = IdFilter(field_name="rule_id", help_text="The id of the rule that took the lead.")
    pond = filters.BooleanFilter(method="in_pond", help_text="True: nobody owns it (the pond).")
    received_after = MomentFilter(field_name="received_at", lookup_expr="gte",
                                  help_text="Received at or after this moment (ISO 8601).")
    received_before = MomentFilter(field_name="received_at", lookup_expr="lt",
                                   help_text="Received before this moment (ISO 8601).")
    overdue = filters.BooleanFilter(method="first_contact_overdue",
                                    help_text="True: no first contact and its deadline passed.")
    search = filters.CharFilter(method="name_email_or_phone",
                                help_text="Name, email or phone (written any way).")

    class Meta:
        model = Lead
        fields: list[str] = []

    def in_pond(self, leads: QuerySet[Lead], name: str, value: bool) -> QuerySet[Lead]:
        pond = Q(status=Lead.Status.UNASSIGNED, owner__isnull=True)
        return leads.filter(pond) if value else leads.exclude(pond)

    def first_contact_overdue(self, leads: QuerySet[Lead], name: str,
                              value: bool) -> QuerySet[Lead]:
        overdue = Q(first_contact_at__isnull=True, first_contact_due_at__lt=timezone.now())
        return leads.filter(overdue) if value else leads.exclude(overdue)

    def name_email_or_phone(self, leads: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        """The admin's search (``leads.search``): every word in a name or email, or a phone
        number (on PostgreSQL read from the admin's trigram index)."""
        return search_leads(leads, value)


class ManagerAgentFilter(filters.FilterSet):
    role = filters.ChoiceFilter(choices=Agent.Role.choices)
    is_active = filters.BooleanFilter()
    accepting_leads = filters.BooleanFilter()
    search = filters.CharFilter(method="name_or_email", help_text="Part of the name or email.")

    class Meta:
        model = Agent
        fields: list[str] = []

    def name_or_email(self, agents: QuerySet[Agent], name: str, value: str) -> QuerySet[Agent]:
        value = value.strip()
        if not value:
            return agents
        return agents.filter(Q(name__icontains=value) | Q(email__icontains=value))


class ManagerRuleFilter(filters.FilterSet):
    is_active = filters.BooleanFilter()
    delivery = filters.ChoiceFilter(choices=Rule.Delivery.choices)
    roster = IdFilter(field_name="roster_id", help_text="The roster's id.")

    class Meta:
        model = Rule
        fields: list[str] = []


# --- views ------------------------------------------------------------------------------------


class IsManager(BasePermission):
    """Whoever reaches the admin: superusers and active staff in the Managers group."""

    message = "Only managers may use the manager API."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and may_run_routing(user))


class ManagerMixin(ApiMixin):
    permission_classes = [IsManager]


class ManagerListView(ManagerMixin, generics.ListAPIView):
    pass


class ManagerDetailView(ManagerMixin, generics.RetrieveAPIView):
    lookup_url_kwarg = "id"
    what = "object"

    def get_object(self) -> Any:
        checked_id(self.kwargs["id"], self.what)
        return super().get_object()


def agents() -> QuerySet[Agent]:
    return (Agent.objects.annotate(open_leads=Count(
        "leads", filter=Q(leads__status__in=Lead.OPEN_STATUSES)))
        .prefetch_related("rosters").order_by("name", "id"))


def rosters() -> QuerySet[Roster]:
    members = RosterMember.objects.select_related("agent").order_by("position", "id")
    return Roster.objects.prefetch_related(Prefetch("members", queryset=members),
                                           "rules").order_by("name", "id")


def rules() -> QuerySet[Rule]:
    return (Rule.objects.select_related("roster", "lender_roster", "escalate_to")
            .prefetch_related("criteria", "windows").order_by("is_catch_all", "priority", "id"))


def leads() -> QuerySet[Lead]:
    return (Lead.objects.select_related("owner", "lender", "rule", "stage")
            .order_by("-received_at", "-id"))


class AgentsView(ManagerListView):
    queryset = Agent.objects.none()
    serializer_class = ManagerAgentSerializer
    filterset_class = ManagerAgentFilter

    def get_queryset(self) -> QuerySet[Agent]:
        return agents()

    @extend_schema(operation_id="manager_agents", summary="Agents", tags=["manager"],
                   description="Everyone who can receive leads, with their open leads.",
                   responses={200: ManagerAgentSerializer(many=True),
                              **errors(400, *MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AgentView(ManagerDetailView):
    queryset = Agent.objects.none()
    serializer_class = ManagerAgentSerializer
    what = "agent"

    def get_queryset(self) -> QuerySet[Agent]:
        return agents()

    @extend_schema(operation_id="manager_agent", summary="An agent", tags=["manager"],
                   parameters=[id_param("id", "agent")],
                   responses={200: ManagerAgentSerializer, **errors(*MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RostersView(ManagerListView):
    queryset = Roster.objects.none()
    serializer_class = RosterSerializer

    def get_queryset(self) -> QuerySet[Roster]:
        return rosters()

    @extend_schema(operation_id="manager_rosters", summary="Rosters", tags=["manager"],
                   description="Each roster's members in rotation order, and its rules.",
                   responses={200: RosterSerializer(many=True),
                              **errors(*MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RosterView(ManagerDetailView):
    queryset = Roster.objects.none()
    serializer_class = RosterSerializer
    what = "roster"

    def get_queryset(self) -> QuerySet[Roster]:
        return rosters()

    @extend_schema(operation_id="manager_roster", summary="A roster", tags=["manager"],
                   parameters=[id_param("id", "roster")],
                   responses={200: RosterSerializer, **errors(*MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RulesView(ManagerListView):
    queryset = Rule.objects.none()
    serializer_class = RuleSerializer
    filterset_class = ManagerRuleFilter

    def get_queryset(self) -> QuerySet[Rule]:
        return rules()

    @extend_schema(operation_id="manager_rules", summary="Rules", tags=["manager"],
                   description="In priority order (first match wins), the catch-all last; "
                               "criteria and hours also in words.",
                   responses={200: RuleSerializer(many=True),
                              **errors(400, *MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RuleView(ManagerDetailView):
    queryset = Rule.objects.none()
    serializer_class = RuleSerializer
    what = "rule"

    def get_queryset(self) -> QuerySet[Rule]:
        return rules()

    @extend_schema(operation_id="manager_rule", summary="A rule", tags=["manager"],
                   parameters=[id_param("id", "rule")],
                   responses={200: RuleSerializer, **errors(*MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LeadsView(ManagerListView):
    queryset = Lead.objects.none()
    serializer_class = ManagerLeadSerializer
    filterset_class = ManagerLeadFilter

    def get_queryset(self) -> QuerySet[Lead]:
        return leads()

    @extend_schema(operation_id="manager_leads", summary="Leads", tags=["manager"],
                   description="Every lead, newest first, filtered.",
                   responses={200: ManagerLeadSerializer(many=True),
                              **errors(400, *MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LeadView(ManagerDetailView):
    queryset = Lead.objects.none()
    serializer_class = ManagerLeadDetailSerializer
    what = "lead"

    def get_queryset(self) -> QuerySet[Lead]:
        return leads().select_related("isa")

    @extend_schema(operation_id="manager_lead", summary="A lead and its routing trace",
                   tags=["manager"], parameters=[id_param("id", "lead")],
                   description="Everything about the lead; `trace` holds every routing "
                               "decision: in words (`lines`, as the admin shows it) and as "
                               "stored (`steps`: every rule tried, every criterion with the "
                               "lead's value, every agent considered and why skipped).",
                   responses={200: ManagerLeadDetailSerializer, **errors(*MANAGER_ERRORS, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
