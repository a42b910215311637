"""Window appointments on the case page (预约, the applicant's front office): the whole booking window
day by day (pick a day, then one of its free slots), the caller's open booking for the case with
取消预约 and 改约, and the page routes that book, cancel and reschedule through the API's own
functions (the same checks: one open booking per case, no slot that has begun, capacity)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.routes.appointments import BookingIn, RescheduleIn, book, cancel, move_booking
from api.routes.pages.front_office import _again, _back, _failed, _form, slot_zh
from banjian import appointments as appt
from banjian.appointment_holds import open_bookings
from banjian.contracts import Actor
from banjian.errors import DomainError
from banjian.items.schema import ItemDefinition
from banjian.timefmt import china_date

router = APIRouter(include_in_schema=False)
WEEKDAYS = "一二三四五六日"


def day_zh(day: date) -> str:
    """2026-12-04 → 12月4日 星期五."""
    return f"{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}"


def booked_zh(slot: str, item: ItemDefinition) -> str:
    """A held booking as people read it: 2026-12-04T09:00 → 12月4日 星期五 09:00–10:00 (the end from the
    item's window of that start; the start alone when the window has changed since)."""
    try:
        start = date.fromisoformat(slot[:10]), slot[11:16]
    except ValueError:
        return slot_zh(slot)
    ends = [t.split("-")[1] for t in (item.appointments.times if item.appointments else [])
            if t.split("-")[0] == start[1]]
    return f"{day_zh(start[0])} {start[1]}" + (f"–{ends[0]}" if ends else "")


def booking_panel(request: Request, session: Session, actor: Actor, case: dict[str, Any], item: ItemDefinition,
                  entered_slot: str | None) -> dict[str, Any]:
    """The booking part of the front office: the caller's open bookings for the case (and of the item
    without a case), the days of the booking window that have a free slot, the chosen day (`?slot_day=`,
    else the day of a refused slot, else that of the booking, else the first) and that day's free slots."""
    cases = request.app.state.cases
    now = appt.utcnow()
    today = china_date(now)
    assert item.appointments is not None
    found = [s for s in appt.slots_between(session, item, cases.calendar(session), today,
                                           today + timedelta(days=item.appointments.days_ahead), now)
             if s["free"] > 0]
    free_per_day = Counter(s["date"] for s in found)
    days = [{"value": d, "text": f"{day_zh(date.fromisoformat(d))}（{n} 个时段可约）"}
            for d, n in sorted(free_per_day.items())]
    bookings = [{"id": b.id, "slot": b.slot, "text": booked_zh(b.slot, item), "for_case": b.case_id is not None}
                for b in open_bookings(session, actor.username, item.code, now)
                if b.case_id in (None, case["id"])]
    held = {b["slot"] for b in bookings}
    wanted = [request.query_params.get("slot_day") or "", (entered_slot or "")[:10],
              bookings[0]["slot"][:10] if bookings else ""]
    day = next((d for d in wanted if d in free_per_day), days[0]["value"] if days else None)
    return {"bookings": bookings, "days": days, "day": day, "days_ahead": item.appointments.days_ahead,
            "slot_choices": [{"value": s["slot"], "text": f"{slot_zh(s['slot'])}–{s['end']}（余 {s['free']} 个）"}
                             for s in found if s["date"] == day and s["slot"] not in held],
            # with an open booking the form moves it (改约); one person holds one booking per case
            "moving": bookings[0]["id"] if bookings else None}


@router.post("/cases/{case_id}/book")
async def book_slot(request: Request, case_id: str) -> Response:
    """预约: a window slot for the case (one open booking per case)."""
    actor, form = await _form(request)
    cases = request.app.state.cases
    slot = form.get("slot", "")[:16]
    case = await run_in_threadpool(cases.get, actor, case_id[:40])  # 404 for a case the caller may not see
    if not slot:
        return await _again(request, actor, case_id, "book", "slot", {"slot": slot}, "请选择预约时段", 422)
    body = BookingIn(item_code=case["item_code"], slot=slot, case_id=case["id"])
    return await _done(request, actor, case_id, "booked", {"slot": slot},
                       book(body, actor, request.app.state.catalog, cases))


@router.post("/cases/{case_id}/appointments/{appointment_id}/reschedule")
async def reschedule_slot(request: Request, case_id: str, appointment_id: str) -> Response:
    """改约: move the caller's booking to the slot chosen (the new place is taken before the old is freed)."""
    actor, form = await _form(request)
    cases = request.app.state.cases
    slot = form.get("slot", "")[:16]
    await run_in_threadpool(cases.get, actor, case_id[:40])
    if not slot:
        return await _again(request, actor, case_id, "book", "slot", {"slot": slot}, "请选择新的预约时段", 422)
    return await _done(request, actor, case_id, "rescheduled", {"slot": slot},
                       move_booking(appointment_id[:40], RescheduleIn(slot=slot), actor, request.app.state.catalog,
                                  cases))


@router.post("/cases/{case_id}/appointments/{appointment_id}/cancel")
async def cancel_slot(request: Request, case_id: str, appointment_id: str) -> Response:
    """取消预约: the caller's booking, before its slot begins; its place is free again."""
    actor, _ = await _form(request)
    cases = request.app.state.cases
    await run_in_threadpool(cases.get, actor, case_id[:40])
    return await _done(request, actor, case_id, "cancelled", {},
                       run_in_threadpool(cancel, appointment_id[:40], actor, cases))


async def _done(request: Request, actor: Actor, case_id: str, outcome: str, kept: dict[str, str],
                operation: Awaitable[Any]) -> Response:
    """Run a booking operation of the API: back to the case page with `outcome`, or its refusal shown
    in place beside the slot (`kept`: what was chosen); an unknown case or booking is the 404 page."""
    try:
        await operation
    except DomainError as e:
        if e.status == 404:
            raise _failed(e) from None
        return await _again(request, actor, case_id, "book", "slot", kept, e.message, e.status)
    return _back(case_id, outcome)
