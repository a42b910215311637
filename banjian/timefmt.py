"""China time (UTC+8) helpers: the contract's `*_at` timestamps and `*_due` day boundaries."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def china_date(at: datetime) -> date:
    """The calendar day in China of an instant."""
    return at.astimezone(CHINA).date()


def start_of(day: date) -> datetime:
    """00:00 China time at the start of `day`."""
    return datetime.combine(day, time(0), CHINA)


def end_of(day: date) -> datetime:
    """24:00 China time at the end of `day`: the instant a `*_due` day is overdue."""
    return start_of(day + timedelta(days=1))


def aware(at: datetime) -> datetime:
    """A timestamp with its zone: SQLite hands back naive UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def iso_at(at: datetime | None) -> str | None:
    """An ISO 8601 timestamp with the China offset, e.g. 2026-12-01T09:30:00+08:00."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(CHINA).isoformat(timespec="seconds")
