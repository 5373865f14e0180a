"""Clock arithmetic in the actionable window: nights, weekends, DST, windows past midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.windows import Calendar, WeeklyWindow, parse_days

TZ = "America/New_York"
NY = ZoneInfo(TZ)
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def cal(*windows: tuple[list[str], str, str], tz: str = TZ) -> Calendar:
    return Calendar(tuple(WeeklyWindow(parse_days(days), time.fromisoformat(start),
                                       time.fromisoformat(end)) for days, start, end in windows),
                    tz)


DEFAULT = cal((EVERY_DAY, "08:00", "21:00"))  # the brokerage's default actionable window
OFFICE = cal((WEEKDAYS, "08:00", "21:00"))
NIGHTS = cal((EVERY_DAY, "22:00", "06:00"))
ALL_DAY = cal((EVERY_DAY, "00:00", "23:59"))


def test_reference_dates():
    assert at(2026, 11, 18).strftime("%a") == "Wed"
    assert at(2026, 11, 20).strftime("%a") == "Fri"
    # US daylight saving time 2026: starts Sunday March 8, ends Sunday November 1.
    assert at(2026, 3, 7, 12).utcoffset() == timedelta(hours=-5)
    assert at(2026, 3, 8, 12).utcoffset() == timedelta(hours=-4)
    assert at(2026, 10, 31, 12).utcoffset() == timedelta(hours=-4)
    assert at(2026, 11, 1, 12).utcoffset() == timedelta(hours=-5)


# --- next_open ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "opens"),
    [
        (at(2026, 11, 18, 10, 0), at(2026, 11, 18, 10, 0)),  # open: the moment itself
        (at(2026, 11, 18, 8, 0), at(2026, 11, 18, 8, 0)),  # the start belongs to the window
        (at(2026, 11, 18, 7, 59, 59), at(2026, 11, 18, 8, 0)),
        (at(2026, 11, 18, 20, 59, 59), at(2026, 11, 18, 20, 59, 59)),
        (at(2026, 11, 18, 21, 0), at(2026, 11, 19, 8, 0)),  # the end does not
        (at(2026, 11, 18, 23, 30), at(2026, 11, 19, 8, 0)),
        (at(2026, 11, 19, 0, 0), at(2026, 11, 19, 8, 0)),
    ],
)
def test_next_open_in_the_default_window(moment, opens):
    assert DEFAULT.next_open(moment) == opens
    assert DEFAULT.is_open(moment) == (moment == opens)


def test_next_open_skips_the_weekend():
    assert OFFICE.next_open(at(2026, 11, 20, 21, 0)) == at(2026, 11, 23, 8, 0)
    assert OFFICE.next_open(at(2026, 11, 21, 12, 0)) == at(2026, 11, 23, 8, 0)
    assert OFFICE.next_open(at(2026, 11, 22, 23, 59)) == at(2026, 11, 23, 8, 0)


def test_next_open_accepts_any_time_zone():
    moment = at(2026, 11, 18, 23, 30).astimezone(UTC)
    assert DEFAULT.next_open(moment) == at(2026, 11, 19, 8, 0)
    tokyo = at(2026, 11, 18, 23, 30).astimezone(ZoneInfo("Asia/Tokyo"))
    assert DEFAULT.next_open(tokyo) == at(2026, 11, 19, 8, 0)


# --- add: nights and weekends -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "minutes", "expected"),
    [
        (at(2026, 11, 18, 10, 0), 5, at(2026, 11, 18, 10, 5)),
        (at(2026, 11, 18, 10, 0), 2.5, at(2026, 11, 18, 10, 2, 30)),
        (at(2026, 11, 18, 10, 0), 0, at(2026, 11, 18, 10, 0)),
        (at(2026, 11, 18, 20, 55), 5, at(2026, 11, 18, 21, 0)),  # exactly at the close
        (at(2026, 11, 18, 20, 58), 5, at(2026, 11, 19, 8, 3)),  # paused for the night
        (at(2026, 11, 18, 23, 30), 5, at(2026, 11, 19, 8, 5)),  # arrives at night
        (at(2026, 11, 19, 3, 0), 5, at(2026, 11, 19, 8, 5)),  # after midnight
        (at(2026, 11, 18, 7, 59), 5, at(2026, 11, 18, 8, 5)),
        (at(2026, 11, 18, 10, 0), 13 * 60, at(2026, 11, 19, 10, 0)),  # one full window
        (at(2026, 11, 18, 20, 0), 2 * 13 * 60 + 30, at(2026, 11, 20, 20, 30)),
    ],
)
def test_add_in_the_default_window(moment, minutes, expected):
    assert DEFAULT.add(moment, minutes) == expected


@pytest.mark.parametrize(
    ("moment", "minutes", "expected"),
    [
        (at(2026, 11, 20, 20, 58), 5, at(2026, 11, 23, 8, 3)),  # Friday 20:58 -> Monday 08:03
        (at(2026, 11, 20, 22, 0), 5, at(2026, 11, 23, 8, 5)),  # Friday night
        (at(2026, 11, 21, 11, 0), 5, at(2026, 11, 23, 8, 5)),  # Saturday
        (at(2026, 11, 22, 23, 59), 30, at(2026, 11, 23, 8, 30)),  # Sunday night
        (at(2026, 11, 20, 20, 0), 120, at(2026, 11, 23, 9, 0)),  # 60 min Friday, 60 Monday
        (at(2026, 11, 23, 8, 0), 5 * 13 * 60, at(2026, 11, 27, 21, 0)),
    ],
)
def test_add_over_the_weekend(moment, minutes, expected):
    assert OFFICE.add(moment, minutes) == expected


def test_add_is_the_same_whatever_the_time_zone_of_the_moment():
    moment = at(2026, 11, 20, 20, 58)
    for tz in (NY, UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")):
        assert OFFICE.add(moment.astimezone(tz), 5) == at(2026, 11, 23, 8, 3)


def test_a_brokerage_in_another_time_zone_keeps_its_own_hours():
    paris = cal((WEEKDAYS, "09:00", "18:00"), tz="Europe/Paris")
    moment = datetime(2026, 11, 20, 17, 58, tzinfo=ZoneInfo("Europe/Paris"))
    assert paris.add(moment, 5) == datetime(2026, 11, 23, 9, 3, tzinfo=ZoneInfo("Europe/Paris"))
    # 11:58 in New York is 17:58 in Paris.
    assert paris.add(at(2026, 11, 20, 11, 58), 5) == at(2026, 11, 23, 3, 3)


# --- daylight saving time -----------------------------------------------------------------------


def test_default_window_across_the_spring_forward_night():
    deadline = DEFAULT.add(at(2026, 3, 7, 20, 58), 5)  # Saturday, EST
    assert deadline == at(2026, 3, 8, 8, 3)  # Sunday, EDT
    assert deadline.astimezone(NY).utcoffset() == timedelta(hours=-4)
    assert deadline.astimezone(UTC) == datetime(2026, 3, 8, 12, 3, tzinfo=UTC)
    assert DEFAULT.next_open(at(2026, 3, 8, 2, 30)) == at(2026, 3, 8, 8, 0)


def test_default_window_across_the_fall_back_night():
    deadline = DEFAULT.add(at(2026, 10, 31, 20, 58), 5)  # Saturday, EDT
    assert deadline == at(2026, 11, 1, 8, 3)  # Sunday, EST
    assert deadline.astimezone(UTC) == datetime(2026, 11, 1, 13, 3, tzinfo=UTC)


def test_a_window_running_through_the_spring_forward_hour_counts_real_time():
    # 23:00 EST + 4 real hours = 04:00 UTC + 4 h = 08:00 UTC = 04:00 EDT (02:00-03:00 never was)
    for moment in (at(2026, 3, 7, 23, 0), at(2026, 3, 7, 23, 0).astimezone(UTC)):
        assert ALL_DAY.add(moment, 240) == at(2026, 3, 8, 4, 0)
    day = ALL_DAY.running_seconds(at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0))
    assert day == 23 * 3600


def test_a_window_running_through_the_fall_back_hour_counts_real_time():
    # 23:00 EDT = 03:00 UTC; + 4 h = 07:00 UTC = 02:00 EST (01:00-02:00 happened twice)
    assert ALL_DAY.add(at(2026, 10, 31, 23, 0), 240) == at(2026, 11, 1, 2, 0)
    day = ALL_DAY.running_seconds(at(2026, 11, 1, 0, 0), at(2026, 11, 2, 0, 0))
    assert day == 25 * 3600


def test_overnight_window_on_dst_nights_is_shorter_or_longer():
    assert NIGHTS.running_seconds(at(2026, 3, 7, 21, 0), at(2026, 3, 8, 12, 0)) == 7 * 3600
    assert NIGHTS.running_seconds(at(2026, 10, 31, 21, 0), at(2026, 11, 1, 12, 0)) == 9 * 3600
    assert NIGHTS.running_seconds(at(2026, 11, 18, 21, 0), at(2026, 11, 19, 12, 0)) == 8 * 3600
    # 7 hours of running clock from 22:00 ends at the close on the spring-forward night.
    assert NIGHTS.add(at(2026, 3, 7, 22, 0), 7 * 60) == at(2026, 3, 8, 6, 0)
    assert NIGHTS.add(at(2026, 3, 7, 22, 0), 7 * 60 + 5) == at(2026, 3, 8, 22, 5)


# --- windows past midnight ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "minutes", "expected"),
    [
        (at(2026, 11, 18, 23, 0), 60, at(2026, 11, 19, 0, 0)),
        (at(2026, 11, 18, 23, 30), 60, at(2026, 11, 19, 0, 30)),  # runs through midnight
        (at(2026, 11, 19, 5, 58), 5, at(2026, 11, 19, 22, 3)),  # paused for the day
        (at(2026, 11, 19, 12, 0), 5, at(2026, 11, 19, 22, 5)),
        (at(2026, 11, 19, 2, 0), 8 * 60, at(2026, 11, 20, 2, 0)),  # 4 h, then 4 h more
    ],
)
def test_add_in_an_overnight_window(moment, minutes, expected):
    assert NIGHTS.add(moment, minutes) == expected


def test_overnight_window_on_one_day_belongs_to_that_evening():
    friday_night = cal((["fri"], "22:00", "06:00"))
    assert friday_night.add(at(2026, 11, 21, 5, 58), 5) == at(2026, 11, 27, 22, 3)
    assert friday_night.is_open(at(2026, 11, 21, 3, 0))  # Saturday 03:00, Friday's night
    assert not friday_night.is_open(at(2026, 11, 20, 3, 0))  # Friday 03:00, Thursday's night
    assert friday_night.next_open(at(2026, 11, 20, 3, 0)) == at(2026, 11, 20, 22, 0)


def test_end_2359_means_midnight_and_joins_the_next_day():
    late = cal((EVERY_DAY, "22:00", "23:59"))
    assert late.add(at(2026, 11, 18, 23, 58), 5) == at(2026, 11, 19, 22, 3)
    joined = cal((["fri"], "20:00", "23:59"), (["sat"], "00:00", "02:00"))
    assert joined.add(at(2026, 11, 20, 23, 58), 5) == at(2026, 11, 21, 0, 3)
    assert list(joined.intervals(at(2026, 11, 20, 21, 0)))[0] == (
        at(2026, 11, 20, 20, 0), at(2026, 11, 21, 2, 0))


def test_touching_and_overlapping_windows_merge():
    split = cal((EVERY_DAY, "08:00", "12:00"), (EVERY_DAY, "12:00", "21:00"),
                (["wed"], "10:00", "22:00"))
    first = list(split.intervals(at(2026, 11, 18, 9, 0)))[:2]
    assert first == [(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 22, 0)),
                     (at(2026, 11, 19, 8, 0), at(2026, 11, 19, 21, 0))]
    assert split.add(at(2026, 11, 18, 21, 58), 5) == at(2026, 11, 19, 8, 3)
    assert split.add(at(2026, 11, 19, 20, 58), 5) == at(2026, 11, 20, 8, 3)


def test_lunch_break_pauses_the_clock():
    office = cal((WEEKDAYS, "09:00", "12:00"), (WEEKDAYS, "13:00", "17:00"))
    assert office.add(at(2026, 11, 18, 11, 58), 5) == at(2026, 11, 18, 13, 3)
    assert office.running_seconds(at(2026, 11, 18, 11, 0), at(2026, 11, 18, 14, 0)) == 2 * 3600


# --- running_seconds, intervals, the edges ------------------------------------------------------


def test_running_seconds_counts_only_the_window():
    assert DEFAULT.running_seconds(at(2026, 11, 18, 20, 58), at(2026, 11, 19, 8, 3)) == 300
    assert OFFICE.running_seconds(at(2026, 11, 20, 20, 58), at(2026, 11, 23, 8, 3)) == 300
    assert DEFAULT.running_seconds(at(2026, 11, 18, 22, 0), at(2026, 11, 19, 7, 0)) == 0
    assert DEFAULT.running_seconds(at(2026, 11, 18, 10, 0), at(2026, 11, 18, 9, 0)) == 0


@pytest.mark.parametrize("calendar", [DEFAULT, OFFICE, NIGHTS, ALL_DAY],
                         ids=["default", "office", "nights", "all-day"])
def test_add_and_running_seconds_agree_all_year_round(calendar):
    start = at(2026, 1, 1, 0, 7)
    for step in range(0, 365 * 24, 7):  # every 7 hours over a year, both DST changes included
        moment = start + timedelta(hours=step)
        for minutes in (5, 47.5, 600):
            deadline = calendar.add(moment, minutes)
            assert calendar.running_seconds(moment, deadline) == pytest.approx(minutes * 60)
            assert deadline >= calendar.next_open(moment) >= moment


def test_intervals_are_ordered_merged_and_end_after_the_start():
    found = []
    for begin, end in OFFICE.intervals(at(2026, 11, 18, 12, 0)):
        found.append((begin, end))
        if len(found) == 4:
            break
    assert found == [(at(2026, 11, 18, 8, 0), at(2026, 11, 18, 21, 0)),
                     (at(2026, 11, 19, 8, 0), at(2026, 11, 19, 21, 0)),
                     (at(2026, 11, 20, 8, 0), at(2026, 11, 20, 21, 0)),
                     (at(2026, 11, 23, 8, 0), at(2026, 11, 23, 21, 0))]


def test_no_window_means_the_clock_always_runs():
    always = Calendar((), TZ)
    assert always.is_open(at(2026, 11, 18, 3, 0))
    assert always.next_open(at(2026, 11, 18, 3, 0)) == at(2026, 11, 18, 3, 0)
    assert always.add(at(2026, 11, 18, 23, 58), 5) == at(2026, 11, 19, 0, 3)
    assert always.running_seconds(at(2026, 11, 18, 20, 0), at(2026, 11, 19, 8, 0)) == 12 * 3600


def test_a_window_that_never_opens_is_an_error():
    never = cal(([], "08:00", "21:00"))
    with pytest.raises(ValueError, match="never opens"):
        never.add(at(2026, 11, 18, 10, 0), 5)
    with pytest.raises(ValueError, match="never opens"):
        never.next_open(at(2026, 11, 18, 10, 0))
