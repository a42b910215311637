"""The read model of urges (督办): one row per urge on a case, for the inbox badges, the head's
inbox of escalated urges, the supervisor's inbox of urges escalated to supervision and the warnings
board (an escalated urge leaves them once answered).

Written by the recording activity with the case (`activities/urges.py`); the workflow decides."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.db import JSONType


class CaseUrge(SQLModel, table=True):
    """One urge as the case's workflow last recorded it; `open` while it waits for a reply."""

    __tablename__ = "case_urges"
    case_id: str = Field(primary_key=True, max_length=40)
    n: int = Field(primary_key=True)
    key: str = Field(max_length=20, description="urge-{n}: the step_key of its urge_unanswered warning")
    department: str = Field(index=True, max_length=32)
    parent_id: str | None = Field(default=None, max_length=40)
    by: str = Field(max_length=64)
    at: datetime
    comment: str | None = None
    reply_by: date
    board_on: date
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    forwarded_from: str | None = Field(default=None, max_length=40)
    escalated: int = 0
    replied_at: datetime | None = None
    replied_by: str | None = Field(default=None, max_length=64)
    reply: str | None = None
    open: bool = Field(default=True, index=True)


def badge(row: CaseUrge) -> dict[str, Any]:
    """An urge as an inbox badge shows it."""
    return {"n": row.n, "by": row.by, "reply_by": row.reply_by.isoformat(), "escalated": row.escalated,
            "comment": row.comment}


def badges(session: Session, case_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The badge of each case's most pressing open urge (most escalated, then earliest reply date)."""
    ids = list(case_ids)
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    rows = session.exec(select(CaseUrge).where(col(CaseUrge.case_id).in_(ids), col(CaseUrge.open).is_(True))
                        .order_by(col(CaseUrge.escalated).desc(), col(CaseUrge.reply_by), col(CaseUrge.n))).all()
    for r in rows:
        out.setdefault(r.case_id, badge(r))
    return out


def escalated_to_head(session: Session, department: str) -> list[CaseUrge]:
    """Open urges of the department escalated to its head (the head's inbox)."""
    return list(session.exec(select(CaseUrge).where(CaseUrge.department == department, col(CaseUrge.open).is_(True),
                                                    col(CaseUrge.escalated) >= 1)
                             .order_by(col(CaseUrge.reply_by), col(CaseUrge.case_id))).all())


def escalated_to_supervision(session: Session, department: str | None) -> list[CaseUrge]:
    """Open urges escalated to supervision (the second escalation: the supervisor's inbox), of one
    department or of all (`None`)."""
    stmt = select(CaseUrge).where(col(CaseUrge.open).is_(True), col(CaseUrge.escalated) >= 2)
    if department is not None:
        stmt = stmt.where(CaseUrge.department == department)
    return list(session.exec(stmt.order_by(col(CaseUrge.board_on), col(CaseUrge.case_id))).all())
