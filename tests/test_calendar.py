"""Working-day calendar: counting rules, the 2026 official schedule, overrides, provisional years."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest

from banjian.calendar import (
    CalendarError,
    WorkingCalendar,
    YearSchedule,
    official_schedule,
    provisional_schedule,
)
from banjian.enums import LimitUnit
from banjian.errors import DomainError


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def days(*isos: str) -> set[date]:
    return {date.fromisoformat(s) for s in isos}


# --- counting rules -------------------------------------------------------------------------


def test_start_day_is_excluded(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 12, 7), 1) == date(2026, 12, 8)  # Mon -> Tue
    assert cal.add_working_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Fri -> Mon


def test_zero_days_is_the_start_itself(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 12, 5), 0) == date(2026, 12, 5)
    assert cal.working_day_before(date(2026, 12, 5), 0) == date(2026, 12, 5)


def test_weekends_are_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 12, 5))  # Saturday
    assert not cal.is_working_day(date(2026, 12, 6))  # Sunday
    assert cal.is_working_day(date(2026, 12, 7))
    # Mon 2026-11-30 + 5 working days = Mon 2026-12-07, skipping the weekend
    assert cal.add_working_days(date(2026, 11, 30), 5) == date(2026, 12, 7)


def test_starting_on_a_weekend_counts_from_the_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 12, 5), 1) == date(2026, 12, 7)


# --- the official 2026 schedule (国务院办公厅 2026 年部分节假日安排) ----------------------------


def test_official_2026_schedule_is_loaded_from_chinese_calendar() -> None:
    s = official_schedule(2026)
    assert s is not None and s.official and s.source == "official"
    assert s.workdays == days(
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"
    )
    assert s.holidays == days(
        "2026-01-01",
        "2026-01-02",
        "2026-02-16",
        "2026-02-17",
        "2026-02-18",
        "2026-02-19",
        "2026-02-20",
        "2026-02-23",
        "2026-04-06",
        "2026-05-01",
        "2026-05-04",
        "2026-05-05",
        "2026-06-19",
        "2026-09-25",
        "2026-10-01",
        "2026-10-02",
        "2026-10-05",
        "2026-10-06",
        "2026-10-07",
    )


def test_national_day_2026_is_skipped(cal: WorkingCalendar) -> None:
    for day in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, day)), f"2026-10-0{day} is a National Day holiday"
    assert cal.is_working_day(date(2026, 10, 8))
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1


def test_weekend_workday_counts(cal: WorkingCalendar) -> None:
    # Sunday 2026-09-20 and Saturday 2026-10-10 are 调休 working days
    assert cal.is_working_day(date(2026, 9, 20))
    assert cal.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert cal.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert not cal.is_working_day(date(2026, 9, 19))  # the Saturday before stays off


def test_acceptance_across_spring_festival_2026(cal: WorkingCalendar) -> None:
    # Fri 02-13 received: Sat 02-14 (调休) is day 1, 02-15..02-23 off, then 02-24..02-27 are days 2..5
    assert cal.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 27)


# --- overrides and provisional years --------------------------------------------------------


def test_override_beats_official() -> None:
    custom = YearSchedule.from_json(
        {
            "year": 2026,
            "official": True,
            "holidays": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08"],
            "workdays": [],
        }
    )
    cal = WorkingCalendar({2026: custom})
    assert cal.schedule(2026).source == "override"
    assert not cal.is_working_day(date(2026, 10, 8))
    assert not cal.is_working_day(date(2026, 10, 10))  # no longer a weekend workday
    assert cal.is_working_day(date(2026, 2, 16))  # the override replaces the whole year
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 9)
    assert not cal.is_provisional(date(2026, 10, 1))


def test_with_override_returns_a_new_calendar(cal: WorkingCalendar) -> None:
    custom = YearSchedule(2031, frozenset(), frozenset(), official=True, source="override")
    loaded = cal.with_override(custom)
    assert loaded.schedule(2031).source == "override"
    assert loaded.is_working_day(date(2031, 10, 1))
    assert cal.schedule(2031).source == "provisional"


def test_override_must_be_filed_under_its_year() -> None:
    custom = YearSchedule(2031, frozenset(), frozenset(), official=True, source="override")
    with pytest.raises(CalendarError):
        WorkingCalendar({2030: custom})


def test_unknown_year_is_provisional(cal: WorkingCalendar) -> None:
    assert official_schedule(2031) is None
    s = cal.schedule(2031)
    assert s.source == "provisional" and not s.official and s.workdays == frozenset()
    assert s.holidays == days(
        "2031-01-01",  # New Year's Day (Wed)
        "2031-01-22",  # lunar New Year's Eve
        "2031-01-23",  # lunar 1/1
        "2031-01-24",  # lunar 1/2 (1/3 is a Saturday)
        "2031-01-27",  # made up for lunar 1/3
        "2031-04-07",  # made up for Qingming, Saturday 04-05
        "2031-05-01",  # Labour Day
        "2031-05-02",  # Labour Day
        "2031-06-24",  # Dragon Boat (lunar 5/5)
        "2031-10-01",  # National Day, also Mid-Autumn (lunar 8/15)
        "2031-10-02",  # National Day
        "2031-10-03",  # National Day
        "2031-10-06",  # made up for Mid-Autumn coinciding with National Day
    )
    assert not cal.is_working_day(date(2031, 10, 2))
    assert cal.is_working_day(date(2031, 10, 7))
    assert cal.is_provisional(date(2031, 3, 1))
    assert not cal.is_provisional(date(2026, 3, 1))
    assert not cal.is_provisional()


def test_a_span_into_an_unknown_year_is_provisional(cal: WorkingCalendar) -> None:
    assert cal.is_provisional(date(2026, 12, 20), date(2027, 1, 10))


def test_an_unofficial_override_stays_provisional(cal: WorkingCalendar) -> None:
    """A year whose schedule an administrator loaded as not official (`official: false`) is still not
    official: its deadlines stay provisional, as on the provisional rules; an official load is not."""
    body = {"year": 2027, "official": False, "holidays": ["2027-10-01"], "workdays": []}
    unofficial = cal.with_override(YearSchedule.from_json(body))
    assert unofficial.schedule(2027).source == "override"
    assert unofficial.is_provisional(date(2027, 6, 1))
    assert unofficial.is_provisional(date(2026, 12, 20), date(2027, 1, 10))
    assert not unofficial.is_provisional(date(2026, 12, 20))
    official = cal.with_override(YearSchedule.from_json({**body, "official": True}))
    assert not official.is_provisional(date(2027, 6, 1))
    # a year with official data that an administrator re-loads as not official is not official either
    corrected = cal.with_override(YearSchedule.from_json({**body, "year": 2026, "holidays": ["2026-10-01"]}))
    assert corrected.is_provisional(date(2026, 3, 1))
    # Thu 12-31 is day 1; Fri 2027-01-01 is New Year's Day; Mon 01-04 and Tue 01-05 are days 2 and 3
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 5)


@pytest.mark.parametrize("year", [2025, 2026])
def test_provisional_rules_give_days_that_were_officially_off(year: int) -> None:
    """Under the 2024 rules every provisional holiday was also off in the published schedule."""
    official = official_schedule(year)
    assert official is not None
    assert provisional_schedule(year).holidays <= official.holidays


def test_provisional_makes_up_weekend_holidays() -> None:
    # 2027: lunar New Year's Eve is Fri 02-05, the festival takes Sat 02-06 and Sun 02-07 too
    s = provisional_schedule(2027)
    assert days("2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10") <= s.holidays
    assert date(2027, 2, 11) not in s.holidays


# --- natural days, counting back and between ------------------------------------------------


def test_natural_days_end_on_working_day(cal: WorkingCalendar) -> None:
    assert cal.add_limit(date(2026, 12, 1), 10, "natural_days") == date(2026, 12, 11)  # a Friday
    assert cal.add_limit(date(2026, 12, 1), 4, "natural_days") == date(2026, 12, 7)  # Sat -> Mon
    assert cal.add_limit(date(2026, 9, 24), 7, LimitUnit.NATURAL_DAYS) == date(2026, 10, 8)  # 10-01 off


def test_add_limit_in_working_days(cal: WorkingCalendar) -> None:
    assert cal.add_limit(date(2026, 12, 4), 20, LimitUnit.WORKING_DAYS) == date(2027, 1, 4)
    with pytest.raises(ValueError):
        cal.add_limit(date(2026, 12, 4), 20, "fortnights")


def test_working_day_before(cal: WorkingCalendar) -> None:
    assert cal.working_day_before(date(2026, 12, 18), 2) == date(2026, 12, 16)
    assert cal.working_day_before(date(2026, 10, 8), 1) == date(2026, 9, 30)
    assert cal.working_day_before(date(2027, 1, 4), 2) == date(2026, 12, 30)  # across the year end
    assert cal.subtract_working_days(date(2026, 12, 18), 2) == date(2026, 12, 16)


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(date(2026, 12, 4), date(2026, 12, 11)) == 5
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert cal.working_days_between(date(2026, 12, 11), date(2026, 12, 4)) == 0
    assert cal.working_days_between(date(2026, 12, 4), date(2026, 12, 4)) == 0


def test_working_days_between_matches_add(cal: WorkingCalendar) -> None:
    start = date(2025, 12, 1)
    for offset in range(0, 420, 3):
        day = start + timedelta(days=offset)
        for n in (0, 1, 2, 5, 10, 20, 45, 60):
            due = cal.add_working_days(day, n)
            assert cal.working_days_between(day, due) == n, (day, n)
            if n:
                assert cal.is_working_day(due)
                assert cal.working_days_between(day, due - timedelta(days=1)) == n - 1
                assert cal.add_working_days(cal.working_day_before(due, n), n) == due


def test_bad_arguments_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 12, 4), -1)
    with pytest.raises(TypeError):
        cal.add_working_days(datetime(2026, 12, 4, 9, 0), 1)  # type: ignore[arg-type]


def test_sixty_working_days_is_fast(cal: WorkingCalendar) -> None:
    cal.add_working_days(date(2026, 1, 5), 60)  # warm the year tables
    began = time.perf_counter()
    for i in range(5000):
        cal.add_working_days(date(2026, 1, 5) + timedelta(days=i % 200), 60)
    assert time.perf_counter() - began < 1.0


# --- loading a schedule from JSON -----------------------------------------------------------


def test_schedule_json_round_trip() -> None:
    s = official_schedule(2026)
    assert s is not None
    body = s.to_json()
    assert set(body) == {"year", "official", "holidays", "workdays"}
    assert body["workdays"][0] == "2026-01-04" and body["holidays"][0] == "2026-01-01"
    back = YearSchedule.from_json(body)
    assert (back.holidays, back.workdays, back.official, back.source) == (
        s.holidays,
        s.workdays,
        True,
        "override",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"year": 2027, "holidays": ["2026-10-01"], "workdays": []}, "holidays"),
        ({"year": 2027, "holidays": ["2027-02-30"], "workdays": []}, "holidays"),
        ({"year": 2027, "holidays": "2027-10-01", "workdays": []}, "holidays"),
        ({"year": 2027, "holidays": [20271001], "workdays": []}, "holidays"),
        # other ISO 8601 spellings date.fromisoformat reads: only YYYY-MM-DD is a date here
        ({"year": 2027, "holidays": ["20271001"], "workdays": []}, "holidays"),
        ({"year": 2027, "holidays": ["2027-W39-5"], "workdays": []}, "holidays"),
        ({"year": 2027, "holidays": [], "workdays": ["2027-10-08"]}, "workdays"),  # a Friday
        ({"year": 2027, "holidays": ["2027-10-09"], "workdays": ["2027-10-09"]}, "workdays"),
        ({"year": "2027", "holidays": [], "workdays": []}, "year"),
        ({"holidays": [], "workdays": []}, "year"),
        ({"year": 1066, "holidays": [], "workdays": []}, "year"),
        ({"year": 2027, "official": "yes", "holidays": [], "workdays": []}, "official"),
        (["2027-10-01"], None),
    ],
)
def test_bad_schedule_json_is_refused(body: object, field: str | None) -> None:
    with pytest.raises(CalendarError) as caught:
        YearSchedule.from_json(body)
    err = caught.value
    assert err.field == field
    assert err.message and err.message_en and err.message != err.message_en
    assert isinstance(err, ValueError) and isinstance(err, DomainError) and err.status == 422


def test_weekend_holiday_and_weekend_workday_are_accepted() -> None:
    s = YearSchedule.from_json(
        {"year": 2027, "official": True, "holidays": ["2027-10-01", "2027-10-02"], "workdays": ["2027-09-26"]}
    )
    cal = WorkingCalendar({2027: s})
    assert not cal.is_working_day(date(2027, 10, 1))
    assert cal.is_working_day(date(2027, 9, 26))  # a Sunday workday
    assert cal.is_provisional(date(2027, 6, 1)) is False


def test_a_loaded_schedule_lists_each_date_once_and_has_no_unknown_fields() -> None:
    """An administrator's schedule (PUT /api/calendar/{year}, the page, `calendar load`): a date
    listed twice, or a field a schedule does not have, is a typo and is refused before anything is
    stored (they were silently dropped); the GET's read-only `source` may come back."""
    from services.calendar_admin import store_year

    def refused(body: dict) -> CalendarError:
        with pytest.raises(CalendarError) as caught:
            store_year(lambda: pytest.fail("nothing is stored"), 2027, body, "admin")  # type: ignore[arg-type,return-value]
        return caught.value

    err = refused({"holidays": ["2027-10-01", "2027-10-04", "2027-10-01"], "workdays": []})
    assert err.field == "holidays" and "2027-10-01" in err.message and "twice" in err.message_en
    assert refused({"holidays": [], "workdays": ["2027-09-26", "2027-09-26"]}).field == "workdays"
    err = refused({"holidays": [], "workdays": [], "holiday": ["2027-10-01"]})
    assert err.field == "holiday" and "holiday" in err.message
    # read-only fields of the GET pass validation (and stop only at the store here)
    with pytest.raises(pytest.fail.Exception):
        store_year(lambda: pytest.fail("stored"), 2027,  # type: ignore[arg-type,return-value]
                   {"year": 2027, "official": False, "holidays": [], "workdays": [], "source": "provisional"}, "admin")
