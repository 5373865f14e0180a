"""Routing leads for real: locks, the decision, and everything it changes, in one transaction.

The number of queries is the same whatever the number of rules, roster members or stored
leads: the configuration comes from a cached snapshot, the rotations of the candidate rules
are locked in one statement (in rule order, so two routers never deadlock), and the loads of
the agents with caps come in one more. A batch of leads (a file import) is routed in order in
one transaction with the same statements, which is what makes big imports fast.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from agents.models import Agent
from config import cursors
from leads.models import Activity, Lead
from notifications import webhooks
from notifications.models import Notification
from notifications.services import Message, notify_many
from routing import cap_locks, engine, recording
from routing.engine import Decision, ExistingLead, Loads, RoutingConfig
from routing.models import RotationState
from routing.selectors import cursor_of, facts_of, notice_reach, routing_config, rule_versions
from routing.signals import leads_routed


@dataclass
class RoutingResult:
    status: str  # assigned | offered | existing | unassigned
    lead: Lead
    decision: Decision
    agent: Agent | None = None
    lender: Agent | None = None

    @property
    def rule_name(self) -> str | None:
        return self.decision.rule_name or None

    offered_to: list[str] = field(default_factory=list)  # emails, when offered


def _person_keys(lead: Lead) -> list[str]:
    keys = []
    if lead.email_normalized:
        keys.append(f"e:{lead.email_normalized}")
    if lead.phone_normalized:
        keys.append(f"p:{lead.phone_normalized}")
    return keys


def existing_people(leads: Sequence[Lead]) -> dict[str, ExistingLead]:
    """The first stored lead of each person among these leads (same email or same phone)."""
    return people_and_loads(leads, set(), None, "UTC")[0]


def in_pond(owner_id: int | None, status: str) -> bool:
    """Nobody owns the lead and no offer is open: it waits for any agent to claim it."""
    return owner_id is None and status == Lead.Status.UNASSIGNED


def existing_of(lead: Lead) -> ExistingLead:
    """A stored lead as the engine sees a returning person's first lead."""
    return ExistingLead(lead.pk, lead.owner_id, in_pond(lead.owner_id, lead.status))


def find_existing(lead: Lead) -> ExistingLead | None:
    """The first stored lead of the same person, or None."""
    known = existing_people([lead])
    return min((known[key] for key in _person_keys(lead) if key in known),
               key=lambda found: found.id, default=None)


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                          signed=True)


@dataclass(frozen=True)
class Locks:
    """Advisory locks a caller took already in its transaction (``arrival_locks``): their
    keys, and which of them it took shared (``routing.cap_locks``)."""

    keys: tuple[str, ...] = ()
    shared: frozenset[str] = frozenset()


NO_LOCKS = Locks()


def serialize_on(keys: Sequence[str], *, then: Sequence[str] = (),
                 shared: AbstractSet[str] = frozenset()) -> None:
    """Routers that touch the same person or the same capped agent run one after the other.

    PostgreSQL: transaction-scoped advisory locks, taken in one statement in a fixed order (so
    never a deadlock): ``keys`` in key order, then ``then`` in key order (the intake's
    idempotency keys come before the person's, see docs/architecture.md); those in ``shared``
    in shared mode (a capped agent far from their caps, see ``routing.cap_locks``). SQLite
    needs nothing: its IMMEDIATE transactions are already serial.
    """
    if connection.vendor != "postgresql" or not (keys or then):
        return
    first = sorted({_lock_id(k) for k in keys})
    ids = first + sorted({_lock_id(k) for k in then} - set(first))
    in_shared = {_lock_id(k) for k in shared}
    with connection.cursor() as cursor:
        cursor.execute("SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) "
                       "ELSE pg_advisory_xact_lock(k) END FROM (SELECT k, s FROM "
                       "unnest(%s::bigint[], %s::boolean[]) WITH ORDINALITY AS t(k, s, n) "
                       "ORDER BY n) AS keys", [ids, [k in in_shared for k in ids]])


def arrival_locks(leads: Sequence[Lead], config: RoutingConfig | None = None, *,
                  share: bool = False) -> Locks:
    """The advisory locks routing these new leads takes: their people's email and phone, and
    the capped agents of their candidate rules (shared where ``cap_locks`` allows it: one
    lead, ``share``). A caller that must lock something else first (the intake's idempotency
    keys) takes these in the same statement (``serialize_on``'s ``then``) and passes them to
    ``route_leads`` as held; it must route again without ``share`` on ``cap_locks.NearCap``."""
    config = config or routing_config()
    rules = list({r.id: r for lead in leads
                  for r in engine.candidate_rules(config, facts_of(lead))}.values())
    capped = engine.agents_needing_loads(config, rules)
    shared = _shared_agents(config, leads, rules, capped) if share else set()
    agent_keys, in_shared = cap_locks.lock_keys(sorted(capped), shared)
    return Locks(tuple([k for lead in leads for k in _person_keys(lead)] + agent_keys),
                 frozenset(in_shared))


