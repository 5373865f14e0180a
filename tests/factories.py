"""Test data: agents, rosters, shifts, time off, rules, leads and webhook endpoints."""

from __future__ import annotations

import importlib
from datetime import time, timedelta

import factory
from django.apps import apps
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Agent, Roster, RosterMember, Shift, TimeOff
from leads.models import Lead, Stage
from notifications.models import WebhookEndpoint, WebhookEvent
from routing.models import Rule, RuleCriterion, RuleWindow


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("pass-12345")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    name = factory.Sequence(lambda n: f"Agent {n}")
    email = factory.Sequence(lambda n: f"agent{n}@example.com")
    user = factory.SubFactory(UserFactory, username=factory.SelfAttribute("..email"))
    role = Agent.Role.AGENT


class RosterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Roster

    name = factory.Sequence(lambda n: f"Roster {n}")

    @classmethod
    def with_members(cls, agents: list[Agent], weights: list[int] | None = None, **kw) -> Roster:
        roster = cls(**kw)
        for position, agent in enumerate(agents):
            RosterMember.objects.create(
                roster=roster, agent=agent, position=position,
                leads_per_round=weights[position] if weights else 1,
            )
        return roster


class ShiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shift

    agent = factory.SubFactory(AgentFactory)
    days = ["mon", "tue", "wed", "thu", "fri"]
    start = time(8, 0)
    end = time(17, 0)


class TimeOffFactory(factory.django.DjangoModelFactory):
    """A day of time off starting in an hour, set by the agent."""

    class Meta:
        model = TimeOff

    agent = factory.SubFactory(AgentFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(days=1))
    note = "vacation"
    source = TimeOff.Source.AGENT


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    priority = factory.Sequence(lambda n: n)
    roster = factory.SubFactory(RosterFactory)

    @factory.post_generation
    def criteria(self, create: bool, extracted: dict | None, **kwargs) -> None:
        """``criteria={"source": ["Zillow"], "price_min": 100000}``"""
        for field, values in (extracted or {}).items():
            for value in values if isinstance(values, list | tuple) else [values]:
                RuleCriterion.objects.create(rule=self, field=field, value=str(value))

    @factory.post_generation
    def windows(self, create: bool, extracted: list | None, **kwargs) -> None:
        """``windows=[(["sat", "sun"], "00:00", "23:59")]``"""
        for days, start, end in extracted or []:
            RuleWindow.objects.create(rule=self, days=days, start=time.fromisoformat(start),
                                      end=time.fromisoformat(end))


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Buyer{n}")
    email = factory.Sequence(lambda n: f"lead{n}@example.org")
    email_normalized = factory.SelfAttribute("email")
    received_at = factory.LazyFunction(timezone.now)


def default_stages() -> dict[str, Stage]:
    """The stages a brokerage starts with, by key, as migration leads 0017 makes them (again
    after a transactional test emptied the tables)."""
    migration = importlib.import_module("leads.migrations.0017_default_stages")
    migration.create_default_stages(apps, None)
    return {stage.key: stage for stage in Stage.objects.all()}


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An active endpoint subscribed to every event (saved: the subscriber cache expires)."""

    class Meta:
        model = WebhookEndpoint

    name = factory.Sequence(lambda n: f"Receiver {n}")
    url = factory.Sequence(lambda n: f"https://crm{n}.example.com/hooks")
    secret = factory.Sequence(lambda n: f"whsec_test_{n}")
    events = factory.LazyFunction(lambda: list(WebhookEvent.values))


ALL_WEEK = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": "00:00", "end": "23:59"}]


def isa_desk(**fields) -> Agent:
    """Ivy, an ISA who takes every lead (the catch-all "ISA team"), in a brokerage whose
    actionable window is the whole week, so that her clocks run whenever the test does."""
    from routing.models import Brokerage

    brokerage = Brokerage.load()
    brokerage.actionable_window = ALL_WEEK
    brokerage.save()
    ivy = AgentFactory(**{"name": "Ivy Isa", "email": "ivy@example.com",
                          "role": Agent.Role.ISA, **fields})
    RuleFactory(name="ISA team", is_catch_all=True, roster=RosterFactory.with_members([ivy]))
    return ivy
