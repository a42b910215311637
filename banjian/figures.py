"""Figures supervisors read (domain.md), per department and item, computed by SQL on the read model.

Each figure is defined once, in `FIGURES`: its snake_case name (the API's), its Chinese header (CSV,
XLSX, the page) and its SQL expression over the `cases` rows of the period (top-level cases: a joint
case's sub-cases count inside their parent). docs/metrics.md repeats the formulas in words.
A case counts in the period of its `submitted_at` (China dates, both ends included). Rates are
numbers from 0 to 1 and null when their denominator is 0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from banjian.db import Case
from banjian.timefmt import end_of, start_of

C = Case.__table__.c  # type: ignore[attr-defined]
#: satisfied ratings: 非常满意 (5), 满意 (4), 基本满意 (3); bad ratings: 不满意 (2), 非常不满意 (1)
SATISFIED_MIN, BAD_MAX = 3, 2


def _count(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((cond, 1), else_=0))


def _ratio(num: ColumnElement[Any], den: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(num, Float) / func.nullif(den, 0)


#: a rating 1-5 not voided (the workflow records 0 when the rating period ended without one)
_valid_rating = and_(C.rating.between(1, 5), func.coalesce(C.rating_void, False).is_(False))
_concluded = C.concluded_at.is_not(None)


@dataclass(frozen=True)
class Figure:
    name: str
    zh: str
    expr: Callable[[], ColumnElement[Any]] | None  # None: computed by its own query (below)
    rate: bool = False


FIGURES: tuple[Figure, ...] = (
    Figure("cases", "办件量", lambda: func.count()),
    Figure("concluded", "办结量", lambda: _count(_concluded)),
    # online application rate = cases applied online / all cases
    Figure("online_rate", "网上申请率", lambda: _ratio(_count(C.online.is_(True)), func.count()), True),
    # on-time completion rate = concluded within the promised limit / concluded
    Figure("on_time_rate", "按时办结率",
           lambda: _ratio(_count(and_(_concluded, C.on_time.is_(True))), _count(_concluded)), True),
    # time-limit compression = 1 - sum(promised) / sum(statutory)
    Figure("compression", "承诺时限压缩率",
           lambda: 1 - _ratio(func.sum(C.promised_days), func.sum(C.statutory_days)), True),
    Figure("ratings", "有效评价数", lambda: _count(_valid_rating)),
    # satisfaction = (非常满意 + 满意 + 基本满意) / valid ratings (an upheld appeal voids a rating)
    Figure("satisfaction", "满意率",
           lambda: _ratio(_count(and_(_valid_rating, C.rating >= SATISFIED_MIN)), _count(_valid_rating)), True),
    Figure("bad_ratings", "差评数", lambda: _count(and_(_valid_rating, C.rating <= BAD_MAX))),
    # rectification rate = bad ratings whose rectification was closed / bad ratings
    Figure("rectification_rate", "差评整改率",
           lambda: _ratio(_count(and_(_valid_rating, C.rating <= BAD_MAX, C.rectified.is_(True))),
                          _count(and_(_valid_rating, C.rating <= BAD_MAX))), True),
    # site visits per case; at most one visit; zero visits
    Figure("avg_site_visits", "平均跑动次数", lambda: func.avg(cast(C.site_visits, Float))),
    Figure("at_most_one_visit_rate", "最多跑一次率", lambda: _ratio(_count(C.site_visits <= 1), func.count()), True),
    Figure("zero_visit_rate", "零跑动率", lambda: _ratio(_count(C.site_visits == 0), func.count()), True),
    # warnings (every notice, yellow and red card) and overdue cases (a promised or statutory deadline passed)
    Figure("warnings", "预警数", lambda: func.coalesce(func.sum(C.warnings_count), 0)),
    Figure("overdue", "超期件数", lambda: _count(C.overdue.is_(True))),
    # approved cases waiting for the applicant's online payment now (not the department's time)
    Figure("awaiting_payment", "待缴费件数", lambda: _count(C.status == "awaiting_payment")),
    # working days used from receipt to conclusion, over concluded cases: mean and p90 (nearest rank)
    Figure("working_days_avg", "平均办理用时（工作日）", lambda: func.avg(cast(C.working_days_used, Float))),
    Figure("working_days_p90", "办理用时90分位（工作日）", None),
)
KEYS = (("department", "部门"), ("item_code", "事项编码"), ("item_name", "事项名称"))
HEADERS_ZH = [zh for _, zh in KEYS] + [f.zh for f in FIGURES]
COLUMNS = [k for k, _ in KEYS] + [f.name for f in FIGURES]


def _filters(frm: date | None, to: date | None, department: str | None, item_code: str | None) -> list[Any]:
    out: list[Any] = [C.parent_id.is_(None)]
    if frm is not None:
        out.append(C.submitted_at >= start_of(frm).astimezone(UTC))
    if to is not None:
        out.append(C.submitted_at < end_of(to).astimezone(UTC))
    if department is not None:
        out.append(C.department == department)
    if item_code is not None:
        out.append(C.item_code == item_code)
    return out


def compute(session: Session, frm: date | None = None, to: date | None = None, department: str | None = None,
            item_code: str | None = None) -> list[dict[str, Any]]:
    """One row per department and item with cases in the period, ordered by department and item."""
    where = _filters(frm, to, department, item_code)
    keys = (C.department, C.item_code)
    main = select(*keys, func.max(C.item_name).label("item_name"),
                  *[f.expr().label(f.name) for f in FIGURES if f.expr is not None]
                  ).where(*where).group_by(*keys).order_by(*keys)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # nearest rank, as below: the smallest value with at least 90% of the values at or under it
        main = main.add_columns(func.percentile_disc(0.9).within_group(C.working_days_used).label("working_days_p90"))
    rows = {(r.department, r.item_code): dict(r._mapping) for r in session.execute(main)}
    if not rows or postgres:
        return [_row(r) for r in rows.values()]
    ranked = (select(*keys, C.working_days_used.label("used"),
                     func.row_number().over(partition_by=keys, order_by=C.working_days_used).label("rn"),
                     func.count().over(partition_by=keys).label("n"))
              .where(*where, C.working_days_used.is_not(None)).subquery())
    # nearest rank: the ceil(0.9 n)-th smallest, the first rank r with 10 r >= 9 n (integers only)
    p90 = select(ranked.c.department, ranked.c.item_code, ranked.c.used).where(
        ranked.c.rn * 10 >= ranked.c.n * 9, (ranked.c.rn - 1) * 10 < ranked.c.n * 9)
    for r in session.execute(p90):
        rows[(r.department, r.item_code)]["working_days_p90"] = r.used
    return [_row(r) for r in rows.values()]


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(row.get(k)) for k in COLUMNS}


def _clean(v: Any) -> Any:
    """Rates and means to four decimals; whole counts as ints."""
    if isinstance(v, float):
        return round(v, 4)
    if v is not None and not isinstance(v, str | bool | int):
        return int(v)  # Decimal sums from PostgreSQL
    return v


def daily_counts(session: Session, frm: date | None = None, to: date | None = None, department: str | None = None,
                 item_code: str | None = None) -> list[tuple[date, int]]:
    """Cases received per China day (for the weekly chart): grouped by SQL, one row per day."""
    if session.get_bind().dialect.name == "postgresql":
        day: ColumnElement[Any] = func.date(func.timezone("Asia/Shanghai", C.submitted_at))
    else:  # SQLite keeps UTC text
        day = func.date(C.submitted_at, "+8 hours")
    q = (select(day.label("day"), func.count().label("n")).where(*_filters(frm, to, department, item_code))
         .group_by(day).order_by(day))
    return [(d if isinstance(d, date) else date.fromisoformat(d), n) for d, n in session.execute(q)]


def weekly(days: list[tuple[date, int]]) -> list[tuple[date, int]]:
    """Day counts summed per ISO week, keyed by the week's Monday."""
    weeks: dict[date, int] = {}
    for d, n in days:
        monday = date.fromordinal(d.toordinal() - d.weekday())
        weeks[monday] = weeks.get(monday, 0) + n
    return sorted(weeks.items())
