"""Read-model writes for consultations and complaints: the `inquiries` row as the workflow says."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from temporalio import activity

from activities.records import upsert
from banjian.inquiries import Inquiry
from banjian.inquiry_contracts import InquiryState

LEVELS = {"notice": 1, "yellow": 2}


class InquiryActivities:
    """Takes a session factory; `record_inquiry` is an idempotent upsert (safe to retry)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name="record_inquiry")
    def record_inquiry(self, state: InquiryState) -> None:
        inp = state.inp
        warning = max((w.level for w in state.warnings), key=LEVELS.__getitem__, default=None)
        values: dict[str, Any] = dict(
            kind=inp.kind, channel=inp.channel, department=inp.department, item_code=inp.item_code,
            case_id=inp.case_id, asker=inp.asker, contact=inp.contact, key_hash=inp.key_hash, text=inp.text,
            status=state.status, filed_at=state.filed_at, answer_due=inp.answer_due,
            answered_at=state.answered_at, answered_by=state.answered_by, answer=state.answer,
            outcome=state.outcome, warning=warning, overdue=state.overdue, case_noted=state.case_noted)
        with self.session_factory() as session:
            table = Inquiry.__table__  # type: ignore[attr-defined]
            session.execute(upsert(session, table).values(id=inp.id, **values)
                            .on_conflict_do_update(index_elements=[table.c.id], set_=values))
            session.commit()
