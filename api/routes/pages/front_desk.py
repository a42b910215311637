"""The window clerk's front desk on /work: today's appointments and the department's open
consultations and complaints (read from the read model, as the API lists them)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from banjian.appointments import Appointment
from banjian.contracts import Actor
from banjian.enums import Role
from banjian.inquiries import Inquiry
from banjian.timefmt import CHINA

FRONT_DESK_ROWS = 50


def front_desk(sessions: Any, actor: Actor) -> dict[str, Any] | None:
    """Today's bookings and the open inquiries of the clerk's department; None for anyone else."""
    if not actor.has(Role.CLERK) or actor.department is None:
        return None
    today = datetime.now(CHINA).date()
    with sessions() as session:
        bookings = session.exec(select(Appointment).where(
            Appointment.department == actor.department, Appointment.day == today)
            .order_by(col(Appointment.slot)).limit(FRONT_DESK_ROWS)).all()
        inquiries = session.exec(select(Inquiry).where(
            Inquiry.department == actor.department, Inquiry.status == "open")
            .order_by(col(Inquiry.answer_due)).limit(FRONT_DESK_ROWS)).all()
    return {"appointments": [{"slot": b.slot[11:], "item_code": b.item_code, "username": b.username,
                              "status": b.status} for b in bookings],
            "inquiries": [{"id": i.id, "kind": i.kind, "text": i.text[:80], "answer_due": i.answer_due.isoformat(),
                           "warning": i.warning} for i in inquiries]}
