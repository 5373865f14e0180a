"""ISA hand-offs, the pure decision: who on a hand-off target (or the agent the ISA names) gets
the lead, or why nobody can.

A target is a roster with a selection and a delivery mode, like a rule's, so the engine decides
it as one: ``target_rule`` makes it a ``RuleInfo`` (its id is the target's id, negated, so it
never meets a real rule) and ``deliver`` / ``continue_rule`` run on a copy of the configuration
holding only that rule. The database side (locks, rows, messages) is ``leads.isa.handoffs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from routing.engine.decide import deliver
from routing.engine.matching import to_local
from routing.engine.selection import skip_reason
from routing.engine.trace import render_trace, step
from routing.engine.types import (
    AGENT,
    AgentInfo,
    Cursor,
    Decision,
    Delivery,
    LeadFacts,
    Loads,
    Member,
    Outcome,
    Reason,
    RoutingConfig,
    RuleInfo,
    Selection,
    Stage,
    TraceStep,
)

# A hand-off to an agent by name: the agent has this many minutes (of the actionable window)
# for the first contact, or the lead comes back to the ISA.
DEFAULT_CONTACT_MINUTES = 30
RECEIVING_ROLES = ("agent", "manager")  # Agent.Role values that may receive a hand-off
NAMED_RULE = "Hand-off to an agent by name"

SELECTION_WORDS = {
    Selection.ROTATION: "rotation",
    Selection.ON_DUTY: "agent on duty",
    Selection.TERRITORY: "territory (the lead's zip code)",
    Selection.SPECIALTY: "specialty (the lead's tags)",
}
DELIVERY_WORDS = {
    Delivery.ASSIGN: "assigned at once",
    Delivery.CLAIM: "claim with timeout",
    Delivery.FIRST_TO_CLAIM: "first to claim",
}


@dataclass(frozen=True)
class TargetSpec:
    """A hand-off target as plain data."""

    id: int
    name: str
    roster_id: int
    selection: Selection = Selection.ROTATION
    delivery: Delivery = Delivery.ASSIGN
    claim_timeout_minutes: int = 5
    first_contact_minutes: int = DEFAULT_CONTACT_MINUTES
    escalate_to_id: int | None = None


def target_rule(spec: TargetSpec) -> RuleInfo:
    """The target as the engine's rule: negative id, so it never meets a real rule's."""
    return RuleInfo(
        id=-spec.id, name=f"Hand-off: {spec.name}", roster_id=spec.roster_id,
        is_catch_all=True, selection=spec.selection, delivery=spec.delivery,
        claim_timeout_minutes=spec.claim_timeout_minutes, escalate_to_id=spec.escalate_to_id,
    )


def with_target(config: RoutingConfig, spec: TargetSpec) -> tuple[RoutingConfig, RuleInfo]:
    """The configuration with the target's rule as its only rule (agents and rosters kept)."""
    rule = target_rule(spec)
    return replace(config, rules=(rule,)), rule


def _label(agent: AgentInfo) -> str:
    return f"{agent.name} <{agent.email}>"


def decide_handoff(
    config: RoutingConfig,
    spec: TargetSpec,
    lead: LeadFacts,
    *,
    at: datetime,
    cursor: Cursor | None = None,
    loads: Loads | None = None,
    by: str = "",
) -> Decision:
    """Who gets the lead from this target now: "assigned", "offered", or "nobody" (with why).

    The target's rotation moves as a rule's does (``decision.cursors``, keyed by the target's
    rule id); ``decision.rule_id`` is that negative id, never to be stored as a rule.
    """
    cfg, rule = with_target(config, spec)
    local = to_local(at, config.timezone)
    roster = config.rosters.get(spec.roster_id)
    trace = [step(
        Stage.HANDOFF,
        f"Hand-off{f' by {by}' if by else ''} to target '{spec.name}' (roster "
        f"'{roster.name if roster else '(none)'}', "
        f"{SELECTION_WORDS.get(spec.selection, spec.selection)}, "
        f"{DELIVERY_WORDS.get(spec.delivery, spec.delivery)}) at {local:%a %Y-%m-%d %H:%M}",
        target=spec.name, selection=spec.selection, delivery=spec.delivery,
    )]
    decision = deliver(cfg, rule, replace(lead, received_at=at), local,
                       {(rule.id, AGENT): cursor or Cursor()}, loads or Loads(), trace)
    if decision is None:
        trace.pop()  # the engine's "going on to the next rule": a target has no next rule
        headline, reasons = nobody_reasons(config, spec, lead, trace)
        trace.append(step(Stage.RESULT, f"{headline}: nothing handed off", outcome=Outcome.NOBODY))
        details = "; ".join(reasons)
        return Decision(Outcome.NOBODY, Reason.HANDOFF,
                        f"{headline}." + (f" {details}." if details else ""),
                        trace, rule_name=rule.name)
    return replace(decision, reason=Reason.HANDOFF,
                   summary=handoff_summary(config, spec, decision))


