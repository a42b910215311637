"""The warnings board (电子监察预警): the warnings of open cases, served from the read model, and
beside them those of consultations, complaints and rectifications (`banjian/oversight_board.py`).

A warning is on the board while its case is open and its cause is not cured:
- a closed case (concluded, refused, withdrawn, terminated) leaves the board;
- `step_overdue` is cured once the case left that step; `acceptance_overdue` once the case was
  accepted (or refused); `promised_due_near` (the notice that the promised deadline is near) once
  that deadline passed: the case's `promised_overdue` yellow card says more and replaces it;
- `urge_unanswered` (an urge's second escalation) is cured once the urge is answered;
- a paused clock (special procedure, suspension) shows as `paused`.
`working_days_over`: working days from the due date the cause names (promised, statutory,
acceptance, an urge's reply date; the day before the warning for a step) to today, or to the case
clock if that is later (0 for `promised_due_near`; a `pre_review_overdue` notice counts them). While the clock is paused they stand still at the day it was
paused (`clock.paused_since` of the case's snapshot): the lateness accrued so far stays on the board.
An unanswered urge is owed whatever the case's clock: its days go on, and its row is not `paused`.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlmodel import Session

from banjian.calendar import WorkingCalendar
from banjian.db import Case, CaseWarning
from banjian.enums import CLOSED, WarningCause, WarningLevel
from banjian.oversight_board import KIND_ZH, other_warnings, sort_key
from banjian.timefmt import CHINA, aware, china_date, iso_at
from banjian.urge_records import CaseUrge

C = Case.__table__.c  # type: ignore[attr-defined]
W = CaseWarning.__table__.c  # type: ignore[attr-defined]
U = CaseUrge.__table__.c  # type: ignore[attr-defined]
OTHER = CaseWarning.__table__.alias("other")  # type: ignore[attr-defined]  # the case's other warnings
W2 = OTHER.c

LEVEL_RANK = case((W.level == WarningLevel.RED.value, 0), (W.level == WarningLevel.YELLOW.value, 1), else_=2)


def _on_board() -> list[Any]:
    return [
        C.status.not_in([s.value for s in CLOSED]),
        or_(W.cause != WarningCause.STEP_OVERDUE.value, C.step_id == W.step_key),
        or_(W.cause != WarningCause.ACCEPTANCE_OVERDUE.value, C.accepted_at.is_(None)),
        # the notice that the promised deadline is near is superseded once it passed (its yellow card)
        or_(W.cause != WarningCause.PROMISED_DUE_NEAR.value,
            # correlated with the warning being refreshed (the UPDATE's row), two levels up
            ~exists(select(W2.id).where(W2.case_id == W.case_id, W2.cause == WarningCause.PROMISED_OVERDUE.value)
                    .correlate_except(OTHER))),
        # an urge escalated to the board leaves it once the department answered it
        or_(W.cause != WarningCause.URGE_UNANSWERED.value,
            exists(select(U.case_id).where(U.case_id == W.case_id, U.key == W.step_key, U.open.is_(True))
                   .correlate_except(CaseUrge.__table__))),  # type: ignore[attr-defined]
    ]


def refresh(session: Session, case_ids: list[str]) -> None:
    """Set `active` (on the board) and `level_rank` of these cases' warnings from their case rows,
    in one UPDATE: called by the recording activity after it wrote a case that has warnings."""
    on_board = exists(select(C.id).where(C.id == W.case_id, *_on_board()))
    session.execute(update(CaseWarning.__table__).where(W.case_id.in_(case_ids))  # type: ignore[attr-defined]
                    .values(active=on_board, level_rank=LEVEL_RANK))


def board(session: Session, calendar: WorkingCalendar, *, level: str | None = None, department: str | None = None,
          item_code: str | None = None, limit: int = 50, offset: int = 0,
          today: date | None = None, kinds: Collection[str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The page of the board (reddest and oldest first) and the number of warnings on it: the case
    warnings and those of consultations, complaints and rectifications (`banjian/oversight_board.py`);
    `kinds` (of `KIND_ZH`) keeps only those (None: every kind)."""
    wall = today or datetime.now(CHINA).date()  # the China day: before 08:00 the UTC day is yesterday
    others = other_warnings(session, calendar, wall, level=level, department=department, item_code=item_code)
    if kinds is not None:
        others = [w for w in others if w["kind"] in kinds]
        if "case" not in kinds:
            others.sort(key=sort_key)
            return others[offset:offset + limit], len(others)
    if not others:
        return _case_board(session, calendar, level, department, item_code, limit, offset, wall)
    cases, total = _case_board(session, calendar, level, department, item_code, offset + limit, 0, wall)
    merged = sorted(cases + others, key=sort_key)  # stable: the cases keep their own order among equals
    return merged[offset:offset + limit], total + len(others)


