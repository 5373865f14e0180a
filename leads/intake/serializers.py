"""Serializers of the lead intake API: they document the bodies (validation is ``LeadForm``'s,
shared with file imports and web forms), plus the bare model serializer of the benchmark."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.forms import SCORE_RANGE
from leads.models import Lead

INTAKE_STATUSES = ("assigned", "offered", "existing", "unassigned")


@extend_schema_field({
    "oneOf": [
        {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 50},
        {"type": "string", "maxLength": 2000,
         "description": "Tags separated by commas, semicolons or bars."},
    ],
})
class TagsField(serializers.Field):
    """A list of tags or one comma-separated string (documentation only)."""

    def to_representation(self, value: Any) -> Any:
        return value

    def to_internal_value(self, data: Any) -> Any:
        return data


@extend_schema_field({
    "oneOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}],
    "description": "The vendor's id of the lead: a number is the same id as its digits (`7` and "
                   "`\"7\"`). A retry with the same id returns the first answer instead of "
                   "making a second lead.",
})
class ExternalIdField(TagsField):
    """Text or a whole number (documentation only)."""


def _text(max_length: int, help_text: str = "") -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, max_length=max_length,
                                 help_text=help_text)


def _agent_email(help_text: str) -> serializers.EmailField:
    return serializers.EmailField(required=False, allow_blank=True, max_length=254,
                                  help_text=f"{help_text} Must be a known agent's email.")


class LeadIntakeRequestSerializer(serializers.Serializer):
    """A lead as a vendor sends it. Give at least a name, an email or a phone number."""

    first_name = _text(100)
    last_name = _text(100)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = _text(40, "E.164 (+13125550101) or a national number of the brokerage's region.")
    tags = TagsField(required=False)
    lead_type = serializers.ChoiceField(choices=Lead.LeadType.choices, required=False,
                                        allow_blank=True)
    price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0,
                                     coerce_to_string=False, required=False, allow_null=True)
    city = _text(100)
    county = _text(100)
    neighborhood = _text(100)
    zip_code = _text(20)
    mls_region = _text(100)
    property_type = _text(100)
    site = _text(200, "The site the lead came from.")
    listing_ref = _text(100, "The listing asked about (MLS number).")
    message = _text(10000)
    score = serializers.IntegerField(required=False, allow_null=True,
                                     min_value=SCORE_RANGE[0], max_value=SCORE_RANGE[1])
    external_id = ExternalIdField(required=False)
    assigned_to = _agent_email("Pre-assigned to this agent by the vendor.")
    tracking_agent = _agent_email("Came through this agent's tracking link.")
    listing_agent = _agent_email("Inquiry on this agent's own listing.")
    consent = serializers.BooleanField(
        required=False, help_text="The person agreed to be contacted: needed for an auto-reply "
        "when the source requires consent.")


class LeadIntakeAnswerSerializer(serializers.Serializer):
    """Where the lead went."""

    lead = serializers.IntegerField(help_text="The lead's id (the person's first lead when "
                                              "the status is 'existing').")
    status = serializers.ChoiceField(choices=[(s, s) for s in INTAKE_STATUSES])
    agent = serializers.EmailField(allow_null=True, help_text="The owner, when assigned.")
    offered_to = serializers.ListField(
        child=serializers.EmailField(), help_text="Agents it is offered to, when offered.")
    rule = serializers.CharField(allow_null=True, help_text="The routing rule that matched.")
    lender = serializers.EmailField(allow_null=True)
    url = serializers.URLField(help_text="The lead's page in the back office.")


class IntakeErrorsSerializer(serializers.Serializer):
    """Every problem found, one message per field (or ``body``, ``key``, ``rate``)."""

    errors = serializers.DictField(child=serializers.CharField())


class BareLeadSerializer(serializers.ModelSerializer):
    """The benchmark's baseline: a lead validated by a model serializer, saved, not routed."""

    class Meta:
        model = Lead
        fields = ["id", "first_name", "last_name", "email", "phone", "source", "tags",
                  "lead_type", "price", "city", "county", "neighborhood", "zip_code",
                  "mls_region", "property_type", "site", "listing_ref", "message", "score",
                  "external_id"]
