"""The applicant's front office on the case page (/cases/{id}): pay the fee (the sandbox provider),
book a window appointment for the case's item, and ask or complain about the case. Each goes
through the same services as the API (payments, appointments, inquiries) with the same checks."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.inquiries import InquiryService
from api.payments import PaymentService
from api.routes.appointments import BookingIn, book
from api.routes.pages.common import PageError, check_csrf, page_user
from banjian import appointments as appt
from banjian.appointments import Appointment
from banjian.contracts import Actor
from banjian.errors import DomainError
from banjian.inquiries import MAX_TEXT, Inquiry
from banjian.timefmt import china_date

router = APIRouter(include_in_schema=False)
#: free slots offered on the case page (the next ones; the API lists them all)
SLOTS_SHOWN = 12
DONE_ZH = {"paid": "缴费已完成", "booked": "预约成功", "asked": "已提交，部门将在答复期限内答复"}


def front_office(request: Request, actor: Actor, case: dict[str, Any]) -> dict[str, Any] | None:
    """What the case page offers its applicant: the payment, the item's free slots and the caller's
    bookings of it, and the inquiries the caller filed about the case. None for anyone else."""
    cases = request.app.state.cases
    with cases.sessions() as session:
        row = cases.view(session, actor, case["id"])
        if row.applicant_username != actor.username or case.get("parent_id"):
            return None
        try:
            item = request.app.state.catalog.current(case["item_code"])  # bookings follow the current version
        except DomainError:  # an item no longer offered: nothing to book
            item = None
        slots, bookings = [], []
        if item is not None and item.appointments is not None \
                and case["status"] not in ("concluded", "refused", "withdrawn", "terminated"):
            today = china_date(appt.utcnow())
            found = appt.free_slots(session, item, cases.calendar(session), today + timedelta(days=1),
                                    today + timedelta(days=item.appointments.days_ahead))
            slots = [s for s in found if s["free"] > 0][:SLOTS_SHOWN]
            bookings = [appt.appointment_json(b) for b in session.exec(
                select(Appointment).where(Appointment.username == actor.username,
                                          Appointment.item_code == item.code, Appointment.status == "booked")
                .order_by(col(Appointment.slot))).all()]
        asked = session.exec(select(Inquiry).where(Inquiry.case_id == case["id"], Inquiry.asker == actor.username)
                             .order_by(col(Inquiry.filed_at))).all()
    return {"payment": case.get("payment") if case["status"] == "awaiting_payment" else None,
            "slots": slots, "bookings": bookings, "max_text": MAX_TEXT,
            "inquiries": [{"kind": i.kind, "text": i.text, "status": i.status, "answer": i.answer,
                           "answer_due": i.answer_due.isoformat()} for i in asked],
            "done": DONE_ZH.get(request.query_params.get("front", ""))}


async def _form(request: Request) -> tuple[Actor, dict[str, str]]:
    actor = await page_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    return actor, {k: str(v)[:MAX_TEXT + 1] for k, v in form.items() if isinstance(v, str)}


def _back(case_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?front={done}#front-office", status_code=303)


def _failed(e: DomainError) -> PageError:
    return PageError(e.status, e.message)


@router.post("/cases/{case_id}/pay")
async def pay(request: Request, case_id: str) -> RedirectResponse:
    """缴费: the sandbox provider takes the payment and sends its callbacks (not in production)."""
    actor, _ = await _form(request)
    svc = PaymentService.of(request.app)
    if svc.cases.settings.production:
        raise PageError(404, "沙箱支付在生产环境中不可用")
    try:
        await svc.sandbox_pay(actor, case_id[:40], request.app)
    except DomainError as e:
        raise _failed(e) from None
    return _back(case_id, "paid")


@router.post("/cases/{case_id}/book")
async def book_slot(request: Request, case_id: str) -> RedirectResponse:
    """预约: a window slot for the case's item."""
    actor, form = await _form(request)
    cases = request.app.state.cases
    slot = form.get("slot", "")[:16]
    if not slot:
        raise PageError(422, "请选择预约时段")
    try:
        case = await run_in_threadpool(cases.get, actor, case_id[:40])
        body = BookingIn(item_code=case["item_code"], slot=slot)
        await book(body, actor, request.app.state.catalog, cases)
    except DomainError as e:
        raise _failed(e) from None
    return _back(case_id, "booked")


@router.post("/cases/{case_id}/ask")
async def ask(request: Request, case_id: str) -> RedirectResponse:
    """咨询 / 投诉 about the case (the applicant's own case only)."""
    actor, form = await _form(request)
    kind = form.get("kind") if form.get("kind") in ("consultation", "complaint") else "consultation"
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_TEXT:
        raise PageError(422, f"请填写咨询或投诉内容（1 至 {MAX_TEXT} 字）")
    try:
        await InquiryService(request.app.state.cases).file(actor, {"kind": kind, "case_id": case_id[:40],
                                                                   "text": text, "channel": "web"})
    except DomainError as e:
        raise _failed(e) from None
    return _back(case_id, "asked")
