"""The read model of rectifications (差评整改): one row per rectification, as its workflow last
recorded it, for the lists, the pages and the supervisor; and how the API shows one."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, func
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.db import JSONType
from banjian.rectification import STATUS_ZH, RectificationState
from banjian.timefmt import china_times, iso_at


class Rectification(SQLModel, table=True):
    """One rectification; `snapshot` is the workflow's state (the API checks actions against it)."""

    __tablename__ = "rectifications"
    id: str = Field(primary_key=True, max_length=48)
    case_id: str = Field(index=True, max_length=40)
    case_no: str | None = Field(default=None, max_length=64)  # as cases.case_no (migration 0027)
    department: str = Field(index=True, max_length=32)
    item_code: str = Field(max_length=64)
    item_name: str
    rating: int
    status: str = Field(index=True, max_length=20)
    due: date
    opened_at: datetime
    updated_at: datetime
    appeal: str | None = Field(default=None, max_length=20)
    warning: str | None = Field(default=None, max_length=10)
    overdue: bool = False
    snapshot: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))


def row_values(state: RectificationState) -> dict[str, Any]:
    """The row's columns from the workflow's state."""
    inp = state.inp
    levels = [w.level for w in state.warnings]
    return dict(case_id=inp.case_id, case_no=inp.case_no, department=inp.department, item_code=inp.item_code,
                item_name=inp.item_name, rating=inp.rating, status=state.status, due=inp.due, opened_at=inp.opened_at,
                updated_at=state.updated_at, appeal=state.appeal,
                warning="yellow" if "yellow" in levels else ("notice" if levels else None), overdue=state.overdue,
                snapshot=state.model_dump(mode="json"))


def summary_json(row: Rectification) -> dict[str, Any]:
    """One row of GET /api/rectifications."""
    return {"id": row.id, "case_id": row.case_id, "case_no": row.case_no, "department": row.department,
            "item_code": row.item_code, "item_name": row.item_name, "rating": row.rating, "status": row.status,
            "status_zh": STATUS_ZH.get(row.status, row.status), "due": row.due.isoformat(), "appeal": row.appeal,
            "warning": row.warning, "overdue": row.overdue}


def detail_json(row: Rectification, allowed: list[str]) -> dict[str, Any]:
    """GET /api/rectifications/{id}: the summary, the rating, the history and the caller's actions."""
    state = RectificationState.model_validate(row.snapshot)
    return {**summary_json(row), "rating_comment": state.inp.rating_comment, "opened_at": iso_at(state.inp.opened_at),
            "notice_on": state.inp.notice_on.isoformat(), "days": state.inp.days, "reopened": state.reopened,
            "warnings": [{"level": w.level, "cause": w.cause, "at": iso_at(w.at)} for w in state.warnings],
            "history": [{"at": iso_at(e.at), "actor": e.actor, "role": e.role, "action": e.action,
                         "comment": e.comment, "data": china_times(e.data)} for e in state.entries],
            "allowed_actions": allowed}


#: what each side owes: the department records call-backs and fixes; a supervisor decides
DEPARTMENT_OWES = ("open", "called_back", "reopened")
SUPERVISOR_OWES = ("fixed", "appealed")


def waiting_on(session: Session, department: str | None, staff: bool, supervisor: bool) -> int:
    """How many rectifications wait for this person now (the count beside 差评整改 on /work): for a
    department's staff, their department's call-backs and fixes; for a supervisor (of one department
    or of all), the fixes to close or reopen and the appeals to decide."""
    statuses = (DEPARTMENT_OWES if staff and department else ()) + (SUPERVISOR_OWES if supervisor else ())
    if not statuses:
        return 0
    q = select(func.count()).select_from(Rectification).where(col(Rectification.status).in_(statuses))
    if department is not None:
        q = q.where(Rectification.department == department)
    return int(session.exec(q).one())
