"""The auditors' page of the e-licence verification log (`/audit/licences/verifications`): who
verified which licence when, from where, and what the answer was; filtered by licence (identifier
or number) and by days, 50 a page. The same reader as `GET /api/audit/licence-verifications`."""
from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import require
from api.routes.audit import AUDIT_ROLES
from api.routes.licence_audit import FIRST_DAY, LAST_DAY
from api.routes.pages.common import page_number, page_user, render
from banjian import audit
from banjian import licence_verification_log as log
from banjian.errors import DomainError
from banjian.licence_ops import reason_zh

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 2_000  # 100,000 rows: the API's offset bound


def day_filter(value: str, label: str, errors: dict[str, str]) -> date | None:
    """A day typed into the filter, or None; a bad one adds its error (naming the field)."""
    value = value.strip()[:10]
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[label] = "请输入正确的日期，例如 2026-12-01"
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors[label] = f"日期应在 {FIRST_DAY} 至 {LAST_DAY} 之间"
        return None
    return day


@router.get("/audit/licences/verifications", response_class=HTMLResponse)
async def licence_verifications(request: Request, licence: str = "", page: str = "1") -> HTMLResponse:
    actor = await page_user(request)
    require(actor, *AUDIT_ROLES)
    q = request.query_params
    wanted, typed_from, typed_to = licence.strip()[:160], (q.get("from") or "")[:10], (q.get("to") or "")[:10]
    number = page_number(page, MAX_PAGE)
    errors: dict[str, str] = {}
    day_from, day_to = day_filter(typed_from, "from", errors), day_filter(typed_to, "to", errors)
    if day_from and day_to and day_from > day_to:
        errors["from"] = "开始日期不能晚于结束日期"
    sessions = request.app.state.sessions

    def read() -> dict[str, Any] | None:
        with sessions() as session:
            try:
                return log.page(session, actor, wanted or None, day_from, day_to, PAGE_SIZE,
                                (number - 1) * PAGE_SIZE)
            except DomainError:  # a licence not found (or not in the caller's scope)
                errors["licence"] = "未找到该电子证照，请核对证照标识或证照编号"
                return None

    found = None if errors else await run_in_threadpool(read)
    if found is not None:
        await run_in_threadpool(audit.log_read, sessions, actor, None, "licence-verifications")
        for item in found["items"]:
            item["result_zh"] = "—" if item["valid"] is None else ("有效" if item["valid"] else reason_zh(item["reason"]))
    filters = {"licence": wanted, "from": typed_from, "to": typed_to}
    link = {k: v for k, v in filters.items() if v}
    return render(request, "audit_licence_verifications.html", {
        "title": "证照核验记录", "filters": filters, "errors": errors,
        "summary": [{"text": text, "href": f"#{field}"} for field, text in errors.items()], "found": found, "page": number,
        "prev": urlencode({**link, "page": number - 1}) if number > 1 else None,
        "next": urlencode({**link, "page": number + 1})
        if found and number * PAGE_SIZE < found["total"] and number < MAX_PAGE else None,
        "first": (number - 1) * PAGE_SIZE + 1}, status=404 if "licence" in errors else (422 if errors else 200),
        user=actor)
