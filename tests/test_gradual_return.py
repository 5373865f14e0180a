"""Gradual return: on the first day back after a day or more of time off, an agent gets at
most the brokerage's N leads, counted as daily caps are, so a week away does not end in a
flood."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Agent
from routing import engine
from routing.fairness import reason_words
from routing.models import Brokerage, RoutingRecord
from tests.factories import RosterFactory, RuleFactory, TimeOffFactory
from tests.test_time_off import agent, owner_at

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def day_after_tomorrow(hour: int, minute: int = 0) -> datetime:
    day = (timezone.now().astimezone(NY) + timedelta(days=2)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def set_gradual_return(leads: int | None) -> None:
    brokerage = Brokerage.load()
    brokerage.gradual_return_leads = leads
    brokerage.save()


@pytest.fixture
def back_from_a_week_off() -> tuple[Agent, Agent]:
    """A and B in turn; B back at 9:00 the day after tomorrow from a week off."""
    a, b = agent("A"), agent("B")
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([a, b]))
    back = day_after_tomorrow(9)
    TimeOffFactory(agent=b, starts_at=back - timedelta(days=7), ends_at=back)
    return a, b


def test_the_first_day_back_gives_at_most_n_leads(back_from_a_week_off):
    set_gradual_return(2)
    morning = [owner_at(day_after_tomorrow(9, m)) for m in range(6)]
    assert morning == ["A", "B", "A", "B", "A", "A"]
    record = RoutingRecord.objects.latest("id")
    assert record.skipped_turns == [{"agent": back_from_a_week_off[1].pk,
                                     "why": "gradual_return", "limit": 2}]
    assert any(s.get("why") == "gradual return: 2 of 2 leads on their first day back"
               for s in record.trace)
    # The next day, the usual turns again.
    next_day = day_after_tomorrow(9) + timedelta(days=1)
    assert [owner_at(next_day + timedelta(minutes=m)) for m in range(2)] == ["B", "A"]


def test_no_limit_without_the_setting(back_from_a_week_off):
    set_gradual_return(None)
    assert [owner_at(day_after_tomorrow(9, m)) for m in range(6)] == ["A", "B"] * 3


def test_time_off_under_a_day_brings_no_limit():
    a, b = agent("A"), agent("B")
    RuleFactory(name="Everything else", is_catch_all=True,
                roster=RosterFactory.with_members([a, b]))
    set_gradual_return(1)
    TimeOffFactory(agent=b, starts_at=day_after_tomorrow(8), ends_at=day_after_tomorrow(12))
    assert [owner_at(day_after_tomorrow(13, m)) for m in range(4)] == ["A", "B", "A", "B"]


def test_back_to_back_time_off_counts_as_one_stretch():
    start = datetime(2026, 12, 7, 9, tzinfo=NY)
    pieces = [engine.TimeAway(start, start + timedelta(hours=16)),
              engine.TimeAway(start + timedelta(hours=16), start + timedelta(hours=30))]
    assert engine.first_days_back(pieces, "America/New_York") == frozenset(
        {(start + timedelta(hours=30)).date()})
    assert engine.first_days_back(pieces[:1], "America/New_York") == frozenset()


def test_the_agents_why_words_the_limit():
    assert reason_words(engine.SkipCode.GRADUAL_RETURN, 2, for_agent=True) == (
        "at your first day back's limit of 2 leads")
