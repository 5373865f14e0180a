"""The routing decision: which rule takes a lead, and which agent gets it.

Plain Python over plain data (no database, no Django: the standard library and
``routing.windows`` only), so every rule of the semantics can be tested in isolation and "test
a lead" / dry runs give exactly the answer that real routing gives. The service layer
(``routing.services``) loads a ``RoutingConfig``, the rotation cursors and the agents' loads,
calls ``decide`` and stores what it returns, trace included.

- ``types``: the plain data and the names of the choices (outcome, selection, delivery...).
- ``matching``: a rule's criteria and hours against a lead; the rules routing must consider.
- ``selection``: who on a roster may receive, and the next pick (rotation, least loaded...).
- ``decide``: special routing, the rules top-down, delivery, and moving on within a rule.
- ``handoff``: ISA hand-offs to a target or a named agent.
- ``preview``: where a rotation stands, for the roster admin.
- ``trace``: the steps that explain a decision, and their lines.
"""

from routing.engine.decide import (
    continue_rule,
    decide,
    deliver,
    routes_again,
    special_routing,
    special_skip_reason,
)
from routing.engine.matching import (
    CriterionResult,
    bound_matched,
    candidate_rules,
    evaluate_criteria,
    in_windows,
    is_actionable,
    lead_value,
    rule_matches,
    text_matched,
    to_local,
)
from routing.engine.preview import MemberCheck, PreviewNote, RotationPreview, preview_rotation
from routing.engine.selection import (
    Pick,
    agents_needing_loads,
    load_skip_reason,
    next_pick,
    pick_member,
    rotate,
    skip_code,
    skip_reason,
    skipped_turns,
    static_skip_reason,
)
from routing.engine.trace import render_trace
from routing.engine.types import (
    AGENT,
    FIELD_LABELS,
    LENDER,
    NUMBER_FIELDS,
    TEXT_FIELDS,
    AfterHours,
    AgentInfo,
    Cursor,
    CursorKey,
    CursorKind,
    Decision,
    Delivery,
    ExistingLead,
    LeadFacts,
    Loads,
    Member,
    Outcome,
    Reason,
    RosterInfo,
    RoutingConfig,
    RuleInfo,
    Selection,
    SkipCode,
    SkippedTurn,
    Stage,
    TraceStep,
)

__all__ = [
    "AGENT",
    "FIELD_LABELS",
    "LENDER",
    "NUMBER_FIELDS",
    "TEXT_FIELDS",
    "AfterHours",
    "AgentInfo",
    "CriterionResult",
    "Cursor",
    "CursorKey",
    "CursorKind",
    "Decision",
    "Delivery",
    "ExistingLead",
    "LeadFacts",
    "Loads",
    "Member",
    "MemberCheck",
    "Outcome",
    "Pick",
    "PreviewNote",
    "Reason",
    "RosterInfo",
    "RotationPreview",
    "RoutingConfig",
    "RuleInfo",
    "Selection",
    "SkipCode",
    "SkippedTurn",
    "Stage",
    "TraceStep",
    "agents_needing_loads",
    "bound_matched",
    "candidate_rules",
    "continue_rule",
    "decide",
    "deliver",
    "evaluate_criteria",
    "in_windows",
    "is_actionable",
    "lead_value",
    "load_skip_reason",
    "next_pick",
    "pick_member",
    "preview_rotation",
    "render_trace",
    "rotate",
    "routes_again",
    "rule_matches",
    "skip_code",
    "skip_reason",
    "skipped_turns",
    "special_routing",
    "special_skip_reason",
    "static_skip_reason",
    "text_matched",
    "to_local",
]