def _shared_agents(config: RoutingConfig, leads: Sequence[Lead], rules: Sequence[engine.RuleInfo],
                   capped: set[int]) -> set[int]:
    """The capped agents routing these leads may lock shared (``cap_locks``): one lead only,
    since a batch may give one agent many."""
    if len(leads) != 1:
        return set()
    least_loaded = engine.agents_needing_loads(
        config, [r for r in rules if r.selection == engine.Selection.LEAST_LOADED])
    return cap_locks.shared_agents(config, capped, _load_day(config, leads), least_loaded)


def _load_day(config: RoutingConfig, leads: Sequence[Lead]) -> date:
    """The day whose leads count against the daily caps: the first lead's arrival day."""
    return engine.to_local(leads[0].received_at, config.timezone).date()


def cursor_keys(rules: Sequence[engine.RuleInfo]) -> list[tuple[int, str]]:
    keys = []
    for rule in rules:
        if rule.selection != "first_in_roster":
            keys.append((rule.id, engine.AGENT))
        if rule.lender_roster_id:
            keys.append((rule.id, engine.LENDER))
    return keys


def rotation_states(
    keys: list[tuple[int, str]], *, lock: bool
) -> dict[tuple[int, str], RotationState]:
    """The rotation rows of these rules, locked in rule order when asked (created if new)."""
    if not keys:
        return {}
    rule_ids = sorted({rule_id for rule_id, _ in keys})

    fields = RotationState._meta.concrete_fields
    quote = connection.ops.quote_name
    locking = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    # In SQL: every lead routed at arrival reads them, and the ORM's query cost more CPU than
    # the database spends answering it.
    sql = (f"SELECT {', '.join(quote(f.column) for f in fields)} "
           f"FROM {quote(RotationState._meta.db_table)} "
           f"WHERE {quote('rule_id')} IN ({', '.join(['%s'] * len(rule_ids))}) "
           f"ORDER BY {quote('rule_id')}, {quote('kind')}{locking}")
    names = [f.attname for f in fields]

    def fetch() -> dict[tuple[int, str], RotationState]:
        with cursors.bound_cursor() as cursor:
            cursor.execute(sql, rule_ids)
            rows = cursor.fetchall()
        states = [RotationState.from_db(connection.alias, names, row) for row in rows]
        return {(s.rule_id, s.kind): s for s in states}

    states = fetch()
    missing = [key for key in keys if key not in states]
    if missing and lock:
        RotationState.objects.bulk_create(
            [RotationState(rule_id=rule_id, kind=kind) for rule_id, kind in missing],
            ignore_conflicts=True,
        )
        states = fetch()
    return states


def agent_loads(agent_ids: set[int], now: datetime, tz_name: str) -> Loads:
    """Open leads held and leads received today (brokerage time) by each of these agents."""
    return people_and_loads((), agent_ids, now, tz_name)[1]