def _case_board(session: Session, calendar: WorkingCalendar, level: str | None, department: str | None,
                item_code: str | None, limit: int, offset: int, wall: date) -> tuple[list[dict[str, Any]], int]:
    """The page of case warnings on the board and their number."""
    where: list[Any] = [W.active]  # the partial index's own predicate (`active IS true` does not match it)
    if level is not None:
        where.append(W.level == level)
    if department is not None:
        where.append(W.department == department)
    if item_code is not None:
        where.append(W.item_code == item_code)
    # an unanswered urge's row names its urge (`step_key` urge-{n}): its reply date is the due date
    joined = (CaseWarning.__table__.join(Case.__table__, C.id == W.case_id)
              .outerjoin(CaseUrge.__table__, and_(W.cause == WarningCause.URGE_UNANSWERED.value,  # type: ignore[attr-defined]
                                                  U.case_id == W.case_id, U.key == W.step_key)))
    total = session.execute(select(func.count()).select_from(CaseWarning.__table__)  # type: ignore[attr-defined]
                            .where(and_(*where))).scalar_one()
    rows = session.execute(
        select(W.case_id, W.department, W.item_code, W.level, W.cause, W.at, W.reason, C.case_no, C.clock_paused,
               C.promised_due, C.statutory_due, C.acceptance_due, C.clock_at, U.reply_by)
        .select_from(joined).where(and_(*where)).order_by(W.level_rank, W.at, W.id).limit(limit).offset(offset))
    rows = list(rows)
    stopped = _paused_since(session, [r.case_id for r in rows if r.clock_paused])
    out = []
    for r in rows:
        # an urge is answered whatever the case's clock: its lateness does not stand still
        paused = bool(r.clock_paused) and r.cause != WarningCause.URGE_UNANSWERED.value
        now = max(wall, china_date(aware(r.clock_at)))
        if paused and r.case_id in stopped:
            now = stopped[r.case_id]  # the lateness accrued until the clock stopped
        out.append({"kind": "case", "kind_zh": KIND_ZH["case"], "id": r.case_id,
                    "case_id": r.case_id, "case_no": r.case_no, "department": r.department,
                    "item_code": r.item_code, "level": r.level, "cause": r.cause, "reason": r.reason,
                    "since": iso_at(r.at), "paused": paused, "working_days_over": _over(calendar, r, now),
                    "due": _due(r), "url": f"/cases/{r.case_id}"})
    return out, total


def _paused_since(session: Session, case_ids: list[str]) -> dict[str, date]:
    """The China day each of these paused cases stopped its clock (from the snapshot: only the few
    paused cases of a page pay for reading it); a case without one is left out."""
    if not case_ids:
        return {}
    since = C.snapshot[("clock", "paused_since")].as_string()
    out = {}
    for cid, raw in session.execute(select(C.id, since).where(C.id.in_(case_ids))):
        if raw:
            out[cid] = china_date(aware(datetime.fromisoformat(raw)))
    return out


def _named_due(r: Any) -> date | None:
    """The due date the warning's cause names: the promised, statutory or acceptance limit, or the
    reply date of an unanswered urge (none for a step's)."""
    due: date | None = {
        WarningCause.PROMISED_OVERDUE.value: r.promised_due, WarningCause.PROMISED_DUE_NEAR.value: r.promised_due,
        WarningCause.STATUTORY_OVERDUE.value: r.statutory_due, WarningCause.ACCEPTANCE_OVERDUE.value: r.acceptance_due,
        WarningCause.URGE_UNANSWERED.value: r.reply_by}.get(r.cause)
    return due


def _due(r: Any) -> str | None:
    due = _named_due(r)
    return due.isoformat() if due is not None else None


def _over(calendar: WorkingCalendar, r: Any, today: date) -> int:
    if r.cause == WarningCause.PROMISED_DUE_NEAR.value:
        return 0
    due = _named_due(r)
    if due is None:
        due = china_date(aware(r.at)) - timedelta(days=1)
    return calendar.working_days_between(due, today)
