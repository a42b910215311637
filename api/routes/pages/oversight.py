"""Pages for those who watch cases: the lead unit's joint view (/joint/{id}) and the auditor's
page (/audit/cases/{id}: timeline, replay and tamper check in plain words, archive download)."""
from __future__ import annotations

import asyncio
from collections import OrderedDict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import require
from api.routes import audit as audit_api
from api.routes.pages.cases import CLOSED_STATUSES, days_left
from api.routes.pages.common import page_user, render
from api.routes.pages.public import _departments
from api.routes.pages.timeline import with_details
from banjian import audit
from banjian.db import Case
from banjian.enums import Role
from banjian.errors import DomainError, NotFound
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
REPLAY_CACHE_SIZE = 256


@router.get("/joint/{case_id}", response_class=HTMLResponse)
async def joint(request: Request, case_id: str) -> HTMLResponse:
    actor = await page_user(request)
    cases = request.app.state.cases
    case = await run_in_threadpool(cases.get, actor, case_id)
    if case.get("sub_cases") is None:
        raise NotFound("not_joint", "该办件不是并联审批办件", "not a joint case")

    def details() -> list[dict]:
        from datetime import date, datetime

        with cases.sessions() as session:
            cal = cases.calendar(session)

        def on_clock(c: dict | None) -> date | None:
            """The day a case's clock stands at (ahead of the wall clock after a simulated advance)."""
            today = ((c or {}).get("clock") or {}).get("today")
            return date.fromisoformat(today) if today else None

        wall = datetime.now(CHINA).date()
        out = []
        for sc in case["sub_cases"]:
            try:
                sub = cases.get(actor, sc["id"])
            except DomainError:
                sub = None  # a department's sub-case the caller may not open: the summary only
            closed = sc.get("status") in CLOSED_STATUSES
            # a paused clock (the joint case's pause, or the department's own suspension) counts nothing
            # down and makes nothing overdue until it runs again: 计时暂停, as on the case page
            paused = not closed and bool(sc.get("parent_paused") or sc.get("status") == "suspended"
                                         or ((sub or {}).get("clock") or {}).get("paused"))
            today = on_clock(sub) or on_clock(case) or wall
            out.append({**sc, "closed": closed, "paused": paused,
                        "days_left": None if closed or paused else days_left(cal, sc.get("due"), today),
                        "open": sub is not None,  # a link only to a sub-case the caller may open
                        "urge": sub is not None and "urge" in sub["allowed_actions"],
                        "step": (sub or {}).get("current_step"),
                        "warnings": (sub or {}).get("warnings") or []})
            # one badge per level, the gravest first (a department with two yellow cards shows 黄牌 once)
            out[-1]["warning_levels"] = [lvl for lvl in ("red", "yellow", "notice")
                                         if any(w.get("level") == lvl for w in out[-1]["warnings"])]
        return out

    subs = await run_in_threadpool(details)
    depts = await run_in_threadpool(_departments, request)
    kind = "一件事" if case.get("kind") == "bundle" else "并联审批"
    return render(request, "joint.html", {"title": f"{kind} {case.get('case_no') or case_id}：各部门办理情况", "kind_zh": kind, "case": case, "subs": subs,
                                          "depts": depts,
                                          "all_closed": bool(subs) and all(s["closed"] for s in subs)}, user=actor)


async def _replay(request: Request, actor, case_id: str) -> dict:
    """The replay result, kept while the case stands still: the code does not change while the
    process runs, and a case's history changes only when the case is recorded again (its `rev` and
    `recorded_at` in the read model).
    The tamper check is never kept: it reads the records afresh every time."""
    cache: OrderedDict = request.app.state.__dict__.setdefault("page_replays", OrderedDict())
    def revision() -> tuple:
        with request.app.state.sessions() as session:
            row = session.get(Case, case_id)
            return (row.rev, row.recorded_at) if row is not None else (None, None)

    key = (case_id, *(await run_in_threadpool(revision)))
    if key in cache:
        audit.log_read(request.app.state.cases.sessions, actor, case_id, "replay (page, unchanged case)")
        return cache[key]
    result = await audit_api.replay(case_id, request, actor, request.app.state.cases)
    if result.get("verified"):
        cache[key] = result
        while len(cache) > REPLAY_CACHE_SIZE:
            cache.popitem(last=False)
    return result


