"""Rectification activities (差评整改): plan and record a new one, keep its row current, and
report its entries to the rated case's workflow."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client

from activities.records import upsert
from banjian.calendar import WorkingCalendar
from banjian.rectification import CaseNote, Entry, OpenRequest, RectificationInput, RectificationState
from banjian.rectification_records import Rectification, row_values
from banjian.timefmt import china_date


class RectificationActivities:
    """Takes a session factory, the working calendar and a Temporal client (for the case's update)."""

    def __init__(self, session_factory: Callable[[], Session], calendar: Callable[[], WorkingCalendar],
                 client: Client) -> None:
        self.session_factory = session_factory
        self.calendar = calendar
        self.client = client

    @activity.defn(name="open_rectification")
    def open_rectification(self, req: OpenRequest) -> RectificationInput:
        """Plan the due day (working days from the rating's day) and the notice day, and record the
        row (status `open`) so the rating's answer lists it. Idempotent: a row already there stays."""
        cal, start = self.calendar(), china_date(req.rated_at)
        due = cal.add_working_days(start, req.days)
        notice_on = cal.add_working_days(start, max(req.days - req.notice_days, 0))
        inp = RectificationInput(
            id=req.id, case_id=req.case_id, case_no=req.case_no, department=req.department, item_code=req.item_code,
            item_name=req.item_name, rating=req.rating, rating_comment=req.rating_comment, rated_by=req.rated_by,
            opened_at=req.rated_at, days=req.days, notice_days=req.notice_days, due=due, notice_on=notice_on)
        state = RectificationState(inp=inp, updated_at=req.rated_at, entries=[Entry(
            at=req.rated_at, actor="system", role="system", action="rectification_opened",
            data={"rectification_id": inp.id, "due": due.isoformat(), "rating": req.rating})])
        self._write(state, replace=False)
        return inp

    @activity.defn(name="record_rectification")
    def record_rectification(self, state: RectificationState) -> None:
        """Upsert the row as the workflow's state says (safe to retry)."""
        self._write(state, replace=True)

    def _write(self, state: RectificationState, replace: bool) -> None:
        values: dict[str, Any] = row_values(state)
        with self.session_factory() as session:
            table = Rectification.__table__  # type: ignore[attr-defined]
            stmt = upsert(session, table).values(id=state.inp.id, **values)
            stmt = (stmt.on_conflict_do_update(index_elements=[table.c.id], set_=values) if replace
                    else stmt.on_conflict_do_nothing(index_elements=[table.c.id]))
            session.execute(stmt)
            session.commit()

    @activity.defn(name="note_rectification")
    async def note_rectification(self, note: CaseNote) -> None:
        """The entry into the case's history, through the case's update (one id per entry: a retry
        is applied once)."""
        from workflows.case import CaseWorkflow

        handle = self.client.get_workflow_handle(f"case-{note.data['case_id']}")
        await handle.execute_update(CaseWorkflow.rectification_note, note,
                                    id=f"rectification-{note.ref.id}-{note.data['seq']}")
