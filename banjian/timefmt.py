"""China time (UTC+8) helpers: the contract's `*_at` timestamps and `*_due` day boundaries."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

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


def is_time_key(key: object) -> bool:
    """A key the contract's time rule covers: `at` (warnings, history, deliveries) or `*_at`."""
    return isinstance(key, str) and (key == "at" or key.endswith("_at"))


def china_times(value: Any) -> Any:
    """JSON data (dicts, lists, scalars) with every timestamp under a time key (`is_time_key`) in China
    time as `iso_at` writes it; everything else as it is. For data kept as it was written (history
    `data`, stored dicts, workflow state dumped by pydantic, which writes UTC as `...Z`): rendered here,
    never rewritten where it is stored or recorded. A value that is no timestamp (a date, a text) stays."""
    if isinstance(value, dict):
        return {k: _china_time(v) if is_time_key(k) else china_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [china_times(v) for v in value]
    return value


def _china_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_at(value)
    if not isinstance(value, str) or "T" not in value:  # a date alone ("2026-12-01") is no instant
        return china_times(value)
    try:
        return iso_at(datetime.fromisoformat(value))
    except ValueError:
        return value


#: the units of `waited`: seconds, minutes, hours, days
WAIT_UNITS_EN = ("s", "min", "h", "d")
WAIT_UNITS_ZH = ("秒", "分钟", "小时", "天")


def waited(seconds: float, units: tuple[str, str, str, str] = WAIT_UNITS_EN) -> str:
    """A wait as a person reads it, in its two largest units: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`
    (with `WAIT_UNITS_ZH`: 45 秒, 12 分钟, 3 小时 5 分钟, 2 天 4 小时)."""
    sec, mins, hours, days = units
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} {sec}"
    if s < 3600:
        return f"{s // 60} {mins}"
    if s < 86400:
        return f"{s // 3600} {hours} {s % 3600 // 60} {mins}"
    return f"{s // 86400} {days} {s % 86400 // 3600} {hours}"