def people_and_loads(leads: Sequence[Lead], agent_ids: set[int], now: datetime | None,
                     tz_name: str) -> tuple[dict[str, ExistingLead], Loads]:
    """``existing_people`` and ``agent_loads`` (``now``: the day counted) in one statement.

    Written in SQL (a ``UNION ALL`` of both reads): every lead routed at arrival runs it, and
    building it with the ORM cost more CPU than the database spends answering it.
    """
    emails = sorted({lead.email_normalized for lead in leads if lead.email_normalized})
    phones = sorted({lead.phone_normalized for lead in leads if lead.phone_normalized})
    quote = connection.ops.quote_name
    table = quote(Lead._meta.db_table)
    parts: list[str] = []
    params: list[Any] = []

    def among(column: str, values: Sequence[Any]) -> str:
        params.extend(values)
        return f"{quote(column)} IN ({', '.join(['%s'] * len(values))})"

    if emails or phones:
        who = [among(column, values) for column, values in
               (("email_normalized", emails), ("phone_normalized", phones)) if values]
        parts.append(f"SELECT {quote('id')}, {quote('owner_id')}, {quote('status')}, "
                     f"{quote('email_normalized')}, {quote('phone_normalized')}, 0, 0 "
                     f"FROM {table} WHERE {' OR '.join(who)}")
    if agent_ids and now is not None:
        local = engine.to_local(now, tz_name)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        moment = Lead._meta.get_field("assigned_at").get_db_prep_value
        day = [moment(day_start, connection), moment(day_start + timedelta(days=1), connection)]
        opened = list(Lead.OPEN_STATUSES)
        is_open = f"{quote('status')} IN ({', '.join(['%s'] * len(opened))})"
        today = f"{quote('assigned_at')} >= %s AND {quote('assigned_at')} < %s"
        params.extend([*opened, *day])
        owners = among("owner_id", sorted(agent_ids))
        params.extend([*opened, *day])
        parts.append(f"SELECT NULL, {quote('owner_id')}, '', '', '', "
                     f"COUNT(CASE WHEN {is_open} THEN 1 END), "
                     f"COUNT(CASE WHEN {today} THEN 1 END) FROM {table} "
                     f"WHERE {owners} AND ({is_open} OR ({today})) GROUP BY {quote('owner_id')}")
    if not parts:
        return {}, Loads({}, {})
    with cursors.bound_cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    found: dict[str, ExistingLead] = {}
    for lead_id, owner_id, status, email, phone, _, _ in sorted(
            (r for r in rows if r[0] is not None), key=lambda r: r[0]):  # the first lead first
        for key in (f"e:{email}" if email in emails else "", f"p:{phone}" if phone in phones
                    else ""):
            if key:
                found.setdefault(key, ExistingLead(lead_id, owner_id, in_pond(owner_id, status)))
    loads = [r for r in rows if r[0] is None]
    return found, Loads({r[1]: r[5] for r in loads}, {r[1]: r[6] for r in loads})


def preview(lead: Lead, *, config: RoutingConfig | None = None) -> Decision:
    """What routing would decide for this lead now, changing nothing (dry run, test a lead)."""
    config = config or routing_config()
    facts = facts_of(lead)
    candidates = engine.candidate_rules(config, facts)
    states = rotation_states(cursor_keys(candidates), lock=False)
    loads = agent_loads(engine.agents_needing_loads(config, candidates), lead.received_at,
                        config.timezone)
    return engine.decide(config, facts, existing=find_existing(lead),
                         cursors={k: cursor_of(s) for k, s in states.items()}, loads=loads)


def route_new_lead(lead: Lead) -> RoutingResult:
    """Route one new, validated, unsaved lead (see ``route_leads``)."""
    return route_leads([lead])[0]


def route_leads(leads: Sequence[Lead], *, savepoint: bool = True,
                locks_held: Locks = NO_LOCKS) -> list[RoutingResult]:
    """Route new, validated, unsaved leads in order and save them with their routing records.

    They share one arrival day for caps. A person already known (same email or phone, stored
    or earlier in the batch) is not saved again: the first lead gets a "registered again"
    activity and its owner is told.

    ``savepoint=False``: the caller's transaction ends with any failure (the intake API), so
    no savepoint is needed to undo a failed routing. ``locks_held``: the advisory locks the
    caller took already in this transaction (``arrival_locks``); any other is taken here.
    Outside any transaction, a capped agent far from their caps is locked shared, and on
    ``cap_locks.NearCap`` the leads are routed again, exclusive; inside one, the caller
    decides (``arrival_locks``).
    """
    if not leads:
        return []
    own_transaction = not connection.in_atomic_block
    try:
        with transaction.atomic(savepoint=savepoint):
            return _Batch(routing_config(), leads, locks_held, share=own_transaction).run()
    except cap_locks.NearCap:
        if not own_transaction:
            raise
    with transaction.atomic(savepoint=savepoint):  # nothing was written: again, exclusive
        return _Batch(routing_config(), leads, locks_held, share=False).run()