def nobody_reasons(config: RoutingConfig, spec: TargetSpec, lead: LeadFacts,
                   trace: list[TraceStep]) -> tuple[str, list[str]]:
    """Why nobody on the target can take the lead: a headline and one reason per member."""
    skipped = [s for s in trace if s["stage"] == Stage.AGENT and s.get("eligible") is False]
    reasons = []
    for entry in skipped:
        agent = config.agent_by_email(entry.get("agent") or "")
        reasons.append(f"{agent.name if agent else 'someone'}: {entry.get('why')}")
    whys: list[str] = [s.get("why") or "" for s in skipped]
    if not skipped:
        headline = f"Nobody is on the roster of '{spec.name}'"
    elif spec.selection == Selection.TERRITORY and any(
        w.startswith("outside territory") for w in whys
    ):
        zip_code = lead.zip_code.strip() or "none given"
        headline = f"Nobody on '{spec.name}' covers the lead's zip code ({zip_code})"
    elif spec.selection == Selection.SPECIALTY and any(
        w.startswith("no specialty") for w in whys
    ):
        tags = ", ".join(lead.tags) or "none"
        headline = f"Nobody on '{spec.name}' has a specialty matching the lead's tags ({tags})"
    elif spec.selection == Selection.ON_DUTY and any(w == "off duty" for w in whys):
        headline = f"Nobody on '{spec.name}' is on duty now"
    else:
        headline = f"Nobody on '{spec.name}' can take the lead now"
    return headline, reasons


def handoff_summary(config: RoutingConfig, spec: TargetSpec, decision: Decision) -> str:
    """The one line for a hand-off that reached someone: assigned to one, or offered."""
    if decision.outcome == Outcome.ASSIGNED:
        assert decision.agent_id is not None  # an assigned decision names its agent
        return f"Handed off to {config.agents[decision.agent_id].name} (target '{spec.name}')"
    names = ", ".join(config.agents[a].name for a in decision.offered_to)
    how = ("first to claim" if spec.delivery == Delivery.FIRST_TO_CLAIM
           else f"{spec.claim_timeout_minutes} min to claim")
    return f"Hand-off offered to {names} (target '{spec.name}', {how})"


def decide_named(
    config: RoutingConfig, agent_id: int, lead: LeadFacts, *, at: datetime,
    loads: Loads | None = None, by: str = "",
) -> Decision:
    """A hand-off to an agent the ISA names: assigned, unless the agent cannot take leads."""
    agent = config.agents.get(agent_id)
    local = to_local(at, config.timezone)
    who = _label(agent) if agent else f"agent #{agent_id}"
    trace = [step(Stage.HANDOFF, f"Hand-off{f' by {by}' if by else ''} to an agent by name: {who} "
                  f"at {local:%a %Y-%m-%d %H:%M}", target=None)]
    if agent is not None and agent.role not in RECEIVING_ROLES:
        why: str | None = f"not an agent (role {agent.role})"
    else:
        why = skip_reason(agent, Member(agent_id, 0, 1), Selection.ROTATION, lead, local,
                          kind=AGENT, loads=loads or Loads())
    if why is not None or agent is None:
        trace.append(step(AGENT, f"{who}: skipped, {why}", agent=agent.email if agent else None,
                          eligible=False, why=why))
        trace.append(step(Stage.RESULT, f"{who} cannot take the lead: nothing handed off",
                          outcome=Outcome.NOBODY))
        name = agent.name if agent else who
        return Decision(Outcome.NOBODY, Reason.HANDOFF, f"{name} cannot take the lead: {why}.",
                        trace, rule_name=NAMED_RULE)
    trace.append(step(AGENT, f"{who}: eligible", agent=agent.email, eligible=True))
    trace.append(step(Stage.RESULT, f"Assigned to {who} by the hand-off", outcome=Outcome.ASSIGNED,
                      agent=agent.email))
    return Decision(Outcome.ASSIGNED, Reason.HANDOFF,
                    f"Handed off to {agent.name} (named by the ISA)",
                    trace, agent_id=agent.id, rule_name=NAMED_RULE)


# --- Preview ---------------------------------------------------------------------------------


@dataclass
class HandoffPreview:
    """What a hand-off would do now: who gets the lead, or why nobody can."""

    possible: bool
    summary: str
    agents: list[AgentInfo] = field(default_factory=list)  # assigned: one; offered: each
    delivery: str = Delivery.ASSIGN
    trace: list[str] = field(default_factory=list)
    decision: Decision | None = None


def preview_of(config: RoutingConfig, decision: Decision) -> HandoffPreview:
    """A hand-off decision as the pages show it before the ISA confirms."""
    ids: tuple[int | None, ...] = (
        (decision.agent_id,) if decision.outcome == Outcome.ASSIGNED else decision.offered_to)
    return HandoffPreview(
        possible=decision.outcome in (Outcome.ASSIGNED, Outcome.OFFERED),
        summary=decision.summary,
        agents=[config.agents[a] for a in ids if a is not None and a in config.agents],
        delivery=decision.delivery,
        trace=render_trace(decision.trace),
        decision=decision,
    )

