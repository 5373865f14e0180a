""""Why did I get this lead?" in the agent's words: which rule, whose turn it was and why it
came to them, or the special reason; then the claims, passes and escalations, in a few lines.

Plain Python over a lead's routing records and timeline entries (no database: the records may
be unsaved), so every wording is tested on its own. The engine's full trace stays in the admin
for managers; this story names no other lead, no rule the lead did not match, and colleagues
by first name only (never their emails).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing.engine import Delivery, Outcome, Reason, Selection, SkipCode, Stage
from routing.fairness import first_name, reason_words, turns_from_trace
from routing.models import RoutingRecord


@dataclass(frozen=True)
class Event:
    """A timeline entry the story tells: a claim, a pass, a manager's assignment."""

    kind: str  # ``Activity.Kind`` value
    actor_id: int | None
    at: datetime


@dataclass(frozen=True)
class People:
    """Who reads the story, and what everyone else is called in it."""

    viewer_id: int | None
    names: Mapping[int, str]  # agent id -> full name
    ids_by_email: Mapping[str, int]

    @classmethod
    def of(cls, viewer_id: int | None, agents: Iterable[tuple[int, str, str]]) -> People:
        """From (id, name, email) of the brokerage's people."""
        rows = list(agents)
        return cls(viewer_id, {i: n for i, n, _ in rows},
                   {e.strip().lower(): i for i, _, e in rows})

    def who(self, agent_id: int | None) -> str:
        """"you", a colleague's first name, or "another agent"."""
        if agent_id is not None and agent_id == self.viewer_id:
            return "you"
        return first_name(self.names.get(agent_id, "")) if agent_id is not None else (
            "another agent")

    def id_of(self, email: str | None) -> int | None:
        return self.ids_by_email.get((email or "").strip().lower())


@dataclass(frozen=True)
class Chapter:
    """One decision of the story (a routing record) or one event, with its lines."""

    at: datetime
    lines: tuple[str, ...]


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rule(record: RoutingRecord) -> str:
    return f"the “{record.rule_name}” rule" if record.rule_name else "a rule"


def _steps(record: RoutingRecord, stage: str) -> list[dict[str, Any]]:
    return [s for s in record.trace or () if s.get("stage") == stage]


def _skipped(record: RoutingRecord, people: People) -> list[tuple[int | None, str, int | None]]:
    """Whose turns the rotation passed over: (agent id, code, cap), as stored, or read from
    the trace for records written before they were stored."""
    turns = record.skipped_turns or turns_from_trace(record.trace or (), people.ids_by_email)
    return [(t.get("agent"), t.get("why", ""), t.get("limit")) for t in turns]


def _passed_over(skipped: Sequence[tuple[int | None, str, int | None]], people: People) -> str:
    """"Ana was paused and Bo was at their cap of 20 open leads" ("" when nobody)."""
    parts = []
    for agent_id, code, limit in skipped:
        who = people.who(agent_id)
        if code == SkipCode.MORE_OPEN_LEADS:
            parts.append(f"{who} had more open leads")
            continue
        verb = "were" if who == "you" else "was"
        words = reason_words(code, limit, for_agent=who == "you").removeprefix("you ")
        parts.append(f"{who} {verb} {words}")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return "".join(parts)


#: Special routing in words: ``{who}`` got it ("you", a first name), ``{whose}`` link or listing.
SPECIAL = {
    Reason.PRE_ASSIGNED: "The lead vendor sent it already assigned to {who}.",
    Reason.TRACKING_LINK: "It came through {whose} tracking link.",
    Reason.OWN_LISTING: "The person asked about {whose} own listing, and listing inquiries go "
                        "to the listing agent.",
}


def _whose(who: str) -> str:
    return "your" if who == "you" else f"{who}'s"


def record_lines(record: RoutingRecord, people: People) -> list[str]:
    """One decision in a few plain lines, for the person reading (``people.viewer_id``)."""
    lines: list[str] = []
    moved = _steps(record, Stage.MOVED_ON)
    if moved:
        lines.append(capital(_names_to_first(moved[0].get("text", ""), people)) + ".")
    reason = record.reason
    receiver = people.who(record.agent_id)
    if reason in SPECIAL:
        return lines + [SPECIAL[Reason(reason)].format(who=receiver, whose=_whose(receiver))]
    if reason == Reason.EXISTING_LEAD:
        return lines + [f"This person had registered before, so they stay with {receiver}, "
                        "their agent."]
    if reason == Reason.POND:
        return lines + ["When it arrived nobody could take it, so it went to the pond."]
    if reason == Reason.ESCALATED:
        if record.agent_id is not None:
            return lines + [f"Everyone on {_rule(record)} passed, so it was escalated to "
                            f"{receiver}."]
        return lines + [f"Everyone on {_rule(record)} passed, so it went to the pond."]
    if reason == Reason.HANDOFF:
        lines += _handoff_lines(record, people)
    else:
        lines.append(f"{capital(_rule(record))} took it.")
    lines += _pick_lines(record, people)
    lines += _delivery_lines(record, people)
    return lines


