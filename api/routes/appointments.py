"""Window appointments (预约): free slots of an item, book, cancel, reschedule, record a no-show."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, func, select
from starlette.concurrency import run_in_threadpool

from api.bodies import body_doc, json_body
from api.bounds import Offset, one_of
from api.deps import CasesDep, CatalogDep, CurrentUser, require
from api.service import CaseService
from banjian import appointments as appt
from banjian.appointment_holds import lock_person, refuse_same_slot, refuse_second_booking
from banjian.appointment_reminders import ReminderInput, reminder_time
from banjian.appointments import Appointment
from banjian.catalog import Catalog
from banjian.contracts import Actor
from banjian.db import Case
from banjian.enums import CLOSED, STAFF_ROLES, Role
from banjian.errors import Conflict, Forbidden, Invalid, NotFound
from banjian.timefmt import china_date
from workflows.appointment_reminder import AppointmentReminderWorkflow, reminder_workflow_id

router = APIRouter(prefix="/api", tags=["appointments"])
FIRST_DAY, LAST_DAY = date(1949, 10, 1), date(2100, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)]
AppointmentId = Annotated[str, Path(min_length=1, max_length=40)]
READ_ALL = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


class BookingIn(BaseModel):
    """POST /api/appointments."""

    model_config = ConfigDict(extra="forbid")
    item_code: str = Field(min_length=1, max_length=64)
    slot: str = Field(min_length=1, max_length=16, description="YYYY-MM-DDTHH:MM")
    case_id: str | None = Field(default=None, min_length=1, max_length=40,
                                description="the caller's open case of the item the visit is for")


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slot: str = Field(min_length=1, max_length=16)


async def start_reminder(cases: CaseService, appointment_id: str, slot: str) -> None:
    """Start the booking's reminder: a durable timer until the day before the slot (预约提醒)."""
    at = reminder_time(slot, appt.utcnow())
    if at is None:
        return
    await cases.client.start_workflow(AppointmentReminderWorkflow.run,
                                      ReminderInput(appointment_id=appointment_id, remind_at=at),
                                      id=reminder_workflow_id(appointment_id), task_queue=cases.settings.task_queue)


@router.get("/items/{code}/slots")
def slots(code: Annotated[str, Path(min_length=1, max_length=64)], _: CurrentUser, catalog: CatalogDep,
          cases: CasesDep, from_: Annotated[date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
          to: Day = None) -> dict:
    """The item's slots on the working days of [from, to] (default: today and the booking window);
    a slot that has begun (China time) is not listed."""
    item = catalog.current(code)
    spec = appt.spec_of(item)
    now = appt.utcnow()
    since = from_ or china_date(now)
    until = to or since + timedelta(days=spec.days_ahead)
    with cases.sessions() as session:
        calendar = cases.calendar(session)
        return {"item_code": code, "slots": appt.free_slots(session, item, calendar, since, until, now)}


@router.post("/appointments", status_code=201)
async def book(body: BookingIn, actor: CurrentUser, catalog: CatalogDep, cases: CasesDep) -> JSONResponse:
    """Book a place (an applicant): 422 for a slot not offered (a holiday, a past or far slot), 409 when full
    or when the caller already holds this slot or an open booking of the case (or of the item).
    The day before the slot a reminder goes out through the event feed (`appointment_reminder`)."""
    booked = await run_in_threadpool(_book, body, actor, catalog, cases)
    await start_reminder(cases, booked["id"], booked["slot"])
    return JSONResponse(booked, status_code=201)


def _book(body: BookingIn, actor: Actor, catalog: Catalog, cases: CaseService) -> dict:
    require(actor, Role.APPLICANT)
    item = catalog.current(body.item_code)
    now = appt.utcnow()
    with cases.sessions() as session:
        if body.case_id is not None:
            _check_case(cases, session, actor, body.case_id, item.code)
        day = appt.check_slot(item, cases.calendar(session), body.slot, now)
    with cases.sessions() as session:  # a fresh transaction whose first statement writes (SQLite)
        lock_person(session, actor.username)
        appt.open_counter(session, item.code, body.slot)
        refuse_second_booking(session, actor.username, item.code, body.case_id, body.slot, now)
        appt.take_place(session, item, body.slot)
        row = Appointment(id=appt.new_id(), item_code=item.code, department=item.department, slot=body.slot, day=day,
                          username=actor.username, case_id=body.case_id, status="booked", created_at=now,
                          changed_at=now, changed_by=actor.username)
        session.add(row)
        session.commit()
        return appt.appointment_json(row)


def _check_case(cases: CaseService, session, actor: Actor, case_id: str, item_code: str) -> None:
    """The case a booking is for: the caller's own (404 otherwise), of the item (422), still open (409)."""
    row = session.get(Case, cases.view(session, actor, case_id).id)
    if row is None or row.applicant_username != actor.username or row.parent_id is not None:
        raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="case_id")
    if row.status in CLOSED:
        raise Conflict("case_closed", "该办件已办结或终止，不能再预约", "the case is closed: nothing to book for",
                       "case_id")
    if row.item_code != item_code:
        raise Invalid("case_item_mismatch", "该办件不是所预约事项的办件", "the case is not of the item booked",
                      "case_id")


