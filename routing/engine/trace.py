"""The decision's trace: one step per thing the engine looked at, in words and in data.

Steps are plain dicts (stored as JSON in ``RoutingRecord.trace``); ``render_trace`` gives the
lines people read on the lead's page, in the admin and from ``route_lead``.

A roster member's step keeps its data only (``member_step``), no sentence: a trace has one
per member, and the clock writes thousands of traces in a burst. ``step_text`` writes the
sentence from the data when someone reads it (steps stored with a text keep theirs).

Stored, a roster's run of member steps is one step of rows (``pack_trace``): the same data
without its keys repeated for every member, a third of the bytes. ``unpack_trace`` gives the
steps back as they were made, so whoever reads a stored trace sees member steps only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

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


#: A member step's keys in the order of a packed row (``pack_trace``).
MEMBER_KEYS = ("agent", "name", "position", "place", "per_round", "why")
_MEMBER_STEP_KEYS = frozenset(("stage", "eligible", "roster", *MEMBER_KEYS))
PACKED = "members"  # the stage of a stored run of member steps


def _packable(entry: Any) -> bool:
    return (isinstance(entry, Mapping) and entry.keys() == _MEMBER_STEP_KEYS
            and entry["stage"] in (Stage.AGENT, Stage.LENDER)
            and entry["eligible"] is (entry["why"] is None))


def _runs(trace: Sequence[Any]) -> Iterator[Any]:
    """The trace's steps, each run of member steps of one roster and stage as one list."""
    run: list[Mapping[str, Any]] = []
    for entry in trace:
        member = _packable(entry)
        if run and not (member and entry["stage"] == run[0]["stage"]
                        and entry["roster"] == run[0]["roster"]):
            yield run
            run = []
        if member:
            run.append(entry)
        else:
            yield entry
    if run:
        yield run


def pack_trace(trace: Sequence[Any]) -> list[Any]:
    """The trace as it is stored: each run of member steps of one roster and stage as one
    step, ``{"stage": "members", "of": <stage>, "roster": <name>, "rows": [[agent, name,
    position, place, per_round, why], ...]}``. Any other step is kept as it is."""
    return [{"stage": PACKED, "of": item[0]["stage"], "roster": item[0]["roster"],
             "rows": [[entry[key] for key in MEMBER_KEYS] for entry in item]}
            if isinstance(item, list) else item for item in _runs(trace)]


def packed_json(trace: Sequence[Any], texts: dict[int, tuple[Any, Any, str | None]]) -> str:
    """``pack_trace``'s result as JSON text, each step looked at once per batch: ``texts``
    keeps, by step, its run (stage and roster; None for a step kept as it is) and its JSON
    (the steps must stay alive meanwhile: the batch's rows hold them). A member step shared
    by a burst's traces is encoded once, not once per trace. Steps kept as they are, one after
    the other, are encoded together the first time (one call of the encoder for the rule
    steps of a lead at arrival, not one each); one seen again is encoded alone, once."""
    parts: list[str] = []
    rows: list[str] = []
    plain: list[Any] = []  # steps kept as they are, first seen: encoded together
    run: tuple[Any, Any] | None = None
    for entry in trace:
        known = texts.get(id(entry))
        if known is None:
            if not _packable(entry):
                texts[id(entry)] = (None, None, None)
                if run is not None:
                    parts.append(_packed_run(run, rows))
                    run, rows = None, []
                plain.append(entry)
                continue
            known = texts[id(entry)] = (
                entry["stage"], entry["roster"], json.dumps([entry[k] for k in MEMBER_KEYS]))
        if plain:
            parts.append(json.dumps(plain)[1:-1])
            plain = []
        stage, roster, text = known
        if run is not None and (stage is None or run != (stage, roster)):
            parts.append(_packed_run(run, rows))
            run, rows = None, []
        if stage is None:
            if text is None:  # shared with an earlier trace: encoded alone from now on
                text = json.dumps(entry)
                texts[id(entry)] = (None, None, text)
            parts.append(text)
            continue
        run = (stage, roster)
        rows.append(cast(str, text))  # a member step always has its text
    if run is not None:
        parts.append(_packed_run(run, rows))
    if plain:
        parts.append(json.dumps(plain)[1:-1])
    return "[" + ", ".join(parts) + "]"


def _packed_run(run: tuple[Any, Any], rows: list[str]) -> str:
    head = json.dumps({"stage": PACKED, "of": run[0], "roster": run[1]})
    return f'{head[:-1]}, "rows": [{", ".join(rows)}]}}'


def unpack_trace(stored: Sequence[Any]) -> list[Any]:
    """The trace as it was made, from its stored form (``pack_trace``; older traces, stored
    step by step, come back as they are)."""
    steps: list[Any] = []
    for entry in stored:
        if isinstance(entry, Mapping) and entry.get("stage") == PACKED:
            stage, roster = entry["of"], entry["roster"]
            for agent, name, position, place, per_round, why in entry["rows"]:
                steps.append({"stage": stage, "agent": agent, "name": name,
                              "position": position, "place": place, "per_round": per_round,
                              "eligible": why is None, "why": why, "roster": roster})
        else:
            steps.append(entry)
    return steps


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
    if type(value) is str:  # most values: every criterion of every rule a lead meets
        return value or "(none)"
    if value is None or value == ():
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
