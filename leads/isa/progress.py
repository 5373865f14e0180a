"""After a hand-off, each side sees the other: the agent has the ISA as the lead's second
contact (name, note, phone), and the ISA follows the agent's progress on it (who has it, the
first contact, the latest activities).

Read-only; a page's worth of hand-offs costs one query for the activities, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from leads.models import Activity, Lead
from routing.models import Handoff

#: The activities by the receiving agent the ISA sees: contacts, notes, the claim and stages.
PROGRESS_KINDS = (*Lead.CONTACT_KINDS, Activity.Kind.NOTE, Activity.Kind.CLAIMED,
                  Activity.Kind.STAGE)
LATEST_SHOWN = 3
EXCERPT = 140


@dataclass(frozen=True)
class SecondContact:
    """The ISA who handed the lead to its owner, as the owner reaches them."""

    name: str
    phone_e164: str
    phone_national: str
    email: str
    note: str
    handed_off_at: datetime


def second_contact(lead: Lead) -> SecondContact | None:
    """The ISA of the owner's hand-off (the latest, if the lead came to them twice); None when
    the lead did not come to its owner from an ISA."""
    if lead.owner_id is None:
        return None
    handoff = (Handoff.objects.select_related("isa")
               .filter(lead_id=lead.pk, agent_id=lead.owner_id).exclude(isa_id=lead.owner_id)
               .order_by("-created_at", "-id").first())
    if handoff is None:
        return None
    isa = handoff.isa
    phone = isa.phone
    return SecondContact(
        name=isa.name, phone_e164=phone.as_e164 if phone else "",
        phone_national=phone.as_national if phone else "", email=isa.email,
        note=handoff.note, handed_off_at=handoff.created_at)


@dataclass(frozen=True)
class Step:
    """One thing the receiving agent did on the lead since the hand-off."""

    kind: str
    label: str
    text: str
    at: datetime


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1].rstrip() + "…"


def latest_steps(handoffs: Sequence[Handoff], *, limit: int = LATEST_SHOWN
                 ) -> dict[int, list[Step]]:
    """Per hand-off id: the receiving agent's latest activities on the lead since the hand-off,
    newest first (at most ``limit``). One query for all of them."""
    wanted = {h.pk: h for h in handoffs if h.agent_id is not None}
    if not wanted:
        return {}
    by_lead: dict[tuple[int, int], list[Handoff]] = {}
    for h in wanted.values():
        by_lead.setdefault((h.lead_id, h.agent_id or 0), []).append(h)
    since = min(h.created_at for h in wanted.values())
    rows: Iterable[Activity] = (
        Activity.objects.filter(lead_id__in={h.lead_id for h in wanted.values()},
                                actor_id__in={h.agent_id for h in wanted.values()},
                                kind__in=PROGRESS_KINDS, created_at__gte=since)
        .only("lead_id", "actor_id", "kind", "body", "created_at")
        .order_by("-created_at", "-id"))
    found: dict[int, list[Step]] = {pk: [] for pk in wanted}
    for activity in rows:
        for h in by_lead.get((activity.lead_id, activity.actor_id or 0), ()):
            steps = found[h.pk]
            if activity.created_at >= h.created_at and len(steps) < limit:
                steps.append(Step(activity.kind, activity.get_kind_display(),
                                  _excerpt(activity.body), activity.created_at))
    return found
