"""The auditors' page of the signed daily chain heads (`/audit/chain-heads`, 每日链头核验): every
sealed day's head checked (signature, link to the day before, recomputation from the records, its
tips file), with each problem in Chinese; filtered by days and to the failing days, 50 days a page,
newest first. The same check as `GET /api/audit/chain-heads` (`banjian.audit.verify_heads`);
reading it is logged in the auditors' read log, as there."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import require
from api.routes.audit import AUDIT_ROLES
from api.routes.pages.common import page_number, page_user, render
from api.routes.pages.licence_audit import PAGE_SIZE, day_filter
from banjian import audit

router = APIRouter(include_in_schema=False)

MAX_PAGE = 1_000  # 50,000 days: more than 2000-2100 holds

#: a problem of `verify_heads` (English) → the page's sentence
PROBLEMS_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"the signature does not verify"), "SM2 签名验证失败"),
    (re.compile(r"signed by a key that is not the system key"), "签名密钥不是本系统的密钥"),
    (re.compile(r"the read model no longer yields this head \((\d+) records now, (\d+) sealed\)"),
     r"由现有记录重新计算的链头与封存的不一致（现有 \1 条记录，封存时 \2 条）"),
    (re.compile(r"the sealed tips file of \S+ is missing"), "当日封存的链尾文件缺失"),
    (re.compile(r"the sealed tips file of \S+ is unreadable"), "当日封存的链尾文件无法读取"),
    (re.compile(r"the sealed tips of \S+ do not reproduce its head"), "当日封存的链尾文件算不出签名的链头"),
    (re.compile(r"the chain head of \S+ is missing from the database.*"), "数据库中缺少当日的链头（链尾文件仍在）"),
]


def problem_zh(problem: str) -> str:
    """One problem in Chinese; one the page does not know is shown as reported."""
    for pattern, zh in PROBLEMS_ZH:
        if pattern.fullmatch(problem):
            return pattern.sub(zh, problem)
    return problem


@router.get("/audit/chain-heads", response_class=HTMLResponse)
async def chain_heads(request: Request, failing: str = "", page: str = "1") -> HTMLResponse:
    actor = await page_user(request)
    require(actor, *AUDIT_ROLES)
    q = request.query_params
    typed_from, typed_to = (q.get("from") or "")[:10], (q.get("to") or "")[:10]
    number = page_number(page, MAX_PAGE)
    only_failing = failing == "1"
    errors: dict[str, str] = {}
    day_from, day_to = day_filter(typed_from, "from", errors), day_filter(typed_to, "to", errors)
    if day_from and day_to and day_from > day_to:
        errors["from"] = "开始日期不能晚于结束日期"
    sessions, data_dir = request.app.state.sessions, request.app.state.settings.data_dir

    def read() -> list[dict[str, Any]]:
        days = audit.verify_heads(sessions, data_dir)
        audit.log_read(sessions, actor, None, "chain-heads")
        return days

    days = None if errors else await run_in_threadpool(read)
    context: dict[str, Any] = {"found": None}
    if days is not None:
        shown = [d for d in reversed(days)
                 if (not day_from or d["day"] >= day_from.isoformat())
                 and (not day_to or d["day"] <= day_to.isoformat()) and not (only_failing and d["verified"])]
        items = shown[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        for d in items:
            d["problems_zh"] = [problem_zh(p) for p in d["problems"]]
        context = {"found": {"items": items, "total": len(shown)}, "sealed": len(days),
                   "failed": sum(not d["verified"] for d in days)}
    filters = {"from": typed_from, "to": typed_to, "failing": "1" if only_failing else ""}
    link = {k: v for k, v in filters.items() if v}
    found = context["found"]
    return render(request, "audit_chain_heads.html", {
        **context, "title": "每日链头核验", "filters": filters, "errors": errors,
        "summary": [{"text": text, "href": f"#{field}"} for field, text in errors.items()], "page": number,
        "prev": urlencode({**link, "page": number - 1}) if number > 1 else None,
        "next": urlencode({**link, "page": number + 1})
        if found and number * PAGE_SIZE < found["total"] and number < MAX_PAGE else None,
        "first": (number - 1) * PAGE_SIZE + 1}, status=422 if errors else 200, user=actor)
