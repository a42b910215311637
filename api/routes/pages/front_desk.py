"""The window clerk's front desk on /work: today's appointments (a no-show is recorded here once
the slot has begun) and the department's open consultations and complaints (answered here), read
from the read model as the API lists them; the actions go through the API's own code."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.inquiries import InquiryService
from api.routes.appointments import no_show
from api.routes.pages.common import PageError, check_csrf, page_user
from banjian import appointments as appt
from banjian.appointments import Appointment
from banjian.contracts import Actor
from banjian.db import Case, User
from banjian.enums import CLOSED, STAFF_ROLES, Role
from banjian.errors import DomainError
from banjian.inquiries import MAX_TEXT, Inquiry
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
OUTCOMES = ("upheld", "partly_upheld", "not_upheld")

FRONT_DESK_ROWS = 50


def front_desk(sessions: Any, actor: Actor, catalog: Any = None, day: date | None = None) -> dict[str, Any] | None:
    """The open inquiries of the department, for any of its staff (who may all answer them), and for
    its clerks the window bookings of `day` (today unless given); None for anyone else. People and
    items by their names, each with the case it concerns (a booking made before applying: the
    person's latest open case of the item, if they have filed one since)."""
    if not actor.has(*STAFF_ROLES) or actor.department is None:
        return None
    clerk = actor.has(Role.CLERK)
    today = datetime.now(CHINA).date()
    day = day or today
    with sessions() as session:
        bookings = session.exec(select(Appointment).where(
            Appointment.department == actor.department, Appointment.day == day)
            .order_by(col(Appointment.slot)).limit(FRONT_DESK_ROWS)).all() if clerk else []
        inquiries = session.exec(select(Inquiry).where(
            Inquiry.department == actor.department, Inquiry.status == "open")
            .order_by(col(Inquiry.answer_due)).limit(FRONT_DESK_ROWS)).all()
        people = {u.username: u.display_name or u.username for u in session.exec(select(User).where(
            col(User.username).in_({b.username for b in bookings} | {i.asker for i in inquiries if i.asker})))}
        cases = _cases_of(session, actor.department, bookings, inquiries)
    now = appt.utcnow()

    def item_name(code: str | None) -> str | None:
        if code is None:
            return None
        try:
            return catalog.current(code).name if catalog is not None else code
        except DomainError:
            return code

    def case_of(b: Appointment) -> Case | None:
        return cases.get(b.case_id) if b.case_id else cases.get((b.username, b.item_code))

    return {"bookings_shown": clerk, "day": day, "today": day == today, "previous": day - timedelta(days=1), "next": day + timedelta(days=1),
            "appointments": [{"id": b.id, "slot": b.slot[11:], "item_code": b.item_code,
                              "item_name": item_name(b.item_code), "username": b.username,
                              "name": people.get(b.username, b.username), "status": b.status,
                              "case": _case_link(case_of(b)),
                              "missable": b.status == "booked" and appt.slot_start(b.slot) <= now}
                             for b in bookings],
            "inquiries": [{"id": i.id, "kind": i.kind, "text": i.text, "answer_due": i.answer_due.isoformat(),
                           "warning": i.warning, "item_name": item_name(i.item_code),
                           "case": _case_link(cases.get(i.case_id) if i.case_id else None),
                           "asker": people.get(i.asker, i.asker) if i.asker else None, "contact": i.contact,
                           "channel": i.channel, "filed_at": i.filed_at}
                          for i in inquiries]}


def _cases_of(session: Any, department: str, bookings: Any, inquiries: Any) -> dict[Any, Case]:
    """The cases the desk's rows name: by id, and by (person, item) their latest open case of the item."""
    ids = {b.case_id for b in bookings if b.case_id} | {i.case_id for i in inquiries if i.case_id}
    out: dict[Any, Case] = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(ids)))} if ids else {}
    loose = {(b.username, b.item_code) for b in bookings if not b.case_id}
    if loose:
        rows = session.exec(select(Case).where(
            Case.department == department, col(Case.parent_id).is_(None),
            col(Case.applicant_username).in_({u for u, _ in loose}),
            col(Case.item_code).in_({c for _, c in loose}), col(Case.status).not_in([s.value for s in CLOSED]))
            .order_by(col(Case.submitted_at))).all()
        for c in rows:  # the latest wins
            out[(c.applicant_username, c.item_code)] = c
    return out


def _case_link(case: Case | None) -> dict[str, str] | None:
    return {"id": case.id, "case_no": case.case_no or case.id} if case is not None else None


async def _form(request: Request) -> tuple[Actor, dict[str, str]]:
    actor = await page_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    return actor, {k: str(v)[:MAX_TEXT + 1] for k, v in form.items() if isinstance(v, str)}


@router.post("/work/appointments/{appointment_id}/no_show")
async def record_no_show(request: Request, appointment_id: str) -> RedirectResponse:
    """登记爽约: the person did not come (the department's clerk, once the slot has begun)."""
    actor, _ = await _form(request)
    try:
        await run_in_threadpool(no_show, appointment_id[:40], actor, request.app.state.cases)
    except DomainError as e:
        raise PageError(e.status, e.message) from None
    return RedirectResponse("/work?desk=no_show#desk", status_code=303)


@router.post("/work/inquiries/{inquiry_id}/answer")
async def answer_inquiry(request: Request, inquiry_id: str) -> Response:
    """答复: the department's answer to a consultation or complaint (with its outcome for a complaint)."""
    from api.routes.pages.cases import work_page  # the inbox imports this module's desk

    actor, form = await _form(request)
    raw = form.get("text", "")
    text = raw.strip()
    outcome = form.get("outcome") if form.get("outcome") in OUTCOMES else None
    entered = {"id": inquiry_id[:40], "text": raw, "outcome": outcome}
    if not text or len(text) > MAX_TEXT:  # the desk again, what was typed kept, the error beside it
        if (await run_in_threadpool(InquiryService(request.app.state.cases)._row, inquiry_id[:40])) is None:
            raise PageError(404, "咨询投诉不存在")
        return await work_page(request, actor, entered={**entered, "error": f"请填写答复内容（1 至 {MAX_TEXT} 字）"},
                               status=422)
    try:
        await InquiryService(request.app.state.cases).answer(actor, inquiry_id[:40], text, outcome)
    except DomainError as e:
        if e.status == 422:
            return await work_page(request, actor, entered={**entered, "error": e.message}, status=422)
        raise PageError(e.status, e.message) from None
    return RedirectResponse("/work?desk=answered#desk", status_code=303)