def _handoff_lines(record: RoutingRecord, people: People) -> list[str]:
    step = next(iter(_steps(record, Stage.HANDOFF)), {})
    target = step.get("target")
    if target:
        return [f"The ISA handed it off to “{target}”."]
    return [f"The ISA handed it to {people.who(record.agent_id)} by name."]


def _pick_lines(record: RoutingRecord, people: People) -> list[str]:
    """Whose turn it was and why it came to them (or what the selection looked at)."""
    picks = _steps(record, Stage.SELECTION)
    rotation = _steps(record, Stage.ROTATION)
    if picks and picks[-1].get("selection") == Selection.FIRST_IN_ROSTER:
        who = _offered_or_owner(record, people)
        return [f"It goes to the first available agent on its roster: {who}."]
    if not rotation:
        return []
    turn = rotation[-1]
    who = people.who(people.id_of(turn.get("agent")))
    selection = turn.get("selection")
    where = f" in the “{record.rule_name}” rotation" if record.rule_name and (
        record.reason == Reason.RULE) else ""
    turn_text = ("It was your turn" if who == "you" else f"It was {who}'s turn") + where
    if selection == Selection.LEAST_LOADED:
        turn_text = ("You had the fewest open leads" if who == "you"
                     else f"{capital(who)} had the fewest open leads") + where
    elif selection == Selection.ON_DUTY:
        turn_text += " among the agents on duty"
    elif selection == Selection.TERRITORY:
        turn_text += " among the agents whose territory has the lead's zip code"
    elif selection == Selection.SPECIALTY:
        turn_text += " among the agents with a matching specialty"
    skipped = _passed_over(_skipped(record, people), people)
    if skipped:
        return [f"{turn_text}; {skipped}, so it came to {who}."]
    return [f"{turn_text}."]


def _offered_or_owner(record: RoutingRecord, people: People) -> str:
    if record.agent_id is not None:
        return people.who(record.agent_id)
    result = next(iter(_steps(record, Stage.RESULT)), {})
    offered = [people.id_of(e) for e in result.get("offered_to") or ()]
    return ", ".join(people.who(a) for a in offered) or "nobody"


def _delivery_lines(record: RoutingRecord, people: People) -> list[str]:
    result = next(iter(_steps(record, Stage.RESULT)), {})
    if record.outcome == Outcome.ASSIGNED:
        return [f"It was assigned to {people.who(record.agent_id)} at once."]
    if record.outcome != Outcome.OFFERED:
        return []
    offered = [people.id_of(e) for e in result.get("offered_to") or ()]
    delivery = result.get("delivery")
    if delivery == Delivery.FIRST_TO_CLAIM:
        if people.viewer_id in offered:
            others = len(offered) - 1
            return ["It was offered to you" + (
                f" and {others} other agent{'s' if others != 1 else ''} at once: the first "
                "to claim it gets it." if others else ".")]
        return [f"It was offered to {len(offered)} agents at once: the first to claim it "
                "gets it."]
    who = ", ".join(people.who(a) for a in offered) or "nobody"
    if delivery == Delivery.INSTANT_CALL:
        return [f"{capital(who)} got a call to accept it."]
    return [f"It was offered to {who} to claim."]


def _names_to_first(text: str, people: People) -> str:
    """The engine's words with full names as the reader sees them ("you", first names)."""
    for agent_id, name in sorted(people.names.items(), key=lambda p: -len(p[1])):
        if name and name in text:
            text = text.replace(name, people.who(agent_id))
    return text


def event_line(event: Event, people: People, *, from_pond: bool = False) -> str:
    """A claim or a manager's assignment in words ("" for entries the decisions tell)."""
    if event.kind == "reassigned":
        return "A manager assigned it by hand." if event.actor_id is not None else ""
    if event.kind == "claimed":
        return f"{capital(people.who(event.actor_id))} claimed it" + (
            " from the pond." if from_pond else ".")
    return ""


def why_story(records: Sequence[RoutingRecord], events: Sequence[Event],
              people: People) -> list[Chapter]:
    """The lead's decisions, then its claims and a manager's assignments, in time order.

    Passes and expiries are told by the decision that followed them.
    """
    ordered = sorted(records, key=lambda r: r.created_at)
    items = [(r.created_at, 0, Chapter(r.created_at, tuple(record_lines(r, people))))
             for r in ordered]
    for event in events:
        before = [r for r in ordered if r.created_at <= event.at]
        line = event_line(event, people, from_pond=bool(before)
                          and before[-1].outcome == Outcome.UNASSIGNED)
        if line:
            items.append((event.at, 1, Chapter(event.at, (line,))))
    items.sort(key=lambda item: (item[0], item[1]))
    return [chapter for _, _, chapter in items]
