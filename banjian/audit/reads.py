"""The auditors' read log (审计留痕), read back: who read which case's audit data, and when.

One reader for `GET /api/audit/reads` and the page `/audit/reads`: filtered by auditor, case and
period, newest first, in bounded pages."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from banjian.db import AuditRead
from banjian.timefmt import iso_at


def reads_page(session: Session, username: str | None = None, case_id: str | None = None,
               since: datetime | None = None, before: datetime | None = None, limit: int = 100,
               offset: int = 0, with_total: bool = False) -> dict[str, Any]:
    """`{"items": [{"username", "case_id", "what", "at"}]}` (and `"total"` with `with_total`): the
    reads by `username` of `case_id` at `since` or later and before `before`, newest first."""
    stmt = select(AuditRead)
    if username:
        stmt = stmt.where(AuditRead.username == username)
    if case_id:
        stmt = stmt.where(AuditRead.case_id == case_id)
    if since:
        stmt = stmt.where(AuditRead.at >= since)
    if before:
        stmt = stmt.where(AuditRead.at < before)
    rows = session.exec(stmt.order_by(col(AuditRead.id).desc()).offset(offset).limit(limit)).all()
    found: dict[str, Any] = {"items": [{"username": r.username, "case_id": r.case_id, "what": r.what,
                                        "at": iso_at(r.at)} for r in rows]}
    if with_total:
        found["total"] = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return found