def _plain_replay(r: dict) -> str:
    if r.get("verified"):
        return f"重放通过：{r.get('events', 0)} 个事件按当前流程代码重放，结果一致。"
    return f"重放未通过：{r.get('error') or '流程代码与历史不一致'}"


def _plain_verify(r: dict) -> str:
    if r.get("verified"):
        return f"防篡改校验通过：{r.get('records', 0)} 条记录的哈希链完整，未发现改动。"
    first = r.get("first_altered") or {}
    parts = []
    if first or not r.get("findings"):
        where = f"第 {first.get('seq')} 条记录（{first.get('action')}）" if first else "记录"
        parts.append(f"{where}与原始哈希不符，可能已被改动")
    reasons = {f.get("reason") for f in r.get("findings") or []}
    if "snapshot_differs" in reasons:
        parts.append("办件数据（表单、状态等）与流程最后记录的不符，可能已被改动")
    if "archive_altered" in reasons:
        parts.append("归档文件缺失或与登记的SM3摘要不符")
    return f"防篡改校验未通过：{'；'.join(parts)}。"


@router.get("/audit", response_class=HTMLResponse)
async def audit_find(request: Request, case: str = "") -> Response:
    """The auditor's way in: a case by its id or its unified case number, then its audit page."""
    actor = await page_user(request)
    require(actor, *audit_api.AUDIT_ROLES)
    cases = request.app.state.cases
    wanted = case.strip()[:64]

    def find() -> str | None:
        with cases.sessions() as session:
            try:
                return cases.row(session, actor, wanted).id
            except DomainError:
                pass
        try:
            return cases.get_by_number(actor, wanted)["id"]
        except DomainError:
            return None

    error, status = None, 200
    if wanted:
        found = await run_in_threadpool(find)
        if found is not None:
            return RedirectResponse(f"/audit/cases/{found}", status_code=303)
        error, status = "未找到该办件，请核对办件编号", 404
    elif "case" in request.query_params:  # 查询 with the field left empty: say so, not the page again
        error, status = "请输入办件编号", 422
    return render(request, "audit_find.html", {"title": "审计查询", "value": wanted, "error": error},
                  status=status, user=actor)


@router.get("/audit/cases/{case_id}", response_class=HTMLResponse)
async def audit_case(request: Request, case_id: str) -> HTMLResponse:
    actor = await page_user(request)
    cases = request.app.state.cases
    # the same checks as the API: 404 for a case the caller may not see, 403 unless auditor or admin
    audit_api._audit_only(cases, actor, case_id)
    case = await run_in_threadpool(cases.get, actor, case_id)
    timeline, replay, verify = await asyncio.gather(
        audit_api.case_timeline(case_id, request, actor, cases), _replay(request, actor, case_id),
        audit_api.verify(case_id, request, actor, cases))
    depts = await run_in_threadpool(_departments, request)
    item = request.app.state.catalog.effective(case["item_code"], case["item_version"], case["department"],
                                               case.get("parent_id") is not None)
    return render(request, "audit.html", {
        "title": f"审计 {case_id}", "case": case, "entries": with_details(timeline["entries"], item, depts),
        "discrepancies": timeline.get("discrepancies") or [], "replay": replay, "verify": verify,
        "replay_text": _plain_replay(replay), "verify_text": _plain_verify(verify),
        "archive": case["status"] in ("concluded", "refused", "withdrawn", "terminated"),
        "auditor": actor.has(Role.AUDITOR, Role.ADMIN), "depts": depts},
        user=actor)
