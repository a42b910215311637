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
from api.routes.pages.audit_wording import actor_names, discrepancy_zh, snapshot_zh
from api.routes.pages.cases import CLOSED_STATUSES, clock_day, days_left
from api.routes.pages.common import EVENT_ZH, page_user, render
from api.routes.pages.public import _departments
from api.routes.pages.timeline import with_details
from banjian import audit
from banjian.audit.evidence import ATTACHMENT_ALTERED, LICENCE_ALTERED
from banjian.enums import Role
from banjian.errors import Conflict, DomainError, NotFound
from banjian.files import StoredFile
from banjian.labels import licence_status_zh
from banjian.lenient_rows import case_row
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
        from datetime import datetime

        with cases.sessions() as session:
            cal = cases.calendar(session)
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
            today = clock_day(sub) or clock_day(case) or wall
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
                                          "all_closed": bool(subs) and all(s["closed"] for s in subs),
                                          "ended": case["status"] in CLOSED_STATUSES,
                                          # whose disagreement blocks approval: the staff's reading, as the
                                          # opinions themselves (the applicant reads the unified result)
                                          "weights": not actor.has(Role.APPLICANT),
                                          # a required department that did not agree leaves only a denial
                                          # (the opinions are hidden from an applicant until the result)
                                          "blocking": [depts.get(s["department"], s["department"]) for s in subs
                                                       if case.get("kind") != "bundle" and s.get("required", True)
                                                       and s.get("opinion") == "disagree"]}, user=actor)


async def _replay(request: Request, actor, case_id: str) -> dict:
    """The replay result, kept while the case stands still: the code does not change while the
    process runs, and a case's history changes only when the case is recorded again (its `rev` and
    `recorded_at` in the read model).
    The tamper check is never kept: it reads the records afresh every time."""
    cache: OrderedDict = request.app.state.__dict__.setdefault("page_replays", OrderedDict())
    def revision() -> tuple:
        with request.app.state.sessions() as session:
            row = case_row(session, case_id)
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


#: what a record-level finding means, for an auditor who is no engineer ({where}: 第 N 条记录（操作）)
RECORD_FINDING_ZH = {
    "missing": "{where}已被删除",
    "link_broken": "{where}与前一条记录的哈希链接断开，记录可能被调换顺序、插入或删除",
    "content_altered": "{where}的内容与其哈希不符，可能已被改动",
    "differs_from_history": "{where}与流程历史的记载不符，可能已被改动并重新计算了哈希",
    "differs_from_chain_head": "{where}及其后的记录与{day}签名封存的每日链头不符，可能已被改动",
    "chain_head_invalid": "{day}的每日链头无效（签名或封存的数据不符），无法据此核对{where}",
}
ATTACHMENT_PROBLEM_ZH = {
    "record_missing": "的上传登记已被删除",
    "file_missing": "的文件已不在文件库中",
    "bytes_altered": "的文件内容与上传时登记的SM3摘要不符，可能已被替换",
    "digest_altered": "的文件及其登记的SM3摘要与归档包保存的不符，可能已被替换",
}


def _finding_zh(f: dict, first: dict | None = None) -> str:
    """One finding of the tamper check in plain Chinese (no codes, no enum names)."""
    reason = f.get("reason")
    if f.get("seq") is not None:
        action = (first or {}).get("action") if (first or {}).get("seq") == f["seq"] else f.get("action")
        where = f"第 {f['seq']} 条记录" + (f"（{EVENT_ZH.get(action, action)}）" if action else "")
        day = f.get("day") or ""
        return RECORD_FINDING_ZH.get(reason, "{where}与原始哈希不符，可能已被改动").format(where=where, day=day)
    if reason == "snapshot_differs":
        return snapshot_zh(f)
    if reason == "archive_altered":
        if f.get("problem") == "record_missing":
            return "办件已办结，但其归档登记已被删除（既无归档包，也不在待归档队列中）"
        return "归档文件缺失或与登记的SM3摘要不符"
    if reason == ATTACHMENT_ALTERED:
        version = f"（第 {f['version']} 版）" if isinstance(f.get("version"), int) and f["version"] > 1 else ""
        return f"申请材料“{f.get('material') or f.get('file_id')}”{version}" + \
            ATTACHMENT_PROBLEM_ZH.get(f.get("problem") or "", "的文件与登记的不符")
    if reason == LICENCE_ALTERED:
        lid = f.get("licence_id")
        if f.get("problem") == "licence_missing":
            return f"本件签发的电子证照 {lid} 已被删除"
        if f.get("problem") == "status_altered":
            return (f"电子证照 {lid} 的状态为“{licence_status_zh(f.get('status') or '')}”，但其状态变更记录显示应为"
                    f"“{licence_status_zh(f.get('expected') or '')}”，可能已被改动")
        if f.get("problem") == "status_seal_invalid":
            return (f"电子证照 {lid} 的状态“{licence_status_zh(f.get('status') or '')}”及其状态变更记录与发证部门的"
                    "状态签章不符，可能已被改动")
        return f"电子证照 {lid} 的信息与其SM2签名不符，可能已被改动"
    return "发现一处无法核对的改动"


