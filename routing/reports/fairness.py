"""Fairness: each rotation member's leads against the share their leads per round entitle them
to, and every turn they missed, with the reason (``routing.fairness.rotation_fairness``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from routing.fairness import RotationFairness, rotation_fairness
from routing.reports.common import (
    Chart,
    Column,
    Filters,
    Period,
    Report,
    Table,
    count_column,
    percent_column,
    text_column,
    with_report_settings,
)

MISSED_SHOWN = 200


def rotations(period: Period, filters: Filters, *, missed_shown: int | None = None
              ) -> list[RotationFairness]:
    """``rotation_fairness`` over the period, narrowed to the rule and agent filtered on
    (``missed_shown``: the details of only the latest N missed turns, every one counted)."""
    return rotation_fairness(
        period.since, period.until, rule_ids=[filters.rule_id] if filters.rule_id else None,
        agent_id=filters.agent_id, missed_shown=missed_shown)


def member_rows(rotation: RotationFairness) -> list[dict[str, Any]]:
    return [{"name": m.name, "weight": m.weight, "entitled": round(100 * m.entitled, 1),
             "expected": round(m.expected, 1), "received": m.received,
             "difference": round(m.received - m.expected, 1), "missed": m.turns_missed,
             "why": missed_words(m.missed_counts)}
            for m in rotation.members]


def missed_rows(found: list[RotationFairness], tz_name: str) -> list[dict[str, Any]]:
    zone = ZoneInfo(tz_name)
    rows: list[dict[str, Any]] = [
        {"at": turn.at, "when": turn.at.astimezone(zone).strftime("%a %b %d %H:%M"),
         "rotation": rotation.name, "agent": member.name, "reason": turn.reason,
         "lead": f"#{turn.lead_id}" if turn.lead_id else ""}
        for rotation in found for member in rotation.members for turn in member.missed]
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows


def missed_words(counts: Mapping[str, int]) -> str:
    """"12 paused, 3 declined": the turns a member missed by reason, most first."""
    return ", ".join(f"{n:,} {reason}" for reason, n in sorted(
        counts.items(), key=lambda item: (-item[1], item[0])))


def given_out(leads: int) -> str:
    if leads == 0:
        return "It gave out no leads in the period."
    return "It gave out one lead in the period." if leads == 1 else (
        f"It gave out {leads:,} leads in the period.")


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+g}"


MEMBER_COLUMNS = [
    text_column("name", "Member"), count_column("weight", "Leads per round"),
    percent_column("entitled", "Entitled share"), Column("expected", "Expected leads"),
    count_column("received", "Leads received"),
    Column("difference", "More (+) or fewer (−) than expected", text=signed),
    count_column("missed", "Turns missed"), text_column("why", "Why"),
]


@with_report_settings
def report(period: Period, filters: Filters, now: datetime) -> Report:
    intro = ("For each rotation (a rule or a hand-off target): what each member received "
             "against the share their leads per round entitle them to, and every turn they "
             "missed and why.")
    found = rotations(period, filters, missed_shown=MISSED_SHOWN)
    tables = []
    for rotation in found:
        kind = "Rule" if rotation.kind == "rule" else "Hand-off"
        tables.append(Table(
            f"{rotation.kind}-{rotation.id}", f"{kind}: {rotation.name}", MEMBER_COLUMNS,
            member_rows(rotation), help=given_out(rotation.leads),
            chart=Chart("bar", ("expected", "received"), horizontal=True) if rotation.leads
            else None))
    shown = missed_rows(found, period.tz_name)
    missed = sum(m.turns_missed for rotation in found for m in rotation.members)
    tables.append(Table(
        "missed", "Turns missed", [
            text_column("when", "When"), text_column("rotation", "Rotation"),
            text_column("agent", "Member"), text_column("reason", "Why"),
            text_column("lead", "Lead")], shown,
        empty="Nobody missed a turn in this period.",
        note=(f"The latest {len(shown)} of {missed:,} (the CSV has them all)."
              if missed > len(shown) else ""),
        all_rows=lambda: missed_rows(rotations(period, filters), period.tz_name)))
    return Report("fairness", "Fairness", intro, tables)
