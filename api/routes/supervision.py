"""Electronic supervision (电子监察): the warnings board and the figures (JSON, CSV, XLSX)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from api import charts
from api.bounds import Offset
from api.deps import CurrentUser, SessionDep, require
from banjian import figures, figures_inquiries
from banjian.contracts import Actor
from banjian.db import Department, Item
from banjian.enums import STAFF_ROLES, Role, WarningLevel
from banjian.errors import Invalid, NotFound
from banjian.figures_export import to_csv, to_xlsx, with_names
from banjian.warnings_board import board

router = APIRouter(prefix="/api/supervision", tags=["supervision"])

Code = Annotated[str | None, Query(min_length=1, max_length=64)]
#: the figures cover receipts from 2000 to the end of the century
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)]


def check_filters(session: Session, department: str | None, item_code: str | None) -> None:
    """422 for a department or item the system does not know."""
    if department is not None and session.get(Department, department) is None:
        raise Invalid("unknown_department", f"未知部门：{department}", f"unknown department: {department}",
                      "department")
    if item_code is not None and session.get(Item, item_code) is None:
        raise Invalid("unknown_item", f"未知事项：{item_code}", f"unknown item: {item_code}", "item_code")


def scoped_department(actor: Actor, department: str | None) -> str | None:
    """The department a caller may read: a caller with a department reads only that one (another
    department's figures are a 404, as if they did not exist); one without reads any."""
    if actor.department is None:
        return department
    if department is not None and department != actor.department:
        raise NotFound("department_not_found", "未找到该部门的数据", "no such department in your scope", "department")
    return actor.department


#: which warnings the board lists (`GET /api/supervision/warnings?kind=`)
BoardKind = Literal["case", "consultation", "complaint", "rectification", "all"]


@router.get("/warnings")
def warnings(request: Request, actor: CurrentUser, session: SessionDep,
             level: Annotated[WarningLevel | None, Query()] = None, department: Code = None,
             item_code: Code = None, offset: Offset = 0,
             limit: Annotated[int, Query(ge=1, le=200)] = 50,
             kind: Annotated[BoardKind, Query(description="case (the default, as contracted), consultation, "
                                                          "complaint, rectification, or all")] = "case",
             ) -> dict[str, Any]:
    """Warnings of open cases whose cause is not cured (supervisor; a supervisor with a department
    sees that department's); with `kind`, those of consultations, complaints and rectifications
    (`all`: every kind, as the supervision page shows them)."""
    require(actor, Role.SUPERVISOR)
    department = scoped_department(actor, department)  # 404 before any 422 (the contract's order)
    check_filters(session, department, item_code)
    items, total = board(session, request.app.state.cases.calendar(session), level=level.value if level else None,
                         department=department, item_code=item_code, limit=limit, offset=offset,
                         kinds=None if kind == "all" else {kind})
    return {"items": items, "total": total}


@router.get("/stats")
def stats(actor: CurrentUser, session: SessionDep, frm: Annotated[Day, Query(alias="from")] = None, to: Day = None,
          department: Code = None, item_code: Code = None,
          format: Annotated[Literal["json", "csv", "xlsx", "svg"], Query()] = "json",
          chart: Annotated[charts.Chart, Query()] = "on_time_rate",
          table: Annotated[Literal["items", "departments"], Query()] = "items") -> Any:
    """The figures per department and item (supervisor, admin; a department's staff their own),
    and per department those of consultations, complaints and no-shows (`departments`; the CSV's
    `table=departments`, the XLSX's second sheet); `format=svg` draws one of them (`chart`:
    cases_per_week, on_time_rate, satisfaction)."""
    require(actor, Role.SUPERVISOR, Role.ADMIN, *STAFF_ROLES)
    department = scoped_department(actor, department)  # 404 before any 422 (the contract's order)
    if frm is not None and to is not None and frm > to:
        raise Invalid("bad_period", "开始日期不能晚于结束日期", "`from` is after `to`", "from")
    check_filters(session, department, item_code)
    rows = figures.compute(session, frm, to, department, item_code)
    names = dict(session.exec(select(Department.code, Department.name)).all())
    if format == "svg":
        weeks = figures.weekly(figures.daily_counts(session, frm, to, department, item_code))
        return Response(charts.render(chart, rows, weeks, names), media_type="image/svg+xml")
    rows = with_names(rows, names)
    dept_rows = with_names(figures_inquiries.compute(session, frm, to, department), names)
    if format == "csv":
        return Response(to_csv(dept_rows, departments=True) if table == "departments" else to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="supervision-stats.csv"'})
    if format == "xlsx":
        return Response(to_xlsx(rows, dept_rows),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="supervision-stats.xlsx"'})
    return {"items": rows, "total": len(rows), "from": frm, "to": to, "departments": dept_rows}
