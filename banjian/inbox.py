"""Inbox filters in SQL over the `tasks` rows: which tasks wait for one of a person's roles, or for
their signature.

A task's `roles` is a JSON list of the roles it waits for, its `signers` one of the added signers
(加签) still to sign. PostgreSQL matches either with the jsonb operator `?|` (is any of these
strings an element); SQLite looks into the list with `json_each`.
Either way the database filters, pages and counts the inbox, not Python.
An inbox page shows each case by its unified case number, read for the page's cases at once.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import cast, exists, false, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import Text
from sqlmodel import Session

from banjian.db import Case, Task
from banjian.timefmt import aware, china_date

T = Task.__table__.c  # type: ignore[attr-defined]


def waits_for_any(dialect: str, roles: Iterable[str]) -> ColumnElement[bool]:
    """The task waits for at least one of `roles`."""
    return _holds_any(dialect, T.roles, roles)


def signs_for(dialect: str, username: str, roles: Iterable[str]) -> ColumnElement[bool]:
    """The task waits for this person's signature (加签): a signer still to sign is them by name or
    one of their roles (`Countersign` slots "user:NAME" and "role:ROLE")."""
    return _holds_any(dialect, T.signers, [f"user:{username}", *(f"role:{r}" for r in roles)])


def _holds_any(dialect: str, column: ColumnElement, values: Iterable[str]) -> ColumnElement[bool]:
    """The JSON list in `column` holds at least one of `values`."""
    wanted = sorted(set(values))
    if not wanted:
        return false()
    if dialect == "postgresql":
        return cast(column, JSONB).op("?|")(cast(wanted, ARRAY(Text)))
    each = func.json_each(column).table_valued("value")
    return exists(select(each.c.value).where(each.c.value.in_(wanted)))


def case_numbers_of(session: Session, case_ids: Iterable[str]) -> dict[str, str | None]:
    """The unified case number (统一受理号码) of each of these cases, for an inbox page (one query)."""
    ids = list(case_ids)
    if not ids:
        return {}
    c = Case.__table__.c  # type: ignore[attr-defined]
    return {r.id: r.case_no for r in session.execute(select(c.id, c.case_no).where(c.id.in_(ids)))}


def with_applicants(session: Session, items: list[dict]) -> list[dict]:
    """Each inbox item with its applicant's name (`applicant_name`) and channel (`channel`: `web`,
    `window`, …), read for the page's cases at once: a clerk calls a walk-in applicant by name, and a
    case filed at the window is worked differently from one filed online."""
    ids = [i["case_id"] for i in items]
    found: dict[str, tuple[str | None, str | None]] = {}
    if ids:
        c = Case.__table__.c  # type: ignore[attr-defined]
        found = {r.id: (r.applicant_name, r.channel)
                 for r in session.execute(select(c.id, c.applicant_name, c.channel).where(c.id.in_(ids)))}
    for i in items:
        i["applicant_name"], i["channel"] = found.get(i["case_id"], (None, None))
    return items


def case_days_of(session: Session, case_ids: Iterable[str], now: datetime | None = None) -> dict[str, date]:
    """Each case's own China day now: its last recorded workflow time plus the wall time since it was
    recorded (the wall clock's day outside simulation; ahead of it after a simulated advance). The
    inbox counts its working days left from this day, as the case page does, so the two agree."""
    ids = list(case_ids)
    if not ids:
        return {}
    now = now or datetime.now(UTC)
    c = Case.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(select(c.id, c.clock_at, c.recorded_at).where(c.id.in_(ids)))
    return {r.id: china_date(aware(r.clock_at) + (now - aware(r.recorded_at))) for r in rows}