@router.get("/appointments")
def list_appointments(actor: CurrentUser, cases: CasesDep,
                      scope: Annotated[Literal["mine", "department"], Query()] = "mine", day: Day = None,
                      status: Annotated[str | None, Query(max_length=20)] = None,
                      limit: int = Query(100, ge=1, le=500), offset: Offset = 0) -> dict:
    """`mine`: the caller's bookings; `department`: the department's bookings of `day` (default today).
    `status` is one of booked, cancelled, rescheduled, no_show (422 `invalid_choice` otherwise)."""
    where: list = []
    if scope == "mine":
        where.append(Appointment.username == actor.username)
        if day:
            where.append(Appointment.day == day)
    else:
        if not (actor.has(*STAFF_ROLES) or actor.has(*READ_ALL)):
            raise Forbidden("forbidden_role", "只有部门工作人员可查看部门预约", "only a department's staff")
        if actor.department is not None:
            where.append(Appointment.department == actor.department)
        where.append(Appointment.day == (day or china_date(appt.utcnow())))
    status = one_of("status", status, appt.STATUSES)  # after the role check: 403 before 422
    if status:
        where.append(Appointment.status == status)
    with cases.sessions() as session:
        total = session.exec(select(func.count()).select_from(Appointment).where(*where)).one()
        rows = session.exec(select(Appointment).where(*where).order_by(col(Appointment.slot), col(Appointment.id))
                            .offset(offset).limit(limit)).all()
    return {"items": [appt.appointment_json(r) for r in rows], "total": total}


def _visible(actor: Actor, row: Appointment) -> bool:
    if row.username == actor.username:
        return True
    if actor.has(*READ_ALL) and actor.department in (None, row.department):
        return True
    return actor.has(*STAFF_ROLES) and actor.department == row.department


def _may_change(appointment_id: str, actor: Actor, cases: CaseService) -> None:
    with cases.sessions() as session:
        _own_booking(session, actor, appointment_id)


def _own_booking(session, actor: Actor, appointment_id: str) -> Appointment:
    row = session.get(Appointment, appointment_id)
    if row is None or not _visible(actor, row):
        raise NotFound("appointment_not_found", "预约不存在", "no such appointment", "id")
    if row.username != actor.username:
        raise Forbidden("forbidden_role", "只有预约人可以取消或改约", "only the person who booked may change it")
    if row.status != "booked" or appt.slot_start(row.slot) <= appt.utcnow():
        raise Conflict("appointment_not_open", "该预约已取消、改约或已过时段", "the appointment is no longer open")
    return row


