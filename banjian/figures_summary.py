"""The daily figures summary (`case_figures_daily`): the sums of the figures' measures per
department, China day of submission, item and working days used, kept current by the recording
activity in the same transaction as the case row.

One row per (department, day, item_code, item_name, used) holds the sum of every measure of
`banjian.figures.MEASURES` over the counted cases with that key (all but pre-reviews that never
became applications; a department's sub-case adds to its own measures only); `used` is the case's
`working_days_used`, -1 while it has none, so the same rows give the p90's histogram.
A case moves between rows as it changes (its conclusion sets `used`); `tracking` reads the case's
contribution before and after a write, with the measures' own SQL, and adds the difference: a
retried write of the same state adds nothing, a rolled-back one nothing either. `rebuild` fills the
table from scratch (the migration's backfill, and a repair).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from banjian.db import connection_of
from banjian.figures import MEASURE_NAMES, MEASURES, C, china_day, counted

KEY_NAMES = ("department", "day", "item_code", "item_name", "used")
#: working days used of a case that has none yet (open, or concluded before they were counted)
NO_DAYS = -1

SUMMARY = Table(
    "case_figures_daily", SQLModel.metadata,
    Column("department", String, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("item_code", String, primary_key=True),
    Column("item_name", String, primary_key=True),
    Column("used", Integer, primary_key=True),
    *[Column(name, Integer, nullable=False) for name in MEASURE_NAMES],
)
S = SUMMARY.c

Key = tuple[Any, ...]


def _keys(dialect: str) -> list[Any]:
    return [C.department, china_day(dialect).label("day"), C.item_code, C.item_name,
            func.coalesce(C.working_days_used, NO_DAYS).label("used")]


def _contribution_query(dialect: str) -> Any:
    return select(*_keys(dialect), *[m.expr().label(m.name) for m in MEASURES]).where(counted())


@cache
def _one_case_query(dialect: str) -> Any:
    """One case's contribution: built once per dialect (the recording activity asks twice per
    transition; building the measures' expressions each time cost more than running the query)."""
    return _contribution_query(dialect).where(C.id == bindparam("case_id"))


def contributions(session: Session | Connection, case_ids: Iterable[str]) -> dict[Key, list[int]]:
    """Each key's measures summed over these cases (pre-reviews never received contribute nothing)."""
    ids = list(case_ids)
    out: dict[Key, list[int]] = {}
    if not ids:
        return out
    if isinstance(session, Session):
        session.flush()  # pending ORM changes first, as the session's own execute would
    conn = connection_of(session)
    dialect = conn.dialect.name
    rows = conn.execute(_one_case_query(dialect), {"case_id": ids[0]}) if len(ids) == 1 else \
        conn.execute(_contribution_query(dialect).where(C.id.in_(ids)))
    for r in rows:
        key = tuple(_norm(v) for v in r[:len(KEY_NAMES)])
        vals = [int(v) for v in r[len(KEY_NAMES):]]
        have = out.get(key)
        out[key] = vals if have is None else [a + b for a, b in zip(have, vals, strict=True)]
    return out


def _norm(v: Any) -> Any:
    """SQLite answers the day as text; PostgreSQL as a date."""
    return date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 and v[4] == "-" else v


def difference(new: dict[Key, list[int]], old: dict[Key, list[int]]) -> dict[Key, list[int]]:
    """new - old per key, without the keys where nothing changed."""
    out: dict[Key, list[int]] = {}
    for key in new.keys() | old.keys():
        a, b = new.get(key), old.get(key)
        d = [x - y for x, y in zip(a or [0] * len(MEASURES), b or [0] * len(MEASURES), strict=True)]
        if any(d):
            out[key] = d
    return out


def apply(session: Session, delta: dict[Key, list[int]]) -> None:
    """Add the deltas to their rows (in key order, so concurrent writers lock rows in one order), and
    drop the rows no case contributes to any more: only a row whose case count went down can have
    reached none (a row at none is never left behind), so most transitions, which move a case's
    measures within its row, run no delete. Both statements are built once per dialect and run with
    parameters (built per call, their cache keys cost more than running them)."""
    if not delta:
        return
    conn = session.connection()
    add, drop = _apply_statements(conn.dialect.name)
    rows = [dict(zip(KEY_NAMES, key, strict=True)) | dict(zip(MEASURE_NAMES, delta[key], strict=True))
            for key in sorted(delta, key=lambda k: tuple(str(x) for x in k))]
    for row in rows:
        conn.execute(add, row)
    for row in rows:
        if row["cases"] < 0:
            conn.execute(drop, {f"k_{k}": row[k] for k in KEY_NAMES})


@cache
def _apply_statements(dialect: str) -> tuple[Any, Any]:
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SUMMARY)
    add = ins.on_conflict_do_update(index_elements=[S[k] for k in KEY_NAMES],
                                    set_={n: S[n] + ins.excluded[n] for n in MEASURE_NAMES})
    drop = delete(SUMMARY).where(*[S[k] == bindparam(f"k_{k}") for k in KEY_NAMES], S.cases == 0)
    return add, drop


@contextlib.contextmanager
def tracking(session: Session, case_ids: list[str]) -> Iterator[None]:
    """Around a write of these case rows in `session`'s transaction: move their contributions in the
    summary from what the rows said before to what they say after. On PostgreSQL the cases are locked
    first (a transaction-scoped advisory lock per case), so two writes of one case (a retry racing
    its first attempt) are counted one after the other; SQLite has one writer at a time."""
    ids = sorted(set(case_ids))
    if session.get_bind().dialect.name == "postgresql":
        for cid in ids:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:id))"), {"id": f"case:{cid}"})
    before = contributions(session, ids)
    yield
    session.flush()
    apply(session, difference(contributions(session, ids), before))


def rebuild(conn: Session | Connection) -> int:
    """Fill the summary from scratch from the case rows (in the caller's transaction); the rows written."""
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    keys = _keys(dialect)
    grouped = (select(*keys, *[func.sum(m.expr()).label(m.name) for m in MEASURES])
               .where(counted()).group_by(*keys))
    conn.execute(delete(SUMMARY))
    result = conn.execute(insert(SUMMARY).from_select([*KEY_NAMES, *MEASURE_NAMES], grouped))
    return int(result.rowcount or 0)
