"""Working-day calendar (工作日历): which days count, and date arithmetic on working days.

Owns the yearly holiday schedule (`YearSchedule`), where a year's schedule comes from
(an administrator's override, else the official data of the `chinese_calendar` package,
else a provisional schedule built from the statutory rules), and the counting rules of
the Administrative Licensing Law: periods are counted in working days, the start day is
excluded, weekends are off except adjusted weekend workdays (调休), statutory holidays
are off. Pure code: no database, no clock, no environment.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import chinese_calendar
from lunardate import LunarDate
from sqlmodel import Session, select

from banjian.db import CalendarYear
from banjian.enums import LimitUnit
from banjian.errors import Invalid

Source = Literal["official", "override", "provisional"]
SOURCES: frozenset[str] = frozenset({"official", "override", "provisional"})

#: Years an administrator may load a schedule for.
MIN_YEAR, MAX_YEAR = 1900, 2199

_ONE_DAY = timedelta(days=1)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class CalendarError(Invalid, ValueError):
    """A year schedule that breaks a rule (bad date, date outside its year, ...)."""

    def __init__(self, field: str | None, message: str, message_en: str) -> None:
        super().__init__("calendar_invalid", message, message_en, field)


@dataclass(frozen=True)
class YearSchedule:
    """One year's schedule: statutory days off and adjusted weekend workdays (调休上班).

    `holidays` are days off that would otherwise be working days (weekend dates may be
    listed too; they change nothing). `workdays` are Saturdays and Sundays that are
    working days. `source` says where the schedule came from.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    official: bool
    source: Source

    def to_json(self) -> dict[str, Any]:
        """The schedule as the API shows it: `{"year", "official", "holidays", "workdays"}`."""
        return {
            "year": self.year,
            "official": self.official,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
        }

    @classmethod
    def from_json(cls, d: Any, source: Source = "override") -> YearSchedule:
        """Validate a schedule as loaded by an administrator; raise `CalendarError` on bad data."""
        if source not in SOURCES:
            raise ValueError(f"unknown schedule source {source!r}")
        if not isinstance(d, Mapping):
            raise CalendarError(None, "日历数据必须是一个对象", "the schedule must be an object")
        year = d.get("year")
        if isinstance(year, bool) or not isinstance(year, int):
            raise CalendarError("year", "年份必须是整数", "year must be an integer")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise CalendarError(
                "year",
                f"年份须在 {MIN_YEAR}–{MAX_YEAR} 之间",
                f"year must be between {MIN_YEAR} and {MAX_YEAR}",
            )
        official = d.get("official", False)
        if not isinstance(official, bool):
            raise CalendarError("official", "official 必须是布尔值", "official must be true or false")
        holidays = _parse_dates(d.get("holidays", []), "holidays", year)
        workdays = _parse_dates(d.get("workdays", []), "workdays", year)
        for day in sorted(workdays):
            if day.weekday() < 5:
                raise CalendarError(
                    "workdays",
                    f"{day.isoformat()} 不是周六或周日，不能列为调休上班日",
                    f"{day.isoformat()} is not a Saturday or Sunday, so it cannot be a weekend workday",
                )
        both = sorted(holidays & workdays)
        if both:
            raise CalendarError(
                "workdays",
                f"{both[0].isoformat()} 同时被列为假日和上班日",
                f"{both[0].isoformat()} is listed both as a holiday and as a workday",
            )
        return cls(year, frozenset(holidays), frozenset(workdays), official, source)


def _parse_dates(raw: Any, field: str, year: int) -> set[date]:
    """Parse a list of ISO dates that must all lie inside `year`."""
    if not isinstance(raw, list | tuple):
        raise CalendarError(field, f"{field} 必须是日期列表", f"{field} must be a list of dates")
    out: set[date] = set()
    for item in raw:
        if isinstance(item, date) and not isinstance(item, datetime):
            day = item
        elif isinstance(item, str):
            try:  # YYYY-MM-DD only (fromisoformat also reads 20261209 and 2026-W50-2)
                if not _ISO_DAY.fullmatch(item):
                    raise ValueError(item)
                day = date.fromisoformat(item)
            except ValueError:
                raise CalendarError(
                    field,
                    f"{item!r} 不是有效日期（格式 YYYY-MM-DD）",
                    f"{item!r} is not a valid date (YYYY-MM-DD)",
                ) from None
        else:
            raise CalendarError(
                field,
                f"{item!r} 不是有效日期（格式 YYYY-MM-DD）",
                f"{item!r} is not a valid date (YYYY-MM-DD)",
            )
        if day.year != year:
            raise CalendarError(
                field, f"{day.isoformat()} 不在 {year} 年内", f"{day.isoformat()} is not in year {year}"
            )
        out.add(day)
    return out


