"""Booking a window visit before applying (预约, `/guide/{code}/book`): for an item that offers window
slots, the applicant picks a day and one of its free slots, and may move or cancel the booking there.
The same panel and API functions as the case page's booking (api/routes/pages/booking.py): one open
booking of the item without a case per person; once they apply, it becomes the case's
(`appointment_holds.link_to_case`)."""
from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.routes.appointments import BookingIn, RescheduleIn, book, cancel, move_booking
from api.routes.pages.booking import booking_panel
from api.routes.pages.common import PageError, check_csrf, page_user, render
from banjian.contracts import Actor
from banjian.enums import Role
from banjian.errors import DomainError, NotFound
from banjian.items.schema import ItemDefinition

router = APIRouter(include_in_schema=False)
DONE_ZH = {"booked": "预约成功", "rescheduled": "改约成功", "cancelled": "预约已取消"}


def _item(request: Request, code: str) -> ItemDefinition:
    try:
        item = request.app.state.catalog.current(code[:64])
    except NotFound:
        raise PageError(404, f"没有事项 {code[:64]}") from None
    if item.appointments is None or item.status != "active":
        raise PageError(404, "该事项不提供窗口预约")
    return item


def _applicant(actor: Actor) -> None:
    if not actor.has(Role.APPLICANT):
        raise PageError(403, "窗口预约由申请人本人办理；工作人员请在“我的待办”查看今日预约")


async def _page(request: Request, actor: Actor, item: ItemDefinition, slot: str | None = None,
                error: str | None = None, status: int = 200) -> HTMLResponse:
    def load() -> dict[str, Any]:
        with request.app.state.cases.sessions() as session:
            return booking_panel(request, session, actor, {"id": None}, item, slot if error else None)

    panel = await run_in_threadpool(load)
    return render(request, "item_booking.html", {
        "title": f"预约：{item.name}", "item": item, "b": panel, "slot": slot, "error": error,
        "errors": [{"text": error, "href": "#slot"}] if error else [],
        "done": DONE_ZH.get(request.query_params.get("done", ""))}, status=status, user=actor)


@router.get("/guide/{code}/book", response_class=HTMLResponse)
async def booking_page(request: Request, code: str) -> HTMLResponse:
    """The item's free slots, day by day, and the caller's open booking of it (no case yet)."""
    actor = await page_user(request)
    item = _item(request, code)
    _applicant(actor)
    return await _page(request, actor, item)


async def _post(request: Request, code: str) -> tuple[Actor, ItemDefinition, str]:
    actor = await page_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    item = _item(request, code)
    _applicant(actor)
    return actor, item, str(form.get("slot") or "")[:16]


async def _run(request: Request, actor: Actor, item: ItemDefinition, slot: str, done: str,
               operation: Awaitable[Any]) -> Response:
    try:
        await operation
    except DomainError as e:
        if e.status == 404:
            raise PageError(404, e.message) from None
        return await _page(request, actor, item, slot, e.message, e.status)
    return RedirectResponse(f"/guide/{item.code}/book?done={done}#booking", status_code=303)


@router.post("/guide/{code}/book")
async def book_item_slot(request: Request, code: str) -> Response:
    """预约: a window slot for the item, before applying."""
    actor, item, slot = await _post(request, code)
    if not slot:
        return await _page(request, actor, item, slot, "请选择预约时段", 422)
    body = BookingIn(item_code=item.code, slot=slot)
    return await _run(request, actor, item, slot, "booked",
                      book(body, actor, request.app.state.catalog, request.app.state.cases))


@router.post("/guide/{code}/appointments/{appointment_id}/reschedule")
async def reschedule_item_slot(request: Request, code: str, appointment_id: str) -> Response:
    """改约: move the caller's booking of the item to the slot chosen."""
    actor, item, slot = await _post(request, code)
    if not slot:
        return await _page(request, actor, item, slot, "请选择新的预约时段", 422)
    return await _run(request, actor, item, slot, "rescheduled",
                      move_booking(appointment_id[:40], RescheduleIn(slot=slot), actor, request.app.state.catalog,
                                 request.app.state.cases))


@router.post("/guide/{code}/appointments/{appointment_id}/cancel")
async def cancel_item_slot(request: Request, code: str, appointment_id: str) -> Response:
    """取消预约: the caller's booking of the item, before its slot begins."""
    actor, item, _ = await _post(request, code)
    return await _run(request, actor, item, "", "cancelled",
                      run_in_threadpool(cancel, appointment_id[:40], actor, request.app.state.cases))
