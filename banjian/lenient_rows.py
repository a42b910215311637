"""Rows read as text: the way to read a `case_events` or `cases` row that the ORM cannot (SQLite keeps
any text in a JSON, DATETIME or DATE column, so a row written by hand may hold something else). The
audit and the case's history read such a row this way instead of failing: a record's unreadable
field keeps what was found (under `data.unreadable` / `data.unreadable_at`) and then fails the
record's hash like any other alteration; a case row's unreadable snapshot or time is compared with
the state the workflow recorded and reported (`snapshot_differs`)."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, TypeDecorator, cast, select, text
from sqlmodel import Session

from banjian.db import Case
from banjian.timefmt import aware

EVENTS_AS_TEXT = text(
    "SELECT id, case_id, seq, CAST(at AS TEXT) AS at, actor, role, department, action, comment, "
    "CAST(data AS TEXT) AS data, prev_hash, hash FROM case_events WHERE case_id = :case_id ORDER BY seq")
#: where an unreadable data or time is kept
UNREADABLE = "unreadable"
#: the time an unreadable one reads as (it fails the record's hash; the text found is kept in data)
UNREADABLE_AT = datetime(1970, 1, 1, tzinfo=UTC)


def parse_text_row(r: Any) -> dict[str, Any]:
    """One row of EVENTS_AS_TEXT as the ORM would give it, with `at` and `data` read leniently."""
    try:
        data = json.loads(r["data"]) if r["data"] is not None else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {UNREADABLE: r["data"]}
    try:
        at = aware(datetime.fromisoformat(r["at"]))
    except (TypeError, ValueError):
        at = UNREADABLE_AT
        data = {**data, f"{UNREADABLE}_at": r["at"]}
    return {**dict(r), "at": at, "data": data}


def _kind(column: Any) -> Any:
    """The column's type as the database stores it (a TypeDecorator's implementation)."""
    return column.type.impl if isinstance(column.type, TypeDecorator) else column.type


def _lenient(column: Any, value: Any) -> Any:
    if value is None:
        return None
    kind = _kind(column)
    if isinstance(kind, JSON):
        try:
            return json.loads(value)
        except ValueError:
            return {UNREADABLE: value}
    try:
        if isinstance(kind, DateTime):
            return aware(datetime.fromisoformat(value))
        if isinstance(kind, Date):
            return date.fromisoformat(value)
        if isinstance(kind, Boolean):
            return {"1": True, "0": False, "true": True, "false": False}[str(value).lower()]
        if isinstance(kind, Integer):
            return int(value)
    except (TypeError, ValueError, KeyError):
        if column.nullable:
            return None
        return UNREADABLE_AT if isinstance(kind, DateTime) else 0 if isinstance(kind, Integer) else None
    return value


def case_row(session: Session, case_id: str) -> Case | None:
    """The case row, as the ORM reads it or, when it cannot (a value written by hand that is no JSON,
    time or date), read as text: an unreadable snapshot becomes `{"unreadable": text}`, an
    unreadable time None (or UNREADABLE_AT where one is required). Such a row is a copy, never saved."""
    try:
        return session.get(Case, case_id)
    except ValueError:
        pass
    table = Case.__table__  # type: ignore[attr-defined]
    stmt = select(*[c if isinstance(_kind(c), String) else cast(c, String).label(c.key) for c in table.columns]) \
        .where(table.c.id == case_id)
    found = session.connection().execute(stmt).mappings().first()
    if found is None:
        return None
    return Case(**{c.key: _lenient(c, found[c.key]) for c in table.columns})
