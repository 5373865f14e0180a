"""Serializers of the agent API and the manager API (read-only answers, and the few bodies).

They only shape and document what the services return; the rules themselves (who may see a
lead, what a claim needs, which activities an agent may log) stay in the services and forms
the web pages use.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent, Roster
from leads.agenda import PICK_LABELS
from leads.display import area
from leads.forms import ActivityForm
from leads.isa.progress import second_contact
from leads.models import Activity, Appointment, Lead, Stage
from leads.selectors import why_chapters
from leads.services import speed_to_lead
from routing.claims import PASS_NOTE_MAX, PassRefused, pass_reason
from routing.describe import criteria_text, when_text
from routing.engine import render_trace, step_text
from routing.models import Offer, Rule, RuleCriterion

# --- small pieces -----------------------------------------------------------------------------


class ApiErrorsSerializer(serializers.Serializer):
    """Every problem, one plain message per field (or ``auth``, ``permission``, ``claim``...)."""

    errors = serializers.DictField(child=serializers.CharField())


def phone_text(phone: Any) -> str:
    """A phone number as E.164 (``+13125550101``), or "" when there is none."""
    return phone.as_e164 if phone else ""


def is_overdue(lead: Lead, now: Any = None) -> bool:
    """No first contact yet and its deadline has passed (as the pages and the admin say)."""
    now = now or timezone.now()
    return bool(lead.first_contact_due_at and lead.first_contact_at is None
                and lead.first_contact_due_at <= now)


class AgentRefSerializer(serializers.Serializer):
    """Who: an agent, ISA, lender or manager."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()


class NamedRefSerializer(serializers.Serializer):
    """A roster or a rule, by id and name."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class ContactSerializer(serializers.Serializer):
    """How to reach the person (empty strings for what the lead did not give)."""

    email = serializers.CharField(allow_blank=True)
    phone = serializers.SerializerMethodField(help_text="E.164, e.g. +13125550101.")

    def get_phone(self, lead: Lead) -> str:
        return phone_text(lead.phone)


def _price() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False,
                                    allow_null=True)


class LeadEssentialsSerializer(serializers.Serializer):
    """What an agent sees of a lead before deciding: no contact details."""

    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    source = serializers.CharField(allow_blank=True)
    lead_type = serializers.CharField(allow_blank=True, help_text="buyer, seller or empty.")
    price = _price()
    city = serializers.CharField(allow_blank=True)
    neighborhood = serializers.CharField(allow_blank=True)
    zip_code = serializers.CharField(allow_blank=True)
    area = serializers.SerializerMethodField(help_text="Neighborhood, city and zip in one line.")
    message = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    received_at = serializers.DateTimeField()

    def get_name(self, lead: Lead) -> str:
        return lead.full_name or "(no name)"

    def get_area(self, lead: Lead) -> str:
        return area(lead)


# --- the agent API ----------------------------------------------------------------------------


class OfferSerializer(serializers.Serializer):
    """A lead offered to the agent, to claim before ``deadline``."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Offer.Status.choices)
    offered_at = serializers.DateTimeField()
    clock_starts_at = serializers.DateTimeField(
        help_text="When the claim clock starts (the brokerage's actionable window).")
    deadline = serializers.DateTimeField(help_text="Claim by then.")
    seconds_left = serializers.IntegerField(
        help_text="Running seconds left: the clock stops outside the actionable window.")
    clock_running = serializers.BooleanField(
        help_text="False at night (outside the actionable window): the clock is paused.")
    lead = LeadEssentialsSerializer()
    contact = ContactSerializer(
        allow_null=True, help_text="Null while the brokerage hides contact details until the "
                                   "lead is claimed.")


