"""The decision's trace: one step per thing the engine looked at, in words and in data.

Steps are plain dicts (stored as JSON in ``RoutingRecord.trace``); ``render_trace`` gives the
lines people read on the lead's page, in the admin and from ``route_lead``.
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
        lines.append(indent + entry["text"])
    return lines
