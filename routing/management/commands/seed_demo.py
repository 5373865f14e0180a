"""Load the demo brokerage (once) and print how to log in.

The demo is meant to be watched: ISAs' queues hold a lead in every stage, offers run out a few
minutes apart (the hot leads' not before a newcomer has had time to log in), and ``make run``
keeps leads arriving (``demo_life``, started by ``serve --demo``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from agents.models import Agent
from agents.services import ensure_login
from routing.config_file import apply_routing_file, load_routing_file
from routing.management.demo import (
    lead_data,
    route,
    seed_agent_stages,
    seed_isa_queues,
    seed_time_off,
    stagger_offers,
    weekday_moment,
)
from routing.models import Brokerage

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo_routing.yaml"
DEMO_PASSWORD = "demo-pass-2026"


class Command(BaseCommand):
    help = ("Load the demo brokerage (agents, rosters, shifts, rules, leads, ISA queues, offers "
            "running out) if empty.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--leads", type=int, default=24, help="Demo leads to route.")

    def handle(self, *args: Any, leads: int, **options: Any) -> None:
        if not Agent.objects.exists():
            summary = apply_routing_file(load_routing_file(DEMO_FILE.read_text()))
            self.stdout.write(f"Demo brokerage loaded: {summary}")
            for agent in Agent.objects.all():
                ensure_login(agent)  # and its group: managers reach the admin
                agent.user.set_password(DEMO_PASSWORD)
                agent.user.save(update_fields=["password"])
            now, tz_name = timezone.now(), Brokerage.load().tz_name
            away = seed_time_off(now, tz_name)
            self.stdout.write("Time off: " + "; ".join(away) + ".")
            # On a weekend the weekend rule would take them all: they came in on Friday.
            routed = route(demo_leads(leads), weekday_moment(now, tz_name))
            self.stdout.write(f"{len(routed)} demo leads routed.")
            worked = seed_agent_stages(routed, now)
            if worked:
                self.stdout.write("Agents' leads: " + ", ".join(
                    f"{n} {name}" for name, n in worked.items()) + ".")
            stages = seed_isa_queues(now, tz_name, rng=random.Random(15))
            if stages:
                self.stdout.write("ISA queues: " + ", ".join(
                    f"{n} {stage.replace('_', ' ')}" for stage, n in stages.items()) + ".")
            hot, other = stagger_offers(timezone.now())
            self.stdout.write(f"Offers running out: {hot} hot (the first in 20 minutes), "
                              f"{other} others (the first in 3 minutes).")
        site = settings.SITE_URL
        lines = [f"\nOpen {site}/ and log in (password for every demo login: {DEMO_PASSWORD})",
                 f"  manager (admin at {site}/admin/): manager@example.com"]
        for role, label in ((Agent.Role.AGENT, "agent"), (Agent.Role.ISA, "ISA (/isa/)")):
            person = Agent.objects.filter(role=role, is_active=True).order_by("id").first()
            if person:
                lines.append(f"  {label}: {person.email}")
        self.stdout.write("\n".join(lines) + "\n")


def demo_leads(count: int) -> list[dict[str, Any]]:
    """The first leads: whatever the rules make of them, five of them hot."""
    rng = random.Random(2026)
    hot = min(5, count)
    return [lead_data(rng, str(i), kind="hot" if i < hot else "any") for i in range(count)]
