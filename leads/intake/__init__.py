"""Lead intake: every way a lead comes in (file import, the REST API, web forms, a replay).

``services`` validates and routes; ``idempotency`` takes a request's lead exactly once;
``cleaning`` reads bodies and makes them storable; ``keys`` are the sources' API keys;
``api`` and ``web_forms`` are the HTTP ways in; ``replay`` corrects a rejected lead.
"""

from leads.intake.services import (
    BATCH_SIZE,
    IntakeResult,
    build_lead,
    receive_lead,
    receive_leads,
    reject,
    validate_lead,
)

__all__ = ["BATCH_SIZE", "IntakeResult", "build_lead", "receive_lead", "receive_leads", "reject",
           "validate_lead"]
