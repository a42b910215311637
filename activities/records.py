"""Read-model writes (idempotent upserts): the case row, its hash-chained history, its task
and its warnings, exactly as the workflow's state says after a transition, and the case's share
of the daily figures summary (`banjian/figures_summary.py`), in the same transaction."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, insert
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select
from temporalio import activity

from activities.calendar import load_calendar, plan
from activities.copies import sync_copies
from activities.figures import figure_columns
from activities.urges import sync_urges
from banjian import archive_queue, chain, feed, feed_events, figures_summary
from banjian.activity_contracts import Recorded, RecordRequest
from banjian.calendar import WorkingCalendar
from banjian.case_row import highest_warning, row_columns
from banjian.case_steps import current_step, waiting_roles
from banjian.contracts import CaseState, HistoryEntry
from banjian.db import Case, CaseEvent, CaseWarning, Task, write_transaction
from banjian.deadlines import merged
from banjian.enums import CLOSED, Decision, Role, Status
from banjian.items.schema import ItemDefinition
from banjian.warnings_board import refresh as refresh_board


def _refusal(state: CaseState) -> str | None:
    """The recorded reason of a denied case (the feed's `reason` of its `deny` event)."""
    result = state.result
    return result.reason if result is not None and result.decision == Decision.DENIED else None


def task_due(state: CaseState):
    d = state.deadlines
    if state.status == Status.SUBMITTED:
        return d.acceptance_due
    if state.status == Status.DECIDED:
        return d.delivery_due
    return d.step_due or d.promised_due


def upsert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT (SQLite and PostgreSQL both can)."""
    return _insert(session.get_bind().dialect.name, table)


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
        state), the new history entries on the hash chain, the task and the warnings. What needs no
        database (the row's values, the task's, the entries' data) is prepared before the transaction
        queues for the SQLite write lock, which is then held only for the statements themselves."""
        if session is None:
            with self.session_factory() as own:
                return self.write(state, events, own)
        ready = self._prepare(session, state, events)
        with write_transaction(session):
            return self._write(session, state, events, ready)

    def _prepare(self, session: Session, state: CaseState, events: list[HistoryEntry]) -> Prepared:
        """The values of the transition's rows, computed outside the write transaction (the item and
        the calendar come from caches; with SQLite's implicit transactions a read here holds nothing)."""
        item = self.item_lookup(state.item_code, state.item_version, state.department, state.parent_id is not None)
        calendar = self.calendar
        figures = figure_columns(state, item, lambda: calendar(session) if calendar else load_calendar(session))
        case = dict(row_columns(state), snapshot=state.model_dump(mode="json"), **figures)
        entries = [NewEntry(case_id=state.id, seq=e.seq, at=e.at, actor=e.actor, role=e.role, department=e.department,
                            action=e.action, comment=e.comment, data=e.model_dump(mode="json")["data"], prev_hash="")
                   for e in events]
        return Prepared(case=case, task=task_values(item, state), entries=entries)

    def _write(self, session: Session, state: CaseState, events: list[HistoryEntry], ready: Prepared) -> int:
        now = datetime.now(UTC)
        rev = events[-1].seq if events else None
        with figures_summary.tracking(session, [state.id]):  # the daily summary moves with the row
            fresh = self._upsert_case(session, state.id, ready.case, rev, now)
        conn = session.connection()
        last = conn.execute(_chain_head(), {"case_id": state.id}).first()
        last_seq, prev_hash = (last[0], last[1]) if last else (0, chain.GENESIS)
        new: list[NewEntry] = []
        for ev in ready.entries:
            if ev.seq <= last_seq:
                continue
            ev.prev_hash = prev_hash
            ev.hash = chain.record_hash(prev_hash, ev)
            prev_hash, last_seq = ev.hash, ev.seq
            new.append(ev)
        if new:
            conn.execute(_insert_entries(), [vars(ev) for ev in new])  # shallow: `asdict` deep-copies `data`
        feed.enqueue_history(session, state.case_no, state.status.value, new,  # the outbox, same transaction
                             feed_events.case_context(state.item_code, state.item_name, state.department),
                             _refusal(state))
        if fresh:
            self._sync_task(session, state.id, ready.task)
        self._sync_warnings(session, state)
        if state.urges:
            sync_urges(session, state)
        if state.warnings:
            refresh_board(session, [state.id])
        sync_copies(session, state, events)
        archive_queue.enqueue_closed(session, state)  # a closed case's package is built off its path
        session.commit()
        return last_seq

    def _upsert_case(self, session: Session, case_id: str, values: dict[str, Any], rev: int | None,
                     now: datetime) -> bool:
        """Insert or update the case row in one statement (no load of the old row); False when the row
        already holds a later state."""
        conn = session.connection()
        columns = (*values, "recorded_at")
        stmt = _case_upsert(conn.dialect.name, columns, rev is not None)
        return conn.execute(stmt, {**values, "recorded_at": now, "id": case_id, "rev": rev or 0}).rowcount > 0

    def _sync_task(self, session: Session, case_id: str, values: dict[str, Any] | None) -> None:
        """The case's task row as `task_values` says: written, or deleted when nobody is waited on."""
        conn = session.connection()
        if values is None:
            conn.execute(_task_delete(), {"case_id": case_id})
            return
        conn.execute(_task_upsert(conn.dialect.name, tuple(values)), {**values, "case_id": case_id})

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


def task_values(item: ItemDefinition, state: CaseState) -> dict[str, Any] | None:
    """The case's task row (who is waited on, for which step, by when; the added signers still to sign;
    whether its clock is paused), or None when nobody is."""
    roles = sorted(waiting_roles(item, state)) if state.status not in CLOSED else []
    if (state.kind != "single" and state.current_step is None
            and state.status not in (Status.SUBMITTED, Status.DECIDED, Status.DELIVERED)):
        roles = []  # a joint or bundle parent waits on its sub-cases, not on a person (until its own steps)
        js = state.joint_supplement
        if state.status == Status.IN_REVIEW and js is not None and js.asks and js.notified_at is None:
            roles = [Role.LEAD]  # departments asked for a supplement: the lead unit's notice is due (design 9)
    if not roles:
        return None
    step = current_step(item, state)
    return dict(department=state.department, roles=[str(r) for r in roles], item_code=state.item_code,
                item_name=state.item_name, status=state.status.value,
                step_id=step.id if step else None, step_name=step.name if step else None,
                step_role=step.role.value if step else None, due=task_due(state),
                warning=highest_warning(state), claimed_by=state.claimed_by, parent_id=state.parent_id,
                signers=state.countersign.pending() if state.countersign is not None else [],
                clock_paused=state.clock.paused)


@dataclasses.dataclass
class Prepared:
    """A transition's rows as values, ready before its write transaction (`RecordActivities._prepare`)."""
    case: dict[str, Any]
    task: dict[str, Any] | None
    entries: list[NewEntry]


@dataclasses.dataclass
class NewEntry:
    """A history row about to be written (the chain's fields, as `chain.record_hash` reads them)."""
    case_id: str
    seq: int
    at: datetime
    actor: str
    role: str
    department: str | None
    action: str
    comment: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str = ""


# The statements of a transition, built once (per dialect and set of columns) and run with parameters
# on the session's connection: built per call, with the values inside, their construction and cache
# keys cost more than SQLite's running them (docs/benchmarks.md).

def _insert(dialect: str, table: Any) -> Any:
    """An INSERT of `dialect` that can say ON CONFLICT."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@cache
def _case_upsert(dialect: str, columns: tuple[str, ...], checked: bool) -> Any:
    """INSERT … ON CONFLICT (id) DO UPDATE of `columns`; `checked`: also `rev`, only over an older or equal
    rev (a late retry carrying an older state changes nothing)."""
    table = Case.__table__  # type: ignore[attr-defined]
    ins = _insert(dialect, table)
    set_ = {c: ins.excluded[c] for c in columns}
    if not checked:  # nothing new in the history: the state is the latest
        return ins.on_conflict_do_update(index_elements=[table.c.id], set_=set_)
    return ins.on_conflict_do_update(index_elements=[table.c.id], set_={**set_, "rev": ins.excluded.rev},
                                     where=table.c.rev <= ins.excluded.rev)


@cache
def _task_upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    table = Task.__table__  # type: ignore[attr-defined]
    ins = _insert(dialect, table)
    return ins.on_conflict_do_update(index_elements=[table.c.case_id], set_={c: ins.excluded[c] for c in columns})


@cache
def _task_delete() -> Any:
    table = Task.__table__  # type: ignore[attr-defined]
    return delete(table).where(table.c.case_id == bindparam("case_id"))


@cache
def _chain_head() -> Any:
    t = CaseEvent.__table__.c  # type: ignore[attr-defined]
    return sa_select(t.seq, t.hash).where(t.case_id == bindparam("case_id")).order_by(t.seq.desc()).limit(1)


@cache
def _insert_entries() -> Any:
    return insert(CaseEvent.__table__)  # type: ignore[attr-defined]
