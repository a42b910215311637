"""Read-model writes (idempotent upserts): the case row, its hash-chained history, its task
and its warnings, exactly as the workflow's state says after a transition, and the case's share
of the daily figures summary (`banjian/figures_summary.py`), in the same transaction."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select
from temporalio import activity

from activities.calendar import load_calendar, plan
from activities.copies import sync_copies
from activities.figures import figure_columns
from activities.urges import sync_urges
from banjian import archive_queue, chain, feed, figures_summary
from banjian.calendar import WorkingCalendar
from banjian.contracts import CaseState, HistoryEntry, Recorded, RecordRequest
from banjian.db import Case, CaseEvent, CaseWarning, Task, write_transaction
from banjian.deadlines import merged
from banjian.enums import CLOSED, Status, WarningLevel
from banjian.items.schema import ItemDefinition
from banjian.rules import current_step, waiting_roles
from banjian.warnings_board import refresh as refresh_board

LEVEL_RANK = {None: 0, WarningLevel.NOTICE: 1, WarningLevel.YELLOW: 2, WarningLevel.RED: 3}


def highest_warning(state: CaseState) -> str | None:
    levels = [w.level for w in state.warnings]
    return max(levels, key=lambda lv: LEVEL_RANK[lv]).value if levels else None


def task_due(state: CaseState):
    d = state.deadlines
    if state.status == Status.SUBMITTED:
        return d.acceptance_due
    if state.status == Status.DECIDED:
        return d.delivery_due
    return d.step_due or d.promised_due


def upsert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT (SQLite and PostgreSQL both can)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class RecordActivities:
    """Keeps the read model in step with the workflows; takes a session factory, an item lookup and
    the working calendar (for `record_transition`, which plans deadlines as it records)."""

    def __init__(self, session_factory: Callable[[], Session],
                 item_lookup: Callable[[str, int, str, bool], ItemDefinition],
                 calendar: Callable[[Session], WorkingCalendar] | None = None) -> None:
        self.session_factory = session_factory
        self.item_lookup = item_lookup
        self.calendar = calendar

    @activity.defn(name="record_case")
    def record_case(self, req: RecordRequest) -> int:
        """Upsert the case, append new history entries (skipping those already there), refresh its
        task and warnings. Safe to retry. Returns the number of history rows of the case.
        (Cases started before `record_transition` existed still call it.)"""
        return self.write(req.state, req.events)

    @activity.defn(name="record_transition")
    def record_transition(self, req: RecordRequest) -> Recorded:
        """A transition, run as a local activity inside the workflow task: plan the deadlines when
        asked (`req.plan`), then write the state with them, as `record_case` does. Returns what it
        wrote, which Temporal keeps in the activity's marker (the audit trail of the read model)."""
        state, planned = req.state, None
        with self.session_factory() as session:
            if req.plan is not None:
                if self.calendar is None:
                    raise RuntimeError("record_transition needs the working calendar to plan deadlines")
                planned = merged(state, plan(self.calendar(session), req.plan))
                state = state.model_copy(update={"deadlines": planned})
            self.write(state, req.events, session)
        return Recorded(events=req.events, status=state.status, deadlines=planned)

    def write(self, state: CaseState, events: list[HistoryEntry], session: Session | None = None) -> int:
        """One transaction: an upsert of the case row (skipped for a late retry carrying an older
        state), the new history entries on the hash chain, the task and the warnings."""
        if session is None:
            with self.session_factory() as own:
                return self.write(state, events, own)
        with write_transaction(session):
            return self._write(session, state, events)

    def _write(self, session: Session, state: CaseState, events: list[HistoryEntry]) -> int:
        now = datetime.now(UTC)
        rev = events[-1].seq if events else None
        figure_columns = self._figures(session, state)
        with figures_summary.tracking(session, [state.id]):  # the daily summary moves with the row
            fresh = self._upsert_case(session, state, rev, now, figure_columns)
        last = session.exec(select(CaseEvent.seq, CaseEvent.hash).where(CaseEvent.case_id == state.id)
                            .order_by(col(CaseEvent.seq).desc()).limit(1)).first()
        last_seq, prev_hash = (last[0], last[1]) if last else (0, chain.GENESIS)
        new: list[CaseEvent] = []
        for e in events:
            if e.seq <= last_seq:
                continue
            ev = CaseEvent(case_id=state.id, seq=e.seq, at=e.at, actor=e.actor, role=e.role,
                           department=e.department, action=e.action, comment=e.comment,
                           data=e.model_dump(mode="json")["data"], prev_hash=prev_hash, hash="")
            ev.hash = chain.record_hash(prev_hash, ev)
            prev_hash, last_seq = ev.hash, e.seq
            session.add(ev)
            new.append(ev)
        feed.enqueue_history(session, state.case_no, state.status.value, new)  # the outbox, same transaction
        if fresh:
            self._sync_task(session, state)
        self._sync_warnings(session, state)
        if state.urges:
            sync_urges(session, state)
        if state.warnings:
            refresh_board(session, [state.id])
        sync_copies(session, state, events)
        archive_queue.enqueue_closed(session, state)  # a closed case's package is built off its path
        session.commit()
        return last_seq

    def _figures(self, session: Session, state: CaseState) -> dict[str, Any]:
        item = self.item_lookup(state.item_code, state.item_version, state.department, state.parent_id is not None)
        calendar = self.calendar
        return figure_columns(state, item, lambda: calendar(session) if calendar else load_calendar(session))

    def _upsert_case(self, session: Session, state: CaseState, rev: int | None, now: datetime,
                     figures: dict[str, Any]) -> bool:
        """Insert or update the case row in one statement (no load of the old row); False when the row
        already holds a later state."""
        values: dict[str, Any] = dict(
            case_no=state.case_no, item_code=state.item_code, item_version=state.item_version,
            item_name=state.item_name, kind=state.kind, department=state.department, status=state.status.value,
            applicant_username=state.applicant.username, applicant_id_number=state.applicant.id_number,
            applicant_name=state.applicant.name, channel=state.channel.value, parent_id=state.parent_id,
            submitted_at=state.submitted_at, accepted_at=state.accepted_at, decided_at=state.decided_at,
            concluded_at=state.concluded_at, acceptance_due=state.deadlines.acceptance_due,
            promised_due=state.deadlines.promised_due, statutory_due=state.deadlines.statutory_due,
            warning=highest_warning(state), rating=state.rating, snapshot=state.model_dump(mode="json"),
            clock_at=state.clock_at, recorded_at=now, **figures)
        table = Case.__table__  # type: ignore[attr-defined]
        stmt = upsert(session, table).values(id=state.id, rev=rev or 0, **values)
        if rev is None:  # nothing new in the history: the state is the latest
            stmt = stmt.on_conflict_do_update(index_elements=[table.c.id], set_=values)
        else:
            stmt = stmt.on_conflict_do_update(index_elements=[table.c.id], set_={**values, "rev": rev},
                                              where=table.c.rev <= rev)
        return session.execute(stmt).rowcount > 0  # type: ignore[attr-defined]

    def _sync_task(self, session: Session, state: CaseState) -> None:
        item = self.item_lookup(state.item_code, state.item_version, state.department, state.parent_id is not None)
        roles = sorted(waiting_roles(item, state)) if state.status not in CLOSED else []
        if (state.kind != "single" and state.current_step is None
                and state.status not in (Status.SUBMITTED, Status.DECIDED, Status.DELIVERED)):
            roles = []  # a joint or bundle parent waits on its sub-cases, not on a person (until its own steps)
        table = Task.__table__  # type: ignore[attr-defined]
        if not roles:
            session.execute(delete(table).where(table.c.case_id == state.id))
            return
        step = current_step(item, state)
        values = dict(department=state.department, roles=[str(r) for r in roles], item_code=state.item_code,
                      item_name=state.item_name, status=state.status.value,
                      step_id=step.id if step else None, step_name=step.name if step else None,
                      step_role=step.role.value if step else None, due=task_due(state),
                      warning=highest_warning(state), claimed_by=state.claimed_by, parent_id=state.parent_id)
        session.execute(upsert(session, table).values(case_id=state.id, **values)
                        .on_conflict_do_update(index_elements=[table.c.case_id], set_=values))

    def _sync_warnings(self, session: Session, state: CaseState) -> None:
        if not state.warnings:
            return
        have = {(w.cause, w.step_key) for w in session.exec(
            select(CaseWarning).where(CaseWarning.case_id == state.id)).all()}
        for w in state.warnings:
            key = (w.cause.value, w.step_id or "")
            if key not in have:
                session.add(CaseWarning(case_id=state.id, department=state.department, item_code=state.item_code,
                                        level=w.level.value, cause=w.cause.value, step_key=w.step_id or "",
                                        at=w.at, reason=w.reason))
                have.add(key)
