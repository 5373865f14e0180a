"""The decision's trace: one step per thing the engine looked at, in words and in data.

Steps are plain dicts (stored as JSON in ``RoutingRecord.trace``); ``render_trace`` gives the
lines people read on the lead's page, in the admin and from ``route_lead``.

A roster member's step keeps its data only (``member_step``), no sentence: a trace has one
per member, and the clock writes thousands of traces in a burst. ``step_text`` writes the
sentence from the data when someone reads it (steps stored with a text keep theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from routing.engine.types import Stage, TraceStep

# Stages shown indented under the rule they belong to.
MEMBER_STAGES = (Stage.AGENT, Stage.LENDER, Stage.SELECTION, Stage.ROTATION)


def step(stage: str, text: str, **data: Any) -> TraceStep:
    """One step: ``stage`` is a ``Stage`` (or the rotation's ``CursorKind``)."""
    return {"stage": stage, "text": text, **data}


def member_step(stage: str, *, agent: str, name: str, position: int, per_round: int,
                why: str | None, roster: str, place: int | None = None) -> TraceStep:
    """A known agent considered on a roster (``why``: why skipped; None: eligible).

    ``position`` is the stored sort key; ``place`` the member's 1-based place in the roster's
    order, the number a person reads.
    """
    return {"stage": stage, "agent": agent, "name": name, "position": position,
            "place": position if place is None else place,
            "per_round": per_round, "eligible": why is None, "why": why, "roster": roster}


def member_text(entry: Mapping[str, Any]) -> str:
    """The sentence of a member's step, from its data."""
    verdict = "eligible" if entry.get("eligible") else f"skipped, {entry.get('why')}"
    place = entry.get("place", entry.get("position"))  # older traces: the stored position
    return (f"{entry.get('name')} <{entry.get('agent')}> (position {place}, "
            f"{entry.get('per_round')} per round): {verdict}")


def step_text(entry: Mapping[str, Any]) -> str:
    """A step's sentence: its own text, or a member's written from its data."""
    text = entry.get("text")
    return member_text(entry) if text is None else str(text)


def with_texts(trace: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The steps with their sentences, for those who read the data (JSON output, the API)."""
    return [{**entry, "text": step_text(entry)} for entry in trace]


def fmt(value: object) -> str:
    """A lead's value as the trace shows it: "(none)" when missing, numbers with separators."""
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return f"{value:,.0f}" if value == value.to_integral() else f"{value:,}"
    return str(value)


def render_trace(trace: Sequence[Mapping[str, Any]]) -> list[str]:
    """The trace as lines a person reads, indented under the rule they belong to."""
    lines = []
    for entry in trace:
        indent = "    " if entry["stage"] in MEMBER_STAGES else ""
        lines.append(indent + step_text(entry))
    return lines
