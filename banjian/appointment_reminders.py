"""Appointment reminders (预约提醒): the day before a booked window slot, one event goes out
through the event feed (banjian/feed.py) to every subscriber — the SMS gateway, the 12345 hotline,
the provincial platform — as its own stream keyed `appt-{appointment id}`, `seq` 1, action
`appointment_reminder`, `case_no` null, `actor` and `role` `system`. A durable timer (workflows/appointment_reminder.py) keeps
the time; a booking cancelled or moved before then is not reminded (the moved one has its own).
The reminder says when and where, so that an SMS gateway can send it as it is: the slot's day and
times in China time, the item, and the place of handling (the item definition's `location`, else its
implementing body), in its text and as fields of its own.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, select

from banjian import feed, feed_events
from banjian.appointments import Appointment, appointment_json, slot_start, slot_window
from banjian.items.schema import ItemDefinition
from banjian.timefmt import CHINA, iso_at
from banjian.zh_quotes import quoted

#: when the reminder goes: this time (China time) on the day before the slot
REMIND_AT = time(9, 0)
ACTION = "appointment_reminder"
WEEKDAYS = "一二三四五六日"
#: the item definition of a code as it is now (None if no longer offered)
ItemLookup = Callable[[str], ItemDefinition | None]


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


def reminder_data(row: Appointment, item: ItemDefinition | None) -> dict[str, Any]:
    """The reminder's fields beside the booking: when (China time) and where, and its text."""
    start, end = slot_window(item, row.slot)
    day = row.day
    begins = slot_start(row.slot)
    ends = datetime.combine(day, time.fromisoformat(end), CHINA) if end else None
    place = (item.location or item.implementing_body.name) if item is not None else None
    name = item.name if item is not None else row.item_code
    when = f"{day.year}年{day.month}月{day.day}日（星期{WEEKDAYS[day.weekday()]}）{start}" + (f"—{end}" if end else "")
    text = (f"您预约了{quoted(name)}窗口办理，时间：{when}" + (f"，地点：{place}" if place else "")
            + "。请携带所需材料按时到场；如不能到场，请提前取消或改约。")
    return {"item_name": name, "starts_at": iso_at(begins), "ends_at": iso_at(ends),
            "time": f"{start}-{end}" if end else start, "place": place, "reminder": text}


def enqueue_reminder(session: Session, appointment_id: str, at: datetime, item_of: ItemLookup) -> bool:
    """Queue the reminder of a booking still open, once (a retry finds it queued). False if the
    booking was cancelled, moved or missed."""
    row = session.get(Appointment, appointment_id)
    if row is None or row.status != "booked":
        return False
    key = stream_key(appointment_id)
    if session.exec(select(feed.Delivery.id).where(feed.Delivery.case_id == key)).first() is not None:
        return True
    item = item_of(row.item_code)
    data = {**appointment_json(row), **reminder_data(row, item)}
    extra = feed_events.details(feed_events.case_context(row.item_code, item.name if item else None, row.department),
                                "system", feed_events.SYSTEM, ACTION, None, data)
    feed.enqueue(session, key, None, row.status, [(1, ACTION, iso_at(at) or "", data)], [extra])
    session.commit()
    return True