@functools.cache
def official_schedule(year: int) -> YearSchedule | None:
    """The State Council's published schedule for `year` from `chinese_calendar`, or None if unknown.

    Holidays are the statutory days off that fall on weekdays; workdays are the weekend
    dates that are working days (调休).
    """
    first, last = date(year, 1, 1), date(year, 12, 31)
    try:
        off = chinese_calendar.get_holidays(first, last, include_weekends=False)
        on = chinese_calendar.get_workdays(first, last, include_weekends=True)
    except NotImplementedError:
        return None
    return YearSchedule(
        year=year,
        holidays=frozenset(d for d in off if d.weekday() < 5),
        workdays=frozenset(d for d in on if d.weekday() >= 5),
        official=True,
        source="official",
    )


def _statutory_days(year: int) -> list[list[date]]:
    """The days off of 全国年节及纪念日放假办法 art. 2 (as amended 2024), one list per holiday.

    Lunar holidays need `lunardate` (lunar years 1900–2099) and Qingming needs the solar
    term table of `chinese_calendar` (1900–2100); outside those ranges only the holidays
    with fixed Gregorian dates are known.
    """
    groups = [
        [date(year, 1, 1)],
        [date(year, 5, 1), date(year, 5, 2)],
        [date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)],
    ]
    try:
        new_year = LunarDate(year, 1, 1).to_solar_date()
        groups.append([new_year + timedelta(days=i) for i in range(-1, 3)])  # eve .. 3rd day
        groups.append([LunarDate(year, 5, 5).to_solar_date()])  # Dragon Boat
        groups.append([LunarDate(year, 8, 15).to_solar_date()])  # Mid-Autumn
    except ValueError:
        pass
    try:
        terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
    except NotImplementedError:
        terms = []
    groups.extend([day] for day, name in terms if name == "清明")
    return [g for g in groups if all(d.year == year for d in g)]


@functools.cache
def provisional_schedule(year: int) -> YearSchedule:
    """A fallback schedule for a year without official data: weekends plus the statutory rules.

    Art. 2 gives the holidays; art. 6 says a holiday that falls on a Saturday or Sunday is
    made up on a working day (补假): here, on the first weekdays after that holiday that
    are not already off. A day on which two holidays coincide is made up the same way.
    There are no adjusted weekend workdays (those are only known once published).
    """
    groups = sorted(_statutory_days(year), key=lambda g: g[-1])
    off: set[date] = set()
    owed: list[tuple[date, int]] = []
    for group in groups:
        missed = sum(1 for d in group if d.weekday() >= 5 or d in off)
        off.update(group)
        if missed:
            owed.append((group[-1], missed))
    for after, missed in owed:
        day = after
        while missed:
            day += _ONE_DAY
            if day.year != year:
                break
            if day.weekday() < 5 and day not in off:
                off.add(day)
                missed -= 1
    return YearSchedule(
        year=year,
        holidays=frozenset(d for d in off if d.weekday() < 5),
        workdays=frozenset(),
        official=False,
        source="provisional",
    )


def _check_date(d: object) -> date:
    # A datetime would silently carry a time zone question (UTC vs China time): refuse it.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date in China local time, got {type(d).__name__}")
    return d


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"a number of days must be a non-negative integer, got {n!r}")
    return n


