"""The demo brokerage's life: leads of every kind, ISA queues in every stage, offers whose claim
windows run out a few minutes apart, and new leads arriving while ``make run`` runs.

Used by ``seed_demo`` (once) and ``demo_life`` (the arrivals). Demo only: ``demo_life`` and
``serve --demo`` refuse to run without DEBUG, which production never has.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from agents.models import Agent, TimeOff
from leads import followups
from leads.intake import receive_leads
from leads.isa.handoffs import hand_off
from leads.isa.queue import log_contact, save_qualification, update_card
from leads.models import Lead, Stage, Submission
from leads.services import log_activity, set_stage
from routing.models import Brokerage, HandoffTarget, Offer

FIRST_NAMES = ["Ava", "Liam", "Mia", "Ethan", "Zoe", "Lucas", "Chloe", "Mateo", "Nora", "Owen",
               "Iris", "Caleb", "Maya", "Felix", "Ruby", "Jonah"]
LAST_NAMES = ["Garcia", "Nguyen", "Patel", "Cohen", "Rossi", "Okafor", "Silva", "Murphy",
              "Haddad", "Larsen", "Moreau", "Kowalski"]
SOURCES = ["Zillow", "Realtor.com", "Facebook", "Website", "Homes.com"]
PLACES = [("Manhattan", "New York", "10011"), ("Brooklyn", "Kings", "11215"),
          ("Queens", "Queens", "11375"), ("Manhattan", "New York", "10024"),
          ("Hoboken", "Hudson", "07030")]
MESSAGES = ["Can I see it this weekend?", "Is the price negotiable?",
            "We are pre-approved and ready to move.", "Thinking of selling next spring."]
OPEN_HOUSE_AREAS = ["Park Slope", "Williamsburg", "DUMBO"]

HOT_RULE = "Hot leads"
#: The seeded hot offers escalate to the manager no sooner than this after ``make run``
#: (time to log in and claim one), then one every ``HOT_STEP``.
HOT_FIRST, HOT_STEP = timedelta(minutes=20), timedelta(minutes=4)
#: The other seeded offers run out while you watch: the first after ``WATCH_FIRST``, then one
#: every ``WATCH_STEP`` (each then goes to the next agent in turn, with a fresh window).
WATCH_FIRST, WATCH_STEP = timedelta(minutes=3), timedelta(minutes=2)
#: ``demo_life``: one lead every this many seconds (a few a minute).
ARRIVAL_SECONDS = 20
#: Every ISA gets a lead in each of these stages (``seed_isa_queues``).
ISA_STAGES = ("new", "contacted", "nurturing", "qualified", "handed_off", "dead")
HANDOFF_TARGET = "Brooklyn buyers"
#: The agents' seeded leads go through these stages in turn (``seed_agent_stages``): what the
#: agent logged to get there, and the lost reason where one is needed.
AGENT_STAGES = (
    ("new", "", ""),
    ("attempting", "Called twice, no answer: left a voicemail.", ""),
    ("contacted", "Talked: looking in the spring, sending listings.", ""),
    ("appointment", "Booked a showing for tomorrow.", ""),
    ("met", "Met at the open house; wants a second look.", ""),
    ("nurture", "Not before next year: keep in touch.", ""),
    ("under_contract", "Offer accepted, inspection next week.", ""),
    ("closed", "Closed: keys handed over.", ""),
    ("lost", "Bought a place through a friend.", "Went with another agent"),
)
#: Time off in the demo: the agent whose login it prints is away next week, another today;
#: the first day back brings at most ``GRADUAL_RETURN_LEADS`` leads.
VACATIONER, AWAY_TODAY = "olivia.bennett@example.com", "noah.goldberg@example.com"
GRADUAL_RETURN_LEADS = 3


def require_demo() -> None:
    """The demo's moving parts run with DEBUG on only (``make run``), never in production."""
    if not settings.DEBUG:
        raise CommandError("The living demo runs only with DEBUG on (make run does that); "
                           "production settings never start it.")


