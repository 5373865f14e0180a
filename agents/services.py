"""Changing agents: logins (opened, closed), availability."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agents.groups import AGENTS, ISAS, MANAGERS, ensure_groups
from agents.models import Agent, Pause


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


def set_accepting_leads(agent: Agent, accepting: bool, *, now: datetime | None = None) -> None:
    """Pause or resume: a paused agent keeps their place in rotations but is skipped. The
    pause is kept (``Pause``), so their missed turns can say when they were paused."""
    now = now or timezone.now()
    with transaction.atomic():
        agent.accepting_leads = accepting
        agent.save(update_fields=["accepting_leads"])  # also refreshes routing's snapshot
        if accepting:
            Pause.objects.filter(agent=agent, ended_at__isnull=True).update(ended_at=now)
        elif not Pause.objects.filter(agent=agent, ended_at__isnull=True).exists():
            Pause.objects.create(agent=agent, started_at=now)


INACTIVE_MESSAGE = "Your agent profile is inactive: you no longer receive or claim leads."


def lock_if_active(agent_id: int) -> bool:
    """Lock the agent's row (after the lead's: the claims' lock order) and say whether they
    are still active; a deactivation in progress is waited for, then seen."""
    return bool(list(Agent.objects.select_for_update(no_key=True)
                     .filter(pk=agent_id, is_active=True).values_list("pk", flat=True)))


def end_logins(agent: Agent) -> None:
    """Close every way in for a person who left: the login, its sessions and its API token."""
    user = agent.user
    if user is None:
        return
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    mine = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now())
            if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    Session.objects.filter(pk__in=mine).delete()


def reopen_login(agent: Agent) -> None:
    """A returning person logs in again with their password (a new API token on request)."""
    if agent.user is not None and not agent.user.is_active:
        agent.user.is_active = True
        agent.user.save(update_fields=["is_active"])
