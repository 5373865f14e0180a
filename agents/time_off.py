"""Scheduled time off: set ahead by the agent or a manager, and read from the agent's away
calendar (``agents.away_feed``).

Routing skips an agent during their time off (the snapshot carries it, see
``routing.selectors.time_away``) and gives them leads again by itself when it ends: nothing
runs at either end, and their place in every rotation is kept, as for a pause. Saving or
deleting a ``TimeOff`` renews the routing snapshot (``routing.signals``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from agents.access import is_manager
from agents.models import Agent, TimeOff
from config.errors import ApplicationError

#: The longest time off set in one go (a longer absence is a departure or a pause).
LONGEST = timedelta(days=366)


class TimeOffRefused(ApplicationError):
    """Time off that cannot be set or cancelled, with the reason for the person who asked."""


class TimeOffForbidden(TimeOffRefused):
    status_code = 403


def acting_agent(user: Any) -> Agent | None:
    return getattr(user, "agent", None) if user is not None else None


def may_manage(user: Any, agent: Agent) -> bool:
    """The agent themselves, a manager or a superuser may set and cancel an agent's time off."""
    if user is None or not user.is_authenticated:
        return False
    own = acting_agent(user)
    return bool(user.is_superuser) or is_manager(own) or (own is not None and own.pk == agent.pk)


def source_for(user: Any, agent: Agent) -> str:
    """Who set it, as the row says: the agent for their own, else a manager."""
    own = acting_agent(user)
    return TimeOff.Source.AGENT if own is not None and own.pk == agent.pk else \
        TimeOff.Source.MANAGER


def add_time_off(*, agent: Agent, starts_at: datetime, ends_at: datetime, note: str = "",
                 by: Any, now: datetime) -> TimeOff:
    """Set time off ahead (or from now): the agent is skipped from ``starts_at`` until
    ``ends_at``. Refused when it ends before it starts, is over already, or runs over a year."""
    if not may_manage(by, agent):
        raise TimeOffForbidden("Only the agent or a manager can set this agent's time off.")
    if ends_at <= starts_at:
        raise TimeOffRefused("The time off must end after it starts.")
    if ends_at <= now:
        raise TimeOffRefused("This time off is already over: choose an end in the future.")
    if ends_at - starts_at > LONGEST:
        raise TimeOffRefused("Time off can run a year at most.")
    return TimeOff.objects.create(
        agent=agent, starts_at=starts_at, ends_at=ends_at, note=note.strip()[:200],
        source=source_for(by, agent), created_by=by,
    )


def cancel_time_off(*, time_off: TimeOff, by: Any, now: datetime) -> TimeOff | None:
    """Cancel time off: one not begun is deleted; one under way ends now (kept, so the turns
    missed meanwhile still say "away"). Returns the row kept, or None.

    The agent cancels their own, and one a manager set for them; a calendar's time off goes
    when it leaves their calendar (or a manager removes it in the admin).
    """
    if not may_manage(by, time_off.agent):
        raise TimeOffForbidden("Only the agent or a manager can cancel this time off.")
    if time_off.source == TimeOff.Source.CALENDAR and not (
        by.is_superuser or is_manager(acting_agent(by))
    ):
        raise TimeOffRefused("This time off comes from your away calendar: remove the event "
                             "there and it goes at the next refresh.")
    if time_off.ends_at <= now:
        raise TimeOffRefused("This time off is over already.")
    with transaction.atomic():
        if time_off.starts_at >= now:
            time_off.delete()
            return None
        time_off.ends_at = now
        time_off.save(update_fields=["ends_at"])
        return time_off


def upcoming_time_off(agent: Agent, now: datetime) -> QuerySet[TimeOff]:
    """The agent's time off under way or ahead, soonest first."""
    return TimeOff.objects.filter(agent=agent, ends_at__gt=now).order_by("starts_at", "id")


def time_off_of(agent: Agent, time_off_id: int) -> TimeOff:
    """One of the agent's time off (``TimeOff.DoesNotExist`` for anyone else's)."""
    return TimeOff.objects.select_related("agent").get(pk=time_off_id, agent=agent)