def _plain_verify(r: dict) -> str:
    if r.get("verified"):
        return f"防篡改校验通过：{r.get('records', 0)} 条记录的哈希链完整，未发现改动。"
    return f"防篡改校验未通过：{'；'.join(_plain_findings(r))}。"


def _plain_findings(r: dict) -> list[str]:
    """What the tamper check found, one sentence each: the first altered record (the records after it
    follow from it), then each finding that names no record (the case row, the archive, the files,
    the e-licence)."""
    findings = r.get("findings") or []
    first = r.get("first_altered")
    out = []
    records = [f for f in findings if f.get("seq") is not None]
    if first:
        exact = next((f for f in records if f["seq"] == first.get("seq")), None)
        out.append(_finding_zh(exact or {"seq": first.get("seq"), "reason": None}, first))
    elif not findings:
        out.append("记录与原始哈希不符，可能已被改动")
    for f in findings:
        if f.get("seq") is None:
            sentence = _finding_zh(f)
            if sentence not in out:
                out.append(sentence)
    return out


def _materials(cases, case: dict, verify: dict) -> list[dict]:
    """The case's materials, every version, for the auditor: who added it when, the file's SM3 digest
    as recorded at upload, and whether the tamper check found the file intact."""
    altered = {f.get("file_id"): f for f in verify.get("findings") or [] if f.get("reason") == ATTACHMENT_ALTERED}
    out = []
    with cases.sessions() as session:
        for m in case.get("materials") or []:
            if not isinstance(m, dict):
                continue
            fid = m.get("file_id")
            stored = session.get(StoredFile, fid) if fid else None
            finding = altered.get(fid) if fid else None
            out.append({**m, "sm3": stored.sm3 if stored is not None else None,
                        "file_name": stored.name if stored is not None else None,
                        "check": None if not fid else (_finding_zh(finding) if finding else "一致")})
    return out


def _row_summary(cases, case_id: str) -> dict:
    """What the audit page shows of a case whose row no longer reads as a case (its snapshot or columns
    altered): the row's plain columns, read leniently."""
    with cases.sessions() as session:
        row = case_row(session, case_id)
        return {"id": row.id, "case_no": row.case_no, "item_code": row.item_code, "item_version": row.item_version,
                "item_name": row.item_name, "department": row.department, "status": row.status,
                "parent_id": row.parent_id}


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
    try:
        case, unreadable = await run_in_threadpool(cases.get, actor, case_id), False
    except (ValueError, TypeError, KeyError, AttributeError, Conflict) as e:  # a case row altered past reading
        if isinstance(e, Conflict) and e.code != "case_unreadable":
            raise
        case, unreadable = await run_in_threadpool(_row_summary, cases, case_id), True
    timeline, replay, verify = await asyncio.gather(
        audit_api.case_timeline(case_id, request, actor, cases), _replay(request, actor, case_id),
        audit_api.verify(case_id, request, actor, cases))
    depts = await run_in_threadpool(_departments, request)
    try:  # the item version in force as the history tells it (the row may be the altered part)
        item = request.app.state.catalog.effective(
            timeline.get("item_code") or case["item_code"], timeline.get("item_version") or case["item_version"],
            case["department"], case.get("parent_id") is not None)
    except DomainError:
        item = None
    materials = [] if unreadable else await run_in_threadpool(_materials, cases, case, verify)
    names = await run_in_threadpool(actor_names, cases.sessions, {e.get("actor") for e in timeline["entries"]})
    return render(request, "audit.html", {
        "title": f"审计 {case_id}", "case": case, "unreadable": unreadable, "materials": materials,
        "entries": with_details(timeline["entries"], item, depts),
        "discrepancies": [discrepancy_zh(d, case_id) for d in timeline.get("discrepancies") or []],
        "replay": replay, "verify": verify,
        "replay_text": _plain_replay(replay), "verify_text": _plain_verify(verify),
        "verify_findings": [] if verify.get("verified") else _plain_findings(verify),
        "archive": case["status"] in ("concluded", "refused", "withdrawn", "terminated"),
        # a package the check found missing or altered is not offered for download (the route would 409)
        "archive_broken": any(f.get("reason") == "archive_altered" for f in verify.get("findings") or []),
        "auditor": actor.has(Role.AUDITOR, Role.ADMIN), "depts": depts, "names": names},
        user=actor)
