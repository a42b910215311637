"""Window appointments (预约): the slots an item offers, their free capacity, and atomic booking.

A slot is named `YYYY-MM-DDTHH:MM` (its day and start time, China time). Capacity is kept in
`slot_counts`, one row per (item, slot), changed only by a conditional update
(`booked = booked + 1 WHERE booked < capacity`): of any number of concurrent bookings at most
`capacity` succeed, on SQLite (writes serialise) and PostgreSQL (the row lock re-checks the
condition) alike. Bookings, cancellations, reschedules and no-shows are rows of `appointments`;
`status = 'no_show'` is what the supervision figures count. A slot that has begun (China time) is
neither listed nor bookable. Who may hold how many open bookings: banjian/appointment_holds.py.
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.calendar import WorkingCalendar
from banjian.errors import Conflict, Invalid, NotFound
from banjian.items.schema import AppointmentSlots, ItemDefinition
from banjian.timefmt import CHINA, china_date, iso_at

MAX_RANGE_DAYS = 31
#: every status a booking can have
STATUSES = ("booked", "cancelled", "rescheduled", "no_show")


class SlotCount(SQLModel, table=True):
    """How many places of one slot are taken."""

    __tablename__ = "slot_counts"
    item_code: str = Field(primary_key=True, max_length=64)
    slot: str = Field(primary_key=True, max_length=16)
    booked: int = 0


class Appointment(SQLModel, table=True):
    """One booking of a window slot."""

    __tablename__ = "appointments"
    id: str = Field(primary_key=True, max_length=40)
    item_code: str = Field(index=True, max_length=64)
    department: str = Field(index=True, max_length=32)
    slot: str = Field(max_length=16)
    day: date = Field(index=True)
    username: str = Field(index=True, max_length=64)
    case_id: str | None = Field(default=None, index=True, max_length=40,
                                description="the case the booking is for; None: booked for the item alone")
    status: str = Field(index=True, max_length=20, description="booked, cancelled, rescheduled, no_show")
    rescheduled_to: str | None = Field(default=None, max_length=40)
    created_at: datetime
    changed_at: datetime
    changed_by: str | None = Field(default=None, max_length=64)


def parse_slot(slot: str) -> tuple[date, str]:
    """(day, "HH:MM") of a slot name; 422 if it is not one."""
    try:
        at = datetime.strptime(slot, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise Invalid("bad_slot", "预约时段格式应为 YYYY-MM-DDTHH:MM", "a slot is YYYY-MM-DDTHH:MM", "slot") from None
    return at.date(), slot[11:]


def slot_start(slot: str) -> datetime:
    """The instant a slot begins (its name is China time)."""
    day, hhmm = parse_slot(slot)
    return datetime.combine(day, time.fromisoformat(hhmm), CHINA)


def spec_of(item: ItemDefinition) -> AppointmentSlots:
    if item.appointments is None:
        raise Invalid("no_appointments", "该事项不提供预约", "the item offers no appointments", "item_code")
    return item.appointments


def check_slot(item: ItemDefinition, calendar: WorkingCalendar, slot: str, now: datetime) -> date:
    """422 unless `slot` is one the item offers, on a working day, in the booking window."""
    spec = spec_of(item)
    day, hhmm = parse_slot(slot)
    window = next((t for t in spec.times if t.startswith(hhmm + "-")), None)
    if window is None:
        raise Invalid("no_such_slot", "该时段不在可预约时间内", "the item offers no slot at that time", "slot")
    if not calendar.is_working_day(day):
        raise Invalid("not_working_day", "该日为节假日或休息日，不可预约", "the day is not a working day", "slot")
    today = china_date(now)
    if slot_start(slot) <= now:
        raise Invalid("slot_passed", f"该时段（{slot_text(slot)}）已开始或已过去，请选择其他时段",
                      f"the slot {slot} has already begun (China time); choose a later one", "slot")
    if day > today + timedelta(days=spec.days_ahead):
        raise Invalid("slot_out_of_range", f"只能预约未来 {spec.days_ahead} 天内的时段",
                      f"slots can be booked up to {spec.days_ahead} days ahead", "slot")
    return day


def slot_text(slot: str) -> str:
    """2026-12-04T09:00 → 2026年12月4日 09:00 (how people read a slot)."""
    day, hhmm = parse_slot(slot)
    return f"{day.year}年{day.month}月{day.day}日 {hhmm}"


def slot_window(item: ItemDefinition | None, slot: str) -> tuple[str, str | None]:
    """(start, end) "HH:MM" of a slot by the item's times; end None when the item no longer offers it."""
    hhmm = parse_slot(slot)[1]
    times = item.appointments.times if item is not None and item.appointments is not None else []
    window = next((t for t in times if t.startswith(hhmm + "-")), None)
    return hhmm, (window.split("-")[1] if window else None)


