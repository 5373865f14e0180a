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


# --- Follow Up Boss events (``POST /api/v1/events``): documentation of Follow Up Boss's body;
# the reading is ``leads.intake.fub``'s, the validation ``LeadForm``'s.

class FubValueSerializer(serializers.Serializer):
    value = serializers.CharField(max_length=254)
    type = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                 help_text="mobile, home, work...: not kept.")


class FubPersonSerializer(serializers.Serializer):
    """The person: the first e-mail and phone are the lead's, the others go into its message."""

    id = serializers.IntegerField(required=False, help_text="Follow Up Boss's id: not kept.")
    firstName = _text(100)  # noqa: N815 (Follow Up Boss's names)
    lastName = _text(100)  # noqa: N815
    emails = FubValueSerializer(many=True, required=False)
    phones = FubValueSerializer(many=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    assignedTo = _text(200, "An agent's name or email: the lead is pre-assigned to them. "  # noqa: N815
                       "Unknown: said in the message, routed by the rules.")
    assignedUserId = serializers.IntegerField(  # noqa: N815
        required=False, help_text="A Follow Up Boss user: not an agent here, noted.")


class FubPropertySerializer(serializers.Serializer):
    """The property asked about."""

    street = _text(200, "Into the message, with the state.")
    city = _text(100)
    state = _text(40)
    code = _text(20, "The postal code: the lead's zip code.")
    mlsNumber = _text(100, "The lead's listing reference.")  # noqa: N815
    price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0,
                                     coerce_to_string=False, required=False, allow_null=True)
    forRent = serializers.BooleanField(required=False)  # noqa: N815
    url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    type = _text(100, "The lead's property type.")
    bedrooms = serializers.CharField(required=False, allow_blank=True, max_length=20)
    bathrooms = serializers.CharField(required=False, allow_blank=True, max_length=20)
    area = serializers.CharField(required=False, allow_blank=True, max_length=40)
    lot = serializers.CharField(required=False, allow_blank=True, max_length=40)


class FubCampaignSerializer(serializers.Serializer):
    source = _text(200)
    medium = _text(200)
    term = _text(200)
    content = _text(200)
    campaign = _text(200)


class FubEventSerializer(serializers.Serializer):
    """A Follow Up Boss event. Give the person at least a name, an email or a phone number."""

    source = _text(200, "The site or portal, e.g. Zillow: kept as the lead's site (the lead's "
                        "source is the key's).")
    system = _text(200, "The sending system: the site when no source is given.")
    type = _text(100, "Registration, Inquiry, Seller Inquiry, Property Inquiry, General "
                      "Inquiry, Viewed Property, Saved Property, Visited Website, Incoming "
                      "Call, Unsubscribed (makes no lead), Property Search, Saved Property "
                      "Search, Visited Open House or Viewed Page: the lead type and a tag. "
                      "Another type is kept as a tag.")
    message = _text(10000)
    description = _text(10000, "Added to the message.")
    person = FubPersonSerializer()
    property = FubPropertySerializer(required=False)
    propertySearch = serializers.DictField(  # noqa: N815
        required=False, help_text="city, code, neighborhood, type and maxPrice are read when no "
        "property gives them; all of it goes into the message.")
    campaign = FubCampaignSerializer(required=False)
    pageTitle = _text(500)  # noqa: N815
    pageUrl = _text(2000)  # noqa: N815
    pageReferrer = _text(2000)  # noqa: N815
    pageDuration = serializers.IntegerField(required=False, help_text="Seconds: not kept.")
    occurredAt = serializers.DateTimeField(  # noqa: N815
        required=False, help_text="When it happened: written in the message in the brokerage's "
        "time. Speed to lead counts from the arrival here.")


class FubErrorSerializer(serializers.Serializer):
    """Follow Up Boss's error body, with each field's error for people."""

    errorMessage = serializers.CharField()  # noqa: N815
    errors = serializers.DictField(child=serializers.CharField(), required=False)
