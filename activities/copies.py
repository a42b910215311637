"""Read-model upkeep of copies (抄送): who a case was copied to, for their `copied` inbox tab.

Called from `record_case` with the state after a transition and the history entries it added;
idempotent (a retry finds the rows already there).
"""
from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from banjian.contracts import CaseState, HistoryEntry
from banjian.db_ext import CaseCopy
from banjian.enums import Action


def sync_copies(session: Session, state: CaseState, events: Sequence[HistoryEntry]) -> None:
    """Add a row per colleague in `state.copied_to` not listed yet (who copied and when come from
    the `copy_to` entry among `events`, else the state's clock)."""
    if not state.copied_to:
        return
    have = set(session.exec(select(CaseCopy.username).where(CaseCopy.case_id == state.id)).all())
    missing = [u for u in dict.fromkeys(state.copied_to) if u not in have]
    if not missing:
        return
    by_user = {e.data.get("username"): e for e in events if e.action == Action.COPY_TO.value}
    for username in missing:
        entry = by_user.get(username)
        session.add(CaseCopy(case_id=state.id, username=username,
                             copied_by=entry.actor if entry else None,
                             copied_at=entry.at if entry else state.clock_at))


def copied_case_ids(session: Session, username: str) -> list[str]:
    """The cases copied to `username` (any status)."""
    return list(session.exec(select(CaseCopy.case_id).where(CaseCopy.username == username)
                             .order_by(col(CaseCopy.copied_at).desc())).all())
