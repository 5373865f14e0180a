"""Where a rotation stands and who its next lead would go to, for the roster admin.

Plain data only (the admin puts it in words): the same ``skip_reason`` and ``next_pick`` that
routing uses, over a lead arriving now, changing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routing.engine.matching import in_windows
from routing.engine.selection import next_pick, skip_reason
from routing.engine.types import (
    AGENT,
    Cursor,
    Delivery,
    LeadFacts,
    Loads,
    Member,
    RoutingConfig,
    RuleInfo,
    Selection,
)


class PreviewNote(StrEnum):
    """Something the roster admin says about a rotation besides its next pick."""

    PAUSED = "paused"  # the rule takes no leads
    OUTSIDE_HOURS = "outside_hours"  # the rule's windows do not hold now
    TERRITORY = "territory"  # the lead's zip code decides: only the order is shown
    FEWEST_OPEN = "fewest_open"  # least loaded: ``RotationPreview.fewest`` open leads


@dataclass(frozen=True)
class MemberCheck:
    member: Member
    why: str | None  # None: can receive a lead now

    @property
    def eligible(self) -> bool:
        return self.why is None


@dataclass(frozen=True)
class RotationPreview:
    """Where one of a rule's rotations stands and who the next lead (arriving now) goes to."""

    selection: Selection  # the one used (a lender rotation is always a rotation)
    members: tuple[MemberCheck, ...]  # in roster order
    eligible: tuple[int, ...]  # agent ids, in roster order
    current: Member | None  # whose turn the cursor holds (None: not started, or left)
    first_to_claim: bool  # offered to every eligible member at once: no pick
    chosen: Member | None
    cursor: Cursor  # after the next lead
    fewest: int | None = None
    notes: tuple[PreviewNote, ...] = ()


def preview_rotation(
    config: RoutingConfig,
    rule: RuleInfo,
    kind: str,
    members: Sequence[Member],
    cursor: Cursor,
    loads: Loads,
    local: datetime,
) -> RotationPreview:
    """Who would get a lead arriving at ``local``, changing nothing.

    The members are checked as for a real lead with no zip code or tags; a territory rule
    depends on the lead's zip code, so there the members are checked as for a rotation.
    """
    selection = rule.selection if kind == AGENT else Selection.ROTATION
    probe = LeadFacts(received_at=local)
    notes: list[PreviewNote] = []
    if not (rule.is_active or rule.is_catch_all):
        notes.append(PreviewNote.PAUSED)
    elif not in_windows(rule, local):
        notes.append(PreviewNote.OUTSIDE_HOURS)
    static = Selection.ROTATION if selection == Selection.TERRITORY else selection
    checks = tuple(
        MemberCheck(m, skip_reason(config.agents.get(m.agent_id), m, static, probe, local,
                                   kind=kind, loads=loads))
        for m in members
    )
    eligible = tuple(c.member.agent_id for c in checks if c.eligible)
    current = next((m for m in members if m.agent_id == cursor.agent_id), None) if (
        cursor.agent_id) else None
    if kind == AGENT and rule.delivery == Delivery.FIRST_TO_CLAIM:
        return RotationPreview(selection, checks, eligible, current, True, None, cursor,
                               notes=tuple(notes))
    if selection == Selection.TERRITORY:
        notes.append(PreviewNote.TERRITORY)
    pick = next_pick(members, set(eligible), selection, cursor, loads)
    if pick.fewest is not None:
        notes.append(PreviewNote.FEWEST_OPEN)
    return RotationPreview(selection, checks, eligible, current, False, pick.member,
                           pick.cursor, pick.fewest, tuple(notes))

