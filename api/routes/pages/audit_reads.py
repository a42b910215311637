"""The auditors' page of their own read log (`/audit/reads`, 审计留痕): who read which case's audit
data, and when; filtered by auditor, case and days, 50 a page. The same reader as
`GET /api/audit/reads` (`banjian.audit.reads`); reading it is itself logged, as there."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import require
from api.routes.audit import AUDIT_ROLES
from api.routes.pages.common import page_number, page_user, render
from api.routes.pages.licence_audit import MAX_PAGE, PAGE_SIZE, day_filter
from banjian import audit
from banjian.audit.reads import reads_page
from banjian.timefmt import end_of, start_of

router = APIRouter(include_in_schema=False)

MAX_USERNAME, MAX_CASE = 200, 64  # the API's bounds on these filters

#: what was read (`audit_reads.what`, its first word) → how the page names it
WHAT_ZH = {
    "case": "办件详情", "history": "办件历史记录", "timeline": "审计时间线", "replay": "重放工作流历史",
    "verify": "校验哈希链", "archive": "下载归档", "audit-reads": "审计留痕", "chain-heads": "每日链头核验",
    "licence-verifications": "证照核验记录", "admin-log": "管理操作日志", "search": "搜索办件",
    "codec": "解码 Temporal 数据",
}


def what_zh(what: str) -> str:
    """A read's `what` in Chinese, or as recorded when it is not one the system writes."""
    return WHAT_ZH.get(what.split(" ", 1)[0], what)


@router.get("/audit/reads", response_class=HTMLResponse)
async def audit_reads(request: Request, username: str = "", case: str = "", page: str = "1") -> HTMLResponse:
    actor = await page_user(request)
    require(actor, *AUDIT_ROLES)
    q = request.query_params
    who, case_id = username.strip(), case.strip()
    typed_from, typed_to = (q.get("from") or "")[:10], (q.get("to") or "")[:10]
    number = page_number(page, MAX_PAGE)
    errors: dict[str, str] = {}
    if len(who) > MAX_USERNAME:
        errors["username"], who = f"用户名不能超过 {MAX_USERNAME} 个字符", who[:MAX_USERNAME]
    if len(case_id) > MAX_CASE:
        errors["case"], case_id = f"办件标识不能超过 {MAX_CASE} 个字符", case_id[:MAX_CASE]
    day_from, day_to = day_filter(typed_from, "from", errors), day_filter(typed_to, "to", errors)
    if day_from and day_to and day_from > day_to:
        errors["from"] = "开始日期不能晚于结束日期"
    sessions = request.app.state.sessions

    def read() -> dict[str, Any]:
        with sessions() as session:
            found = reads_page(session, who or None, case_id or None,
                               start_of(day_from) if day_from else None, end_of(day_to) if day_to else None,
                               PAGE_SIZE, (number - 1) * PAGE_SIZE, with_total=True)
        audit.log_read(sessions, actor, case_id or None, "audit-reads")
        return found

    found = None if errors else await run_in_threadpool(read)
    if found is not None:
        for item in found["items"]:
            item["what_zh"] = what_zh(item["what"])
    filters = {"username": who, "case": case_id, "from": typed_from, "to": typed_to}
    link = {k: v for k, v in filters.items() if v}
    return render(request, "audit_reads.html", {
        "title": "审计留痕", "filters": filters, "errors": errors,
        "summary": [{"text": text, "href": f"#{field}"} for field, text in errors.items()], "found": found,
        "page": number, "prev": urlencode({**link, "page": number - 1}) if number > 1 else None,
        "next": urlencode({**link, "page": number + 1})
        if found and number * PAGE_SIZE < found["total"] and number < MAX_PAGE else None,
        "first": (number - 1) * PAGE_SIZE + 1}, status=422 if errors else 200, user=actor)
