"""The warnings of consultations, complaints (咨询 / 投诉) and rectifications (整改) on the
supervisors' warnings board, beside the case warnings of `banjian/warnings_board.py`.

An inquiry is on the board while it is unanswered and warned (`answer_due_near`: notice, from the
start of its due day; `answer_overdue`: yellow, once its due day ended); a rectification while its
department still owes work (open, called back, reopened, appealed) and it is warned
(`rectification_due_near` / `rectification_overdue`). Each row carries the board's contracted fields
(`case_id`: the case it concerns, or null; `department`, `item_code`, `level`, `cause`, `since`,
`working_days_over`) and `kind` (`consultation`, `complaint`, `rectification`), `id`, `due` and
`url` (its page). `working_days_over`: working days from the due date to today, or to the day of
the warning if that is later (0 for a notice).
These rows are few (only what is open and late), so they are read whole and merged with the page of
case warnings in Python.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from banjian.calendar import WorkingCalendar
from banjian.inquiries import Inquiry
from banjian.rectification import OWING
from banjian.rectification_records import Rectification
from banjian.timefmt import aware, china_date, end_of, iso_at, start_of

KIND_ZH = {"case": "办件", "consultation": "咨询", "complaint": "投诉", "rectification": "整改"}
RANK = {"red": 0, "yellow": 1, "notice": 2}
INQUIRY_CAUSE = {"notice": "answer_due_near", "yellow": "answer_overdue"}
RECT_CAUSE = {"notice": "rectification_due_near", "yellow": "rectification_overdue"}
REASON = {"answer_due_near": "今日为答复期限（{due}）", "answer_overdue": "已超过答复期限（{due}）",
          "rectification_due_near": "临近整改期限（{due}）", "rectification_overdue": "已超过整改期限（{due}）"}


def other_warnings(session: Session, calendar: WorkingCalendar, today: date, *, level: str | None = None,
                   department: str | None = None, item_code: str | None = None) -> list[dict[str, Any]]:
    """Every warned open inquiry and owing rectification, as rows of the board (unordered)."""
    out: list[dict[str, Any]] = []
    iq = select(Inquiry).where(Inquiry.status == "open", col(Inquiry.warning).is_not(None))
    rq = select(Rectification).where(col(Rectification.status).in_(sorted(OWING)),
                                     col(Rectification.warning).is_not(None))
    if level is not None:
        iq, rq = iq.where(Inquiry.warning == level), rq.where(Rectification.warning == level)
    if department is not None:
        iq, rq = iq.where(Inquiry.department == department), rq.where(Rectification.department == department)
    if item_code is not None:
        iq, rq = iq.where(Inquiry.item_code == item_code), rq.where(Rectification.item_code == item_code)
    for i in session.exec(iq):
        assert i.warning is not None
        since = start_of(i.answer_due) if i.warning == "notice" else end_of(i.answer_due)
        out.append(_row(calendar, today, kind=i.kind, id=i.id, case_id=i.case_id, department=i.department,
                        item_code=i.item_code, level=i.warning, cause=INQUIRY_CAUSE[i.warning], since=since,
                        due=i.answer_due, url=f"/supervision/inquiries/{i.id}"))
    for r in session.exec(rq):
        assert r.warning is not None
        cause = RECT_CAUSE[r.warning]
        fired = [w for w in (r.snapshot or {}).get("warnings", []) if w.get("cause") == cause and w.get("at")]
        since = aware(datetime.fromisoformat(fired[-1]["at"])) if fired else end_of(r.due)
        out.append(_row(calendar, today, kind="rectification", id=r.id, case_id=r.case_id, department=r.department,
                        item_code=r.item_code, level=r.warning, cause=cause, since=since, due=r.due,
                        url=f"/rectifications/{r.id}", case_no=r.case_no))
    return out


def _row(calendar: WorkingCalendar, today: date, *, kind: str, id: str, case_id: str | None, department: str,
         item_code: str | None, level: str, cause: str, since: datetime, due: date, url: str,
         case_no: str | None = None) -> dict[str, Any]:
    # the warning's own time bounds today from below, as a case's clock does (simulated time runs ahead)
    over = 0 if level == "notice" else calendar.working_days_between(due, max(today, china_date(since)))
    return {"kind": kind, "kind_zh": KIND_ZH[kind], "id": id, "case_id": case_id, "case_no": case_no,
            "department": department, "item_code": item_code, "level": level, "cause": cause,
            "reason": REASON[cause].format(due=due.isoformat()), "since": iso_at(since), "due": due.isoformat(),
            "paused": False, "working_days_over": over, "url": url}


def sort_key(row: dict[str, Any]) -> tuple[int, str]:
    """Reddest first, then oldest (the board's order)."""
    return RANK.get(row["level"], 3), row["since"] or ""
