"""Changing agents: logins, availability."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from agents.groups import AGENTS, ISAS, MANAGERS, ensure_groups
from agents.models import Agent


def ensure_login(agent: Agent, password: str | None = None) -> None:
    """Give the agent a Django user (username = email) if they have none."""
    if agent.user_id:
        sync_access(agent)
        return
    user_model = get_user_model()
    first, _, last = agent.name.partition(" ")
    with transaction.atomic():
        user, _ = user_model.objects.get_or_create(
            username=agent.email,
            defaults={"email": agent.email, "first_name": first[:150], "last_name": last[:150]},
        )
        if password:
            user.set_password(password)
        # Without a password the login stays closed (an empty hash never matches) until a
        # manager sets one or the person uses the password-reset link.
        user.save()
        agent.user = user
        agent.save(update_fields=["user"])
    sync_access(agent)


ROLE_GROUPS = {
    Agent.Role.MANAGER: MANAGERS,
    Agent.Role.AGENT: AGENTS,
    Agent.Role.LENDER: AGENTS,
    Agent.Role.ISA: ISAS,
}


def sync_access(agent: Agent) -> None:
    """Put the agent's login in the group of their role; managers reach the admin."""
    if agent.user is None:
        return
    user = agent.user
    wanted = ROLE_GROUPS[agent.role]
    user.groups.remove(*Group.objects.filter(name__in=set(ROLE_GROUPS.values()) - {wanted}))
    if not Group.objects.filter(name=wanted).exists():
        ensure_groups()
    user.groups.add(Group.objects.get(name=wanted))
    staff = agent.role == Agent.Role.MANAGER or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


def set_accepting_leads(agent: Agent, accepting: bool) -> None:
    """Pause or resume: a paused agent keeps their place in rotations but is skipped."""
    agent.accepting_leads = accepting
    agent.save(update_fields=["accepting_leads"])  # the save also refreshes routing's snapshot
