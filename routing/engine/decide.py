"""The decision for one lead: special routing, then rules top-down, then the rule's pick and
delivery; and where a lead goes when everyone on its rule has passed (``continue_rule``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import datetime

from routing.engine.matching import evaluate_criteria, in_windows, is_actionable, to_local
from routing.engine.selection import pick_member
from routing.engine.trace import step
from routing.engine.types import (
    AGENT,
    LENDER,
    AfterHours,
    AgentInfo,
    Cursor,
    CursorKey,
    Decision,
    Delivery,
    ExistingLead,
    LeadFacts,
    Loads,
    Outcome,
    Reason,
    RoutingConfig,
    RuleInfo,
    Selection,
    Stage,
    TraceStep,
)


def special_routing(
    config: RoutingConfig,
    lead: LeadFacts,
    existing: ExistingLead | None,
    trace: list[TraceStep],
) -> Decision | None:
    """Pre-assigned, tracking link, own listing, existing lead: in that order, over all rules."""
    checks = (
        (Reason.PRE_ASSIGNED, lead.assigned_to, "Pre-assigned by the vendor to", True),
        (Reason.TRACKING_LINK, lead.tracking_agent, "Came through the tracking link of", True),
        (
            Reason.OWN_LISTING,
            lead.listing_agent,
            "Inquiry on the own listing of",
            config.listing_routing,
        ),
    )
    for reason, email, label, enabled in checks:
        if not email:
            trace.append(step(Stage.SPECIAL, f"{label} an agent: no", check=reason, applied=False))
            continue
        if not enabled:
            trace.append(
                step(
                    Stage.SPECIAL,
                    f"{label} {email}: own-listing routing is switched off for the brokerage",
                    check=reason,
                    applied=False,
                )
            )
            continue
        agent = config.agent_by_email(email)
        why = special_skip_reason(agent)
        if agent is None or why is not None:
            trace.append(
                step(
                    Stage.SPECIAL,
                    f"{label} {email}: {why}, ignored: the rules decide",
                    check=reason,
                    applied=False,
                    agent=email,
                )
            )
            continue
        note = (
            " (paused, but special routing keeps the lead with them)"
            if (not agent.accepting_leads)
            else ""
        )
        trace.append(
            step(
                Stage.SPECIAL,
                f"{label} {agent.name} <{agent.email}>: yes{note}",
                check=reason,
                applied=True,
                agent=agent.email,
            )
        )
        return Decision(Outcome.ASSIGNED, reason, f"{label} {agent.name}", trace,
                        agent_id=agent.id)
    if existing is not None:
        owner = config.agents.get(existing.owner_id) if existing.owner_id else None
        again = routes_again(config, existing)
        if again is not None:
            trace.append(
                step(
                    Stage.SPECIAL,
                    f"Existing lead #{existing.id} (same email or phone){again}: routed again "
                    "through the rules as the same lead",
                    check=Reason.EXISTING_LEAD,
                    applied=False,
                    routed_again=True,
                    lead=existing.id,
                    agent=owner.email if owner else None,
                )
            )
            return None
        who = (f"{owner.name} <{owner.email}>" if owner
               else "nobody yet (offered, waiting for a claim)")
        trace.append(
            step(
                Stage.SPECIAL,
                f"Existing lead #{existing.id} (same email or phone), "
                f"owned by {who}: kept, not routed again",
                check=Reason.EXISTING_LEAD,
                applied=True,
                lead=existing.id,
                agent=owner.email if owner else None,
            )
        )
        return Decision(
            Outcome.EXISTING,
            Reason.EXISTING_LEAD,
            f"Registered again: existing lead #{existing.id}, owner {who}",
            trace,
            agent_id=existing.owner_id,
            existing_lead_id=existing.id,
        )
    trace.append(
        step(
            Stage.SPECIAL,
            "Existing lead with the same email or phone: no",
            check=Reason.EXISTING_LEAD,
            applied=False,
        )
    )
    return None


#: Who special routing may name: a vendor, a tracking link or a listing gives leads only to
#: agents (lenders ride along on a rule, managers hand leads out, ISAs get theirs by rule).
SPECIAL_ROLES = ("agent",)
_ROLE_WORDS = {"lender": "a lender", "manager": "a manager", "isa": "an ISA"}


def special_skip_reason(agent: AgentInfo | None) -> str | None:
    """Why special routing cannot give the lead to this person (None: it can)."""
    if agent is None:
        return "unknown agent"
    if agent.role not in SPECIAL_ROLES:
        return f"{_ROLE_WORDS.get(agent.role, agent.role)}, not an agent"
    if not agent.is_active:
        return "agent is inactive"
    return None


def routes_again(config: RoutingConfig, existing: ExistingLead) -> str | None:
    """Why a returning person's first lead goes through the rules again (None: it is kept).

    A lead in the pond, or whose owner has left, would otherwise sit unseen: it is routed
    again as the same lead. A lead with open offers is left to them.
    """
    if existing.owner_id is None:
        return " waits in the pond" if existing.in_pond else None
    owner = config.agents.get(existing.owner_id)
    if owner is None:
        return f", owned by agent #{existing.owner_id}, who is no longer on the team"
    if not owner.is_active:
        return f", owned by {owner.name} <{owner.email}>, who is inactive"
    return None


def decide(
    config: RoutingConfig,
    lead: LeadFacts,
    *,
    existing: ExistingLead | None = None,
    cursors: Mapping[CursorKey, Cursor] | None = None,
    loads: Loads | None = None,
) -> Decision:
    """Route one lead: special routing, then rules top-down, then the rule's selection."""
    cursors = cursors or {}
    loads = loads or Loads()
    trace: list[TraceStep] = []
    special = special_routing(config, lead, existing, trace)
    if special is not None:
        return special
    decision = _by_rules(config, lead, cursors, loads, trace)
    if existing is not None and routes_again(config, existing) is not None:
        return replace(decision, existing_lead_id=existing.id,
                       summary=f"{decision.summary} (returning person, lead #{existing.id})")
    return decision