class DeclineSerializer(serializers.Serializer):
    """Why the agent passes: one of the offer card's reasons, or `other` with a few words."""

    reason = serializers.ChoiceField(
        choices=[c for c in Offer.PassReason.choices if c[0]], required=False, default="",
        help_text="Optional for older apps; kept on the offer and counted in the offers report.")
    note = serializers.CharField(required=False, allow_blank=True, default="",
                                 max_length=PASS_NOTE_MAX,
                                 help_text="The reason in the agent's words; required for "
                                           "`other`.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The service's own check decides, so the page and the API say the same."""
        try:
            reason, note = pass_reason(attrs.get("reason"), attrs.get("note"))
        except PassRefused as refused:
            raise serializers.ValidationError(
                {refused.extra.get("field", "reason"): str(refused)}) from None
        return {"reason": reason, "note": note}


class DeclineAnswerSerializer(serializers.Serializer):
    offer = serializers.IntegerField()
    status = serializers.CharField(help_text="Always `declined`.")
    reason = serializers.CharField(allow_blank=True,
                                   help_text="The reason kept (empty when none was given).")
    message = serializers.CharField()


class RoutingRecordSerializer(serializers.Serializer):
    """One routing decision and why, in plain words (indented lines belong to the rule above)."""

    at = serializers.DateTimeField(source="created_at")
    outcome = serializers.CharField()
    summary = serializers.CharField()
    lines = serializers.SerializerMethodField()

    def get_lines(self, record: Any) -> list[str]:
        return render_trace(record.trace)


class WhyChapterSerializer(serializers.Serializer):
    """A routing decision, claim or manager's assignment, in plain words."""

    at = serializers.DateTimeField()
    lines = serializers.ListField(child=serializers.CharField())


class StageSerializer(serializers.Serializer):
    """One of the agents' stages (managers rename and reorder them in the admin)."""

    key = serializers.CharField(help_text="Stays when the stage is renamed: send it to set it.")
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Stage.Outcome.choices)


class StageSetSerializer(serializers.Serializer):
    """The body that sets a lead's stage."""

    stage = serializers.SlugRelatedField(
        slug_field="key", queryset=Stage.objects.all(),
        help_text="The stage's key: `new`, `attempting`, `contacted`, `appointment`, `met`, "
                  "`under_contract`, `closed`, `nurture`, `lost` (as the brokerage has them).",
        error_messages={"does_not_exist": "Unknown stage {value}: use a stage's key.",
                        "invalid": "Unknown stage: use a stage's key."})
    lost_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="",
        help_text="Why the lead is lost: needed for a lost stage.")


class AgentLeadSerializer(LeadEssentialsSerializer):
    """One of the agent's leads (managers: any lead), with its contact details."""

    status = serializers.ChoiceField(choices=Lead.Status.choices)
    stage = StageSerializer(allow_null=True,
                            help_text="The agent's stage; null: never set (it reads as the "
                                      "first stage, New).")
    lost_reason = serializers.CharField(allow_blank=True, help_text="Why it was marked lost.")
    owner = AgentRefSerializer(allow_null=True)
    contact = serializers.SerializerMethodField()
    assigned_at = serializers.DateTimeField(allow_null=True)
    first_contact_at = serializers.DateTimeField(allow_null=True)
    first_contact_due_at = serializers.DateTimeField(
        allow_null=True, help_text="Log a first contact by then, or the lead moves on.")
    overdue = serializers.SerializerMethodField()
    follow_up_at = serializers.DateTimeField(allow_null=True,
                                             help_text="The next follow-up; null: none set.")
    follow_up_note = serializers.CharField(allow_blank=True)

    @extend_schema_field(ContactSerializer)
    def get_contact(self, lead: Lead) -> dict[str, str]:
        return ContactSerializer(lead).data

    def get_overdue(self, lead: Lead) -> bool:
        return is_overdue(lead)


class LeadFactsSerializer(serializers.Serializer):
    """The lead's facts beyond the list's essentials, on every lead's detail."""

    county = serializers.CharField(allow_blank=True)
    mls_region = serializers.CharField(allow_blank=True)
    property_type = serializers.CharField(allow_blank=True)
    site = serializers.CharField(allow_blank=True)
    listing_ref = serializers.CharField(allow_blank=True)
    score = serializers.IntegerField(allow_null=True)


class SecondContactSerializer(serializers.Serializer):
    """The ISA who handed the lead to its owner: whom else to ask about it."""

    name = serializers.CharField()
    phone = serializers.CharField(source="phone_e164", allow_blank=True,
                                  help_text="E.164; empty when the ISA has no phone.")
    email = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True, help_text="The ISA's hand-off note.")
    handed_off_at = serializers.DateTimeField()


