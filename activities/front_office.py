"""Front-office activities: `add_limit`, the last day of a limit counted from a day (pre-review)."""
from __future__ import annotations

from datetime import date

from temporalio import activity

from activities.calendar import CalendarActivities
from banjian.pre_review import LimitFrom


class LimitActivities:
    """Takes the calendar activities (their calendar source reads the read model's schedule)."""

    def __init__(self, calendar: CalendarActivities) -> None:
        self.calendar = calendar

    @activity.defn(name="add_limit")
    def add_limit(self, req: LimitFrom) -> date:
        return self.calendar.current().add_limit(req.start, req.limit.value, req.limit.unit)
