"""Licence status changes in the event feed (证照状态变更推送): every suspension, reinstatement,
revocation, cancellation and expiry of an e-licence goes out through the event feed (banjian/feed.py)
to every subscriber, so that the provincial platform and anyone holding a copy learn of it.

Each licence has a stream of its own, keyed `lic-{case id}` (a licence is unique per case, and a
case id fits the feed's stream column where a licence identifier may not): `seq` is the number of
the licence's status changes so far (1, 2, ...), so a receiver sees them in order like a case's
history. `case_no` is the number of the case the licence was issued on, `action` `licence_status_changed`,
`status` the new status; `data` names the licence (`licence_id`, `licence_no`, `licence_type`), its case
(`case_id`, `case_no`), the change (`change`: suspend, reinstate, revoke, cancel or expire;
`old_status`, `new_status`), who (`actor`, `actor_kind`) and the comment. The outbox rows are written
by `enqueue_change` in the caller's transaction, the one that stores the new status and its
`licence_events` row, so a change is never stored without being queued, nor queued twice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, func, select

from banjian import feed, feed_events
from banjian.db import Case
from banjian.licence_store import Licence, LicenceEvent
from banjian.timefmt import iso_at

ACTION = "licence_status_changed"


def stream_key(case_id: str) -> str:
    """The feed stream of the licence issued on this case."""
    return f"lic-{case_id}"


def change_data(row: Licence, case_no: str | None, change: str, old_status: str, new_status: str,
                actor: str, actor_kind: str, comment: str | None, at: datetime) -> dict[str, Any]:
    """The event's `data`: the licence, its case, the change, who made it and why, and when."""
    return {"licence_id": row.id, "licence_no": row.licence_no, "licence_type": row.type,
            "holder_name": row.holder_name, "issuer": row.issuer, "department": row.department,
            "case_id": row.case_id, "case_no": case_no, "change": change, "old_status": old_status,
            "new_status": new_status, "actor": actor, "actor_kind": actor_kind, "comment": comment,
            "changed_at": iso_at(at)}


def enqueue_change(session: Session, row: Licence, change: str, old_status: str, actor: str, role: str,
                   comment: str | None, at: datetime) -> int:
    """Queue a status change of `row` (its new status already set, its `LicenceEvent` added) for
    every subscriber, in the caller's transaction (no commit). `role` is the history role: the
    actor's role, or `system` for the expiry timer. Returns the number of rows queued."""
    session.flush()  # the new LicenceEvent counts in seq
    seq = int(session.exec(select(func.count()).select_from(LicenceEvent)
                           .where(LicenceEvent.licence_id == row.id)).one())
    case = session.get(Case, row.case_id)
    case_no = case.case_no if case is not None else None
    kind = feed_events.actor_kind(role)
    data = change_data(row, case_no, change, old_status, row.status, actor, kind, comment, at)
    context = feed_events.case_context(row.item_code, case.item_name if case is not None else None, row.department)
    extra = feed_events.details(context, actor, role, ACTION, comment, data)
    return feed.enqueue(session, stream_key(row.case_id), case_no, row.status,
                        [(seq, ACTION, iso_at(at) or "", data)], [extra])