class _Batch:
    """The imperative shell around ``engine.decide`` for a list of leads."""

    def __init__(self, config: RoutingConfig, leads: Sequence[Lead],
                 locks_held: Locks = NO_LOCKS, *, share: bool = False) -> None:
        self.config = config
        self.leads = leads
        self.facts = [facts_of(lead) for lead in leads]
        candidates: dict[int, engine.RuleInfo] = {}
        for facts in self.facts:
            candidates.update((r.id, r) for r in engine.candidate_rules(config, facts))
        rules = list(candidates.values())
        self.versions = rule_versions(config, candidates)
        capped = engine.agents_needing_loads(config, rules)
        held = set(locks_held.keys)
        to_take = [a for a in sorted(capped) if cap_locks.agent_key(a) not in held]
        shared = (_shared_agents(config, leads, rules, set(to_take)) if share else set())
        agent_keys, in_shared = cap_locks.lock_keys(to_take, shared)
        serialize_on([k for lead in leads for k in _person_keys(lead) if k not in held]
                     + agent_keys, shared=in_shared)
        shared |= {a for a in capped if cap_locks.agent_key(a) in locks_held.shared}
        # Looked up once the locks are held: a router that held them has committed its leads
        # by now, so the same person sent twice at once is found, not routed twice; and the
        # capped agents' loads are exact (or, locked shared, far enough from their caps).
        self.known, loads = people_and_loads(leads, capped, leads[0].received_at,
                                             config.timezone)
        day = _load_day(config, leads)
        cap_locks.note_loads(capped, loads, day)
        cap_locks.check_room(config, shared, loads, day)
        self.returning = self._lock_returning()
        self.states = rotation_states(cursor_keys(rules), lock=True)
        self.cursors = {key: cursor_of(state) for key, state in self.states.items()}
        self.open_leads, self.leads_today = dict(loads.open_leads), dict(loads.leads_today)
        self.pending: list[tuple[Lead, Decision]] = []
        self.again: list[tuple[Lead, Decision]] = []
        self.messages: list[Message] = []
        self.events: list[webhooks.Event] = []
        self.stubs: dict[int, Agent] = {}

    def _lock_returning(self) -> dict[int, Lead]:
        """The first leads that registering again routes anew (in the pond, or their owner
        left), locked and read again: a pond claim or the clock may have taken one meanwhile.

        Locked before the rotations, in the order claims and the clock lock (lead, then
        rotation), so they never wait for each other.
        """
        ids = {found.id for found in self.known.values()
               if engine.routes_again(self.config, found) is not None}
        if not ids:
            return {}
        locked = Lead.objects.select_for_update().in_bulk(sorted(ids))
        for key, found in list(self.known.items()):
            if found.id in locked:
                self.known[key] = existing_of(locked[found.id])
        return locked

    def run(self) -> list[RoutingResult]:
        decisions: list[tuple[Lead, Decision]] = []
        for lead, facts in zip(self.leads, self.facts, strict=True):
            keys = _person_keys(lead)
            if any(isinstance(self.known.get(k), Lead) for k in keys):
                self._flush()  # the person was new earlier in this batch: save them first
            existing = min((self.known[k] for k in keys if k in self.known),
                           key=lambda found: found.id, default=None)  # the first lead
            decision = engine.decide(self.config, facts, existing=existing, cursors=self.cursors,
                                     loads=Loads(self.open_leads, self.leads_today))
            self.cursors.update(decision.cursors)
            decisions.append((lead, decision))
            if decision.outcome == "assigned":
                agent_id = decision.agent_id
                self.open_leads[agent_id] = self.open_leads.get(agent_id, 0) + 1
                self.leads_today[agent_id] = self.leads_today.get(agent_id, 0) + 1
            if decision.existing_lead_id is not None:
                if decision.outcome != "existing":
                    self._route_again(lead, decision)
                self.again.append((lead, decision))
                continue
            self.pending.append((lead, decision))
            for key in keys:
                self.known.setdefault(key, lead)  # type: ignore[arg-type]
        self._flush(last=True)
        first_leads = Lead.objects.in_bulk(
            [d.existing_lead_id for _, d in self.again]) if self.again else {}
        first_leads.update(self.returning)  # routed again: as saved
        self._registered_again(first_leads)
        notify_many(self.messages, now=self.leads[0].received_at, tz_name=self.config.timezone,
                    reach=notice_reach(self.config))
        webhooks.emit_many(self.events, now=self.leads[0].received_at, config=self.config)
        return [self._result(lead, decision, first_leads) for lead, decision in decisions]

    def _flush(self, *, last: bool = False) -> None:
        """Save the pending new leads and their records; later duplicates can point at them.
        ``last``: the batch's decisions are all taken, so the rotations are saved with them."""
        if not self.pending:
            if last:
                recording.save_cursors(self.cursors, self.states)
            return
        messages, events = recording.record_arrivals(
            self.pending, self.config, self.versions,
            with_events=bool(webhooks.subscribers(self.config)),  # nobody: no events to build
            rotations=(self.cursors, self.states) if last else None)
        for lead, _ in self.pending:
            for key in _person_keys(lead):
                if self.known.get(key) is lead:
                    self.known[key] = ExistingLead(lead.pk, lead.owner_id)
        self.messages.extend(messages)
        self.events.extend(events)
        leads_routed.send(sender=Lead, leads=[lead for lead, _ in self.pending],
                          config=self.config, now=self.pending[0][0].received_at)
        self.pending = []

    def _route_again(self, lead: Lead, decision: Decision) -> None:
        """A returning person's first lead (locked) goes through the rules again: a new
        routing round, its record and offers; the new owner is told it is a returning person."""
        first = self.returning[decision.existing_lead_id]
        first.routing_round += 1
        now = lead.received_at
        offers = recording.save_decision(first, decision, self.config, now=now,
                                         version=self.versions.get(decision.rule_id))
        for key in _person_keys(lead):
            if key in self.known:
                self.known[key] = existing_of(first)
        came_in = came_in_again(lead)
        self.messages.extend(
            replace(m, title=f"{m.title} (returning person)"[:200],
                    body=f"They registered again ({came_in}). {m.body}".strip())
            if m.event in RETURNING_EVENTS else m
            for m in recording.routed_messages(first, decision, self.config, offers))
        if webhooks.subscribers(self.config):
            self.events.extend(webhooks.decision_events(first, decision, self.config, offers))

    def _registered_again(self, first_leads: dict[int, Lead]) -> None:
        if not self.again:
            return
        Activity.objects.record_many([
            Activity(lead_id=d.existing_lead_id, kind=Activity.Kind.REGISTERED_AGAIN,
                     created_at=lead.received_at, body=registered_again_body(lead, d),
                     data=submission_snapshot(lead))
            for lead, d in self.again
        ])
        for lead, decision in self.again:
            first = first_leads[decision.existing_lead_id]
            if decision.outcome == "existing" and first.owner_id:
                self.messages.append(Message(
                    [first.owner_id], Notification.Event.REGISTERED_AGAIN,
                    f"Registered again: {first.title}",
                    lead.message or f"New inquiry from source {lead.source or 'unknown'}.",
                    lead_id=first.pk))

    def _result(
        self, lead: Lead, decision: Decision, first_leads: dict[int, Lead]
    ) -> RoutingResult:
        if decision.existing_lead_id is not None:
            lead = first_leads[decision.existing_lead_id]
        return RoutingResult(decision.outcome, lead, decision, self._stub(decision.agent_id),
                             self._stub(decision.lender_id),
                             [self.config.agents[a].email for a in decision.offered_to])

    def _stub(self, agent_id: int | None) -> Agent | None:
        """The agent of a result, one per agent for the whole batch (read only: a batch of
        200 leads goes to a dozen agents)."""
        if agent_id is None:
            return None
        stub = self.stubs.get(agent_id)
        if stub is None:
            stub = self.stubs[agent_id] = _agent_stub(agent_id, self.config)
        return stub