class WorkingCalendar:
    """Working-day arithmetic over resolved year schedules: override > official > provisional.

    Every count excludes the start day (行政许可法 art. 82 counting). Instances are
    immutable; `with_override` returns a new calendar when an administrator loads a year.
    """

    def __init__(self, overrides: Mapping[int, YearSchedule] | None = None) -> None:
        self._overrides: dict[int, YearSchedule] = {}
        for year, schedule in (overrides or {}).items():
            if schedule.year != year:
                raise CalendarError(
                    "year",
                    f"{year} 年的日历数据写的是 {schedule.year} 年",
                    f"the schedule given for {year} is for {schedule.year}",
                )
            self._overrides[year] = schedule
        self._schedules: dict[int, YearSchedule] = {}
        # year -> sorted ordinals of that year's working days, for bisect lookups
        self._working: dict[int, list[int]] = {}

    @property
    def overrides(self) -> dict[int, YearSchedule]:
        """The administrator-loaded schedules, by year (a copy)."""
        return dict(self._overrides)

    def with_override(self, *schedules: YearSchedule) -> WorkingCalendar:
        """A new calendar with these schedules loaded over the current overrides."""
        merged = dict(self._overrides)
        merged.update((s.year, s) for s in schedules)
        return WorkingCalendar(merged)

    def schedule(self, year: int) -> YearSchedule:
        """The schedule in force for `year`: an override, else official data, else provisional."""
        found = self._schedules.get(year)
        if found is None:
            found = self._overrides.get(year) or official_schedule(year) or provisional_schedule(year)
            self._schedules[year] = found
        return found

    def _working_ordinals(self, year: int) -> list[int]:
        days = self._working.get(year)
        if days is None:
            if not 1 <= year <= 9999:
                raise OverflowError(f"year {year} is out of range")
            s = self.schedule(year)
            holidays = {d.toordinal() for d in s.holidays}
            workdays = {d.toordinal() for d in s.workdays}
            first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
            # (ordinal - 1) % 7 is the weekday: ordinal 1 (0001-01-01) was a Monday
            days = [
                o
                for o in range(first, last + 1)
                if (o in workdays if (o - 1) % 7 >= 5 else o not in holidays)
            ]
            self._working[year] = days
        return days

    def is_working_day(self, d: date) -> bool:
        """True if `d` is a working day: a weekday not a holiday, or a weekend workday (调休)."""
        _check_date(d)
        s = self.schedule(d.year)
        if d.weekday() < 5:
            return d not in s.holidays
        return d in s.workdays

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (start excluded); n=0 returns `start`.

        From Friday 2026-12-04, +1 is Monday 2026-12-07.
        """
        _check_date(start)
        _check_count(n)
        if n == 0:
            return start
        origin, year = start.toordinal(), start.year
        while True:
            days = self._working_ordinals(year)
            i = bisect_right(days, origin)
            if n <= len(days) - i:
                return date.fromordinal(days[i + n - 1])
            n -= len(days) - i
            year += 1

    def working_day_before(self, end: date, n: int) -> date:
        """The n-th working day before `end` (end excluded); n=0 returns `end`.

        From Friday 2026-12-18, 2 back is Wednesday 2026-12-16. When `end` is a working day
        (every due date this module produces is), the result leaves exactly n working days
        after it up to and including `end`: `working_days_between(result, end) == n` and
        `add_working_days(result, n) == end`. So a notice "≤ N working days left" is due
        on `working_day_before(due, N)`.
        """
        _check_date(end)
        _check_count(n)
        if n == 0:
            return end
        origin, year = end.toordinal(), end.year
        while True:
            days = self._working_ordinals(year)
            i = bisect_left(days, origin)  # working days of this year before `end`
            if n <= i:
                return date.fromordinal(days[i - n])
            n -= i
            year -= 1

    #: Same as `working_day_before`.
    subtract_working_days = working_day_before

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in (start, end]; 0 if `end` is not after `start`."""
        _check_date(start)
        _check_date(end)
        if end <= start:
            return 0
        lo, hi = start.toordinal(), end.toordinal()
        total = 0
        for year in range(start.year, end.year + 1):
            days = self._working_ordinals(year)
            total += bisect_right(days, hi) - bisect_right(days, lo)
        return total

    def next_working_day(self, d: date) -> date:
        """`d` itself if it is a working day, else the first working day after it."""
        return d if self.is_working_day(d) else self.add_working_days(d, 1)

    def add_limit(self, start: date, value: int, unit: LimitUnit | str) -> date:
        """The last day of a time limit of `value` units counted from `start` (start excluded).

        Working days: the value-th working day after start. Natural days: start + value
        days, moved to the next working day if that day is a weekend or holiday (a period
        whose last day is a holiday ends on the first working day after it).
        """
        _check_date(start)
        _check_count(value)
        kind = LimitUnit(unit)
        if kind is LimitUnit.WORKING_DAYS:
            return self.add_working_days(start, value)
        if value == 0:
            return start
        return self.next_working_day(start + timedelta(days=value))

    def is_provisional(self, *dates: date) -> bool:
        """True if any year from the earliest to the latest of `dates` has no official schedule: only
        the provisional rules, or an administrator's schedule loaded as not official (`official: false`)."""
        if not dates:
            return False
        years = [_check_date(d).year for d in dates]
        return any(not self.schedule(y).official for y in range(min(years), max(years) + 1))

def load_calendar(session: Session) -> WorkingCalendar:
    """The calendar in force: administrators' overrides, then official data, then provisional rules."""
    rows = session.exec(select(CalendarYear)).all()
    return WorkingCalendar({r.year: YearSchedule.from_json(r.schedule, source="override") for r in rows})