@router.post("/appointments/{appointment_id}/cancel")
def cancel(appointment_id: AppointmentId, actor: CurrentUser, cases: CasesDep) -> dict:
    """Cancel a booking before its slot begins (the one who booked): its place is free again."""
    with cases.sessions() as session:
        row = _own_booking(session, actor, appointment_id)
        appt.free_place(session, row.item_code, row.slot)
        row.status, row.changed_at, row.changed_by = "cancelled", appt.utcnow(), actor.username
        session.add(row)
        session.commit()
        return appt.appointment_json(row)


@router.post("/appointments/{appointment_id}/reschedule", status_code=201, openapi_extra=body_doc(RescheduleIn))
async def reschedule(appointment_id: AppointmentId, request: Request, actor: CurrentUser, catalog: CatalogDep,
                     cases: CasesDep) -> JSONResponse:
    """Move a booking to another slot in one transaction: the new place is taken (409 when full)
    before the old one is given back. Answers the new booking (reminded on its own day before); the
    old one is `rescheduled` (and not reminded)."""
    await run_in_threadpool(_may_change, appointment_id, actor, cases)  # 404, 403, 409 before a bad body's 422
    body = await json_body(request, RescheduleIn)
    return JSONResponse(await move_booking(appointment_id, body, actor, catalog, cases), status_code=201)


async def move_booking(appointment_id: str, body: RescheduleIn, actor: Actor, catalog: Catalog,
                       cases: CaseService) -> dict:
    """The reschedule itself, for the API route and the booking pages: the new booking, reminded."""
    moved = await run_in_threadpool(_reschedule, appointment_id, body, actor, catalog, cases)
    await start_reminder(cases, moved["id"], moved["slot"])
    return moved


def _reschedule(appointment_id: str, body: RescheduleIn, actor: Actor, catalog: Catalog,
                cases: CaseService) -> dict:
    now = appt.utcnow()
    with cases.sessions() as session:
        old = _own_booking(session, actor, appointment_id)
        item = catalog.current(old.item_code)
        day = appt.check_slot(item, cases.calendar(session), body.slot, now)
    with cases.sessions() as session:
        lock_person(session, actor.username)
        appt.open_counter(session, item.code, body.slot)
        old = _own_booking(session, actor, appointment_id)  # re-read inside the writing transaction
        refuse_same_slot(session, actor.username, item.code, body.slot, now)  # also the slot it has
        appt.take_place(session, item, body.slot)
        appt.free_place(session, old.item_code, old.slot)
        new = Appointment(id=appt.new_id(), item_code=item.code, department=item.department, slot=body.slot, day=day,
                          username=actor.username, case_id=old.case_id, status="booked", created_at=now,
                          changed_at=now, changed_by=actor.username)
        old.status, old.rescheduled_to, old.changed_at, old.changed_by = "rescheduled", new.id, now, actor.username
        session.add(old)
        session.add(new)
        session.commit()
        return appt.appointment_json(new)


@router.post("/appointments/{appointment_id}/no_show")
def no_show(appointment_id: AppointmentId, actor: CurrentUser, cases: CasesDep) -> dict:
    """Record that the person did not come (a clerk of the department, once the slot has begun)."""
    with cases.sessions() as session:
        row = session.get(Appointment, appointment_id)
        if row is None or not _visible(actor, row):
            raise NotFound("appointment_not_found", "预约不存在", "no such appointment", "id")
        if not (actor.has(Role.CLERK) and actor.department == row.department):
            raise Forbidden("forbidden_role", "只有本部门窗口人员可登记爽约", "only the department's clerk")
        if row.status != "booked" or appt.slot_start(row.slot) > appt.utcnow():
            raise Conflict("appointment_not_due", "该预约未到时段或已不是待办状态",
                           "the slot has not begun, or the booking is not open")
        row.status, row.changed_at, row.changed_by = "no_show", appt.utcnow(), actor.username
        session.add(row)
        session.commit()
        return appt.appointment_json(row)
