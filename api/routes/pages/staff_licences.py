"""The staff's licence page (/licences, 证照管理): the licences the caller's department issued
(number, holder, type, status today, validity), filtered by status and paged, each with its
status log and the changes the caller may make (suspend, reinstate, revoke, cancel; the issuing
department's approver, a comment required). A change goes through `licence_ops.act`, the
operation and authorisation of `POST /api/licences/{id}/actions`; a refused one is shown beside
its licence and changes nothing."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.routes.pages.common import PageError, check_csrf, page_number, page_user, render
from banjian import licence_ops as ops
from banjian import licence_views as views
from banjian.contracts import Actor
from banjian.errors import DomainError
from banjian.labels import LICENCE_ACTION_ZH
from banjian.licence_store import master_key
from banjian.licences import LicenceAction
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
MAX_COMMENT = 2000  # as the API's `comment`


def _staff(actor: Actor) -> Actor:
    if not (actor.department and actor.has(*ops.STAFF)):
        raise PageError(403, "证照管理仅供部门工作人员使用：您没有所属部门的工作人员角色。")
    return actor


def _query(status: str | None, page: int) -> tuple[str | None, int]:
    if status and status not in views.STATUSES:
        raise PageError(422, "状态筛选无效：status 须为 valid、suspended、revoked、cancelled 或 expired 之一"
                             "（status must be one of valid, suspended, revoked, cancelled, expired）。")
    return status or None, max(1, min(page, 10_000))


def _page(request: Request, actor: Actor, status: str | None, page: int, failed: dict[str, Any] | None = None,
          code: int = 200) -> HTMLResponse:
    with request.app.state.sessions() as session:
        found = views.issued_by(session, actor, status, page, datetime.now(CHINA).date())
    return render(request, "staff_licences.html", {
        "title": "证照管理", "found": found, "status": status or "", "statuses": views.STATUSES,
        "failed": failed or {}, "done": request.query_params.get("done"),
        "done_action": LICENCE_ACTION_ZH.get(request.query_params.get("action") or ""),
        "back": urlencode({k: v for k, v in (("status", status), ("page", page)) if v})}, status=code, user=actor)


@router.get("/licences", response_class=HTMLResponse)
async def licences(request: Request, status: str | None = None, page: int = 1) -> HTMLResponse:
    actor = _staff(await page_user(request))
    status, page = _query(status, page)
    return await run_in_threadpool(_page, request, actor, status, page)


def _act(request: Request, actor: Actor, licence_id: str, action: LicenceAction, comment: str) -> str:
    with request.app.state.sessions() as session:
        key = master_key(request.app.state.settings.licence_master_key)
        return ops.act(session, actor, licence_id, action, comment, key).licence_no


@router.post("/licences/{licence_id}/actions", response_class=HTMLResponse)
async def act(request: Request, licence_id: str) -> Response:
    actor = _staff(await page_user(request))
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    status, page = _query(fields.get("status") or None, page_number(fields.get("page", ""), 10_000))
    action, comment = fields.get("action", ""), fields.get("comment", "").strip()
    failed: dict[str, Any] = {"id": licence_id[:160], "action": action, "comment": comment[:MAX_COMMENT]}
    code = 422
    if action not in LICENCE_ACTION_ZH or action == "expire":
        failed["error"] = "请选择操作：暂停、恢复、撤销或注销。"
    elif not comment:
        failed["error"] = f"请填写{LICENCE_ACTION_ZH[action]}的理由（说明不能为空）。"
    elif len(comment) > MAX_COMMENT:
        failed["error"] = f"说明不能超过 {MAX_COMMENT} 个字。"
    else:
        try:
            number = await run_in_threadpool(_act, request, actor, licence_id[:160], LicenceAction(action), comment)
        except DomainError as e:
            failed["error"], code = e.message, e.status
        else:
            query = {"done": number, "action": action, **({"status": status} if status else {}),
                     **({"page": page} if page > 1 else {})}
            return RedirectResponse(f"/licences?{urlencode(query)}", status_code=303)
    return await run_in_threadpool(_page, request, actor, status, page, failed, code)
