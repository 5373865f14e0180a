"""A lead's facts in words, the same on the pages and in the API."""

from __future__ import annotations

from leads.models import Lead


def area(lead: Lead) -> str:
    """Neighborhood, city and zip in one line (what is known of them)."""
    return ", ".join(p for p in (lead.neighborhood, lead.city, lead.zip_code) if p)
