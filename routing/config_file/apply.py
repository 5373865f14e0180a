"""Applying a checked routing file: make the database say what the file says, all or nothing.

An agent missing from the file (or marked inactive there) is deactivated as a manager would
(``routing.departures``): logins closed, offers moved on, open leads back to routing.

Rows that already say what the file says are not saved again (no history entry), and rules,
rosters and hand-off targets are matched by name, so they keep their rotation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember, Shift
from agents.services import reopen_login, sync_access
from routing.config_file.export import agent_entry, criteria_rows
from routing.config_file.schema import AgentEntry, HandoffTargetEntry, RoutingFile
from routing.departures import Release, deactivate_agent, lock_their_leads
from routing.models import Brokerage, HandoffTarget, Rule, RuleCriterion, RuleWindow
from routing.signals import bump_config_token


@dataclass
class ImportSummary:
    """What an import changed, for the one-line report of ``import_routing``."""

    agents_created: int = 0
    agents_updated: int = 0
    agents_deactivated: int = 0
    rosters: int = 0
    rosters_created: int = 0
    rosters_deleted: int = 0
    shifts: int = 0
    rules: int = 0
    rules_created: int = 0
    rules_deleted: int = 0

    def __str__(self) -> str:
        return (
            f"agents: {self.agents_created} created, {self.agents_updated} updated, "
            f"{self.agents_deactivated} deactivated; rosters: {self.rosters} "
            f"({self.rosters_created} new, {self.rosters_deleted} removed); "
            f"shifts: {self.shifts}; rules: {self.rules} ({self.rules_created} new, "
            f"{self.rules_deleted} removed)"
        )


def apply_routing_file(data: RoutingFile) -> ImportSummary:
    """Make the database say what the file says, all or nothing."""
    summary = ImportSummary()
    with transaction.atomic():
        staying = [entry.email for entry in data.agents if entry.active]
        lock_their_leads(Agent.objects.filter(is_active=True).exclude(email__in=staying)
                         .values_list("pk", flat=True))  # the leads first: the claims' order
        brokerage = Brokerage.load()
        brokerage = Brokerage.objects.select_for_update().get(pk=brokerage.pk)
        brokerage.timezone = data.timezone
        if data.brokerage is not None:
            if data.brokerage.name is not None:
                brokerage.name = data.brokerage.name
            if data.brokerage.listing_routing is not None:
                brokerage.listing_routing = data.brokerage.listing_routing
            if data.brokerage.hide_contact_until_claimed is not None:
                brokerage.hide_contact_until_claimed = data.brokerage.hide_contact_until_claimed
        if data.actionable_window is not None:
            brokerage.actionable_window = [
                {"days": list(w.days), "start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}"}
                for w in data.actionable_window
            ]
        brokerage.save()

        active_before = set(Agent.objects.filter(is_active=True).values_list("pk", flat=True))
        agents = _apply_agents(data, summary)
        rosters = _apply_rosters(data, agents, summary)
        _apply_shifts(data, agents, summary)
        _apply_rules(data, rosters, agents, summary)
        if data.handoff_targets is not None:
            _apply_handoff_targets(data.handoff_targets, rosters, agents)
        # Those who left: their offers move on and their open leads go back to routing, under
        # the rules just imported.
        now = timezone.now()
        for agent_id in sorted(active_before - set(Agent.objects.filter(is_active=True)
                                                   .values_list("pk", flat=True))):
            deactivate_agent(agent_id=agent_id, release=Release.ROUTING, by=None, now=now)
        stale = Roster.objects.exclude(name__in=list(rosters)).filter(
            rules__isnull=True, lender_rules__isnull=True, handoff_targets__isnull=True
        )
        stale_ids = list(stale.values_list("id", flat=True).distinct())
        Roster.objects.filter(id__in=stale_ids).delete()
        summary.rosters_deleted = len(stale_ids)
        bump_config_token()  # some changes above are queryset updates, without signals
    return summary


def _apply_agents(data: RoutingFile, summary: ImportSummary) -> dict[str, Agent]:
    existing = {a.email.lower(): a for a in Agent.objects.select_for_update().order_by("id")}
    by_email: dict[str, Agent] = {}
    for entry in data.agents:
        agent = existing.get(entry.email)
        if agent is not None and agent_entry(agent) == entry:
            by_email[entry.email] = agent
            continue
        if agent is None:
            agent = Agent(email=entry.email)
            agent.user = _login_for(entry)
            summary.agents_created += 1
        else:
            summary.agents_updated += 1
        was_active = agent.is_active
        agent.name = entry.name
        agent.role = entry.role
        agent.phone = entry.phone or ""
        agent.is_active = entry.active
        agent.accepting_leads = entry.accepting_leads
        agent.max_open_leads = entry.max_open_leads
        agent.max_leads_per_day = entry.max_leads_per_day
        agent.zip_codes = list(entry.zip_codes)
        agent.specialties = list(entry.specialties)
        agent.save()
        sync_access(agent)  # the login's group follows the role
        if agent.is_active and not was_active:
            reopen_login(agent)  # back at the brokerage: their password works again
        by_email[entry.email] = agent
    for email, agent in existing.items():
        if email not in by_email and agent.is_active:
            agent.is_active = False
            agent.save(update_fields=["is_active"])
            summary.agents_deactivated += 1
    return by_email


def _login_for(entry: AgentEntry) -> Any:
    """A login for a new agent: a free user already named after the e-mail, or a new one."""
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=entry.email).first()
    if user is not None:
        # A login that already belongs to another agent stays theirs: this one gets none.
        return None if Agent.objects.filter(user=user).exists() else user
    first, _, last = entry.name.partition(" ")
    user = user_model(username=entry.email, email=entry.email, first_name=first[:150],
                      last_name=last.strip()[:150])
    user.set_unusable_password()
    user.save()
    return user


def _apply_rosters(data: RoutingFile, agents: dict[str, Agent],
                   summary: ImportSummary) -> dict[str, Roster]:
    existing = {r.name: r for r in Roster.objects.all()}
    by_name: dict[str, Roster] = {}
    for entry in data.rosters:
        roster = existing.get(entry.name)
        if roster is None:
            roster = Roster.objects.create(name=entry.name)
            summary.rosters_created += 1
        by_name[entry.name] = roster
        wanted = {agents[m.agent].id: (i, m.leads_per_round) for i, m in enumerate(entry.members)}
        current = {m.agent_id: m for m in roster.members.all()}
        for agent_id, member in current.items():
            if agent_id not in wanted:
                member.delete()
            elif (member.position, member.leads_per_round) != wanted[agent_id]:
                member.position, member.leads_per_round = wanted[agent_id]
                member.save(update_fields=["position", "leads_per_round"])
        for agent_id, (position, lpr) in wanted.items():
            if agent_id not in current:
                RosterMember.objects.create(roster=roster, agent_id=agent_id, position=position,
                                            leads_per_round=lpr)
    summary.rosters = len(by_name)
    return by_name


def _apply_shifts(data: RoutingFile, agents: dict[str, Agent], summary: ImportSummary) -> None:
    def key(agent_id: int, days: Any, start: time, end: time) -> tuple:
        return agent_id, tuple(days), start.replace(second=0, microsecond=0), end.replace(
            second=0, microsecond=0)

    wanted = [key(agents[s.agent].id, s.days, s.start, s.end) for s in data.shifts]
    current = [key(s.agent_id, s.days, s.start, s.end) for s in Shift.objects.all()]
    summary.shifts = len(wanted)
    if Counter(wanted) == Counter(current):
        return
    Shift.objects.all().delete()
    for agent_id, days, start, end in wanted:
        Shift.objects.create(agent_id=agent_id, days=list(days), start=start, end=end)


def _apply_rules(data: RoutingFile, rosters: dict[str, Roster], agents: dict[str, Agent],
                 summary: ImportSummary) -> None:
    names = [entry.name for entry in data.rules]
    stale = Rule.objects.exclude(name__in=names)
    summary.rules_deleted = stale.count()
    stale.delete()
    catch_all = next(entry.name for entry in data.rules if entry.catch_all)
    # One catch-all at a time (a partial unique index): step the old one down first.
    Rule.objects.filter(is_catch_all=True).exclude(name=catch_all).update(is_catch_all=False)
    existing = {rule.name: rule for rule in Rule.objects.select_for_update()}
    for priority, entry in enumerate(data.rules):
        rule = existing.get(entry.name)
        if rule is None:
            rule = Rule(name=entry.name)
            summary.rules_created += 1
        values = {
            "priority": priority,
            "is_active": entry.active or entry.catch_all,
            "is_catch_all": entry.catch_all,
            "roster_id": rosters[entry.roster].id,
            "selection": entry.selection,
            "delivery": entry.delivery,
            "lender_roster_id": rosters[entry.lender_roster].id if entry.lender_roster else None,
            "add_tags": list(entry.add_tags),
            "claim_timeout_minutes": entry.claim_timeout_minutes,
            "escalate_to_id": agents[entry.escalate_to].id if entry.escalate_to else None,
            "after_hours": entry.after_hours,
            "first_contact_minutes": entry.first_contact_minutes,
            "call_timeout_seconds": entry.call_timeout_seconds,
        }
        if rule.pk is None or any(getattr(rule, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(rule, name, value)
            rule.save()
        if criteria_rows(rule) != list(entry.criteria):
            rule.criteria.all().delete()
            for name, value in entry.criteria:
                RuleCriterion.objects.create(rule=rule, field=name, value=value)
        wanted = [(list(w.days), w.start, w.end) for w in entry.windows]
        if [(w.days, w.start, w.end) for w in rule.windows.all()] != wanted:
            rule.windows.all().delete()
            for days, start, end in wanted:
                RuleWindow.objects.create(rule=rule, days=days, start=start, end=end)
    summary.rules = len(data.rules)


def _apply_handoff_targets(entries: tuple[HandoffTargetEntry, ...], rosters: dict[str, Roster],
                           agents: dict[str, Agent]) -> None:
    HandoffTarget.objects.exclude(name__in=[e.name for e in entries]).delete()
    existing = {t.name: t for t in HandoffTarget.objects.select_for_update()}
    for entry in entries:
        target = existing.get(entry.name) or HandoffTarget(name=entry.name)
        values = {
            "is_active": entry.active,
            "roster_id": rosters[entry.roster].id,
            "selection": entry.selection,
            "delivery": entry.delivery,
            "claim_timeout_minutes": entry.claim_timeout_minutes,
            "first_contact_minutes": entry.first_contact_minutes,
            "escalate_to_id": agents[entry.escalate_to].id if entry.escalate_to else None,
        }
        if target.pk is None or any(getattr(target, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(target, name, value)
            target.save()