def _agent_stub(agent_id: int, config: RoutingConfig) -> Agent:
    """An unsaved Agent carrying the snapshot's id, name and email (no query per result)."""
    agent = Agent(pk=agent_id)
    info = config.agents.get(agent_id)
    if info is not None:
        agent.email, agent.name, agent.role = info.email, info.name, info.role
    return agent


#: The messages of a decision that go to whoever now has the lead (told it is a returning
#: person when the lead was routed again); managers' messages stay as they are.
RETURNING_EVENTS = (Notification.Event.LEAD_ASSIGNED, Notification.Event.LEAD_OFFERED)


def came_in_again(lead: Lead) -> str:
    """What came in when a person registered again: the source, and the message if any."""
    source = f"from {lead.source}" if lead.source else "from an unknown source"
    return f"{source}: {lead.message}" if lead.message else f"{source}, no message"


def registered_again_body(lead: Lead, decision: Decision) -> str:
    """The timeline entry of a registration again: what came in, and where the lead went
    when it was routed again."""
    came_in = came_in_again(lead)
    body = came_in[0].upper() + came_in[1:]
    if decision.outcome != "existing":
        body += f"\nRouted again: {decision.summary}"
    return body


def submission_snapshot(lead: Lead) -> dict:
    """What a person sent when they registered again, for the first lead's timeline."""
    fields = ("first_name", "last_name", "email", "source", "lead_type", "city", "zip_code",
              "listing_ref", "message", "site")
    data = {f: getattr(lead, f) for f in fields if getattr(lead, f)}
    if lead.phone:
        data["phone"] = str(lead.phone)
    if lead.price is not None:
        data["price"] = str(lead.price)
    if lead.tags:
        data["tags"] = list(lead.tags)
    return data
