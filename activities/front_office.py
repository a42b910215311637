"""Front-office activities: `add_limit`, the last day of a limit counted from a day (pre-review,
payment), and `send_appointment_reminder`, which queues an appointment's reminder in the event feed."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlmodel import Session
from temporalio import activity

from activities.calendar import CalendarActivities
from banjian.appointment_reminders import enqueue_reminder
from banjian.catalog import Catalog
from banjian.errors import DomainError
from banjian.items.schema import ItemDefinition
from banjian.pre_review import LimitFrom


class LimitActivities:
    """Takes the calendar activities (their calendar source reads the read model's schedule)."""

    def __init__(self, calendar: CalendarActivities) -> None:
        self.calendar = calendar

    @activity.defn(name="add_limit")
    def add_limit(self, req: LimitFrom) -> date:
        return self.calendar.current().add_limit(req.start, req.limit.value, req.limit.unit)


class ReminderActivities:
    """Takes a session factory and the item catalogue (the reminder names the place of handling)."""

    def __init__(self, session_factory: Callable[[], Session], catalog: Catalog) -> None:
        self.sessions = session_factory
        self.catalog = catalog

    def item_of(self, code: str) -> ItemDefinition | None:
        try:
            return self.catalog.current(code)
        except DomainError:  # no longer offered: the reminder goes without the place
            return None

    @activity.defn(name="send_appointment_reminder")
    def send_appointment_reminder(self, appointment_id: str) -> bool:
        """Queue the reminder of a booking still open (idempotent); False if it was cancelled or moved."""
        with self.sessions() as session:
            return enqueue_reminder(session, appointment_id, datetime.now(UTC), self.item_of)
