"""Appointment reminders (预约提醒): the day before a booked window slot, one event goes out
through the event feed (banjian/feed.py) to every subscriber — the SMS gateway, the 12345 hotline,
the provincial platform — as its own stream keyed `appt-{appointment id}`, `seq` 1, action
`appointment_reminder`, `case_no` null, `actor` and `role` `system`. A durable timer (workflows/appointment_reminder.py) keeps
the time; a booking cancelled or moved before then is not reminded (the moved one has its own).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, select

from banjian import feed, feed_events
from banjian.appointments import Appointment, appointment_json, slot_start
from banjian.timefmt import CHINA, iso_at

#: when the reminder goes: this time (China time) on the day before the slot
REMIND_AT = time(9, 0)
ACTION = "appointment_reminder"


class ReminderInput(BaseModel):
    """Input of the reminder workflow: which booking, and when to remind."""

    model_config = ConfigDict(extra="forbid")
    appointment_id: str
    remind_at: datetime


def stream_key(appointment_id: str) -> str:
    return f"appt-{appointment_id}"


def reminder_time(slot: str, now: datetime) -> datetime | None:
    """09:00 China time on the day before the slot; at once if booked later than that; None once
    the slot has begun."""
    start = slot_start(slot)
    if start <= now:
        return None
    day_before = start.astimezone(CHINA).date() - timedelta(days=1)
    return max(datetime.combine(day_before, REMIND_AT, tzinfo=CHINA), now)


def enqueue_reminder(session: Session, appointment_id: str, at: datetime) -> bool:
    """Queue the reminder of a booking still open, once (a retry finds it queued). False if the
    booking was cancelled, moved or missed."""
    row = session.get(Appointment, appointment_id)
    if row is None or row.status != "booked":
        return False
    key = stream_key(appointment_id)
    if session.exec(select(feed.Delivery.id).where(feed.Delivery.case_id == key)).first() is not None:
        return True
    data = {**appointment_json(row), "reminder": "您预约的窗口办理时段将于明天开始，请按时到场"}
    extra = feed_events.details(feed_events.case_context(row.item_code, None, row.department), "system",
                                feed_events.SYSTEM, ACTION, None, data)
    feed.enqueue(session, key, None, row.status, [(1, ACTION, iso_at(at) or "", data)], [extra])
    session.commit()
    return True
