"""What the lead's page shows of the agent's day: the follow-up card (with its quick picks)
and the appointments card. Shared by the lead page (``leads.views``) and the follow-up and
appointment posts that show it again with a refused form (``leads.day_views``)."""

from __future__ import annotations

from datetime import datetime

from leads import followups
from leads.agenda import PICK_LABELS, quick_picks
from leads.display import day_time
from leads.forms import AppointmentForm, FollowUpForm
from leads.models import Lead


def day_context(lead: Lead, now: datetime, *, follow_up_form: FollowUpForm | None = None,
                appointment_form: AppointmentForm | None = None) -> dict:
    """What the lead page's follow-up and appointments cards show."""
    tz = followups.tz_name()
    picks = quick_picks(now, tz)
    return {
        "follow_up_when": day_time(lead.follow_up_at, now, tz) if lead.follow_up_at else "",
        "follow_up_overdue": bool(lead.follow_up_at and lead.follow_up_at < now),
        "follow_up_picks": [{"pick": pick, "label": PICK_LABELS[pick],
                             "when": day_time(at, now, tz)} for pick, at in picks.items()],
        "follow_up_form": follow_up_form or FollowUpForm(),
        "appointments": [{"appointment": a, "when": day_time(a.starts_at, now, tz),
                          "minutes": followups.appointment_minutes(a)}
                         for a in followups.upcoming_appointments(lead, now)],
        "appointment_form": appointment_form or AppointmentForm(),
    }
