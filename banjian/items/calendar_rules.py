"""Calendar rules: limits a flow cannot meet, judged with the working-day calendar (工作日历).

* ``steps_exceed_limit``: the step limits of a flow add up to more than the limit they share (the
  promised limit; for a joint item, its parent steps plus the longest participant's sub-limit; for
  a participant, its sub-limit). A case whose every step uses its own limit misses the promise.
  Natural-day step limits count as working days by the rule of `problems.to_working_days`.
* ``calendar_cannot_meet``: a limit in natural days is too short for the working days it must
  hold in some period of the calendar: e.g. 5 natural days from 2026-09-30 hold no working day
  (National Day). The periods judged start on every day of the current and the next year (the
  years a new version serves), on the calendar in force (an administrator's schedule, else the
  official one, else the provisional rules); the working days needed are the working-day step
  limits inside it, at least one.
"""

from __future__ import annotations

from datetime import date, timedelta

from banjian.calendar import WorkingCalendar
from banjian.enums import ItemKind, LimitUnit
from banjian.items.problems import Collector, fmt_en, fmt_zh, to_working_days
from banjian.items.schema import ItemDefinition, Limit, Step


def _step_sum(steps: list[Step]) -> int:
    return sum(to_working_days(s.limit) for s in steps if s.limit is not None)


def _working_step_sum(steps: list[Step]) -> int:
    return sum(s.limit.value for s in steps if s.limit is not None and s.limit.unit == LimitUnit.WORKING_DAYS)


def check_step_sums(out: Collector, d: ItemDefinition) -> None:
    """The step limits of each flow fit in the limit they share (see the module doc)."""

    def check(path: str, total: int, cap: Limit, what_zh: str, what_en: str) -> None:
        if total > to_working_days(cap):
            out.add(
                path,
                "steps_exceed_limit",
                f"各环节时限合计 {total} 个工作日，超过{what_zh} {fmt_zh(cap)}",
                f"the step limits add up to {total} working days, more than the {what_en} of {fmt_en(cap)}",
            )

    if d.kind != ItemKind.JOINT:
        check("steps", _step_sum(d.steps), d.promised_limit, "承诺办结时限", "promised limit")
        return
    longest = max((to_working_days(p.sub_limit) for p in d.participants), default=0)
    check("steps", _step_sum(d.steps) + longest, d.promised_limit, "承诺办结时限", "promised limit")
    for i, part in enumerate(d.participants):
        check(f"participants[{i}].steps", _step_sum(part.steps), part.sub_limit, "部门办理时限",
              "participant's sub-limit")


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
