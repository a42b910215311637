"""The supervisor's page (/supervision): the warnings board, the figures and their charts (SVG
drawn on the server), with the same scope and checks as `/api/supervision/*`."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api import charts
from api.deps import require
from api.routes.pages.common import page_user, render
from api.routes.pages.public import _departments
from api.routes.supervision import check_filters, scoped_department
from banjian import figures
from banjian.db import Item
from banjian.enums import Role
from banjian.errors import DomainError
from banjian.warnings_board import board

router = APIRouter(include_in_schema=False)
LEVEL_ZH = {"notice": "提醒", "yellow": "黄牌", "red": "红牌"}


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@router.get("/supervision", response_class=HTMLResponse)
async def supervision(request: Request) -> HTMLResponse:
    actor = await page_user(request)
    require(actor, Role.SUPERVISOR)
    q = request.query_params
    frm, to, department = _day(q.get("from")), _day(q.get("to")), q.get("department") or None
    depts = await run_in_threadpool(_departments, request)

    def load() -> dict:
        cases = request.app.state.cases
        with cases.sessions() as session:
            error = None
            try:
                if frm and to and frm > to:
                    raise DomainError("bad_period", "开始日期不能晚于结束日期", "`from` is after `to`", "from")
                check_filters(session, department, None)
                dept = scoped_department(actor, department)
            except DomainError as e:
                return {"error": e.message, "warnings": [], "warnings_total": 0, "rows": [], "charts": []}
            warns, total = board(session, cases.calendar(session), department=dept, limit=100)
            names = dict(session.exec(select(Item.code, Item.name)).all())
            warns = [{**w, "item_name": names.get(w["item_code"], w["item_code"])} for w in warns]
            rows = figures.compute(session, frm, to, dept)
            weeks = figures.weekly(figures.daily_counts(session, frm, to, dept))
        svgs = [charts.render(name, rows, weeks, depts) for name in charts.CHARTS]
        return {"error": error, "warnings": warns, "warnings_total": total, "rows": rows, "charts": svgs}

    ctx = await run_in_threadpool(load)
    query = urlencode({k: v for k, v in (("from", frm), ("to", to), ("department", department)) if v})
    return render(request, "supervision.html", {
        "title": "电子监察", **ctx, "depts": depts, "frm": frm, "to": to, "department": department,
        "query": query, "headers": figures.HEADERS_ZH, "columns": figures.COLUMNS, "LEVEL_ZH": LEVEL_ZH,
        "rates": {f.name for f in figures.FIGURES if f.rate}}, user=actor)
