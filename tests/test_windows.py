"""Weekly windows (rule hours, agent shifts): containment and how days are described."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from routing.windows import WeeklyWindow, describe_days, minute_of, parse_days

NY = ZoneInfo("America/New_York")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = frozenset(range(5))


def local(text: str) -> datetime:
    """A brokerage-time moment, e.g. ``local("2026-11-21 10:00")`` (a Saturday)."""
    return datetime.fromisoformat(text).replace(tzinfo=NY)


def window(days, start: str, end: str) -> WeeklyWindow:
    return WeeklyWindow(frozenset(days), time.fromisoformat(start), time.fromisoformat(end))


# --- Calendar used below ------------------------------------------------------------------------


def test_reference_dates_are_the_weekdays_the_tests_assume():
    assert local("2026-11-16 10:00").weekday() == MON
    assert local("2026-11-19 10:00").weekday() == THU
    assert local("2026-11-20 10:00").weekday() == FRI
    assert local("2026-11-21 10:00").weekday() == SAT
    assert local("2026-11-22 10:00").weekday() == SUN
    assert local("2026-11-23 10:00").weekday() == MON


# --- Normal windows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-16 09:00", True),  # Monday, the start is included
        ("2026-11-16 12:30", True),
        ("2026-11-16 16:59", True),
        ("2026-11-16 16:59:59", True),
        ("2026-11-16 17:00", False),  # the end is excluded (half-open)
        ("2026-11-16 08:59", False),
        ("2026-11-16 08:59:59", False),
        ("2026-11-16 23:00", False),
        ("2026-11-20 10:00", True),  # Friday
        ("2026-11-21 10:00", False),  # Saturday: not one of the days
        ("2026-11-22 10:00", False),  # Sunday
    ],
)
def test_normal_window_mon_fri_nine_to_five(moment, inside):
    assert window(WEEKDAYS, "09:00", "17:00").contains(local(moment)) is inside


def test_normal_window_only_on_its_days():
    weekend = window({SAT, SUN}, "10:00", "14:00")
    assert weekend.contains(local("2026-11-21 10:00"))
    assert weekend.contains(local("2026-11-22 13:59"))
    assert not weekend.contains(local("2026-11-20 11:00"))
    assert not weekend.contains(local("2026-11-23 11:00"))


def test_window_with_no_days_never_contains():
    assert not window((), "00:00", "23:59").contains(local("2026-11-21 10:00"))


def test_contains_a_moment_converted_from_utc():
    # 13:00 UTC on Monday 2026-07-06 is 09:00 in New York (daylight saving time).
    moment = datetime(2026, 7, 6, 13, 0, tzinfo=UTC).astimezone(NY)
    assert window({MON}, "09:00", "10:00").contains(moment)
    assert not window({MON}, "08:00", "09:00").contains(moment)
    # 02:00 UTC on Monday 2026-11-23 is still Sunday 21:00 in New York.
    sunday_evening = datetime(2026, 11, 23, 2, 0, tzinfo=UTC).astimezone(NY)
    assert window({SUN}, "20:00", "22:00").contains(sunday_evening)
    assert not window({MON}, "00:00", "23:59").contains(sunday_evening)


# --- Overnight windows (end before start) -------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-20 21:59", False),  # Friday before the start
        ("2026-11-20 22:00", True),  # Friday at the start
        ("2026-11-20 23:59:59", True),
        ("2026-11-21 00:00", True),  # Saturday morning belongs to Friday night
        ("2026-11-21 05:59", True),
        ("2026-11-21 06:00", False),  # the end is excluded
        ("2026-11-21 22:30", False),  # Saturday night: Saturday is not one of the days
        ("2026-11-20 05:00", False),  # Friday morning would belong to Thursday night
        ("2026-11-19 23:00", False),  # Thursday night
    ],
)
def test_overnight_window_runs_into_the_next_day(moment, inside):
    assert window({FRI}, "22:00", "06:00").contains(local(moment)) is inside


def test_overnight_window_wraps_from_sunday_to_monday():
    sunday_night = window({SUN}, "20:00", "02:00")
    assert sunday_night.contains(local("2026-11-22 20:00"))
    assert sunday_night.contains(local("2026-11-23 01:59"))  # Monday morning
    assert not sunday_night.contains(local("2026-11-23 02:00"))
    assert not sunday_night.contains(local("2026-11-23 20:00"))  # Monday night


def test_overnight_window_on_consecutive_days():
    nights = window({MON, TUE}, "22:00", "06:00")
    assert nights.contains(local("2026-11-17 03:00"))  # Tuesday morning, from Monday night
    assert nights.contains(local("2026-11-18 03:00"))  # Wednesday morning, from Tuesday night
    assert not nights.contains(local("2026-11-19 03:00"))  # Thursday morning
    assert not nights.contains(local("2026-11-16 03:00"))  # Monday morning (Sunday night)
    assert not nights.contains(local("2026-11-17 12:00"))


# --- 23:59 means the end of the day -------------------------------------------------------------


def test_end_2359_covers_the_last_minute_of_the_day():
    evening = window({SAT}, "18:00", "23:59")
    assert evening.contains(local("2026-11-21 23:58"))
    assert evening.contains(local("2026-11-21 23:59"))
    assert evening.contains(local("2026-11-21 23:59:59"))
    assert not evening.contains(local("2026-11-22 00:00"))  # Sunday midnight
    assert not evening.contains(local("2026-11-21 17:59"))


def test_midnight_to_2359_is_the_whole_day():
    saturday = window({SAT}, "00:00", "23:59")
    for moment in ("2026-11-21 00:00", "2026-11-21 12:00", "2026-11-21 23:59:30"):
        assert saturday.contains(local(moment)), moment
    assert not saturday.contains(local("2026-11-20 23:59:59"))
    assert not saturday.contains(local("2026-11-22 00:00"))


def test_minute_of():
    assert minute_of(time(0, 0)) == 0
    assert minute_of(time(9, 30)) == 570
    assert minute_of(time(23, 59)) == 1439


# --- Days -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ({MON, TUE, WED, THU, FRI}, "Mon-Fri"),
        ({SAT, SUN}, "Sat, Sun"),
        (set(range(7)), "Every day"),
        ({MON}, "Mon"),
        ({MON, WED}, "Mon, Wed"),
        ({MON, TUE, WED}, "Mon-Wed"),
        ({MON, WED, THU, FRI}, "Mon, Wed-Fri"),
        ({FRI, SAT, SUN}, "Fri-Sun"),
        ({MON, TUE, THU, FRI, SAT}, "Mon, Tue, Thu-Sat"),
        (set(), "No days"),
    ],
)
def test_describe_days(days, text):
    assert describe_days(frozenset(days)) == text
    assert describe_days(set(days)) == text


def test_parse_days_takes_names_in_any_case_and_length():
    assert parse_days(["mon", "Tue", " WEDNESDAY ", "fri"]) == frozenset({MON, TUE, WED, FRI})
    assert parse_days(("sat", "sun")) == frozenset({SAT, SUN})
    assert parse_days([]) == frozenset()


def test_describe_window():
    assert window(WEEKDAYS, "09:00", "17:00").describe() == "Mon-Fri 09:00-17:00"
    assert window({SAT, SUN}, "22:00", "06:00").describe() == "Sat, Sun 22:00-06:00"
    assert window(range(7), "00:00", "23:59").describe() == "Every day 00:00-23:59"