def free_slots(session: Session, item: ItemDefinition, calendar: WorkingCalendar, since: date,
               until: date, now: datetime) -> list[dict[str, Any]]:
    """Every slot of the working days in [since, until] that has not begun by `now` and lies in the
    booking window (`days_ahead`), with its capacity and free places; 422 for a range longer than
    MAX_RANGE_DAYS."""
    spec_of(item)
    if until < since or (until - since).days > MAX_RANGE_DAYS:
        raise Invalid("bad_range", f"查询范围须为 0–{MAX_RANGE_DAYS} 天", f"the range is 0-{MAX_RANGE_DAYS} days", "to")
    return slots_between(session, item, calendar, since, until, now)


def slots_between(session: Session, item: ItemDefinition, calendar: WorkingCalendar, since: date,
                  until: date, now: datetime) -> list[dict[str, Any]]:
    """`free_slots` without the bound on the range (the case page lists the whole booking window)."""
    spec = spec_of(item)
    since = max(since, china_date(now))  # a slot that has begun is not offered
    until = min(until, china_date(now) + timedelta(days=spec.days_ahead))  # nor one beyond the booking window
    current = now.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")
    taken = {r.slot: r.booked for r in session.exec(select(SlotCount).where(
        SlotCount.item_code == item.code, col(SlotCount.slot) >= since.isoformat(),
        col(SlotCount.slot) < (until + timedelta(days=1)).isoformat())).all()}
    out = []
    day = since
    while day <= until:
        if calendar.is_working_day(day):
            for t in spec.times:
                start, end = t.split("-")
                name = f"{day.isoformat()}T{start}"
                if name <= current:  # began already (names are China time, minute precision)
                    continue
                booked = taken.get(name, 0)
                out.append({"slot": name, "date": day.isoformat(), "start": start, "end": end,
                            "capacity": spec.capacity, "booked": booked, "free": max(spec.capacity - booked, 0)})
        day += timedelta(days=1)
    return out


def take_place(session: Session, item: ItemDefinition, slot: str) -> None:
    """Take one place of `slot` inside the caller's transaction; 409 when it is full."""
    capacity = spec_of(item).capacity
    table = SlotCount.__table__  # type: ignore[attr-defined]
    open_counter(session, item.code, slot)
    taken = session.execute(update(table).where(table.c.item_code == item.code, table.c.slot == slot,
                                                table.c.booked < capacity).values(booked=table.c.booked + 1))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise full()


def open_counter(session: Session, item_code: str, slot: str) -> None:
    """Make sure the slot's counter row exists (a write: on SQLite, the transaction's first statement
    takes the write lock, so what it reads afterwards no other booking can change)."""
    table = SlotCount.__table__  # type: ignore[attr-defined]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(table).values(item_code=item_code, slot=slot, booked=0)
                    .on_conflict_do_nothing(index_elements=[table.c.item_code, table.c.slot]))


def free_place(session: Session, item_code: str, slot: str) -> None:
    """Give back one place of `slot` (a cancellation or a reschedule), inside the caller's transaction."""
    table = SlotCount.__table__  # type: ignore[attr-defined]
    session.execute(update(table).where(table.c.item_code == item_code, table.c.slot == slot, table.c.booked > 0)
                    .values(booked=table.c.booked - 1))


def appointment_json(row: Appointment) -> dict[str, Any]:
    return {"id": row.id, "item_code": row.item_code, "department": row.department, "slot": row.slot,
            "date": row.day.isoformat(), "case_id": row.case_id, "status": row.status, "username": row.username,
            "rescheduled_to": row.rescheduled_to, "created_at": iso_at(row.created_at),
            "changed_at": iso_at(row.changed_at)}


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)


def get(session: Session, appointment_id: str) -> Appointment:
    row = session.get(Appointment, appointment_id)
    if row is None:
        raise NotFound("appointment_not_found", "预约不存在", "no such appointment", "id")
    return row


def full() -> Conflict:
    return Conflict("slot_full", "该时段已约满", "the slot is fully booked", "slot")
