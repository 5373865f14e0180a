"""An agent who leaves the brokerage: deactivated, never deleted, and nothing of theirs stuck.

Deactivating closes their logins (user, sessions, API token), withdraws their live offers and
moves those leads on at once (as an expiry would: the next agent, or the escalation) and
releases their open leads (back to routing, to the pond, or to a named agent), every move on
the lead's timeline, the managers told in one notice. One transaction, locks in the claims'
order (the leads' rows, then the agent's), so a claim racing the deactivation either wins
first (and its lead is released with the others) or is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import models, transaction

from agents.models import Agent
from agents.services import end_logins, reopen_login
from config.errors import ApplicationError
from config.text import plural
from leads.models import Activity, Lead
from notifications.models import Notification
from notifications.services import Message, close_offer_notices, notify_many
from routing.claims import assign_lead, move_on, move_to_pond, return_to_routing
from routing.models import Handoff, Offer, RoutingRecord
from routing.recording import manager_ids
from routing.selectors import routing_config


class Release(models.TextChoices):
    """Where a departing agent's open leads go."""

    ROUTING = "routing", "Back to routing: through the rules again, as if they arrived now"
    POND = "pond", "To the pond: any agent may claim them"
    AGENT = "agent", "To one agent, named below"


RELEASE_WORDS = {Release.ROUTING: "back to routing", Release.POND: "to the pond"}


class DepartureRefused(ApplicationError):
    """The deactivation cannot be done as asked (e.g. no active agent to give the leads to)."""


@dataclass(frozen=True)
class Departure:
    """What a deactivation did, in numbers and in words."""

    agent: Agent
    offers_withdrawn: int
    leads_released: int
    summary: str


def live_offers_of(agent: Agent | int) -> models.QuerySet[Offer]:
    return Offer.objects.filter(agent=agent, status=Offer.Status.OFFERED)


def open_leads_of(agent: Agent | int) -> models.QuerySet[Lead]:
    return Lead.objects.filter(owner=agent, status__in=Lead.OPEN_STATUSES)


def history_of(agent: Agent) -> list[str]:
    """What the agent's record holds, in words; empty: nothing would be lost by deleting."""
    counts = [
        (Offer.objects.filter(agent=agent).count(), "offer"),
        (Lead.objects.filter(models.Q(owner=agent) | models.Q(lender=agent)
                             | models.Q(isa=agent)).count(), "lead"),
        (RoutingRecord.objects.filter(models.Q(agent=agent) | models.Q(lender=agent)).count(),
         "routing record"),
        (Activity.objects.filter(actor=agent).count(), "timeline entry"),
        (Handoff.objects.filter(models.Q(isa=agent) | models.Q(agent=agent)
                                | models.Q(by=agent)).count(), "hand-off"),
    ]
    return [plural(n, word) for n, word in counts if n]


def deactivate_agent(*, agent_id: int, release: str, to_agent: Agent | None = None,
                     by: Agent | None, now: datetime) -> Departure:
    """The agent left: close their access, move their offers on and release their leads.

    ``release`` says where their open leads go (``Release``); ``to_agent`` is the active agent
    who gets them with ``Release.AGENT``. Running it again on an inactive agent releases
    whatever is still theirs.
    """
    if release not in Release.values:
        raise DepartureRefused(f"Unknown choice for the open leads: {release!r}.")
    if release == Release.AGENT and (to_agent is None or to_agent.pk == agent_id):
        raise DepartureRefused("Choose the active agent who gets the open leads.")
    with transaction.atomic():
        _lock_leads(_their_lead_ids(agent_id))  # the leads first, as the claims lock them
        people = [agent_id] + ([to_agent.pk] if release == Release.AGENT and to_agent else [])
        locked = {a.pk: a for a in Agent.objects.select_for_update(of=("self",))
                  .filter(pk__in=people).order_by("pk").select_related("user")}
        agent = locked[agent_id]
        target = locked.get(to_agent.pk) if release == Release.AGENT and to_agent else None
        if release == Release.AGENT and (target is None or not target.is_active):
            raise DepartureRefused("Choose the active agent who gets the open leads.")
        if agent.is_active:
            agent.is_active = False
            agent.save(update_fields=["is_active"])  # routing skips them from here on
        end_logins(agent)
        _lock_leads(_their_lead_ids(agent_id))  # a claim that won just before the lock
        withdrawn = _withdraw_offers(agent, by=by, now=now)
        released = _release_leads(agent, release, target, by=by, now=now)
        where = RELEASE_WORDS.get(release) or f"to {target.name if target else ''}"
        summary = (f"{plural(withdrawn, 'live offer')} withdrawn and moved on; "
                   f"{plural(released, 'open lead')} {where}.")
        recipients = [pk for pk in manager_ids(routing_config()) if pk != agent.pk]
        if by is not None and by.pk not in recipients and by.pk != agent.pk:
            recipients.append(by.pk)
        who = f" by {by.name}" if by else ""
        notify_many([Message(recipients, Notification.Event.AGENT_DEACTIVATED,
                             f"{agent.name} deactivated{who}", summary)], now=now)
        return Departure(agent, withdrawn, released, summary)


