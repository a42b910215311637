"""The admin log (管理操作日志): every administrative act and security event, for auditors.

Who did what to which object, when, from where: users added or replaced, calendar years loaded,
item versions stored, keys rotated, login lockouts and their lifting. Append-only; auditors read it
through `GET /api/audit/admin-log`.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, func
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.db import JSONType
from banjian.timefmt import iso_at

SYSTEM = "system"


class AdminLogEntry(SQLModel, table=True):
    __tablename__ = "admin_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(index=True, max_length=64)  # a username, `cli` (a local operator) or `system`
    action: str = Field(index=True, max_length=64)  # e.g. user.add, calendar.load, item.store, login.lockout
    target: str = Field(default="", max_length=200)
    address: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


def record_admin(sessions: Callable[[], Session], actor: str, action: str, target: str = "",
                 detail: dict[str, Any] | None = None, address: str | None = None) -> None:
    """Append one entry (its own transaction: the act it records has already happened)."""
    with sessions() as session:
        session.add(AdminLogEntry(at=datetime.now(UTC), actor=actor[:64], action=action, target=target[:200],
                                  address=address, detail=detail or {}))
        session.commit()


def entry_json(e: AdminLogEntry) -> dict[str, Any]:
    return {"id": e.id, "at": iso_at(e.at), "actor": e.actor, "action": e.action, "target": e.target,
            "address": e.address, "detail": e.detail}


def read_admin_log(session: Session, action: str | None = None, actor: str | None = None,
                   limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Newest first: `{"items": [...], "total"}`; `action` matches a prefix (`user.` → every user act)."""
    q = select(AdminLogEntry)
    if action:
        q = q.where(col(AdminLogEntry.action).startswith(action))
    if actor:
        q = q.where(AdminLogEntry.actor == actor)
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(col(AdminLogEntry.id).desc()).offset(offset).limit(limit)).all()
    return {"items": [entry_json(e) for e in rows], "total": total}
