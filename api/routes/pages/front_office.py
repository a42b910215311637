"""The applicant's front office on the case page (/cases/{id}): pay the fee (the sandbox provider),
book, move or cancel a window appointment for the case (api/routes/pages/booking.py), and ask or
complain about the case. Each goes through the same services as the API (payments, appointments,
inquiries) with the same checks."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.inquiries import InquiryService
from api.payments import PaymentService
from api.routes.pages.common import LoginRequired, PageError, check_csrf, optional_user, page_user, render
from api.routes.pages.consult import OUTCOME_ZH
from banjian.contracts import Actor
from banjian.errors import DomainError
from banjian.inquiries import MAX_TEXT, Inquiry

router = APIRouter(include_in_schema=False)
DONE_ZH = {"paid": "缴费已完成", "booked": "预约成功", "rescheduled": "改约成功", "cancelled": "预约已取消",
           "asked": "已提交，部门将在答复期限内答复"}


def slot_zh(slot: str) -> str:
    """2026-12-04T09:00 → 12月4日 09:00 (a window slot as people read it)."""
    try:
        at = datetime.fromisoformat(slot)
    except ValueError:
        return slot
    return f"{at.month}月{at.day}日 {at:%H:%M}"


def front_office(request: Request, actor: Actor, case: dict[str, Any],
                 entered: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What the case page offers its applicant: the payment, the booking panel (the days and free
    slots of the booking window, the caller's open booking for the case), and the inquiries the
    caller filed about the case. None for anyone else.
    `entered`: a refused booking or inquiry (`{"form": "ask"|"book", "values", "errors"}`), shown
    again in place with what was typed."""
    from api.routes.pages.booking import booking_panel  # its routes reuse this module's helpers

    cases = request.app.state.cases
    entered = entered or {}
    values, errors = entered.get("values") or {}, entered.get("errors") or {}
    with cases.sessions() as session:
        row = cases.view(session, actor, case["id"])
        if row.applicant_username != actor.username or case.get("parent_id"):
            return None
        try:
            item = request.app.state.catalog.current(case["item_code"])  # bookings follow the current version
        except DomainError:  # an item no longer offered: nothing to book
            item = None
        panel = None
        if item is not None and item.appointments is not None \
                and case["status"] not in ("concluded", "refused", "withdrawn", "terminated"):
            panel = booking_panel(request, session, actor, case, item,
                                  values.get("slot") if entered.get("form") == "book" else None)
        asked = session.exec(select(Inquiry).where(Inquiry.case_id == case["id"], Inquiry.asker == actor.username)
                             .order_by(col(Inquiry.filed_at))).all()
    ask = {"kind": "consultation", "text": None, "error": None}
    book_form = {"slot": None, "error": None}
    if entered.get("form") == "ask":
        ask = {"kind": values.get("kind") or "consultation", "text": values.get("text"), "error": errors.get("text")}
    elif entered.get("form") == "book":
        book_form = {"slot": values.get("slot"), "error": errors.get("slot")}
    return {"payment": case.get("payment") if case["status"] == "awaiting_payment" else None,
            "booking": panel, "max_text": MAX_TEXT, "ask": ask, "book": book_form,
            "inquiries": [{"id": i.id, "kind": i.kind, "text": i.text, "status": i.status, "answer": i.answer,
                           "answer_due": i.answer_due.isoformat(),
                           "outcome": OUTCOME_ZH.get(i.outcome or "")} for i in asked],
            "done": _done_text(request.query_params.get("front", ""), case)}


def _done_text(done: str, case: dict[str, Any]) -> str | None:
    """What a front-office action did, and for a payment what comes next (delivery by its deadline)."""
    text = DONE_ZH.get(done)
    due = (case.get("deadlines") or {}).get("delivery_due")
    if done == "paid" and text and case.get("status") == "decided" and due:
        at = datetime.fromisoformat(due)
        return f"{text}。部门将于{at.year}年{at.month}月{at.day}日前送达办理结果，请留意本页和“我的办件”。"
    return text


async def _form(request: Request) -> tuple[Actor, dict[str, str]]:
    actor = await page_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    return actor, {k: str(v)[:MAX_TEXT + 1] for k, v in form.items() if isinstance(v, str)}


def _back(case_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?front={done}#front-office", status_code=303)


def _failed(e: DomainError) -> PageError:
    return PageError(e.status, e.message)


async def _again(request: Request, actor: Actor, case_id: str, form_name: str, field: str,
                 values: dict[str, str], message: str, status: int) -> HTMLResponse:
    """The case page again, the refused form kept as typed and its error beside `field`."""
    from api.routes.pages.cases import case_page_for  # the case page imports this module's builder

    entered = {"form": form_name, "values": values, "errors": {field: message}}
    return await case_page_for(request, actor, case_id[:40], entered, status)


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


async def _ask_after_session_ended(request: Request, case_id: str) -> Response:
    """A question posted after the session ended (typed on a phone past the login's lifetime): the
    login page saying it was not sent, the text shown read-only to copy, then back to the case (it
    was a bare redirect to the login page, and the text lost)."""
    form = await request.form()
    try:
        check_csrf(request, str(form.get("csrf_token") or ""))
    except PageError:
        raise LoginRequired(f"/cases/{case_id}") from None
    text = str(form.get("text") or "").strip()
    kept = [{"id": "kept-text", "label": "咨询或投诉内容", "value": text}] if text else []
    return render(request, "login.html", {
        "title": "登录", "next": f"/cases/{quote(case_id, safe='')}#front-office", "errors": [], "username": "",
        "kept": kept, "expired_action": "提交咨询投诉"}, status=401)


@router.post("/cases/{case_id}/ask")
async def ask(request: Request, case_id: str) -> Response:
    """咨询 / 投诉 about the case (the applicant's own case only)."""
    if await optional_user(request) is None:
        return await _ask_after_session_ended(request, case_id)
    actor, form = await _form(request)
    kind = form.get("kind") if form.get("kind") in ("consultation", "complaint") else "consultation"
    raw = form.get("text", "")[:MAX_TEXT + 1]
    text = raw.strip()
    values = {"kind": kind, "text": raw}
    if not text or len(text) > MAX_TEXT:
        await run_in_threadpool(request.app.state.cases.get, actor, case_id[:40])  # 404 before 422
        return await _again(request, actor, case_id, "ask", "text", values,
                            f"请填写咨询或投诉内容（1 至 {MAX_TEXT} 字）", 422)
    try:
        await InquiryService(request.app.state.cases).file(actor, {"kind": kind, "case_id": case_id[:40],
                                                                   "text": text, "channel": "web"})
    except DomainError as e:
        if e.status == 404:
            raise _failed(e) from None
        return await _again(request, actor, case_id, "ask", "text", values, e.message, e.status)
    return _back(case_id, "asked")
