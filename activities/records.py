"""Read-model writes (idempotent upserts): the case row, its hash-chained history, its task
and its warnings, exactly as the workflow's state says after a transition."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select
from temporalio import activity

from activities.copies import sync_copies
from banjian import chain
from banjian.contracts import CaseState, RecordRequest
from banjian.db import Case, CaseEvent, CaseWarning, Task
from banjian.enums import CLOSED, Status, WarningLevel
from banjian.items.schema import ItemDefinition
from banjian.rules import current_step, waiting_roles

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


class RecordActivities:
    """Keeps the read model in step with the workflows; takes a session factory and an item lookup."""

    def __init__(self, session_factory: Callable[[], Session],
                 item_lookup: Callable[[str, int, str, bool], ItemDefinition]) -> None:
        self.session_factory = session_factory
        self.item_lookup = item_lookup

    @activity.defn(name="record_case")
    def record_case(self, req: RecordRequest) -> int:
        """Upsert the case, append new history entries (skipping those already there), refresh its
        task and warnings. Safe to retry. Returns the number of history rows of the case."""
        state = req.state
        now = datetime.now(UTC)
        rev = req.events[-1].seq if req.events else None
        with self.session_factory() as session:
            row = session.get(Case, state.id)
            fresh = row is None or rev is None or rev >= row.rev  # a late retry carries an older state
            if fresh:
                row = self._upsert_case(session, row, state, rev, now)
            last = session.exec(select(CaseEvent).where(CaseEvent.case_id == state.id)
                                .order_by(col(CaseEvent.seq).desc()).limit(1)).first()
            prev_hash, last_seq = (last.hash, last.seq) if last else (chain.GENESIS, 0)
            for e in req.events:
                if e.seq <= last_seq:
                    continue
                ev = CaseEvent(case_id=state.id, seq=e.seq, at=e.at, actor=e.actor, role=e.role,
                               department=e.department, action=e.action, comment=e.comment,
                               data=e.model_dump(mode="json")["data"], prev_hash=prev_hash, hash="")
                ev.hash = chain.record_hash(prev_hash, ev)
                prev_hash, last_seq = ev.hash, e.seq
                session.add(ev)
            if fresh:
                self._sync_task(session, state)
            self._sync_warnings(session, state)
            sync_copies(session, state, req.events)
            session.commit()
            return last_seq

    def _upsert_case(self, session: Session, row: Case | None, state: CaseState, rev: int | None,
                     now: datetime) -> Case:
        values: dict[str, Any] = dict(
            case_no=state.case_no, item_code=state.item_code, item_version=state.item_version,
            item_name=state.item_name, kind=state.kind, department=state.department, status=state.status.value,
            applicant_username=state.applicant.username, applicant_id_number=state.applicant.id_number,
            applicant_name=state.applicant.name, channel=state.channel.value, parent_id=state.parent_id,
            submitted_at=state.submitted_at, accepted_at=state.accepted_at, decided_at=state.decided_at,
            concluded_at=state.concluded_at, acceptance_due=state.deadlines.acceptance_due,
            promised_due=state.deadlines.promised_due, statutory_due=state.deadlines.statutory_due,
            warning=highest_warning(state), rating=state.rating, snapshot=state.model_dump(mode="json"),
            clock_at=state.clock_at, recorded_at=now)
        if row is None:
            row = Case(id=state.id, rev=rev or 0, **values)
        else:
            for k, v in values.items():
                setattr(row, k, v)
            row.rev = rev if rev is not None else row.rev
        session.add(row)
        return row

    def _sync_task(self, session: Session, state: CaseState) -> None:
        task = session.get(Task, state.id)
        item = self.item_lookup(state.item_code, state.item_version, state.department, state.parent_id is not None)
        roles = sorted(waiting_roles(item, state)) if state.status not in CLOSED else []
        if (state.kind != "single" and state.current_step is None
                and state.status not in (Status.SUBMITTED, Status.DECIDED, Status.DELIVERED)):
            roles = []  # a joint or bundle parent waits on its sub-cases, not on a person (until its own steps)
        if not roles:
            if task is not None:
                session.delete(task)
            return
        step = current_step(item, state)
        values = dict(department=state.department, roles=[str(r) for r in roles], item_code=state.item_code,
                      item_name=state.item_name, status=state.status.value,
                      step_id=step.id if step else None, step_name=step.name if step else None,
                      step_role=step.role.value if step else None, due=task_due(state),
                      warning=highest_warning(state), claimed_by=state.claimed_by, parent_id=state.parent_id)
        if task is None:
            task = Task(case_id=state.id, **values)
        else:
            for k, v in values.items():
                setattr(task, k, v)
        session.add(task)

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
