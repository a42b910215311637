"""Working-day arithmetic for the workflows (期限计算), as activities.

Deadlines are computed here, never in workflow code, so that loading a new holiday
schedule cannot break the replay of running cases: the result of each computation is in
the workflow's history, and a calendar change reaches a workflow as a `recompute` update.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from sqlmodel import Session, func, select
from temporalio import activity

from banjian.activity_contracts import PauseRequest, PlanRequest
from banjian.calendar import WorkingCalendar, load_calendar
from banjian.contracts import Deadlines
from banjian.db import CalendarYear
from banjian.enums import LimitUnit


def plan(cal: WorkingCalendar, req: PlanRequest) -> Deadlines:
    """Every due date of a case from the days its clocks started on (start day excluded)."""
    touched: list[date] = [req.received_on]
    out: dict = {"acceptance_due": cal.add_limit(req.received_on, req.acceptance_limit.value,
                                                 req.acceptance_limit.unit)}
    touched.append(out["acceptance_due"])
    if req.accepted_on is not None and req.promised_limit and req.statutory_limit:
        out["promised_due"] = extended(cal, cal.add_limit(req.accepted_on, req.promised_limit.value,
                                                           req.promised_limit.unit), req)
        out["statutory_due"] = extended(cal, cal.add_limit(req.accepted_on, req.statutory_limit.value,
                                                            req.statutory_limit.unit), req)
        out["notice_on"] = cal.working_day_before(out["promised_due"], req.notice_days)
        touched += [out["promised_due"], out["statutory_due"]]
    if req.step_started_on is not None and req.step_limit is not None:
        step_due = cal.add_limit(req.step_started_on, req.step_limit.value, req.step_limit.unit)
        if req.step_extra_working_days:
            step_due = cal.add_working_days(step_due, req.step_extra_working_days)
        out["step_due"] = step_due
        touched.append(step_due)
    if req.decided_on is not None and req.delivery_limit is not None:
        out["delivery_due"] = cal.add_limit(req.decided_on, req.delivery_limit.value, req.delivery_limit.unit)
        touched.append(out["delivery_due"])
    return Deadlines(**out, provisional=cal.is_provisional(*touched))


def extended(cal: WorkingCalendar, due: date, req: PlanRequest) -> date:
    """A limit's last day moved by a granted extension in natural days (from that day, onto a working
    day as every natural-day period ends), then by the working days of extensions and pauses."""
    if req.extension_natural_days:
        due = cal.add_limit(due, req.extension_natural_days, LimitUnit.NATURAL_DAYS)
    return cal.add_working_days(due, req.extra_working_days) if req.extra_working_days else due


@cache
def _stamp_query() -> Any:
    """How many years are loaded, and when the latest was: built once (Core, on the connection)."""
    return select(func.count(), func.max(CalendarYear.loaded_at))  # type: ignore[arg-type]


class CalendarSource:
    """The calendar in force, loaded again only when the administrators' schedules changed: a plan
    costs one small query (how many years, loaded when) instead of reading and parsing every year."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self._cached: tuple[tuple, WorkingCalendar] | None = None

    def __call__(self, session: Session | None = None) -> WorkingCalendar:
        """The calendar, checked in `session` if given (a caller's open session saves a connection)."""
        if session is None:
            with self.session_factory() as own:
                return self(own)
        stamp = tuple(session.connection().execute(_stamp_query()).one())
        cached = self._cached
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cal = load_calendar(session)
        self._cached = (stamp, cal)  # one assignment: threads see the old pair or the new one
        return cal


class CalendarActivities:
    """Deadline activities; the constructor takes the session factory of the read model."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self.current = CalendarSource(session_factory)

    def _calendar(self) -> WorkingCalendar:
        return self.current()

    @activity.defn(name="plan_deadlines")
    def plan_deadlines(self, req: PlanRequest) -> Deadlines:
        """Due dates for acceptance, promised and statutory limits, the current step and delivery."""
        return plan(self._calendar(), req)

    @activity.defn(name="count_working_days")
    def count_working_days(self, req: PauseRequest) -> int:
        """Working days in (start, end]: how far a pause pushes the deadlines."""
        return self._calendar().working_days_between(req.start, req.end)