def _by_rules(
    config: RoutingConfig,
    lead: LeadFacts,
    cursors: Mapping[CursorKey, Cursor],
    loads: Loads,
    trace: list[TraceStep],
) -> Decision:
    """The rules top-down: the first that matches and can staff the lead, else the pond."""

    local = to_local(lead.received_at, config.timezone)
    trace.append(
        step(
            Stage.CLOCK,
            f"Arrived {local:%a %Y-%m-%d %H:%M} ({config.timezone})",
            local_time=local.isoformat(),
        )
    )
    for rule in config.rules:
        if not (rule.is_active or rule.is_catch_all):
            trace.append(
                step(
                    Stage.RULE,
                    f"Rule '{rule.name}': paused, not evaluated",
                    rule=rule.name,
                    matched=False,
                    active=False,
                )
            )
            continue
        criteria = evaluate_criteria(rule, lead)
        window_ok = in_windows(rule, local)
        matched = window_ok and all(c["matched"] for c in criteria)
        when = "always" if not rule.windows else " or ".join(w.describe() for w in rule.windows)
        window_text = f"applies {when}: " + ("yes" if window_ok else "not now")
        crit_text = "; ".join(c["text"] for c in criteria) or (
            "catch-all, takes everything" if rule.is_catch_all else "no criteria"
        )
        trace.append(
            step(
                Stage.RULE,
                f"Rule '{rule.name}': {'matched' if matched else 'no match'}"
                f" ({crit_text}; {window_text})",
                rule=rule.name,
                rule_id=rule.id,
                matched=matched,
                criteria=criteria,
                window_matched=window_ok,
            )
        )
        if not matched:
            continue
        decision = deliver(config, rule, lead, local, cursors, loads, trace)
        if decision is not None:
            return decision
    last = ("not even the catch-all rule" if any(r.is_catch_all for r in config.rules)
            else "no rule takes it")
    trace.append(
        step(
            Stage.RESULT,
            f"Nobody can take the lead, {last}: left unassigned in the pond; managers are told",
            outcome=Outcome.UNASSIGNED,
        )
    )
    return Decision(Outcome.UNASSIGNED, Reason.POND, "Nobody available: left in the pond", trace)