class AgentLeadDetailSerializer(LeadFactsSerializer, AgentLeadSerializer):
    """A lead's page: everything about it, and why it came to its owner."""

    rule = serializers.CharField(source="rule.name", allow_null=True, default=None)
    speed_to_lead_seconds = serializers.SerializerMethodField(
        help_text="From arrival to the owner's first logged contact; null until then.")
    routing = serializers.SerializerMethodField()
    second_contact = serializers.SerializerMethodField(
        help_text="The ISA who handed the lead off to its owner; null when no ISA did.")

    @extend_schema_field(SecondContactSerializer(allow_null=True))
    def get_second_contact(self, lead: Lead) -> dict[str, Any] | None:
        contact = second_contact(lead)
        return SecondContactSerializer(contact).data if contact else None

    def get_speed_to_lead_seconds(self, lead: Lead) -> int | None:
        speed = speed_to_lead(lead)
        return int(speed.total_seconds()) if speed is not None else None

    @extend_schema_field(WhyChapterSerializer(many=True))
    def get_routing(self, lead: Lead) -> list[dict[str, Any]]:
        """"Why did I get this lead?" as the lead's page says it, for who asks."""
        chapters = why_chapters(lead, self.context.get("viewer"))
        return WhyChapterSerializer(chapters, many=True).data


class ActivitySerializer(serializers.Serializer):
    """One entry of a lead's timeline."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Activity.Kind.choices)
    label = serializers.CharField(source="get_kind_display")
    body = serializers.CharField(allow_blank=True)
    actor = AgentRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class ActivityCreateSerializer(serializers.Serializer):
    """A call, text, email or meeting (each counts as the first contact), or a note."""

    kind = serializers.ChoiceField(choices=ActivityForm.KINDS)
    body = serializers.CharField(required=False, allow_blank=True, max_length=5000,
                                 default="", help_text="Notes; required for a note.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The page's own form decides (a note needs text), so both say the same."""
        form = ActivityForm({"kind": attrs["kind"], "body": attrs.get("body", "")})
        if not form.is_valid():
            raise serializers.ValidationError(
                {name: " ".join(errors) for name, errors in form.errors.items()})
        return {"kind": form.cleaned_data["kind"], "body": form.cleaned_data["body"].strip()}


class AvailabilitySerializer(serializers.Serializer):
    accepting_leads = serializers.BooleanField(
        help_text="False: paused (keeps their place in rotations, but is skipped).")


class MyMissedTurnSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When the lead whose turn you missed arrived.")
    reason = serializers.CharField(help_text='In words: "paused 14:05-15:50", "at your cap of '
                                             '20 open leads", "off duty", "you declined"...')


class MyRotationSerializer(serializers.Serializer):
    """Where you stand in one rotation now, and this week's figures."""

    kind = serializers.ChoiceField(choices=[("rule", "A rule's rotation"),
                                            ("handoff", "A hand-off target's rotation")])
    id = serializers.IntegerField(help_text="The rule's or hand-off target's id.")
    name = serializers.CharField()
    next = serializers.CharField(source="next_name", allow_blank=True,
                                 help_text='Whose turn is next: "you", a first name, or empty.')
    turns_before = serializers.IntegerField(
        allow_null=True, help_text="Leads the rotation gives out before yours (0: the next is "
                                   "yours); null when none can come to you now.")
    why_not_now = serializers.CharField(
        allow_blank=True, help_text="Why no lead can come to you now (empty when one can).")
    note = serializers.CharField(allow_blank=True,
                                 help_text="How this rotation picks, when not plainly in turn.")
    received = serializers.IntegerField(help_text="Leads it gave you this week.")
    expected = serializers.FloatField(help_text="Your share of its leads this week, by your "
                                                "leads per round.")
    leads = serializers.IntegerField(help_text="Leads it gave out this week.")
    missed = MyMissedTurnSerializer(many=True)


class MyFairnessSerializer(serializers.Serializer):
    week_starts = serializers.DateTimeField(help_text="Monday 00:00, brokerage time.")
    rotations = MyRotationSerializer(many=True)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="The login: the agent's email.")
    password = serializers.CharField(style={"input_type": "password"})


class TokenAnswerSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


# --- the manager API --------------------------------------------------------------------------


class ManagerAgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    phone = serializers.SerializerMethodField()
    role = serializers.ChoiceField(choices=Agent.Role.choices)
    is_active = serializers.BooleanField()
    accepting_leads = serializers.BooleanField()
    max_open_leads = serializers.IntegerField(allow_null=True)
    max_leads_per_day = serializers.IntegerField(allow_null=True)
    zip_codes = serializers.ListField(child=serializers.CharField())
    specialties = serializers.ListField(child=serializers.CharField())
    open_leads = serializers.IntegerField(help_text="Leads held, assigned or contacted.")
    rosters = serializers.SerializerMethodField()

    def get_phone(self, agent: Agent) -> str:
        return phone_text(agent.phone)

    @extend_schema_field(NamedRefSerializer(many=True))
    def get_rosters(self, agent: Agent) -> list[dict[str, Any]]:
        return [{"id": r.pk, "name": r.name} for r in agent.rosters.all()]


