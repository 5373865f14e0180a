"""Who is a manager, and what that lets a person reach: the one place that says so.

A *manager* is an agent whose role is manager. Managers (and superusers) see every lead on the
agent pages; the admin also wants the user to be staff in the Managers group, which
``agents.services`` keeps in step with the role.
"""

from __future__ import annotations

from typing import Any

from agents.groups import MANAGERS
from agents.models import Agent


def is_manager(agent: Agent | None) -> bool:
    """The agent's role is manager."""
    return agent is not None and agent.role == Agent.Role.MANAGER


def sees_every_lead(user: Any) -> bool:
    """Superusers and managers see (and move) every lead on the agent pages."""
    return bool(user.is_superuser) or is_manager(getattr(user, "agent", None))


def may_use_admin(user: Any) -> bool:
    """Superusers, and active staff in the Managers group (the admin and the manager API)."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.is_staff and user.groups.filter(name=MANAGERS).exists()
