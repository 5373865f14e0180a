"""Load the demo brokerage (once) and print how to log in."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from agents.models import Agent
from agents.services import ensure_login
from leads.intake import receive_leads
from leads.models import Submission
from routing.config_file import apply_routing_file, load_routing_file

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo_routing.yaml"
DEMO_PASSWORD = "demo-pass-2026"
FIRST_NAMES = ["Ava", "Liam", "Mia", "Ethan", "Zoe", "Lucas", "Chloe", "Mateo", "Nora", "Owen"]
LAST_NAMES = ["Garcia", "Nguyen", "Patel", "Cohen", "Rossi", "Okafor", "Silva", "Murphy"]
SOURCES = ["Zillow", "Realtor.com", "Facebook", "Website", "Homes.com"]
PLACES = [("Manhattan", "New York", "10011"), ("Brooklyn", "Kings", "11215"),
          ("Queens", "Queens", "11375"), ("Manhattan", "New York", "10024"),
          ("Hoboken", "Hudson", "07030")]


class Command(BaseCommand):
    help = "Load the demo brokerage (agents, rosters, shifts, rules, some leads) if empty."

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
            answers = receive_leads(demo_leads(leads), channel=Submission.Channel.FILE,
                                    received_at=timezone.now())
            routed = sum(a.status != "rejected" for a in answers)
            self.stdout.write(f"{routed} demo leads routed.")
        site = settings.SITE_URL
        lines = [f"\nOpen {site}/ and log in (password for every demo login: {DEMO_PASSWORD})",
                 f"  manager (admin at {site}/admin/): manager@example.com"]
        for role, label in ((Agent.Role.AGENT, "agent"), (Agent.Role.ISA, "ISA (/isa/)")):
            person = Agent.objects.filter(role=role, is_active=True).order_by("id").first()
            if person:
                lines.append(f"  {label}: {person.email}")
        self.stdout.write("\n".join(lines) + "\n")


def demo_leads(count: int) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    leads = []
    for i in range(count):
        city, county, zip_code = rng.choice(PLACES)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        leads.append({
            "first_name": first, "last_name": last,
            "email": f"{first}.{last}{i}@example.org".lower(),
            "phone": f"+1917555{1000 + i:04d}",
            "source": rng.choice(SOURCES), "lead_type": rng.choice(["buyer", "seller"]),
            "price": rng.choice([450_000, 725_000, 980_000, 1_650_000, 2_400_000]),
            "city": city, "county": county, "zip_code": zip_code,
            "score": rng.choice([20, 55, 85]),
            "message": rng.choice(["Can I see it this weekend?", "Is the price negotiable?",
                                   "We are pre-approved and ready to move.",
                                   "Thinking of selling next spring."]),
        })
    return leads