def reactivate_agent(*, agent_id: int) -> Agent:
    """A returning person receives leads and logs in again (their password still works)."""
    with transaction.atomic():
        agent = (Agent.objects.select_for_update(of=("self",)).select_related("user")
                 .get(pk=agent_id))
        if not agent.is_active:
            agent.is_active = True
            agent.save(update_fields=["is_active"])
        reopen_login(agent)
        return agent


def _their_lead_ids(agent_id: int) -> set[int]:
    return (set(live_offers_of(agent_id).values_list("lead_id", flat=True))
            | set(open_leads_of(agent_id).values_list("pk", flat=True)))


def lock_their_leads(agent_ids: Iterable[int]) -> None:
    """Lock the leads of agents about to be deactivated, for a caller that must lock more
    (agents, the brokerage) first in its transaction: leads before agents, as the claims."""
    ids = list(agent_ids)
    _lock_leads(set(live_offers_of_any(ids).values_list("lead_id", flat=True))
                | set(Lead.objects.filter(owner_id__in=ids, status__in=Lead.OPEN_STATUSES)
                      .values_list("pk", flat=True)))


def live_offers_of_any(agent_ids: list[int]) -> models.QuerySet[Offer]:
    return Offer.objects.filter(agent_id__in=agent_ids, status=Offer.Status.OFFERED)


def _lock_leads(lead_ids: set[int]) -> None:
    """In id order, so that two deactivations never wait for each other."""
    list(Lead.objects.select_for_update().filter(pk__in=lead_ids).order_by("pk")
         .values_list("pk", flat=True))


def _withdraw_offers(agent: Agent, *, by: Agent | None, now: datetime) -> int:
    """Each live offer ends now and its lead moves on, exactly as when the offer expires."""
    left = f"{agent.name} left the brokerage" + (f" (deactivated by {by.name})" if by else "")
    done = 0
    for offer in list(live_offers_of(agent).order_by("lead_id", "pk")):
        if not Offer.objects.filter(pk=offer.pk, status=Offer.Status.OFFERED).update(
                status=Offer.Status.WITHDRAWN, responded_at=now):
            continue
        Activity.objects.record(lead_id=offer.lead_id, kind=Activity.Kind.WITHDRAWN, actor=by,
                                created_at=now, body=f"Offer to {agent.name} withdrawn: {left}")
        close_offer_notices(lead_id=offer.lead_id, now=now, agent_ids=[agent.pk])
        move_on(offer.lead_id, now=now, why=left)
        done += 1
    return done


def _release_leads(agent: Agent, release: str, target: Agent | None, *, by: Agent | None,
                   now: datetime) -> int:
    lead_ids = list(open_leads_of(agent).order_by("pk").values_list("pk", flat=True))
    for lead_id in lead_ids:
        if release == Release.ROUTING:
            return_to_routing(lead_id, by=by, now=now)
        elif release == Release.POND:
            move_to_pond(lead_id, by=by, now=now)
        else:
            assert target is not None
            assign_lead(lead_id, target, by=by, now=now)
    return len(lead_ids)
