"""The day's case serial, drawn atomically from the read-model database (SQLite or PostgreSQL).

One row per day of receipt in `case_sequences`; drawing a serial is a single
``INSERT … ON CONFLICT (day) DO UPDATE SET last = last + 1 RETURNING last`` statement, so
concurrent submissions (threads, API processes) never draw the same serial, and a restart
continues where the day stopped. A serial drawn by a transaction that rolls back is not
lost to a gap only when the whole transaction rolls back; gaps are harmless either way.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from banjian.db import CaseSequence, connection_of

__all__ = ["next_serial"]


#: the draw's statement per dialect, built once (executed with Core on the session's connection)
_DRAW: dict[str, Any] = {}


def _draw_statement(dialect: str) -> Any:
    stmt = _DRAW.get(dialect)
    if stmt is not None:
        return stmt
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - the read model runs on SQLite or PostgreSQL only
        raise RuntimeError(f"no atomic upsert for database {dialect}")
    table = CaseSequence.__table__  # type: ignore[attr-defined]
    stmt = insert(table).values(day=bindparam("day"), last=bindparam("step"))
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.day],
                                      set_={"last": table.c.last + bindparam("skip")}).returning(table.c.last)
    _DRAW[dialect] = stmt
    return stmt


def next_serial(db: Session | Connection, day: date, step: int = 1) -> int:
    """Draw the next serial of `day` inside the session's (or connection's) transaction (the caller
    commits). A `step` above 1 skips serials (after a clash with a number the sequence did not know)."""
    conn = connection_of(db)
    stmt = _draw_statement(conn.dialect.name)
    return int(conn.execute(stmt, {"day": day, "step": step, "skip": step}).scalar_one())
