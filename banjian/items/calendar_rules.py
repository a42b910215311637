"""Calendar rules: limits a flow cannot meet, judged with the working-day calendar (工作日历).

* ``calendar_cannot_meet``: a limit in natural days is too short for the working days it must
  hold in some period of the calendar: e.g. 5 natural days from 2026-09-30 hold no working day
  (National Day). The periods judged start on every day of the current and the next year (the
  years a new version serves), on the calendar in force (an administrator's schedule, else the
  official one, else the provisional rules); the working days needed are the working-day step
  limits inside it, at least one.

Step limits adding up to more than the promised limit are allowed: a step limit is a ceiling for
one step, watched by the yellow card `step_overdue`; the promised limit watches the whole. The
author is warned (`limit_advice`, a draft's `warnings`), not refused.
"""

from __future__ import annotations

from datetime import date, timedelta

from banjian.calendar import WorkingCalendar
from banjian.enums import LimitUnit
from banjian.items.problems import Collector, fmt_en, fmt_zh
from banjian.items.schema import ItemDefinition, Limit, Step


def _working_step_sum(steps: list[Step]) -> int:
    return sum(s.limit.value for s in steps if s.limit is not None and s.limit.unit == LimitUnit.WORKING_DAYS)


def fewest_working_days(cal: WorkingCalendar, natural_days: int, years: tuple[int, ...]) -> tuple[int, date]:
    """The fewest working days any period of `natural_days` natural days holds (start day excluded),
    over periods starting in `years`, and the first start day that has that few."""
    first, last = date(min(years), 1, 1), date(max(years), 12, 31)
    span = (last - first).days + natural_days + 1
    flags = [cal.is_working_day(first + timedelta(days=i)) for i in range(span)]
    prefix = [0]
    for f in flags:
        prefix.append(prefix[-1] + f)
    best, at = natural_days + 1, first
    for s in range((last - first).days + 1):
        # days s+1 .. s+natural_days after `first`
        n = prefix[s + natural_days + 1] - prefix[s + 1]
        if n < best:
            best, at = n, first + timedelta(days=s)
    return best, at


def check_calendar(out: Collector, d: ItemDefinition, cal: WorkingCalendar | None, today: date | None = None) -> None:
    """Natural-day limits hold the working days they need in every period of the calendar."""
    if cal is None:
        return
    year = (today or date.today()).year
    years = (year, year + 1)

    def check(path: str, limit: Limit | None, need: int) -> None:
        if limit is None or limit.unit != LimitUnit.NATURAL_DAYS or limit.value == 0:
            return
        fewest, at = fewest_working_days(cal, limit.value, years)
        if fewest < max(need, 1):
            out.add(
                path,
                "calendar_cannot_meet",
                f"{fmt_zh(limit)}在部分时段内只有 {fewest} 个工作日（如自 {at.isoformat()} 起），"
                f"不足所需的 {max(need, 1)} 个工作日",
                f"{fmt_en(limit)} hold only {fewest} working day(s) in some periods (e.g. from {at.isoformat()}), "
                f"fewer than the {max(need, 1)} needed",
            )

    check("promised_limit", d.promised_limit, _working_step_sum(d.steps))
    for i, step in enumerate(d.steps):
        check(f"steps[{i}].limit", step.limit, 1)
    for i, part in enumerate(d.participants):
        check(f"participants[{i}].sub_limit", part.sub_limit, _working_step_sum(part.steps))
        for j, step in enumerate(part.steps):
            check(f"participants[{i}].steps[{j}].limit", step.limit, 1)
