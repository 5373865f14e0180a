"""A large, realistic brokerage on PostgreSQL, built in minutes: the data the reports and the
pages are measured on (``build_scale_data``, ``bench_reports``).

The configuration (agents, rosters, rules, sources) is written through the ORM; the volumes
(leads, routing records, offers, timeline entries, submissions, hand-offs) by
``INSERT ... SELECT generate_series`` in the database itself, so a million leads take minutes,
not the hours a million routed requests would. Every value that varies is a hash of the lead's
id (``hashint8extended``), so one build equals the next and each table agrees with the others
without reading them back into Python.

It writes only to an empty database or to one it built before (a comment on the database says
so), never to SQLite: it truncates every table of the product before a rebuild.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from agents.models import Agent, Pause, Roster, RosterMember, Shift
from config.errors import ApplicationError
from leads.models import Lead, LeadSource
from routing.models import (
    Brokerage,
    HandoffRotation,
    HandoffTarget,
    RotationState,
    Rule,
    RuleCriterion,
    RuleWindow,
)

#: How a database built here announces itself (``COMMENT ON DATABASE``).
MARKER = "leadrouter scale data"

#: Lead sources and their share of the leads (per mille).
SOURCES = (("Zillow", 300), ("Realtor.com", 200), ("Facebook", 150), ("Website", 150),
           ("Homes.com", 100), ("Open house", 50), ("Referral", 50))
CITIES = ("Brooklyn", "Queens", "Manhattan", "Bronx", "Hoboken", "Jersey City", "Yonkers",
          "Newark")
FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Ella", "Farid", "Grace", "Hugo", "Iris", "Jon",
               "Kara", "Luis", "Mia", "Noah", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tess")
LAST_NAMES = ("Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
              "Jones", "Khan", "Lopez", "Moore", "Nguyen", "Okafor", "Patel", "Rossi", "Silva")
CONTACT_KINDS = ("call", "text", "email", "call", "meeting", "note")


class ScaleDataRefused(ApplicationError):
    """The database is not one this builder may fill."""


@dataclass(frozen=True)
class BuildReport:
    leads: int
    activities: int
    seconds: float
    rows: dict[str, int]


# --- Which database ---------------------------------------------------------------------------


def database_marker(using: str) -> str:
    """The comment a build left on the database ('' when none: not built here)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
                       "FROM pg_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def built_size(using: str) -> tuple[int, int] | None:
    """(leads, activities) of the last build on this database, or None when not built here."""
    marker = database_marker(using)
    if not marker.startswith(MARKER):
        return None
    fields = dict(part.split("=", 1) for part in marker[len(MARKER):].split() if "=" in part)
    return int(fields.get("leads", 0)), int(fields.get("activities", 0))


def built_at(using: str) -> datetime | None:
    """The "now" the last build's leads end at (reports are timed up to it)."""
    marker = database_marker(using)
    for part in marker.split():
        if part.startswith("built="):
            return datetime.fromisoformat(part[len("built="):])
    return None