def deliver(
    config: RoutingConfig,
    rule: RuleInfo,
    lead: LeadFacts,
    local: datetime,
    cursors: Mapping[CursorKey, Cursor],
    loads: Loads,
    trace: list[TraceStep],
    excluded: AbstractSet[int] = frozenset(),
    *,
    moving_on: bool = False,
) -> Decision | None:
    """Pick from the rule's roster and deliver as the rule says; None when nobody can take it.

    Agents in ``excluded`` already had the lead; ``moving_on``: the lead is moving on within
    its rule (no other rule is tried). The steps go onto ``trace``, which the decision keeps.
    """
    key = (rule.id, AGENT)
    agent, cursor, eligible, missed = pick_member(
        config, rule, rule.roster_id, rule.selection, AGENT, lead, local, loads,
        cursors.get(key, Cursor()), trace, excluded)
    if agent is None:
        if excluded or moving_on:
            then = "nobody else can take it"
        elif _rule_left_after(config, rule):
            then = "going on to the next rule"
        else:
            then = "no rule left, the lead waits in the pond"
        trace.append(step(Stage.RULE, f"Rule '{rule.name}' matched but nobody on roster "
                          f"'{_roster_name(config, rule.roster_id)}' can take the lead: {then}",
                          rule=rule.name, staffed=False))
        return None
    delivery = rule.delivery
    if delivery != Delivery.ASSIGN and not is_actionable(config, local) and (
        rule.after_hours == AfterHours.ASSIGN
    ):
        trace.append(step(Stage.DELIVERY, "Outside the actionable window, and the rule says to "
                          "assign after hours: no claim needed", delivery=delivery))
        delivery = Delivery.ASSIGN
    new_cursors: dict[CursorKey, Cursor] = {}
    agent_id: int | None = agent.id
    offered_to: tuple[int, ...] = ()
    if delivery == Delivery.FIRST_TO_CLAIM:
        outcome, agent_id, offered_to = Outcome.OFFERED, None, tuple(eligible)
        names = ", ".join(config.agents[a].name for a in eligible)
        summary = f"Rule '{rule.name}' -> offered to {names} (first to claim)"
    else:
        if rule.selection != Selection.FIRST_IN_ROSTER:
            new_cursors[key] = cursor
        if delivery in (Delivery.CLAIM, Delivery.INSTANT_CALL):
            outcome, agent_id, offered_to = Outcome.OFFERED, None, (agent.id,)
            how = "called" if delivery == Delivery.INSTANT_CALL else "offered to"
            summary = f"Rule '{rule.name}' -> {how} {agent.name} ({rule.claim_text})"
        else:
            outcome = Outcome.ASSIGNED
            summary = f"Rule '{rule.name}' -> {agent.name}"
    lender_id: int | None = None
    if rule.lender_roster_id:
        lkey = (rule.id, LENDER)
        lender, lcursor, _, _ = pick_member(config, rule, rule.lender_roster_id, Selection.ROTATION,
                                         LENDER, lead, local, loads,
                                         cursors.get(lkey, Cursor()), trace)
        if lender is not None:
            lender_id = lender.id
            new_cursors[lkey] = lcursor
            summary += f", lender {lender.name}"
        else:
            trace.append(step(Stage.LENDER, "No lender available on roster "
                              f"'{_roster_name(config, rule.lender_roster_id)}'"))
    if outcome == Outcome.OFFERED:
        who = ", ".join(f"{config.agents[a].name} <{config.agents[a].email}>"
                        for a in offered_to)
        if delivery == Delivery.INSTANT_CALL:
            when = ("the call starts now" if is_actionable(config, local)
                    else "the call starts when the actionable window opens")
            text = (f"Offered to {who} by rule '{rule.name}' by instant call: {when}, "
                    f"{rule.call_timeout_seconds} s to answer and press 1")
        else:
            text = f"Offered to {who} by rule '{rule.name}'" + (
                " (first to claim wins)" if delivery == Delivery.FIRST_TO_CLAIM
                else f", {rule.claim_timeout_minutes} minutes of the actionable window to claim")
        trace.append(step(Stage.RESULT, text, outcome=Outcome.OFFERED, rule=rule.name,
                          offered_to=[config.agents[a].email for a in offered_to],
                          delivery=delivery))
    else:
        trace.append(step(Stage.RESULT, f"Assigned to {agent.name} <{agent.email}> by rule "
                          f"'{rule.name}'", outcome=Outcome.ASSIGNED, agent=agent.email,
                          rule=rule.name))
    turns_taken = delivery != Delivery.FIRST_TO_CLAIM  # first to claim: offered to all at once
    return Decision(outcome, Reason.RULE, summary, trace, agent_id=agent_id,
                    lender_id=lender_id, rule_id=rule.id, rule_name=rule.name,
                    add_tags=rule.add_tags, cursors=new_cursors, offered_to=offered_to,
                    delivery=delivery, skipped_turns=missed if turns_taken else ())


