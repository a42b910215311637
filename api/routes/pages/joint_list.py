"""The lead unit's list of the joint cases and bundles it coordinates (/joint: 牵头办理): every open one
of the caller's department, each with how many departments answered, who is still working and until
when, who is overdue, and a supplement request waiting for the lead unit's one notice. The lead unit's
inbox holds a joint case only while a step of its own is open; this is where it watches the rest."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.case_access import READ_ALL_ROLES
from api.routes.pages.cases import CLOSED_STATUSES, clock_day, days_left
from api.routes.pages.common import page_user, render
from banjian.db import Case
from banjian.enums import Role
from banjian.errors import DomainError, Forbidden
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
#: at most this many cases on the page (the oldest first beyond it are left for the search)
LIMIT = 200


def _row(cases: Any, actor: Any, cal: Any, case: dict[str, Any]) -> dict[str, Any]:
    wall = datetime.now(CHINA).date()
    subs = case.get("sub_cases") or []
    working = []
    for s in subs:
        if s.get("status") in CLOSED_STATUSES:
            continue
        try:  # counted on the department's own clock, as /joint/{id} counts (ahead after a simulated advance)
            today = clock_day(cases.get(actor, s["id"])) or clock_day(case) or wall
        except DomainError:  # a sub-case the caller may not open: the joint case's clock
            today = clock_day(case) or wall
        paused = bool(s.get("parent_paused") or s.get("status") in ("suspended", "supplement_requested"))
        working.append({**s, "paused": paused, "days_left": None if paused else days_left(cal, s.get("due"), today)})
    js = case.get("joint_supplement") or {}
    return {
        "id": case["id"], "case_no": case.get("case_no") or case["id"], "item_name": case.get("item_name"),
        "kind": case.get("kind"), "status": case["status"], "deadlines": case.get("deadlines") or {},
        "answered": sum(1 for s in subs if s.get("status") in CLOSED_STATUSES), "total": len(subs),
        "working": sorted(working, key=lambda s: s.get("due") or "9999"),
        "overdue": [s for s in subs if s.get("overdue")],
        "due_soon": [s for s in working if s["days_left"] is not None and (s["days_left"].overdue or s["days_left"] <= 2)],
        "to_notify": bool(js.get("asks")) and not js.get("notified_at"),
        "own_step": (case.get("current_step") or {}).get("name"),
    }


def _load(request: Request, actor: Any) -> list[dict[str, Any]]:
    cases = request.app.state.cases
    with cases.sessions() as session:
        stmt = select(Case.id).where(col(Case.parent_id).is_(None), col(Case.kind).in_(("joint", "bundle")),
                                     col(Case.status).not_in(CLOSED_STATUSES))
        if actor.department is not None:
            stmt = stmt.where(Case.department == actor.department)
        ids = list(session.exec(stmt.order_by(col(Case.submitted_at)).limit(LIMIT)).all())
        cal = cases.calendar(session)
    rows = []
    for cid in ids:
        try:
            rows.append(_row(cases, actor, cal, cases.get(actor, cid)))
        except DomainError:  # closed or out of reach meanwhile
            continue
    # what needs the lead unit first: overdue departments, a notice to send, a department due soon
    rows.sort(key=lambda r: (not r["overdue"], not r["to_notify"], not r["due_soon"],
                             min((s.get("due") or "9999" for s in r["working"]), default="9999")))
    return rows


@router.get("/joint", response_class=HTMLResponse)
async def joint_list(request: Request) -> Response:
    actor = await page_user(request)
    if actor.department is None and not actor.has(*READ_ALL_ROLES):
        if actor.has(Role.APPLICANT):
            return RedirectResponse("/my/cases", status_code=303)
        raise Forbidden("forbidden_role", "牵头办理列表仅供工作人员使用", "the lead unit's list is for staff")
    rows = await run_in_threadpool(_load, request, actor)
    return render(request, "joint_list.html", {"title": "牵头办理的并联审批和一件事", "rows": rows}, user=actor)