def check_database(using: str) -> None:
    """Refuse SQLite, and any database holding data this builder did not write."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ScaleDataRefused(
            f"The scale data needs PostgreSQL; this database is {connection.vendor}.")
    if built_size(using) is not None:
        return
    tables = set(connection.introspection.table_names())
    holding = [model._meta.verbose_name_plural for model in (Lead, Agent, Rule)
               if model._meta.db_table in tables and model.objects.using(using).exists()]
    if holding:
        raise ScaleDataRefused(
            f"Database {connection.settings_dict['NAME']} already holds "
            f"{', '.join(map(str, holding))} that the scale data builder did not write: "
            "it fills only an empty database or one it built.")


# --- The build --------------------------------------------------------------------------------


def build(*, leads: int, activities: int | None = None, using: str = "default",
          now: datetime | None = None, months: int = 12,
          progress: Callable[[str], None] = lambda line: None) -> BuildReport:
    """Empty the database and fill it: a brokerage of about 60 people, 15 rules and ``leads``
    leads spread over ``months`` months up to ``now`` (30 days hold about a twelfth), with
    their records, offers, submissions, hand-offs and ``activities`` timeline entries (default
    three per lead)."""
    check_database(using)
    activities = 3 * leads if activities is None else activities
    now = now or timezone.now()
    started = time.perf_counter()
    call_command("migrate", database=using, interactive=False, verbosity=0)
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute("SET LOCAL work_mem = '128MB'")
        _truncate(using)
        progress("configuration")
        rules = _configuration(using, now=now)
        with connection.cursor() as cursor:
            span = timedelta(days=30.4 * months)
            steps = _bulk_steps(leads=leads, activities=activities, now=now,
                                start=now - span, rules=rules)
            for table, sql in steps:
                began = time.perf_counter()
                cursor.execute(sql)
                progress(f"{table}: {cursor.rowcount:,} rows, "
                         f"{time.perf_counter() - began:.1f} s")
            _reset_sequences(cursor, using)
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"COMMENT ON DATABASE {name} IS %s",
                           [f"{MARKER} leads={leads} activities={activities} "
                            f"built={now.isoformat(timespec='seconds')}"])
        progress("commit (the database checks every reference between the rows)")
        committing = time.perf_counter()
    progress(f"committed in {time.perf_counter() - committing:.0f} s; vacuum and analyze")
    with connection.cursor() as cursor:
        # As a settled database is: statistics for the planner, and the visibility map that
        # lets index-only scans skip the table.
        cursor.execute("VACUUM ANALYZE " + ", ".join(BULK_TABLES))
    counts = stored_counts(using)
    return BuildReport(leads=counts["leads_lead"], activities=counts["leads_activity"],
                       seconds=time.perf_counter() - started, rows=counts)


BULK_TABLES = ("leads_lead", "routing_routingrecord", "routing_offer", "leads_activity",
               "leads_submission", "routing_handoff", "notifications_notification",
               "notifications_delivery")


def stored_counts(using: str) -> dict[str, int]:
    with connections[using].cursor() as cursor:
        counts = {}
        for table in BULK_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        return counts


def _truncate(using: str) -> None:
    """Empty every table of the product (a rebuild starts from nothing)."""
    connection = connections[using]
    keep = {"django_migrations", "django_content_type", "auth_permission", "django_session",
            "django_cache"}
    tables = [t for t in connection.introspection.django_table_names(only_existing=True)
              if t not in keep]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables)
                       + " RESTART IDENTITY CASCADE")


def _reset_sequences(cursor: Any, using: str) -> None:
    for table in BULK_TABLES:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")


# --- The configuration (ORM) ------------------------------------------------------------------


@dataclass(frozen=True)
class RulePlan:
    """One rule as the bulk statements need it."""

    id: int
    name: str
    selection: str
    delivery: str
    claim_minutes: int
    contact_minutes: int | None
    escalate_to: int | None
    members: tuple[int, ...]  # in roster order
    weighted: tuple[int, ...]  # each member once per lead of their turn
    names: tuple[str, ...]
    emails: tuple[str, ...]
    lenders: tuple[int, ...]
    isa: bool
    source: str  # the source its leads come from ('' : any)
    share: int  # per mille of its source's leads


def _configuration(using: str, *, now: datetime) -> list[RulePlan]:
    """About 60 people, 9 rosters, 15 rules of every selection and delivery, 2 hand-off
    targets, 7 sources."""
    db = using
    Brokerage.objects.using(db).create(pk=1, name="Harbor Realty (scale data)",
                                       timezone="America/New_York")
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    people: list[Agent] = []
    for i in range(50):
        people.append(Agent(
            name=f"{FIRST_NAMES[i % 20]} {LAST_NAMES[i % 18]} {i}",
            email=f"agent{i}@harbor.example", role=Agent.Role.AGENT,
            accepting_leads=i % 13 != 5, max_open_leads=40 if i % 7 == 3 else None,
            zip_codes=[f"11{(i * 3 + k) % 40:03d}" for k in range(3)],
            specialties=["luxury"] if i % 6 == 0 else (["first-time"] if i % 6 == 1 else [])))
    for i in range(5):
        people.append(Agent(name=f"ISA {FIRST_NAMES[i]}", email=f"isa{i}@harbor.example",
                            role=Agent.Role.ISA))
    for i in range(3):
        people.append(Agent(name=f"Lender {LAST_NAMES[i]}", email=f"lender{i}@harbor.example",
                            role=Agent.Role.LENDER))
    for i in range(2):
        people.append(Agent(name=f"Manager {LAST_NAMES[i + 5]}",
                            email=f"manager{i}@harbor.example", role=Agent.Role.MANAGER))
    people = Agent.objects.using(db).bulk_create(people)
    agents = [p for p in people if p.role == Agent.Role.AGENT]
    isas = [p for p in people if p.role == Agent.Role.ISA]
    lenders = [p for p in people if p.role == Agent.Role.LENDER]
    managers = [p for p in people if p.role == Agent.Role.MANAGER]
    Shift.objects.using(db).bulk_create(
        [Shift(agent=a, days=weekdays if i % 2 else ["sat", "sun"],
               start=day_time(8 + 4 * (i % 3)), end=day_time(12 + 4 * (i % 3)))
         for i, a in enumerate(agents[:24])])
    # A few afternoons off over the year for everyone; the paused ones since three days.
    pauses = []
    for i, agent in enumerate(agents):
        for k in range(4):
            start = now - timedelta(days=5 + (i * 7 + k * 90) % 360, hours=i % 5)
            pauses.append(Pause(agent=agent, started_at=start,
                                ended_at=start + timedelta(hours=2 + i % 6)))
        if not agent.accepting_leads:
            pauses.append(Pause(agent=agent, started_at=now - timedelta(days=3)))
    Pause.objects.using(db).bulk_create(pauses)
    LeadSource.objects.using(db).bulk_create([LeadSource(name=name) for name, _ in SOURCES])

    def roster(name: str, members: Sequence[Agent], weights: Sequence[int] = (1,)) -> Roster:
        made = Roster.objects.using(db).create(name=name)
        RosterMember.objects.using(db).bulk_create(
            [RosterMember(roster=made, agent=a, position=i,
                          leads_per_round=weights[i % len(weights)])
             for i, a in enumerate(members)])
        return made

    rosters = {
        "Buyers A": roster("Buyers A", agents[0:10], (1, 2, 1)),
        "Buyers B": roster("Buyers B", agents[10:20], (1, 1, 2)),
        "Sellers": roster("Sellers", agents[20:28], (2, 1)),
        "Luxury": roster("Luxury", agents[28:34]),
        "Social": roster("Social", agents[34:42], (1, 1, 1, 3)),
        "Website": roster("Website", agents[42:50], (1, 2)),
        "Everyone": roster("Everyone", agents, (1,)),
        "ISAs": roster("ISAs", isas),
        "Lenders": roster("Lenders", lenders),
    }
    S, D = Rule.Selection, Rule.Delivery
    # name, roster, selection, delivery, source, share of the source, contact minutes, lender
    specs: list[tuple[str, str, str, str, str, int, int | None, bool]] = [
        ("Zillow buyers", "Buyers A", S.ROTATION, D.CLAIM, "Zillow", 500, 30, True),
        ("Zillow sellers", "Sellers", S.ROTATION, D.ASSIGN, "Zillow", 250, 60, False),
        ("Zillow luxury", "Luxury", S.SPECIALTY, D.FIRST_TO_CLAIM, "Zillow", 250, 30, False),
        ("Realtor.com buyers", "Buyers B", S.ROTATION, D.CLAIM, "Realtor.com", 600, 30, True),
        ("Realtor.com sellers", "Sellers", S.LEAST_LOADED, D.ASSIGN, "Realtor.com", 400, None,
         False),
        ("Facebook ads", "Social", S.ROTATION, D.FIRST_TO_CLAIM, "Facebook", 700, 15, False),
        ("Facebook to ISAs", "ISAs", S.ROTATION, D.ASSIGN, "Facebook", 300, None, False),
        ("Website by territory", "Website", S.TERRITORY, D.CLAIM, "Website", 500, 30, False),
        ("Website to ISAs", "ISAs", S.ROTATION, D.ASSIGN, "Website", 500, None, False),
        ("Homes.com", "Buyers B", S.ROTATION, D.CLAIM, "Homes.com", 800, 30, True),
        ("Open house on duty", "Everyone", S.ON_DUTY, D.ASSIGN, "Open house", 1000, 60, False),
        ("Referrals first in roster", "Sellers", S.FIRST_IN_ROSTER, D.ASSIGN, "Referral", 600,
         None, False),
        ("Weekend buyers", "Buyers A", S.ON_DUTY, D.CLAIM, "", 0, 30, False),
        ("Paused test rule", "Everyone", S.ROTATION, D.ASSIGN, "", 0, None, False),
        ("Everyone else", "Everyone", S.ROTATION, D.ASSIGN, "", 0, 60, False),
    ]
    plans: list[RulePlan] = []
    for priority, (name, roster_name, selection, delivery, source, share, contact,
                   lender) in enumerate(specs):
        catch_all = name == "Everyone else"
        rule = Rule.objects.using(db).create(
            name=name, priority=priority, roster=rosters[roster_name], selection=selection,
            delivery=delivery, is_catch_all=catch_all, is_active=name != "Paused test rule",
            claim_timeout_minutes=5 + 5 * (priority % 2), first_contact_minutes=contact,
            escalate_to=managers[0] if priority % 3 == 0 and delivery != D.ASSIGN else None,
            lender_roster=rosters["Lenders"] if lender else None)
        if source:
            RuleCriterion.objects.using(db).create(rule=rule, field="source", value=source)
        if "buyers" in name.lower():
            RuleCriterion.objects.using(db).create(rule=rule, field="lead_type", value="buyer")
        if "sellers" in name.lower():
            RuleCriterion.objects.using(db).create(rule=rule, field="lead_type", value="seller")
        if "luxury" in name.lower():
            RuleCriterion.objects.using(db).create(rule=rule, field="price_min", value="1500000")
        if name == "Weekend buyers":
            RuleWindow.objects.using(db).create(rule=rule, days=["sat", "sun"],
                                                start=day_time(9), end=day_time(18))
        RotationState.objects.using(db).create(rule=rule)
        members = list(RosterMember.objects.using(db).filter(roster=rule.roster)
                       .select_related("agent").order_by("position"))
        plans.append(RulePlan(
            id=rule.pk, name=name, selection=selection, delivery=delivery,
            claim_minutes=rule.claim_timeout_minutes, contact_minutes=contact,
            escalate_to=rule.escalate_to_id,
            members=tuple(m.agent_id for m in members),
            weighted=tuple(m.agent_id for m in members for _ in range(m.leads_per_round)),
            names=tuple(m.agent.name for m in members),
            emails=tuple(m.agent.email for m in members),
            lenders=tuple(a.pk for a in lenders) if lender else (),
            isa=roster_name == "ISAs", source=source, share=share))
    for name, roster_name in (("Buyer agents", "Buyers A"), ("Listing agents", "Sellers")):
        target = HandoffTarget.objects.using(db).create(
            name=name, roster=rosters[roster_name], escalate_to=managers[1])
        HandoffRotation.objects.using(db).create(target=target)
    return plans


# --- The volumes (SQL) ------------------------------------------------------------------------


def _r(salt: int, mod: int, of: str = "g") -> str:
    """A value in [0, mod) that looks random, the same in every statement for a lead."""
    return f"(abs(hashint8extended({of}::bigint, {salt})) % {mod})"


def _text_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def _int_array(values: Sequence[int]) -> str:
    return "ARRAY[" + ", ".join(str(v) for v in values) + "]::bigint[]" if values \
        else "ARRAY[]::bigint[]"


def _bulk_steps(*, leads: int, activities: int, now: datetime, start: datetime,
                rules: Sequence[RulePlan]) -> list[tuple[str, str]]:
    """The statements that write the volumes, in order, with their parameters."""
    rule_rows = ",\n".join(
        f"({k}, {p.id}, '{p.name}', '{p.selection}', '{p.delivery}', {p.claim_minutes}, "
        f"{p.contact_minutes or 'NULL'}, {p.escalate_to or 'NULL'}, {_int_array(p.members)}, "
        f"{_int_array(p.weighted)}, {_text_array(p.names)}, {_text_array(p.emails)}, "
        f"{_int_array(p.lenders)}, {p.isa}, '{p.source}', {p.share})"
        for k, p in enumerate(rules))
    # Each source's leads go to its rules by share; a lead of no rule's source to the catch-all.
    picks = []
    for source, _ in SOURCES:
        bound = 0
        for k, p in enumerate(rules):
            if p.source == source:
                bound += p.share
                picks.append(f"WHEN src = '{source}' AND {_r(4, 1000)} < {bound} THEN {k}")
    catch_all = next(k for k, p in enumerate(rules) if p.name == "Everyone else")
    weekend = next(k for k, p in enumerate(rules) if p.name == "Weekend buyers")
    source_case, bound = [], 0
    for name, share in SOURCES:
        bound += share
        source_case.append(f"WHEN {_r(1, 1000)} < {bound} THEN '{name}'")
    span = "(%(now)s::timestamptz - %(start)s::timestamptz)"

    rules_sql = f"""
        CREATE TEMP TABLE scale_rule (k int, id bigint, name text, selection text,
            delivery text, claim_minutes int, contact_minutes int, escalate_to bigint,
            members bigint[], weighted bigint[], names text[], emails text[], lenders bigint[],
            isa bool, source text, share int) ON COMMIT DROP;
        INSERT INTO scale_rule VALUES {rule_rows};
    """
    # The leads, in arrival order (ids follow time), with what routing made of them: their
    # rule, their fate, how many offers it took, who got them.
    leads_sql = f"""
        {rules_sql}
        CREATE TEMP TABLE scale_lead ON COMMIT DROP AS
        WITH arrived AS (
            SELECT g, %(start)s::timestamptz + {span} * (g - 0.5) / %(n)s AS at,
                CASE {' '.join(source_case)} ELSE 'Website' END AS src
            FROM generate_series(1, %(n)s) AS g
        ), picked AS (
            SELECT g, at, src, CASE
                WHEN extract(isodow FROM at AT TIME ZONE 'America/New_York') >= 6
                     AND {_r(8, 100)} < 20 THEN {weekend}
                {' '.join(picks)} ELSE {catch_all} END AS rk
            FROM arrived
        ), fated AS (
            SELECT p.g, p.at, p.src, p.rk,
                CASE WHEN {_r(2, 1000)} < 25 THEN 'pond'
                     WHEN p.at > %(now)s::timestamptz - interval '15 minutes'
                          AND r.delivery <> 'assign' THEN 'offered'
                     WHEN r.delivery <> 'assign' AND {_r(5, 1000)} < 40 THEN 'escalated'
                     ELSE 'routed' END AS fate,
                CASE WHEN r.delivery = 'assign' THEN 1
                     ELSE 1 + least(cardinality(r.members) - 1, ({_r(6, 100)} < 30)::int
                                    + ({_r(7, 100)} < 12)::int) END AS attempts
            FROM picked p JOIN scale_rule r ON r.k = p.rk
        )
        SELECT f.*,
            CASE WHEN f.fate IN ('offered', 'pond') THEN NULL
                 WHEN f.fate = 'escalated' THEN r.escalate_to
                 WHEN r.delivery = 'assign' THEN r.weighted[1 + f.g % cardinality(r.weighted)]
                 ELSE r.members[1 + (f.g + f.attempts - 1) % cardinality(r.members)] END
                AS owner,
            CASE WHEN r.isa AND f.fate = 'routed'
                 THEN r.weighted[1 + f.g % cardinality(r.weighted)] END AS isa
        FROM fated f JOIN scale_rule r ON r.k = f.rk;
    """
    insert_leads = f"""
        INSERT INTO leads_lead (id, first_name, last_name, email, phone, email_normalized,
            phone_normalized, source, tags, lead_type, price, city, county, neighborhood,
            zip_code, mls_region, property_type, site, listing_ref, message, score,
            external_id, consent, assigned_to, tracking_agent, listing_agent, status, owner_id,
            lender_id, rule_id, received_at, assigned_at, first_contact_at, routing_round,
            first_contact_due_at, isa_id, isa_stage, dead_reason, temperature, follow_up_on,
            handed_off_at)
        SELECT g, ({_text_array(FIRST_NAMES)})[1 + {_r(10, 20)}],
            ({_text_array(LAST_NAMES)})[1 + {_r(11, 18)}],
            'lead' || g || '@mail.example', '+1201' || lpad((g % 10000000)::text, 7, '0'),
            'lead' || g || '@mail.example', '+1201' || lpad((g % 10000000)::text, 7, '0'),
            src, CASE WHEN {_r(12, 10)} = 0 THEN '["luxury"]'::jsonb
                      WHEN {_r(12, 10)} = 1 THEN '["first-time"]'::jsonb ELSE '[]'::jsonb END,
            CASE WHEN {_r(13, 100)} < 65 THEN 'buyer' ELSE 'seller' END,
            (150000 + {_r(14, 3000)} * 1000)::numeric,
            ({_text_array(CITIES)})[1 + {_r(15, len(CITIES))}], 'Kings', '',
            '11' || lpad(({_r(16, 40)})::text, 3, '0'), 'NYC', 'house',
            CASE WHEN src = 'Website' THEN 'harbor.example' ELSE '' END, '',
            CASE WHEN {_r(17, 3)} = 0 THEN 'Is this still available?' ELSE '' END,
            {_r(18, 100)}, src || '-' || g, {_r(19, 2)} = 0, '', '', '',
            CASE WHEN fate = 'pond' OR (fate = 'escalated' AND owner IS NULL) THEN 'unassigned'
                 WHEN fate = 'offered' THEN 'offered'
                 WHEN isa IS NOT NULL AND NOT handed THEN 'assigned'
                 WHEN {_r(20, 100)} < 18 THEN 'assigned'
                 WHEN {_r(20, 100)} < 82 THEN 'contacted'
                 WHEN {_r(20, 100)} < 91 THEN 'closed' ELSE 'dead' END,
            CASE WHEN isa IS NOT NULL AND handed THEN handoff_agent
                 WHEN fate IN ('pond', 'offered') THEN NULL ELSE owner END,
            CASE WHEN cardinality(lenders) > 0 AND fate = 'routed'
                 THEN lenders[1 + g % cardinality(lenders)] END,
            CASE WHEN fate = 'pond' THEN NULL ELSE id END,
            at, CASE WHEN fate IN ('pond', 'offered') OR (fate = 'escalated' AND owner IS NULL)
                     THEN NULL WHEN isa IS NOT NULL AND handed THEN handed_at
                     ELSE claimed_at END,
            CASE WHEN NOT handed THEN first_contact WHEN g % 10 < 8
                 THEN handed_at + (g % 40 + 1) * interval '1 minute' END,
            CASE WHEN handed THEN 2 ELSE 1 END,
            CASE WHEN first_contact IS NULL AND contact_minutes IS NOT NULL
                      AND fate NOT IN ('pond', 'offered') AND isa IS NULL
                      AND claimed_at + contact_minutes * interval '1 minute' > %(now)s
                 THEN claimed_at + contact_minutes * interval '1 minute' END,
            isa, CASE WHEN isa IS NULL THEN '' WHEN handed THEN 'handed_off'
                      ELSE ({_text_array(['new', 'contacted', 'nurturing', 'dead'])})
                           [1 + {_r(21, 4)}] END,
            '', '', NULL, CASE WHEN handed THEN handed_at END
        FROM (
            SELECT sl.*, r.id, r.delivery, r.contact_minutes, r.lenders,
                sl.isa IS NOT NULL AND {_r(22, 100)} < 40 AND at < %(now)s - interval '2 days'
                    AS handed,
                (ARRAY[{', '.join(str(p) for p in _handoff_agents(rules))}]::bigint[])
                    [1 + g % {len(_handoff_agents(rules))}] AS handoff_agent,
                at + ({_r(23, 72)} + 1) * interval '1 hour' AS handed_at,
                at + CASE WHEN r.delivery = 'assign' THEN interval '0'
                          ELSE (attempts - 1) * r.claim_minutes * interval '1 minute'
                               + ({_r(24, 300)} + 20) * interval '1 second' END AS claimed_at,
                CASE WHEN fate IN ('routed', 'escalated') AND sl.isa IS NULL
                          AND sl.owner IS NOT NULL
                          AND {_r(20, 100)} >= 18 AND NOT ({_r(20, 100)} >= 91
                          AND {_r(25, 2)} = 0)
                     THEN at + ((power({_r(26, 1000)} / 1000.0, 3) * 360 + 1)
                                * interval '1 minute') END AS first_contact
            FROM scale_lead sl JOIN scale_rule r ON r.k = sl.rk
        ) l
        ORDER BY g;
    """
    # One record per decision: at arrival, at an escalation, at a hand-off. A third of the
    # rotations passed someone over (paused, at their cap, off duty, outside territory).
    records_sql = f"""
        INSERT INTO routing_routingrecord (lead_id, created_at, outcome, reason, rule_id,
            rule_name, agent_id, lender_id, round, summary, trace, rule_version,
            skipped_turns, handoff_target_id)
        SELECT l.id, l.received_at,
            CASE WHEN sl.fate = 'pond' THEN 'unassigned'
                 WHEN r.delivery = 'assign' THEN 'assigned' ELSE 'offered' END,
            CASE WHEN sl.fate = 'pond' THEN 'pond' ELSE 'rule' END,
            CASE WHEN sl.fate = 'pond' THEN NULL ELSE r.id END,
            CASE WHEN sl.fate = 'pond' THEN '' ELSE r.name END,
            CASE WHEN r.delivery = 'assign' AND sl.fate <> 'pond'
                 THEN coalesce(sl.owner, sl.isa) END,
            l.lender_id, 1,
            CASE WHEN sl.fate = 'pond' THEN 'Nobody available: left in the pond'
                 WHEN r.delivery = 'assign'
                 THEN 'Assigned to ' || r.names[pos] || ' by rule ''' || r.name || ''''
                 ELSE 'Offered to ' || r.names[first_pos] || ' by rule ''' || r.name || ''''
                 END,
            jsonb_build_array(
                jsonb_build_object('stage', 'clock', 'text', 'Arrived '
                    || to_char(l.received_at AT TIME ZONE 'America/New_York',
                               'Dy YYYY-MM-DD HH24:MI') || ' (America/New_York)'),
                jsonb_build_object('stage', 'rule', 'text', 'Rule ''' || r.name
                    || ''': matched', 'rule', r.name, 'rule_id', r.id, 'matched', true))
            || CASE WHEN skipped THEN jsonb_build_array(jsonb_build_object(
                    'stage', 'agent', 'text', r.names[skip_pos] || ' <' || r.emails[skip_pos]
                    || '>: skipped, ' || why, 'agent', r.emails[skip_pos], 'eligible', false,
                    'why', why)) ELSE '[]'::jsonb END
            || jsonb_build_array(
                jsonb_build_object('stage', 'rotation', 'text', 'Rotation: '
                    || r.names[first_pos] || '''s turn', 'selection', r.selection,
                    'agent', r.emails[first_pos], 'skipped', CASE WHEN skipped
                    THEN jsonb_build_array(r.names[skip_pos]) ELSE '[]'::jsonb END),
                jsonb_build_object('stage', 'result', 'text',
                    CASE WHEN sl.fate = 'pond' THEN 'Nobody can take the lead: left in the pond'
                         ELSE 'Routed by rule ''' || r.name || '''' END,
                    'outcome', CASE WHEN sl.fate = 'pond' THEN 'unassigned'
                                    WHEN r.delivery = 'assign' THEN 'assigned'
                                    ELSE 'offered' END)),
            NULL::integer,
            CASE WHEN skipped THEN jsonb_build_array(jsonb_build_object(
                'agent', r.members[skip_pos], 'why', code) || CASE WHEN code = 'at_cap'
                THEN '{{"limit": 40}}'::jsonb ELSE '{{}}'::jsonb END) ELSE '[]'::jsonb END,
            NULL::bigint
        FROM scale_lead sl JOIN scale_rule r ON r.k = sl.rk JOIN leads_lead l ON l.id = sl.g,
        LATERAL (SELECT
            array_position(r.members, coalesce(sl.owner, sl.isa, r.members[1])) AS pos,
            1 + (sl.g % cardinality(r.members)) AS first_pos,
            1 + ((sl.g + cardinality(r.members) - 1) % cardinality(r.members)) AS skip_pos,
            sl.fate <> 'pond' AND r.selection <> 'first_in_roster' AND {_r(29, 3)} = 0
                AS skipped,
            {_r(30, 4)} AS reason) p,
        LATERAL (SELECT
            (ARRAY['paused', 'at_cap', 'off_duty', 'outside_territory'])[1 + reason] AS code,
            (ARRAY['paused (not accepting leads)', 'at cap: 40 of 40 open leads', 'off duty',
                   'outside territory (lead zip ' || l.zip_code || ')'])[1 + reason] AS why) w
        UNION ALL
        SELECT l.id, l.received_at + sl.attempts * r.claim_minutes * interval '1 minute',
            CASE WHEN sl.owner IS NULL THEN 'unassigned' ELSE 'assigned' END, 'escalated',
            r.id, r.name, sl.owner, NULL::bigint, 1,
            'Everyone on rule ''' || r.name || ''' has passed',
            jsonb_build_array(jsonb_build_object('stage', 'moved_on', 'text',
                'The offer expired'), jsonb_build_object('stage', 'result', 'text',
                'Everyone on rule ''' || r.name || ''' has passed', 'outcome',
                CASE WHEN sl.owner IS NULL THEN 'unassigned' ELSE 'assigned' END)), NULL,
            '[]'::jsonb, NULL
        FROM scale_lead sl JOIN scale_rule r ON r.k = sl.rk JOIN leads_lead l ON l.id = sl.g
        WHERE sl.fate = 'escalated'
        UNION ALL
        SELECT l.id, l.handed_off_at, 'assigned', 'handoff', NULL, '', l.owner_id, NULL, 2,
            'Handed off to ' || a.name || ' by ' || i.name,
            jsonb_build_array(jsonb_build_object('stage', 'handoff', 'text',
                'Hand-off to ' || t.name || ': ' || a.name || '''s turn')), NULL, '[]'::jsonb,
            t.id
        FROM leads_lead l JOIN agents_agent a ON a.id = l.owner_id
            JOIN agents_agent i ON i.id = l.isa_id,
            (SELECT id, name FROM routing_handofftarget ORDER BY id LIMIT 1) t
        WHERE l.handed_off_at IS NOT NULL
        ORDER BY 2;
    """
    offers_sql = f"""
        INSERT INTO routing_offer (lead_id, agent_id, rule_id, round, status, offered_at,
            clock_starts_at, deadline, remind_at, responded_at, pass_reason, pass_note)
        SELECT sl.g, agent, r.id, 1, status, o_at, o_at, o_at + mins, o_at + mins / 2,
            CASE WHEN status IN ('claimed', 'declined')
                 THEN o_at + mins * ({_r(31, 90, 'sl.g')} + 5) / 100.0
                 WHEN status IN ('expired', 'withdrawn') THEN o_at + mins END,
            CASE WHEN status = 'declined' THEN
                (ARRAY['not_interested', 'too_busy', 'out_of_area', 'other'])[
                    1 + {_r(34, 4, 'sl.g * 5 + j')}] ELSE '' END, ''
        FROM scale_lead sl JOIN scale_rule r ON r.k = sl.rk
            AND r.delivery <> 'assign' AND sl.fate <> 'pond',
        LATERAL generate_series(1, CASE WHEN r.delivery = 'first_to_claim'
            THEN least(3, cardinality(r.members)) ELSE sl.attempts END) AS j,
        LATERAL (SELECT r.members[1 + (sl.g + j - 1) % cardinality(r.members)] AS agent,
            r.claim_minutes * interval '1 minute' AS mins,
            CASE WHEN r.delivery = 'first_to_claim' THEN sl.at
                 ELSE sl.at + (j - 1) * r.claim_minutes * interval '1 minute' END AS o_at,
            CASE WHEN sl.fate = 'offered' THEN 'offered'
                 WHEN r.delivery = 'first_to_claim' THEN
                     CASE WHEN sl.fate = 'escalated' THEN 'expired'
                          WHEN j = sl.attempts THEN 'claimed'
                          WHEN j = 2 AND {_r(32, 3, 'sl.g')} = 0 THEN 'declined'
                          ELSE 'withdrawn' END
                 WHEN sl.fate = 'escalated' OR j < sl.attempts THEN
                     CASE WHEN {_r(33 + 0, 4, 'sl.g * 7 + j')} = 0 THEN 'declined'
                          ELSE 'expired' END
                 ELSE 'claimed' END AS status) o
        ORDER BY o_at;
    """
    # Who was told: each offer's agent, each assigned lead's owner, the managers of the pond;
    # two leads in a hundred under a first-contact deadline were taken from a silent owner
    # (the accountability report's idle reassignments). Each notice goes out by email; a
    # few of them failed.
    notifications_sql = f"""
        INSERT INTO notifications_notification (recipient_id, event, lead_id, title, body,
            created_at, read_at, dispatched_at, channels, send_after)
        SELECT recipient, event, lead_id, title, '', at,
            CASE WHEN lead_id % 3 <> 0 THEN at + interval '10 minutes' END, at,
            '["email"]'::jsonb, NULL
        FROM (
            SELECT o.agent_id AS recipient, 'lead_offered' AS event, o.lead_id,
                'Lead offered: Lead #' || o.lead_id AS title, o.offered_at AS at
            FROM routing_offer o
            UNION ALL
            SELECT l.owner_id, 'lead_assigned', l.id, 'New lead: Lead #' || l.id, l.received_at
            FROM leads_lead l JOIN scale_rule r ON r.id = l.rule_id
            WHERE r.delivery = 'assign' AND l.owner_id IS NOT NULL
            UNION ALL
            SELECT (SELECT min(id) FROM agents_agent WHERE role = 'manager'),
                'lead_unassigned', l.id, 'In the pond, nobody could take it: Lead #' || l.id,
                l.received_at
            FROM leads_lead l WHERE l.status = 'unassigned'
            UNION ALL
            SELECT r.members[1 + (l.id + cardinality(r.members) - 1) % cardinality(r.members)],
                'idle_reassigned', l.id, 'Reassigned, no first contact: Lead #' || l.id,
                l.assigned_at - interval '1 minute'
            FROM leads_lead l JOIN scale_rule r ON r.id = l.rule_id
            WHERE r.contact_minutes IS NOT NULL AND l.assigned_at IS NOT NULL
                AND NOT r.isa AND {_r(60, 100, 'l.id')} < 2
        ) n
        ORDER BY at;
        INSERT INTO notifications_delivery (notification_id, channel, status, attempts,
            last_error, sent_at, next_attempt_at, provider_error_code, provider_message_id,
            provider_status, provider_status_at)
        SELECT id, 'email', CASE WHEN id % 50 = 0 THEN 'failed' ELSE 'sent' END, 1,
            CASE WHEN id % 50 = 0 THEN 'Mailbox unavailable' ELSE '' END,
            CASE WHEN id % 50 = 0 THEN NULL ELSE created_at + interval '2 seconds' END,
            NULL, '', '', '', NULL
        FROM notifications_notification ORDER BY id;
    """
    # The timeline: routed, claimed, then contacts and notes up to the wanted total.
    # Each lead has at least one (its routing); the first leads one more, up to the total.
    whole = max(activities // max(leads, 1), 1)
    extra = max(activities - whole * leads, 0)
    activities_sql = f"""
        INSERT INTO leads_activity (lead_id, kind, actor_id, created_at, body, data)
        SELECT l.id, kind, actor, created, body, '{{}}'::jsonb
        FROM leads_lead l,
        LATERAL generate_series(1, {whole} + (l.id <= {extra})::int) AS j,
        LATERAL (SELECT
            CASE WHEN j = 1 THEN 'routed'
                 WHEN j = 2 AND l.first_contact_at IS NOT NULL THEN 'call'
                 WHEN j = 2 AND l.status = 'unassigned' THEN 'pond'
                 WHEN j = 2 THEN 'claimed'
                 WHEN l.first_contact_at IS NULL THEN 'note'
                 ELSE ({_text_array(CONTACT_KINDS)})[1 + {_r(41, len(CONTACT_KINDS),
                                                         'l.id * 13 + j')}] END AS kind,
            CASE WHEN j = 1 THEN NULL ELSE coalesce(l.owner_id, l.isa_id) END AS actor,
            CASE WHEN j = 1 THEN l.received_at
                 WHEN j = 2 THEN coalesce(l.first_contact_at, l.assigned_at, l.received_at
                                          + interval '5 minutes')
                 ELSE coalesce(l.first_contact_at, l.received_at)
                      + ({_r(42, 20000, 'l.id * 17 + j')} + 60) * interval '1 minute' END
                AS created,
            CASE WHEN j = 1 THEN 'Routed' WHEN j = 2 THEN '' ELSE 'Followed up' END AS body
        ) a
        ORDER BY created;
    """
    submissions_sql = f"""
        INSERT INTO leads_submission (channel, source, received_at, payload, outcome, errors,
            lead_id, http_status, raw_body, key_prefix, idempotency_key)
        SELECT CASE WHEN l.source = 'Website' THEN 'form' ELSE 'api' END, l.source,
            l.received_at, jsonb_build_object('source', l.source, 'email', l.email),
            'accepted', NULL, l.id, 201, '', '', ''
        FROM leads_lead l
        UNION ALL
        SELECT 'api', ({_text_array([s for s, _ in SOURCES])})[1 + {_r(50, len(SOURCES))}],
            %(start)s::timestamptz + {span} * g / (%(n)s / 30 + 1),
            jsonb_build_object('email', 'not-an-email'), 'rejected',
            '{{"email": ["Enter a valid email address."]}}'::jsonb, NULL, 400, '', '', ''
        FROM generate_series(1, %(n)s / 30) AS g
        ORDER BY 3;
    """
    handoffs_sql = """
        INSERT INTO routing_handoff (lead_id, isa_id, by_id, target_id, target_name, agent_id,
            note, facts, status, created_at, contact_due_at, contacted_at, closed_at)
        SELECT l.id, l.isa_id, l.isa_id, t.id, t.name, l.owner_id, 'Pre-approved, ready to tour',
            '{"timeframe": "0-1"}'::jsonb,
            CASE WHEN l.id % 10 < 8 THEN 'contacted' ELSE 'escalated' END,
            l.handed_off_at, l.handed_off_at + interval '30 minutes',
            CASE WHEN l.id % 10 < 8
                 THEN l.handed_off_at + (l.id % 40 + 1) * interval '1 minute' END,
            l.handed_off_at + (l.id % 40 + 1) * interval '1 minute'
        FROM leads_lead l
        JOIN routing_handofftarget t ON t.id = (SELECT min(id) FROM routing_handofftarget)
        WHERE l.handed_off_at IS NOT NULL
        ORDER BY l.handed_off_at;
    """
    steps = [("scale_lead", leads_sql), ("leads_lead", insert_leads),
             ("routing_routingrecord", records_sql), ("routing_offer", offers_sql),
             ("notifications_notification", notifications_sql),
             ("leads_activity", activities_sql), ("leads_submission", submissions_sql),
             ("routing_handoff", handoffs_sql)]
    # Literals, not driver parameters: the statements are full of SQL's own % (modulo).
    values = {"%(now)s": f"'{now.isoformat()}'::timestamptz",
              "%(start)s": f"'{start.isoformat()}'::timestamptz",
              "%(n)s": str(leads)}
    for placeholder, literal in values.items():
        steps = [(table, sql.replace(placeholder, literal)) for table, sql in steps]
    return steps


def _handoff_agents(rules: Sequence[RulePlan]) -> list[int]:
    """Who ISAs hand leads to: the first rule's roster (the buyer agents)."""
    return list(rules[0].members)
