"""The urges (督办) of a case as its page shows them to the department's staff and to supervisors:
who urged and what, the reply date, and where each stands — awaiting a reply, escalated to the
department's head, reported to supervision, forwarded to a joint case's departments (with where
each department's copy stands, as the lead unit's figures count it: answered once every copy is),
or answered (by whom, when, what). Read from the urges' read model (`banjian/urge_records.py`); the workflow
decides. An applicant is not shown them (supervision is internal)."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from banjian.db import User
from banjian.timefmt import aware
from banjian.urge_records import CaseUrge
from banjian.urges import TO_BOARD, TO_HEAD


def _copy_standing(copy: CaseUrge | None) -> str:
    if copy is None:  # its sub-case had closed when the urge reached it
        return ""
    if copy.replied_at is not None:
        return "（已回复）"
    return "（逾期未回复）" if copy.escalated >= TO_HEAD else "（待回复）"


def standing(u: CaseUrge, departments: dict[str, str], closed: bool,
             copies: dict[str, CaseUrge] | None = None) -> str:
    """Where an urge stands, in words; a joint case's forwarded urge by its sub-cases' `copies`
    (department → copy)."""
    if u.replied_at is not None:
        return "已回复"
    if u.departments:
        copies = copies or {}
        names = "、".join(departments.get(d, d) for d in u.departments)
        if copies and all(c.replied_at is not None for c in copies.values()):
            return f"各部门均已回复（{names}）"
        return "已转各部门：" + "、".join(departments.get(d, d) + _copy_standing(copies.get(d)) for d in u.departments)
    if closed:
        return "办件已结束，未回复"
    if u.escalated >= TO_BOARD:
        return "逾期未回复，已报电子监察"
    if u.escalated >= TO_HEAD:
        return "逾期未回复，已升级至部门负责人"
    return "待回复"


def case_urges(session: Session, case_id: str, departments: dict[str, str], closed: bool) -> list[dict[str, Any]]:
    """The case's urges, oldest first, each with its standing and the people named by display name."""
    rows = session.exec(select(CaseUrge).where(CaseUrge.case_id == case_id).order_by(col(CaseUrge.n))).all()
    if not rows:
        return []
    wanted = sorted({u.by for u in rows} | {u.replied_by for u in rows if u.replied_by})
    names = dict(session.exec(select(User.username, User.display_name).where(col(User.username).in_(wanted))).all())
    copies: dict[Any, dict[str, CaseUrge]] = {}  # urge's `at` → department → its sub-case's copy
    if any(u.departments for u in rows):
        for c in session.exec(select(CaseUrge).where(CaseUrge.forwarded_from == case_id)).all():
            copies.setdefault(aware(c.at), {})[c.department] = c
    return [{"n": u.n, "by": names.get(u.by) or u.by, "at": aware(u.at), "comment": u.comment, "reply_by": u.reply_by,
             "open": u.open, "escalated": u.escalated,
             "standing": standing(u, departments, closed, copies.get(aware(u.at))),
             "replied_by": (names.get(u.replied_by) or u.replied_by) if u.replied_by else None,
             "replied_at": aware(u.replied_at) if u.replied_at else None, "reply": u.reply} for u in rows]
