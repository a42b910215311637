"""The read model's hot reads: a case's row and its history, as an action's pre-check and answer and
GET /api/cases/{id} read them several times per case.

They run as statements built once, executed with SQLAlchemy Core on a connection: no ORM session
step per statement (ORM compile state, identity map, session transaction bookkeeping), which cost
about three times the query itself (bench/cases.py, py-spy of `banjian up`; docs/benchmarks.md).
The statements select plain columns, so rows come back as tuples with their types applied (the JSON
snapshot as a dict, times as datetimes) on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from banjian.contracts import CaseState
from banjian.db import Case, CaseEvent, connection_of
from banjian.errors import Conflict
from banjian.lenient_rows import EVENTS_AS_TEXT, parse_text_row

#: What reading a case on the hot paths needs of its row: plain columns, not the ORM entity.
VIEW_COLUMNS = (Case.id, Case.snapshot, Case.recorded_at, Case.department, Case.applicant_username, Case.parent_id)
HISTORY_COLUMNS = (CaseEvent.seq, CaseEvent.at, CaseEvent.actor, CaseEvent.role, CaseEvent.department,
                   CaseEvent.action, CaseEvent.comment, CaseEvent.data)

_CASE_ROW = select(*VIEW_COLUMNS).where(Case.id == bindparam("case_id"))
_HISTORY = select(*HISTORY_COLUMNS).where(CaseEvent.case_id == bindparam("case_id")).order_by(CaseEvent.seq)
_DEPARTMENT = select(Case.department).where(Case.id == bindparam("case_id"))


class CaseRow(Protocol):
    """The columns of a case row that visibility and rendering read: a `Case`, or a `VIEW_COLUMNS` row."""

    @property
    def id(self) -> str: ...
    @property
    def snapshot(self) -> dict[str, Any]: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def department(self) -> str: ...
    @property
    def applicant_username(self) -> str | None: ...
    @property
    def parent_id(self) -> str | None: ...


def case_row(db: Session | Connection, case_id: str) -> CaseRow | None:
    """The case's `VIEW_COLUMNS`, or None."""
    row: Any = connection_of(db).execute(_CASE_ROW, {"case_id": case_id}).first()
    return row


def unreadable(case_id: str) -> Conflict:
    """409 `case_unreadable`: the case's stored state no longer reads as a case (a row edited by hand,
    or a partial restore). Not the caller's error, and not one the API can repair: the auditor's
    tools (verify, replay, the audit page) read such a row and name what differs."""
    return Conflict("case_unreadable",
                    f"办件 {case_id} 的数据无法读取（可能已被改动），暂不能查看或办理；请联系审计人员核查（办件审计：核验记录）",
                    f"the stored record of case {case_id} cannot be read (it may have been altered); it cannot be "
                    f"shown or acted on until an auditor has checked it (GET /api/cases/{case_id}/verify)")


def state_of(row: CaseRow) -> CaseState:
    """The case's state from its row's snapshot; 409 `case_unreadable` when it no longer reads."""
    try:
        return CaseState.model_validate(row.snapshot)
    except ValueError:  # pydantic's ValidationError included
        raise unreadable(row.id) from None


def department_of(db: Session | Connection, case_id: str) -> str | None:
    """The department of a case (a sub-case's parent, for the lead unit's visibility), or None."""
    found = connection_of(db).execute(_DEPARTMENT, {"case_id": case_id}).scalar()
    return None if found is None else str(found)


def history_rows(db: Session | Connection, case_id: str) -> list[dict[str, Any]]:
    """The case's history entries in order, each a dict of the `HISTORY_COLUMNS`."""
    conn = connection_of(db)
    try:
        return [r._asdict() for r in conn.execute(_HISTORY, {"case_id": case_id})]
    except ValueError:  # a row written by hand that the ORM cannot read: shown as found (the audit flags it)
        keys = [c.key for c in HISTORY_COLUMNS]
        return [{k: row[k] for k in keys} for row in
                (parse_text_row(r) for r in conn.execute(EVENTS_AS_TEXT, {"case_id": case_id}).mappings())]
