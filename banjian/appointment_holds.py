"""How many window appointments one person may hold (预约占号): no hoarding of places.

A booking is *open* while its status is `booked` and its slot has not begun (China time). One
person holds at most
- one open booking per case (a booking made for a case, `case_id` set), and
- one open booking per item without a case (`case_id` None: booked before applying, or for an
  item that needs no case);
a booking for a case is also refused while the person holds an open booking of the same item
without a case (the same visit: that booking is to be moved or cancelled instead). The same slot is
never held twice by one person. To change a booking, reschedule or cancel it.

The checks run inside the booking's writing transaction, after `lock_person`: on PostgreSQL a
transaction-scoped advisory lock per person serialises one person's bookings; on SQLite the
transaction's first statement writes (`appointments.take_place` inserts the slot's counter row),
so writers are serialised by the database and the check reads what every earlier booking committed.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from banjian.appointments import Appointment, slot_text
from banjian.errors import Conflict
from banjian.timefmt import CHINA


def lock_person(session: Session, username: str) -> None:
    """Serialise one person's bookings until the transaction ends (PostgreSQL; SQLite's writes are
    serialised by the database itself)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"appointments:{username}"})


def open_bookings(session: Session, username: str, item_code: str, now: datetime) -> list[Appointment]:
    """The person's open bookings of an item (status booked, slot not begun), by slot."""
    current = now.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")
    return list(session.exec(select(Appointment).where(
        Appointment.username == username, Appointment.item_code == item_code, Appointment.status == "booked",
        col(Appointment.slot) > current).order_by(col(Appointment.slot))).all())


def refuse_second_booking(session: Session, username: str, item_code: str, case_id: str | None, slot: str,
                          now: datetime) -> None:
    """409 if the person already holds `slot`, or an open booking of the same case (or of the item
    without a case) — they change that one instead."""
    mine = open_bookings(session, username, item_code, now)
    if any(b.slot == slot for b in mine):
        raise same_slot(slot)
    row = next((b for b in mine if b.case_id is None or b.case_id == case_id), None)
    if row is not None:
        whose = ("本办件" if row.case_id is not None else "该事项", "this case" if row.case_id else "this item")
        raise Conflict("already_booked",
                       f"您已预约{whose[0]}的窗口时段（{slot_text(row.slot)}），每人只能保留一个预约；"
                       "如需调整，请改约或取消原预约",
                       f"you already hold an appointment for {whose[1]} ({row.slot}, id {row.id}); "
                       "one per person: reschedule or cancel it instead",
                       "case_id" if case_id is not None else "item_code")


def refuse_same_slot(session: Session, username: str, item_code: str, slot: str, now: datetime) -> None:
    """409 if the person already holds an open booking of this very slot (also when rescheduling to
    the slot the booking already has)."""
    if any(b.slot == slot for b in open_bookings(session, username, item_code, now)):
        raise same_slot(slot)


def same_slot(slot: str) -> Conflict:
    return Conflict("slot_already_booked", f"您已预约该时段（{slot_text(slot)}），无需重复预约",
                    f"you already hold the slot {slot}", "slot")


def link_to_case(session: Session, username: str, item_code: str, case_id: str, now: datetime) -> str | None:
    """A person who booked a window slot for an item and then applies for it: their open booking of the
    item without a case becomes the new case's (the same visit), so the case page, the clerk's desk
    and the reminder name it. Returns the booking's id, or None when there was none to link."""
    loose = next((b for b in open_bookings(session, username, item_code, now) if b.case_id is None), None)
    if loose is None:
        return None
    table = Appointment.__table__  # type: ignore[attr-defined]
    session.execute(update(table).where(table.c.id == loose.id, table.c.case_id.is_(None))
                    .values(case_id=case_id))
    session.commit()
    return loose.id
