"""What the pages show of e-licences beyond the holder's list: a case's licence with its status
log (the case page), and a department's issued licences with the changes each caller may make
(the staff page /licences). Reads only; changes go through `licence_ops.act`, as the API's do.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, func, select

from banjian import licence_ops as ops
from banjian import licences as lic
from banjian.contracts import Actor
from banjian.enums import Role
from banjian.licence_store import Licence, LicenceEvent
from banjian.timefmt import iso_at

#: the statuses a staff member may filter by (as of today)
STATUSES = tuple(s.value for s in lic.LicenceStatus)
PAGE = 20


def _events(session: Session, licence_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == licence_id)
                        .order_by(col(LicenceEvent.id))).all()
    return [{"at": iso_at(e.at), "actor": e.actor, "action": e.action, "comment": e.comment, "status": e.status}
            for e in rows]


def of_case(session: Session, case_id: str, on: date) -> dict[str, Any] | None:
    """The licence issued on a case (for whoever may read the case): its status today and the log
    of its status changes, oldest first; None if the case has none."""
    row = session.exec(select(Licence).where(Licence.case_id == case_id)).first()
    if row is None:
        return None
    return {**ops.summary(row, on), "events": _events(session, row.id)}


def actions_for(actor: Actor, row: Licence, on: date) -> list[str]:
    """The changes `licence_ops.act` would allow this caller on this licence today."""
    if not (actor.has(Role.APPROVER) and actor.department == row.department):
        return []
    current = ops.status_of(row, on)
    return [a.value for a, (sources, _) in lic.TRANSITIONS.items() if current in sources]


def _status_filter(status: str, on: date) -> ColumnElement[bool]:
    """Licences whose status today is `status` (expiry computed from `valid_to`, as verification does)."""
    expiring = [s.value for s in lic.EXPIRING]
    lapsed = and_(col(Licence.status).in_(expiring), col(Licence.valid_to).is_not(None), col(Licence.valid_to) < on)
    if status == lic.LicenceStatus.EXPIRED.value:
        return or_(col(Licence.status) == status, lapsed)
    if status in expiring:
        return and_(col(Licence.status) == status, or_(col(Licence.valid_to).is_(None), col(Licence.valid_to) >= on))
    return col(Licence.status) == status


def issued_by(session: Session, actor: Actor, status: str | None, page: int, on: date) -> dict[str, Any]:
    """The licences the caller's department issued, newest first, `PAGE` a page, optionally of one
    status (as of `on`); each with the changes the caller may make."""
    where = [col(Licence.department) == actor.department]
    if status:
        where.append(_status_filter(status, on))
    total = int(session.exec(select(func.count()).select_from(Licence).where(*where)).one())
    rows = session.exec(select(Licence).where(*where).order_by(col(Licence.issued_at).desc(), col(Licence.id))
                        .offset((page - 1) * PAGE).limit(PAGE)).all()
    return {"items": [{**ops.summary(r, on), "holder_id_masked": lic.mask_id(r.holder_id),
                       "actions": actions_for(actor, r, on), "events": _events(session, r.id)} for r in rows],
            "total": total, "page": page, "more": total > page * PAGE}