def lead_data(rng: random.Random, tag: str, *, kind: str = "any") -> dict[str, Any]:
    """One demo lead: ``kind`` "any" (the rules decide), "hot" (score 85: offered to everyone)
    or "open_house" (a Brooklyn open-house sign-in: the ISA desk's)."""
    city, county, zip_code = rng.choice(PLACES)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    data: dict[str, Any] = {
        "first_name": first, "last_name": last,
        "email": f"{first}.{last}.{tag}@example.org".lower(),
        "phone": f"+1917{rng.randrange(2_000_000, 9_999_999)}",
        "source": rng.choice(SOURCES), "lead_type": rng.choice(["buyer", "seller"]),
        "price": rng.choice([450_000, 725_000, 980_000, 1_650_000, 2_400_000]),
        "city": city, "county": county, "zip_code": zip_code,
        "score": rng.choice([20, 55, 70]),  # hot (80 and up) only when asked for
        "message": rng.choice(MESSAGES),
    }
    if kind == "hot":
        data.update(score=85, source="Website", price=980_000, zip_code="11375",
                    city="Queens", county="Queens")
    elif kind == "open_house":
        data.update(site="openhouse.example.com", city="Brooklyn", county="Kings",
                    zip_code="11215", neighborhood=rng.choice(OPEN_HOUSE_AREAS),
                    source="Open house", score=40,
                    message="Signed in at the Sunday open house.")
    return data


def weekday_moment(now: datetime, tz_name: str) -> datetime:
    """``now`` on a weekday; on a weekend, last Friday at 11:00 (the weekend rule would take
    every seeded lead before the hot, territory and ISA desk rules could show)."""
    local = now.astimezone(ZoneInfo(tz_name))
    if local.weekday() < 5:
        return now
    friday = local - timedelta(days=local.weekday() - 4)
    return friday.replace(hour=11, minute=0, second=0, microsecond=0)


def route(records: list[dict[str, Any]], at: datetime) -> list[Lead]:
    answers = receive_leads(records, channel=Submission.Channel.FILE, received_at=at)
    return [a.lead for a in answers if a.lead is not None and a.status != "rejected"]


def seed_isa_queues(now: datetime, tz_name: str, *, rng: random.Random) -> dict[str, int]:
    """Every ISA's queue with a lead in each ISA stage, worked the way an ISA would."""
    isas = list(Agent.objects.filter(role=Agent.Role.ISA, is_active=True).order_by("id"))
    if not isas:
        return {}
    at = weekday_moment(now, tz_name)
    leads = route([lead_data(rng, f"isa{i}", kind="open_house")
                   for i in range(len(isas) * len(ISA_STAGES))], at)
    target = HandoffTarget.objects.filter(name=HANDOFF_TARGET).first()
    counts: dict[str, int] = {}
    by_isa: dict[int, list[Lead]] = {}
    for lead in leads:
        if lead.owner_id in {a.pk for a in isas}:
            by_isa.setdefault(lead.owner_id, []).append(lead)
    for isa in isas:
        for lead, stage in zip(by_isa.get(isa.pk, []), _cycle_stages(), strict=False):
            if work_to_stage(lead, isa, stage, now=now, target=target):
                counts[stage] = counts.get(stage, 0) + 1
    return counts


def seed_time_off(now: datetime, tz_name: str) -> list[str]:
    """Time off to see on the availability pages and in the traces: a vacation next week
    (Monday to Wednesday morning), and a day away today; with the gradual return set."""
    zone = ZoneInfo(tz_name)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today + timedelta(days=7 - today.weekday())
    spans = ((VACATIONER, monday, monday + timedelta(days=2, hours=9), "vacation"),
             (AWAY_TODAY, today, today + timedelta(days=1, hours=8), "closing out of town"))
    seeded = []
    for email, starts_at, ends_at, note in spans:
        agent = Agent.objects.filter(email=email).first()
        if agent is None:
            continue
        TimeOff.objects.create(agent=agent, starts_at=starts_at, ends_at=ends_at, note=note,
                               source=TimeOff.Source.AGENT, created_by=agent.user)
        ends = ends_at.astimezone(zone)
        seeded.append(f"{agent.name} from {starts_at:%a %d %b} until {ends:%a %H:%M} ({note})")
    brokerage = Brokerage.load()
    brokerage.gradual_return_leads = GRADUAL_RETURN_LEADS
    brokerage.save(update_fields=["gradual_return_leads"])
    return seeded


def _cycle_stages() -> Iterator[str]:
    while True:
        yield from ISA_STAGES


