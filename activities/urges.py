"""Read-model writes of urges (督办): the `case_urges` rows as the case's state says (idempotent)."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session

from banjian.contracts import CaseState
from banjian.enums import CLOSED
from banjian.urge_records import CaseUrge


def sync_urges(session: Session, state: CaseState) -> None:
    """Upsert every urge of the case (a case has few); called in the recording transaction."""
    from activities.records import upsert

    table = CaseUrge.__table__  # type: ignore[attr-defined]
    for u in state.urges:
        values: dict[str, Any] = dict(
            key=f"urge-{u.n}", department=state.department, parent_id=state.parent_id, by=u.by, at=u.at,
            comment=u.comment, reply_by=u.reply_by, board_on=u.board_on, departments=u.departments,
            forwarded_from=u.forwarded_from, escalated=u.escalated, replied_at=u.replied_at,
            replied_by=u.replied_by, reply=u.reply,
            open=u.replied_at is None and not u.departments and state.status not in CLOSED)
        session.execute(upsert(session, table).values(case_id=state.id, n=u.n, **values)
                        .on_conflict_do_update(index_elements=[table.c.case_id, table.c.n], set_=values))
