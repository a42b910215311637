"""Figures per department beside the case figures (`banjian/figures.py`): consultations and
complaints (咨询投诉), window appointments missed (预约爽约) and urges (督办), computed by SQL on
the read model.

For each kind (`consultations`, `complaints`): the number received in the period (by `filed_at`,
China dates, both ends included), answered, answered on time (answered by the end of the answer
limit's day, i.e. answered and not overdue), the on-time rate (answered on time / answered; null
when none was answered) and overdue (answered late, or still open past the limit). `no_shows`:
bookings of the department's slots in the period (by the slot's day) marked as missed.
Urges (`case_urges`, one row per urge of a case; an urge of a joint case also one per sub-case of a
department still working, which that department received): `cases_urged` the department's cases
urged in the period (by the urge's `at`; a case urged twice counts once), `urges` the urges,
`urges_replied` those answered (`reply_urge`), `urges_overdue` those not answered by their reply
date (escalated to the head), split into `urges_replied_late` (answered after it) and
`urges_unanswered_overdue` (still unanswered). A joint case's urge that went on to its working
departments' sub-cases stands, in the lead unit's row, as its copies do (same `at`,
`forwarded_from` the joint case): answered once every copy is answered, overdue once any copy is.
One row per department with anything in the period, ordered by department.
"""
from __future__ import annotations

from datetime import UTC, date
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from banjian.appointments import Appointment
from banjian.inquiries import Inquiry
from banjian.timefmt import end_of, start_of
from banjian.urge_records import CaseUrge

I = Inquiry.__table__.c  # type: ignore[attr-defined]  # noqa: E741
A = Appointment.__table__.c  # type: ignore[attr-defined]
U = CaseUrge.__table__.c  # type: ignore[attr-defined]
#: the sub-cases' copies of a joint case's urge (`forwarded_from`), correlated with the urge `U`
COPY = CaseUrge.__table__.alias("urge_copy").c  # type: ignore[attr-defined]
KINDS = (("consultation", "consultations", "咨询"), ("complaint", "complaints", "投诉"))
#: (name, Chinese header, rate?) of every column after the department's code and name
FIGURES: tuple[tuple[str, str, bool], ...] = (
    *(fig for _, plural, zh in KINDS for fig in (
        (plural, f"{zh}受理量", False), (f"{plural}_answered", f"{zh}已答复", False),
        (f"{plural}_answered_on_time", f"{zh}按时答复", False), (f"{plural}_on_time_rate", f"{zh}按时答复率", True),
        (f"{plural}_overdue", f"{zh}超期", False))),
    ("no_shows", "预约爽约次数", False),
    ("cases_urged", "被督办件数", False), ("urges", "督办次数", False), ("urges_replied", "督办已回复", False),
    ("urges_overdue", "督办逾期", False), ("urges_replied_late", "督办逾期回复", False),
    ("urges_unanswered_overdue", "督办逾期未回复", False))
URGE_FIGURES = ("cases_urged", "urges", "urges_replied", "urges_overdue", "urges_replied_late",
                "urges_unanswered_overdue")
KEYS = (("department", "部门编码"), ("department_name", "部门名称"))
HEADERS_ZH = [zh for _, zh in KEYS] + [zh for _, zh, _ in FIGURES]
COLUMNS = [k for k, _ in KEYS] + [name for name, _, _ in FIGURES]
RATES = frozenset(name for name, _, rate in FIGURES if rate)


def _count(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((cond, 1), else_=0))


def _copies(*cond: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the urge `U` went on to sub-cases (copies with its `at`), with these conditions."""
    return exists(select(COPY.case_id).where(COPY.forwarded_from == U.case_id, COPY.at == U.at, *cond))


def _urge_replied() -> ColumnElement[bool]:
    """Answered: by the department, or (a joint case's urge) in every sub-case it went on to."""
    return or_(U.replied_at.is_not(None), and_(_copies(), not_(_copies(COPY.replied_at.is_(None)))))


def _urge_overdue() -> ColumnElement[bool]:
    """Not answered by the reply date: escalated to the head, itself or (a joint case's) any copy."""
    return or_(U.escalated >= 1, _copies(COPY.escalated >= 1))


def compute(session: Session, frm: date | None = None, to: date | None = None,
            department: str | None = None) -> list[dict[str, Any]]:
    """One row per department (see the module's docstring)."""
    iw: list[Any] = []
    aw: list[Any] = [A.status == "no_show"]
    uw: list[Any] = []
    if frm is not None:
        iw.append(I.filed_at >= start_of(frm).astimezone(UTC))
        aw.append(A.day >= frm)
        uw.append(U.at >= start_of(frm).astimezone(UTC))
    if to is not None:
        iw.append(I.filed_at < end_of(to).astimezone(UTC))
        aw.append(A.day <= to)
        uw.append(U.at < end_of(to).astimezone(UTC))
    if department is not None:
        iw.append(I.department == department)
        aw.append(A.department == department)
        uw.append(U.department == department)
    cols = []
    for kind, plural, _ in KINDS:
        mine = I.kind == kind
        answered = and_(mine, I.status == "answered")
        cols += [_count(mine).label(plural), _count(answered).label(f"{plural}_answered"),
                 _count(and_(answered, I.overdue.is_(False))).label(f"{plural}_answered_on_time"),
                 _count(and_(mine, I.overdue.is_(True))).label(f"{plural}_overdue")]
    rows: dict[str, dict[str, Any]] = {}
    for r in session.execute(select(I.department, *cols).where(*iw).group_by(I.department)):
        rows[r.department] = {k: int(v or 0) for k, v in r._mapping.items() if k != "department"}
    for dept, n in session.execute(select(A.department, func.count()).where(*aw).group_by(A.department)):
        rows.setdefault(dept, {})["no_shows"] = int(n)
    replied, overdue = _urge_replied(), _urge_overdue()
    urge_cols = (func.count(func.distinct(U.case_id)).label("cases_urged"), func.count().label("urges"),
                 _count(replied).label("urges_replied"), _count(overdue).label("urges_overdue"),
                 _count(and_(replied, overdue)).label("urges_replied_late"),
                 _count(and_(not_(replied), overdue)).label("urges_unanswered_overdue"))
    for r in session.execute(select(U.department, *urge_cols).where(*uw).group_by(U.department)):
        rows.setdefault(r.department, {}).update({k: int(getattr(r, k) or 0) for k in URGE_FIGURES})
    out = []
    for dept in sorted(rows):
        got = rows[dept]
        row: dict[str, Any] = {"department": dept}
        for _, plural, _ in KINDS:
            for suffix in ("", "_answered", "_answered_on_time", "_overdue"):
                row[plural + suffix] = got.get(plural + suffix, 0)
            answered = row[f"{plural}_answered"]
            row[f"{plural}_on_time_rate"] = round(row[f"{plural}_answered_on_time"] / answered, 4) if answered else None
        row["no_shows"] = got.get("no_shows", 0)
        row.update({k: got.get(k, 0) for k in URGE_FIGURES})
        out.append({k: row.get(k) for k in COLUMNS if k != "department_name"})
    return out
