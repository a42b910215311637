"""The e-licence verification log (核验记录) for auditors: every verification `licence_ops.verify`
logged (`licence_verifications`), newest first, filtered by licence and by China-time days, one
bounded page at a time. An auditor or admin with a department sees the verifications of the licences
their department issued; one without a department sees all."""
from __future__ import annotations

from datetime import UTC, date
from typing import Any

from sqlmodel import Session, col, func, select

from banjian import licence_ops as ops
from banjian.contracts import Actor
from banjian.errors import Invalid
from banjian.licence_store import Licence, LicenceVerification
from banjian.timefmt import end_of, iso_at, start_of

#: a page holds at most this many rows
MAX_LIMIT = 200


def check_period(day_from: date | None, day_to: date | None) -> None:
    """422 naming `from` when the period ends before it starts."""
    if day_from is not None and day_to is not None and day_from > day_to:
        raise Invalid("bad_period", "开始日期不能晚于结束日期", "`from` is after `to`", "from")


def licence_in_scope(session: Session, actor: Actor, typed: str) -> Licence:
    """The licence named by its identifier or number (as typed off paper) in the caller's scope; 404
    (`licence_not_found`, field `licence_id`) otherwise."""
    row = ops.find(session, typed)
    if row is None or (actor.department is not None and row.department != actor.department):
        raise ops.not_found(typed)
    return row


def page(session: Session, actor: Actor, licence_id: str | None, day_from: date | None, day_to: date | None,
         limit: int, offset: int) -> dict[str, Any]:
    """`{"items": [...], "total", "limit", "offset"}`: the verifications in the filter, newest first,
    each with the licence's number, type and holder; `valid` and `reason` null on rows logged before
    they were kept (migration 0037)."""
    where = []
    if licence_id:  # an unknown licence (404) answers before a bad period (422): the contract's order
        where.append(LicenceVerification.licence_id == licence_in_scope(session, actor, licence_id).id)
    check_period(day_from, day_to)
    if day_from is not None:
        where.append(LicenceVerification.at >= start_of(day_from).astimezone(UTC))
    if day_to is not None:
        where.append(LicenceVerification.at < end_of(day_to).astimezone(UTC))
    if actor.department is not None:
        where.append(Licence.department == actor.department)
    joined = (LicenceVerification.licence_id == Licence.id)
    total = session.exec(select(func.count()).select_from(LicenceVerification).join(Licence, joined)
                         .where(*where)).one()
    rows = session.exec(select(LicenceVerification, Licence.licence_no, Licence.type, Licence.holder_name)
                        .join(Licence, joined).where(*where)
                        .order_by(col(LicenceVerification.at).desc(), col(LicenceVerification.id).desc())
                        .offset(offset).limit(min(limit, MAX_LIMIT))).all()
    items = [{"id": v.id, "licence_id": v.licence_id, "licence_no": no, "licence_type": kind, "holder_name": holder,
              "at": iso_at(v.at), "address": v.address, "status": v.status, "signature_valid": v.signature_valid,
              "valid": v.valid, "reason": v.reason} for v, no, kind, holder in rows]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


__all__ = ["MAX_LIMIT", "check_period", "licence_in_scope", "page"]