def continue_rule(
    config: RoutingConfig,
    rule_id: int | None,
    lead: LeadFacts,
    *,
    at: datetime,
    why: str,
    excluded: AbstractSet[int],
    cursors: Mapping[CursorKey, Cursor] | None = None,
    loads: Loads | None = None,
    allow_next: bool = True,
) -> Decision:
    """The lead moves on within the rule that took it: next agent, or the rule's escalation.

    Used when an offer expires or is declined (``allow_next``: claim with timeout) and when an
    owner logs no first contact in time. Agents in ``excluded`` already had the lead.
    """
    trace: list[TraceStep] = [step(Stage.MOVED_ON, why)]
    rule = next((r for r in config.rules if r.id == rule_id), None)
    local = to_local(at, config.timezone)
    if rule is not None and allow_next:
        decision = deliver(config, rule, replace(lead, received_at=at), local, cursors or {},
                           loads or Loads(), trace, excluded, moving_on=True)
        if decision is not None:
            return decision
    name = rule.name if rule else "(deleted rule)"
    target = config.agents.get(rule.escalate_to_id) if rule and rule.escalate_to_id else None
    if target is not None and target.is_active:
        trace.append(step(Stage.RESULT, f"Everyone on rule '{name}' has passed: escalated to "
                          f"{target.name} <{target.email}>", outcome=Outcome.ASSIGNED,
                          agent=target.email, rule=name))
        return Decision(Outcome.ASSIGNED, Reason.ESCALATED, f"Escalated to {target.name}", trace,
                        agent_id=target.id, rule_id=rule_id, rule_name=name)
    trace.append(step(Stage.RESULT, f"Everyone on rule '{name}' has passed: the lead goes to the "
                      "pond, where any agent may claim it; managers are told",
                      outcome=Outcome.UNASSIGNED, rule=name))
    return Decision(Outcome.UNASSIGNED, Reason.ESCALATED, "Nobody claimed it: moved to the pond",
                    trace, rule_id=rule_id, rule_name=name)


def _rule_left_after(config: RoutingConfig, rule: RuleInfo) -> bool:
    """Whether a rule after this one will still be tried (the catch-all is always last)."""
    if rule.is_catch_all:
        return False
    later = False
    for other in config.rules:
        if later and (other.is_active or other.is_catch_all):
            return True
        later = later or other.id == rule.id
    return False


def _roster_name(config: RoutingConfig, roster_id: int | None) -> str:
    roster = config.rosters.get(roster_id) if roster_id else None
    return roster.name if roster else "(none)"