class RosterMemberSerializer(serializers.Serializer):
    agent = AgentRefSerializer()
    position = serializers.IntegerField()
    leads_per_round = serializers.IntegerField(
        help_text="Consecutive leads per turn; 0 = enrolled but receives none.")


class RosterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = RosterMemberSerializer(many=True, source="members.all")
    rules = serializers.SerializerMethodField(help_text="Rules that route to this roster.")

    @extend_schema_field(NamedRefSerializer(many=True))
    def get_rules(self, roster: Roster) -> list[dict[str, Any]]:
        return [{"id": r.pk, "name": r.name} for r in roster.rules.all()]


class CriterionSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=RuleCriterion.Field.choices)
    value = serializers.CharField()


@extend_schema_field({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$",
                      "example": "08:00", "description": "HH:MM, brokerage time."})
class ClockTimeField(serializers.Field):
    """A time of day as in the routing file (``08:00``): OpenAPI's ``time`` needs an offset,
    and these are wall-clock times of the brokerage."""

    def to_representation(self, value: Any) -> str:
        return f"{value:%H:%M}"


class WindowSerializer(serializers.Serializer):
    """Days and times when the rule applies; an end before the start runs past midnight."""

    days = serializers.ListField(child=serializers.CharField())
    start = ClockTimeField()
    end = ClockTimeField()


class RuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    priority = serializers.IntegerField(help_text="Top-down: lower goes first.")
    is_active = serializers.BooleanField()
    is_catch_all = serializers.BooleanField()
    criteria_text = serializers.SerializerMethodField(help_text="The criteria in words.")
    criteria = CriterionSerializer(many=True, source="criteria.all")
    when_text = serializers.SerializerMethodField(help_text="When the rule applies, in words.")
    windows = WindowSerializer(many=True, source="windows.all")
    roster = NamedRefSerializer()
    selection = serializers.ChoiceField(choices=Rule.Selection.choices)
    delivery = serializers.ChoiceField(choices=Rule.Delivery.choices)
    lender_roster = NamedRefSerializer(allow_null=True)
    add_tags = serializers.ListField(child=serializers.CharField())
    claim_timeout_minutes = serializers.IntegerField()
    escalate_to = AgentRefSerializer(allow_null=True)
    after_hours = serializers.ChoiceField(choices=Rule.AfterHours.choices)
    first_contact_minutes = serializers.IntegerField(allow_null=True)

    def get_criteria_text(self, rule: Rule) -> str:
        return criteria_text(rule, rule.criteria.all())

    def get_when_text(self, rule: Rule) -> str:
        return when_text(rule.windows.all())


class ManagerLeadSerializer(AgentLeadSerializer):
    """A lead in the manager's list."""

    rule = NamedRefSerializer(allow_null=True)
    lender = AgentRefSerializer(allow_null=True)
    in_pond = serializers.SerializerMethodField()

    def get_in_pond(self, lead: Lead) -> bool:
        return lead.status == Lead.Status.UNASSIGNED and lead.owner_id is None


@extend_schema_field({
    "type": "object", "additionalProperties": True,
    "properties": {"stage": {"type": "string"}, "text": {"type": "string"}},
    "required": ["stage", "text"],
    "description": "One step of the decision as stored: its stage, its text, and the data "
                   "behind it (criteria with the lead's values, agents and why skipped).",
})
class TraceStepField(serializers.DictField):
    """A stored trace step, as is, with its sentence (a member's step is stored as data only:
    its text is written here, as the lead's page writes it)."""

    def to_representation(self, value: Any) -> dict[str, Any]:
        return {**super().to_representation(value), "text": step_text(value)}


class TraceRecordSerializer(RoutingRecordSerializer):
    """A routing decision with its full trace: every rule tried, every agent considered."""

    id = serializers.IntegerField()
    round = serializers.IntegerField()
    reason = serializers.CharField(help_text="What decided: a rule or special routing.")
    rule = serializers.CharField(source="rule_name", allow_blank=True)
    rule_version = serializers.IntegerField(allow_null=True)
    agent = AgentRefSerializer(allow_null=True)
    lender = AgentRefSerializer(allow_null=True)
    steps = serializers.ListField(child=TraceStepField(), source="trace")


class ManagerOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agent = AgentRefSerializer()
    round = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Offer.Status.choices)
    offered_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)
    pass_reason = serializers.CharField(
        allow_blank=True, help_text="Why the agent passed (declined offers): a `reason` of the "
                                    "agent decline endpoint; empty when none was given.")
    pass_note = serializers.CharField(allow_blank=True, help_text="Their words, for `other`.")


class ManagerLeadDetailSerializer(LeadFactsSerializer, ManagerLeadSerializer):
    """Everything about a lead, with its routing trace, its offers and its timeline."""

    external_id = serializers.CharField(allow_blank=True)
    routing_round = serializers.IntegerField()
    isa = AgentRefSerializer(allow_null=True)
    isa_stage = serializers.CharField(allow_blank=True)
    trace = serializers.SerializerMethodField(help_text="Every routing decision, oldest first.")
    offers = serializers.SerializerMethodField()
    activities = serializers.SerializerMethodField()

    @extend_schema_field(TraceRecordSerializer(many=True))
    def get_trace(self, lead: Lead) -> list[dict[str, Any]]:
        records = lead.routing_records.select_related("agent", "lender").order_by("created_at",
                                                                                   "id")
        return TraceRecordSerializer(records, many=True).data

    @extend_schema_field(ManagerOfferSerializer(many=True))
    def get_offers(self, lead: Lead) -> list[dict[str, Any]]:
        offers = lead.offers.select_related("agent").order_by("offered_at", "id")
        return ManagerOfferSerializer(offers, many=True).data

    @extend_schema_field(ActivitySerializer(many=True))
    def get_activities(self, lead: Lead) -> list[dict[str, Any]]:
        return ActivitySerializer(lead.activities.select_related("actor"), many=True).data



# --- the agent's day --------------------------------------------------------------------------


class FollowUpSerializer(serializers.Serializer):
    """A lead's next follow-up (null: none set)."""

    lead = serializers.IntegerField(source="pk")
    follow_up_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField(source="follow_up_note", allow_blank=True)


class FollowUpSetSerializer(serializers.Serializer):
    """A date and time (ISO 8601; without an offset, the brokerage's time) or a quick pick."""

    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    pick = serializers.ChoiceField(
        choices=list(PICK_LABELS.items()), required=False, allow_blank=True, default="",
        help_text="later_today (about 3 hours on, until 20:00), tomorrow_morning (9:00), "
                  "in_3_days (9:00), next_week (Monday 9:00).")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("at")) == bool(attrs.get("pick")):
            raise serializers.ValidationError({"at": "Give either `at` or `pick`."})
        return attrs


class FollowUpDoneSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AppointmentSerializer(serializers.Serializer):
    """An appointment with the person; ``ics`` is its calendar file (same login)."""

    id = serializers.IntegerField()
    lead = serializers.IntegerField(source="lead_id")
    agent = AgentRefSerializer()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    location = serializers.CharField(allow_blank=True)
    with_whom = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    ics = serializers.SerializerMethodField()

    def get_ics(self, appointment: Appointment) -> str:
        return reverse("appointment-ics", args=[appointment.pk])


class AppointmentWriteSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField(
        help_text="ISO 8601; without an offset, the brokerage's time.")
    minutes = serializers.IntegerField(min_value=5, max_value=12 * 60, default=60)
    location = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                     default="")
    with_whom = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                      default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class TodayLineSerializer(serializers.Serializer):
    """One call to make: a follow-up (``appointment`` null) or an appointment."""

    kind = serializers.ChoiceField(choices=[("follow_up", "Follow-up"),
                                            ("appointment", "Appointment")])
    at = serializers.DateTimeField()
    overdue = serializers.BooleanField()
    lead = AgentLeadSerializer()
    appointment = AppointmentSerializer(allow_null=True)


class TodaySerializer(serializers.Serializer):
    overdue = TodayLineSerializer(many=True, help_text="Follow-ups past due, oldest first.")
    today = TodayLineSerializer(many=True, help_text="The rest of today, in time order.")


class TimeOffSerializer(serializers.Serializer):
    """Time off: routing skips you from ``starts_at`` until ``ends_at``, then gives you leads
    again in your usual place."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    note = serializers.CharField(allow_blank=True)
    source = serializers.ChoiceField(
        choices=[("agent", "Set by you"), ("manager", "Set by a manager"),
                 ("calendar", "From your away calendar (cancel it there)")])


class TimeOffWriteSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField(
        help_text="ISO 8601; without an offset, the brokerage's time.")
    ends_at = serializers.DateTimeField(
        help_text="ISO 8601, after starts_at and in the future.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                 help_text="e.g. vacation.")