def work_to_stage(lead: Lead, isa: Agent, stage: str, *, now: datetime,
                  target: HandoffTarget | None) -> bool:
    """Log the calls and card changes that bring a new ISA lead to ``stage``."""
    if stage == "new":
        return True
    with transaction.atomic():
        log_contact(lead, isa, "call", "Left a voicemail, then reached them on the second try.",
                    now=now)
        lead.refresh_from_db()
        if stage == "nurturing":
            update_card(lead, isa, stage="nurturing", temperature="warm",
                        follow_up_on=(now + timedelta(days=3)).date(), now=now)
        elif stage == "dead":
            update_card(lead, isa, stage="dead", dead_reason="Bought with another agent",
                        now=now)
        elif stage in ("qualified", "handed_off"):
            save_qualification(lead, isa, {"timeframe": "1-3", "pre_approved": True,
                                           "budget": 900_000, "areas": "Park Slope",
                                           "side": "buyer"}, now=now)
            update_card(lead, isa, stage="qualified", temperature="hot", now=now)
    if stage == "handed_off":
        if target is None:
            return False
        hand_off(lead.pk, isa=isa, target=target, now=now,
                 note="Pre-approved, wants a 2-bedroom near the park; call after 5 pm.")
    return True


def seed_agent_stages(leads: list[Lead], now: datetime) -> dict[str, int]:
    """The agents' leads worked to every stage, each the way an agent would get there (a call
    logged; a follow-up, an appointment), so that My leads and the lead pages look lived in."""
    stages = {stage.key: stage for stage in Stage.objects.all()}
    mine = [lead for lead in leads if lead.owner_id is not None
            and lead.status == Lead.Status.ASSIGNED and lead.owner.role == Agent.Role.AGENT]
    counts: dict[str, int] = {}
    for lead, (key, call, reason) in zip(mine, _cycle(AGENT_STAGES), strict=False):
        stage = stages.get(key)
        if stage is None:
            continue
        with transaction.atomic():
            if call:
                log_activity(lead, lead.owner, "call", call, now=now)
            if key == "appointment":
                followups.book_appointment(lead, lead.owner, followups.AppointmentFields(
                    starts_at=now + timedelta(days=1), minutes=45,
                    location=f"Showing in {lead.city}"), now=now)
            elif key in ("contacted", "nurture"):
                days = 1 if key == "contacted" else 14
                followups.set_follow_up(lead, lead.owner, now + timedelta(days=days),
                                        note="Send new listings", now=now)
            if key != "new":
                set_stage(lead, stage, lead.owner, reason, now=now)
        counts[stage.name] = counts.get(stage.name, 0) + 1
    return counts


def _cycle(items: tuple) -> Iterator:
    while True:
        yield from items


def stagger_offers(now: datetime) -> tuple[int, int]:
    """Claim windows a newcomer can watch: the hot leads' run out no sooner than
    ``HOT_FIRST`` (one every ``HOT_STEP``), the others from ``WATCH_FIRST`` on, a few minutes
    apart. Returns (hot leads, other leads) staggered."""
    offers = list(Offer.objects.filter(status=Offer.Status.OFFERED)
                  .select_related("rule").order_by("lead_id", "id"))
    by_lead: dict[int, list[Offer]] = {}
    for offer in offers:
        by_lead.setdefault(offer.lead_id, []).append(offer)
    hot = [lead for lead, group in by_lead.items() if group[0].rule
           and group[0].rule.name == HOT_RULE]
    other = [lead for lead in by_lead if lead not in hot]
    for lead_ids, first, step in ((hot, HOT_FIRST, HOT_STEP), (other, WATCH_FIRST, WATCH_STEP)):
        for i, lead_id in enumerate(lead_ids):
            deadline = now + first + i * step
            for offer in by_lead[lead_id]:
                before = offer.deadline - offer.remind_at if offer.remind_at else None
                offer.clock_starts_at = min(offer.clock_starts_at, now)
                offer.deadline = deadline
                offer.remind_at = deadline - before if before and before < first else None
                offer.save(update_fields=["clock_starts_at", "deadline", "remind_at"])
    return len(hot), len(other)


def arrival(rng: random.Random, n: int, stamp: str) -> dict[str, Any]:
    """The ``n``-th lead of the living demo: mostly whatever the rules make of it, every
    fourth an open-house sign-in for the ISAs, every seventh a hot one."""
    kind = "open_house" if n % 4 == 3 else "hot" if n % 7 == 6 else "any"
    return lead_data(rng, f"{stamp}{n}", kind=kind)
