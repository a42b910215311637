"""The `copied` inbox tab: open cases a colleague copied to the caller (抄送给我的办件)."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from api.inboxes import WARNING_RANK
from banjian.contracts import Actor
from banjian.db import Case, Task
from banjian.db_ext import CaseCopy
from banjian.enums import CLOSED
from banjian.timefmt import iso_at


def copied_tasks(session: Session, actor: Actor, limit: int, offset: int) -> dict[str, Any]:
    """Open cases copied to `actor`, the most urgent warning first, then earliest due; items shaped like the other inbox tabs plus
    `copied_by` and `copied_at`. A case that waits for nobody (closed) is in no inbox."""
    closed = [s.value for s in CLOSED]
    stmt = (select(CaseCopy, Case, Task)
            .join(Case, col(Case.id) == col(CaseCopy.case_id))
            .outerjoin(Task, col(Task.case_id) == col(CaseCopy.case_id))
            .where(CaseCopy.username == actor.username, col(Case.status).not_in(closed)))
    rows = session.exec(stmt).all()

    def due(row: tuple[CaseCopy, Case, Task | None]) -> date | None:
        _, case, task = row
        return task.due if task is not None and task.due is not None else case.promised_due

    rows = sorted(rows, key=lambda r: (WARNING_RANK.get(r[1].warning or "", len(WARNING_RANK)), due(r) is None, due(r) or date.max, r[1].id))
    items = []
    for copy, case, task in rows[offset:offset + limit]:
        d = due((copy, case, task))
        items.append({
            "case_id": case.id, "item_code": case.item_code, "item_name": case.item_name, "status": case.status,
            "step": ({"id": task.step_id, "name": task.step_name, "role": task.step_role}
                     if task is not None and task.step_id else None),
            "due": d.isoformat() if d else None, "warning": case.warning,
            "claimed_by": task.claimed_by if task is not None else None,
            "signers": task.signers if task is not None else [],
            "clock_paused": bool((case.snapshot.get("clock") or {}).get("paused")),
            "copied_by": copy.copied_by, "copied_at": iso_at(copy.copied_at)})
    return {"items": items, "total": len(rows)}
