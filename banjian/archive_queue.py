"""The archive queue (待归档队列): closed top-level cases whose archive package is not built yet.

The recording transaction enqueues a case when the state it writes is closed (`enqueue_closed`, one
statement in the same transaction as the case row, so a closed case always has its package or its
queue row, whatever dies when). The worker's sweeper (`activities/archive.py` `ArchiveSweeper`)
claims rows in batches under a lease (`claim`), builds the packages (`banjian/audit/archive.py`
`Archiver`) and deletes the rows whose `archives` row exists (`finish`). Several sweepers (one per
worker process) and the API's build on demand may meet on a case: the lease keeps two sweepers from
building the same case in the usual course, and `Archiver`'s claim of the `archives` row keeps one
package when they do meet. Migration 0017 enqueues the closed cases that had no package yet.
"""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, exists, func, literal, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select
from sqlmodel.sql.sqltypes import UTCDateTime

from banjian.contracts import CaseState
from banjian.db import Archive, connection_of, write_transaction
from banjian.enums import CLOSED

#: the metric that tells how many closed cases wait for their package (`GET /metrics`)
DEPTH_METRIC = "banjian_archive_queue_depth"


class ArchiveQueueEntry(SQLModel, table=True):
    """A closed case waiting for its archive package."""

    __tablename__ = "archive_queue"
    case_id: str = Field(primary_key=True, max_length=40)
    enqueued_at: datetime
    #: not claimed again before this instant (a sweeper's lease, or the back-off after a failure)
    not_before: datetime | None = None
    lease: str | None = None
    attempts: int = 0
    error: str | None = None


def _table():
    return ArchiveQueueEntry.__table__  # type: ignore[attr-defined]


def enqueue_closed(session: Session, state: CaseState) -> None:
    """Queue a closed top-level case for its archive package, unless it is queued or archived already
    (one statement; a no-op for open cases and sub-cases, whose packages are their parent's)."""
    if state.parent_id is not None or state.status not in CLOSED:
        return
    conn = connection_of(session)
    conn.execute(_enqueue_statement(conn.dialect.name), {"case_id": state.id, "at": datetime.now(UTC)})


@cache
def _enqueue_statement(dialect: str) -> Any:
    """The enqueue's INSERT … SELECT … WHERE NOT EXISTS, built once per dialect (it runs on the recording
    path) and run with parameters."""
    q, archives = _table(), Archive.__table__  # type: ignore[attr-defined]
    case_id = bindparam("case_id", type_=String)
    rows = sa_select(case_id, bindparam("at", type_=UTCDateTime()), literal(0, Integer)) \
        .where(~exists().where(archives.c.case_id == case_id))
    insert = postgresql.insert(q) if dialect == "postgresql" else sqlite.insert(q)
    return insert.from_select(["case_id", "enqueued_at", "attempts"], rows) \
        .on_conflict_do_nothing(index_elements=[q.c.case_id])


def claim(session: Session, limit: int, lease: timedelta) -> list[tuple[str, int]]:
    """Up to `limit` due cases, oldest first, leased to the caller for `lease` (committed): their ids
    and how many times each has been claimed (this time included)."""
    q, now = _table(), datetime.now(UTC)
    due = or_(q.c.not_before.is_(None), q.c.not_before <= now)
    token = secrets.token_hex(8)
    oldest = sa_select(q.c.case_id).where(due).order_by(q.c.enqueued_at).limit(limit)
    if session.execute(oldest.limit(1)).first() is None:  # a read: an idle sweeper takes no write lock
        return []
    with write_transaction(session):
        # `due` again on the row itself: a concurrent claimer's lease (PostgreSQL re-checks it on the new row)
        result = session.execute(update(q).where(q.c.case_id.in_(oldest), due)
                                 .values(lease=token, not_before=now + lease, attempts=q.c.attempts + 1))
        if not result.rowcount:  # type: ignore[attr-defined]
            session.rollback()
            return []
        session.commit()
    return [(cid, n) for cid, n in session.exec(
        select(ArchiveQueueEntry.case_id, ArchiveQueueEntry.attempts).where(ArchiveQueueEntry.lease == token)
        .order_by(ArchiveQueueEntry.enqueued_at)).all()]


def finish(session: Session, case_ids: list[str]) -> int:
    """Delete the queue rows of the cases that have their archive row now; returns how many."""
    if not case_ids:
        return 0
    q, archives = _table(), Archive.__table__  # type: ignore[attr-defined]
    with write_transaction(session):
        n = session.execute(delete(q).where(q.c.case_id.in_(case_ids),
                                            q.c.case_id.in_(sa_select(archives.c.case_id)))).rowcount  # type: ignore[attr-defined]
        session.commit()
    return int(n or 0)


def later(session: Session, case_id: str, delay: timedelta, error: str | None = None) -> None:
    """Give a case back to the queue, to be claimed again after `delay` (a failure, or a history
    that does not hold the closing transition yet)."""
    q = _table()
    with write_transaction(session):
        session.execute(update(q).where(q.c.case_id == case_id)
                        .values(lease=None, not_before=datetime.now(UTC) + delay,
                                error=error[:500] if error else None))
        session.commit()


def depth(session: Session) -> int:
    """How many closed cases wait for their package."""
    return int(session.exec(select(func.count()).select_from(ArchiveQueueEntry)).one())
