"""Consultations and complaints (咨询投诉): their read-model table, answer limits and JSON view.

Each inquiry is a small workflow (`workflows/inquiry.py`) that owns it and keeps its answer limit
with a durable timer; this table mirrors it for inboxes and the supervision figures:
`kind`, `department`, `status`, `overdue` (answered late, or still open past `answer_due`) and
`warning` (the highest of `notice` / `yellow`) are the columns the figures count.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel

from banjian.timefmt import iso_at

#: answer limits in working days (local practice: 3 for a consultation, 10 for a complaint)
ANSWER_DAYS = {"consultation": 3, "complaint": 10}
MAX_TEXT = 5000


class Inquiry(SQLModel, table=True):
    """One consultation or complaint, as its workflow last recorded it."""

    __tablename__ = "inquiries"
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(index=True, max_length=20)
    channel: str = Field(max_length=20)
    department: str = Field(index=True, max_length=32)
    item_code: str | None = Field(default=None, max_length=64)
    case_id: str | None = Field(default=None, index=True, max_length=40)
    asker: str | None = Field(default=None, index=True, max_length=64)
    contact: str | None = Field(default=None, max_length=200)
    key_hash: str | None = Field(default=None, max_length=64)
    text: str
    status: str = Field(index=True, max_length=20)
    filed_at: datetime
    answer_due: date
    answered_at: datetime | None = None
    answered_by: str | None = Field(default=None, max_length=64)
    answer: str | None = None
    outcome: str | None = Field(default=None, max_length=20)
    warning: str | None = Field(default=None, max_length=10)
    overdue: bool = False
    case_noted: bool = False


def key_hash(key: str) -> str:
    """The stored form of an anonymous asker's access key (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()


def inquiry_json(row: Inquiry, with_contact: bool = True) -> dict[str, Any]:
    """An inquiry as the API shows it to its asker or its department."""
    out: dict[str, Any] = {
        "id": row.id, "kind": row.kind, "channel": row.channel, "department": row.department,
        "item_code": row.item_code, "case_id": row.case_id, "text": row.text, "status": row.status,
        "filed_at": iso_at(row.filed_at), "answer_due": row.answer_due.isoformat(),
        "answered_at": iso_at(row.answered_at), "answer": row.answer, "outcome": row.outcome,
        "warning": row.warning, "overdue": row.overdue}
    if with_contact:
        out["contact"] = row.contact
    return out
