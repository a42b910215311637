"""Rectification pages (差评整改): the list for a department's staff and the supervisor, and one
rectification with its history and the caller's actions, read and acted on through the same
service as `/api/rectifications` (same scope: another department's is a 404 page)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.deps import require
from api.rectifications import RectificationService
from api.routes.pages.case_notices import display_names
from api.routes.pages.common import check_csrf, page_user, render
from api.routes.pages.public import _departments
from api.uploads import read_form
from banjian.contracts import Actor
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import DomainError
from banjian.rectification import ACTION_ZH, DONE_ZH, MAX_COMMENT, STATUS_ZH, STATUSES

router = APIRouter(include_in_schema=False)
ROLES = (*STAFF_ROLES, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


def _service(request: Request) -> RectificationService:
    return RectificationService(request.app.state.cases)


@router.get("/rectifications", response_class=HTMLResponse)
async def rectifications(request: Request) -> HTMLResponse:
    actor = await page_user(request)
    require(actor, *ROLES)
    status = request.query_params.get("status") or None
    error = None
    if status is not None and status not in STATUSES:  # shown in place, never silently "all"
        choices = "、".join(STATUS_ZH[s] for s in STATUSES)
        error = f"状态“{status[:40]}”无效，请从以下选择：{choices}"
        listed: dict = {"items": [], "total": 0}
    else:
        listed = await run_in_threadpool(_service(request).list, actor, status, None, None, 200, 0)
    depts = await run_in_threadpool(_departments, request)
    return render(request, "rectifications.html", {
        "title": "差评整改", "items": listed["items"], "total": listed["total"], "status": status,
        "error": error, "STATUS_ZH": STATUS_ZH, "depts": depts}, status=422 if error else 200, user=actor)


async def _page(request: Request, actor: Actor, rid: str, comment: str = "", error: DomainError | None = None,
                status: int = 200) -> HTMLResponse:
    got = await run_in_threadpool(_service(request).get, actor, rid)  # 404 outside the caller's scope
    depts = await run_in_threadpool(_departments, request)

    def names() -> dict[str, str]:  # the history names people as the case page does, not by login
        with request.app.state.cases.sessions() as session:
            return display_names(session, got)

    people = await run_in_threadpool(names)
    # a missing comment is the field's own error (shown beside it too); a refusal names no field
    comment_error = error.message if error is not None and error.field == "comment" else None
    return render(request, "rectification.html", {
        "title": f"差评整改 {got['id']}：{got.get('item_name') or got['case_id']}", "r": got, "STATUS_ZH": STATUS_ZH, "RECT_ACTION_ZH": ACTION_ZH, "depts": depts,
        "people": people, "comment": comment, "comment_error": comment_error,
        "errors_title": "无法办理" if status in (403, 409) else "请修改以下问题",
        "errors": [{"text": error.message, "href": "#comment" if comment_error else None}] if error else [],
        "done": DONE_ZH.get(request.query_params.get("done") or "")}, status=status, user=actor)


@router.get("/rectifications/{rid}", response_class=HTMLResponse)
async def rectification(request: Request, rid: str) -> HTMLResponse:
    actor = await page_user(request)
    require(actor, *ROLES)
    return await _page(request, actor, rid[:48])


@router.post("/rectifications/{rid}/actions", response_class=HTMLResponse)
async def act(request: Request, rid: str) -> Any:
    actor = await page_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    rid, action = rid[:48], form.first("action")[:40]
    comment = form.first("comment").strip()[:MAX_COMMENT]
    try:
        await _service(request).act(actor, rid, action, comment or None)
    except DomainError as e:
        if e.status == 404:
            raise
        return await _page(request, actor, rid, comment, e, status=e.status)
    return RedirectResponse(f"/rectifications/{rid}?done={action}", status_code=303)
