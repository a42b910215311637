"""The supervisor's page (/supervision): the warnings board, the figures and their charts (SVG
drawn on the server), with the same scope and checks as `/api/supervision/*`. A department's staff
(its head above all) get the same page for their own department's figures, without the board."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api import charts
from api.deps import require
from api.inquiries import InquiryService
from api.routes.pages.common import page_user, render
from api.routes.pages.public import _departments
from api.routes.supervision import FIRST_DAY, LAST_DAY, check_filters, scoped_department
from banjian import figures, figures_inquiries
from banjian.db import Item
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import DomainError
from banjian.oversight_board import KIND_ZH
from banjian.warnings_board import board

router = APIRouter(include_in_schema=False)
LEVEL_ZH = {"notice": "提醒", "yellow": "黄牌", "red": "红牌"}


def _day(raw: str | None, field: str, label: str) -> date | None:
    """A filter's date: None when empty; a DomainError naming the field when it is no date or lies
    outside the period the figures cover (the same rule as `GET /api/supervision/stats`)."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise DomainError("invalid_date", f"{label}“{raw}”不是有效日期，应为 YYYY-MM-DD 格式，如 2026-03-01",
                          f"`{field}` must be a date YYYY-MM-DD, got {raw!r}", field) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DomainError("out_of_range", f"{label}应在 {FIRST_DAY.isoformat()} 至 {LAST_DAY.isoformat()} 之间"
                          f"（实际为 {raw}）", f"`{field}` must be between {FIRST_DAY} and {LAST_DAY}, got {raw}", field)
    return day


@router.get("/supervision", response_class=HTMLResponse)
async def supervision(request: Request) -> HTMLResponse:
    """The board and the figures; a bad filter is shown in place (422, role="alert") with the
    user's input kept in the form, and no figures under it."""
    actor = await page_user(request)
    # a department's staff (its head above all) read their department's figures here, as the API
    # lets them; the warnings board is the supervisors' (GET /api/supervision/warnings)
    require(actor, Role.SUPERVISOR, *STAFF_ROLES)
    with_board = actor.has(Role.SUPERVISOR)
    q = request.query_params
    raw_from, raw_to, department = q.get("from") or "", q.get("to") or "", q.get("department") or None
    depts = await run_in_threadpool(_departments, request)
    errors: list[str] = []

    def read_day(raw: str, field: str, label: str) -> date | None:
        try:
            return _day(raw, field, label)
        except DomainError as e:
            errors.append(e.message)
            return None

    frm, to = read_day(raw_from, "from", "开始日期"), read_day(raw_to, "to", "结束日期")

    def load() -> dict:
        cases = request.app.state.cases
        empty = {"warnings": [], "warnings_total": 0, "rows": [], "charts": [], "dept_rows": []}
        if errors:
            return {"error": "；".join(errors), **empty}
        with cases.sessions() as session:
            try:
                if frm and to and frm > to:
                    raise DomainError("bad_period", "开始日期不能晚于结束日期", "`from` is after `to`", "from")
                check_filters(session, department, None)
                dept = scoped_department(actor, department)
            except DomainError as e:
                return {"error": e.message, **empty}
            warns, total = board(session, cases.calendar(session), department=dept, limit=100) if with_board \
                else ([], 0)
            names = dict(session.exec(select(Item.code, Item.name)).all())
            warns = [{**w, "item_name": names.get(w["item_code"], w["item_code"]) if w["item_code"] else None}
                     for w in warns]
            rows = figures.compute(session, frm, to, dept)
            dept_rows = figures_inquiries.compute(session, frm, to, dept)
            weeks = figures.weekly(figures.daily_counts(session, frm, to, dept))
        svgs = [{"svg": charts.render(name, rows, weeks, depts), **charts.data(name, rows, weeks, depts)}
                for name in charts.CHARTS]
        return {"error": None, "warnings": warns, "warnings_total": total, "rows": rows, "charts": svgs,
                "dept_rows": dept_rows}

    ctx = await run_in_threadpool(load)
    query = urlencode({k: v for k, v in (("from", frm), ("to", to), ("department", department)) if v})
    # a supervisor of one department is offered that department only (another is not in their scope)
    choices = {actor.department: depts.get(actor.department, actor.department)} if actor.department else depts
    return render(request, "supervision.html", {
        "title": "电子监察" if with_board else "本部门办件统计", **ctx, "with_board": with_board,
        "depts": depts, "choices": choices, "frm": raw_from, "to": raw_to, "department": department,
        "first_day": FIRST_DAY, "last_day": LAST_DAY,
        "query": query, "headers": figures.HEADERS_ZH, "columns": figures.COLUMNS, "LEVEL_ZH": LEVEL_ZH,
        "rates": {f.name for f in figures.FIGURES if f.rate},
        "dept_headers": figures_inquiries.HEADERS_ZH[1:], "dept_columns": figures_inquiries.COLUMNS[1:],
        "dept_rates": figures_inquiries.RATES}, status=422 if ctx["error"] else 200, user=actor)


@router.get("/supervision/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def inquiry(request: Request, inquiry_id: str) -> HTMLResponse:
    """One consultation or complaint, read-only, for the supervisor who follows it from the board
    (the same scope as `GET /api/inquiries/{id}`: another department's is a 404)."""
    actor = await page_user(request)
    require(actor, Role.SUPERVISOR)
    row = await run_in_threadpool(InquiryService(request.app.state.cases).get, actor, inquiry_id[:40], None)
    depts = await run_in_threadpool(_departments, request)
    return render(request, "supervision_inquiry.html", {
        "title": f"{KIND_ZH[row['kind']]} {row['id']}", "q": row, "kind_zh": KIND_ZH[row["kind"]],
        "dept_name": depts.get(row["department"], row["department"]), "LEVEL_ZH": LEVEL_ZH}, user=actor)
