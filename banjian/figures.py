"""Figures supervisors read (domain.md), per department and item, computed by SQL on the read model.

Every figure is defined once, in `FIGURES`, over the sums of `MEASURES`: additive quantities of one
case row (a count of 1 or 0, or a number to add up). `FIGURES` gives each figure its snake_case name
(the API's), its Chinese header (CSV, XLSX, the page) and its formula over those sums.
docs/metrics.md repeats the formulas in words.

The measures are summed in two places with the same SQL: from scratch over the `cases` rows
(`compute_from_cases`, the reference) and, kept current by the recording activity, in the daily
summary `case_figures_daily` (`banjian/figures_summary.py`), which `compute` reads: a year of a
department is a few thousand summary rows instead of every case of the year.
A case counts in the period of its `submitted_at` (China dates, both ends included); an online
pre-review that never became a formal application counts nowhere. Applications are the top-level
cases; a department's sub-case of a joint case or bundle counts only in the `sub_case*` figures of
its own department's row. Rates are numbers from 0 to 1 and
null when their denominator is 0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from banjian.db import Case
from banjian.timefmt import end_of, start_of

C = Case.__table__.c  # type: ignore[attr-defined]
#: satisfied ratings: 非常满意 (5), 满意 (4), 基本满意 (3); bad ratings: 不满意 (2), 非常不满意 (1)
SATISFIED_MIN, BAD_MAX = 3, 2


def _flag(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((cond, 1), else_=0)


def _ratio(num: ColumnElement[Any], den: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(num, Float) / func.nullif(den, 0)


#: a rating 1-5 not voided (the workflow records 0 when the rating period ended without one)
_valid_rating = and_(C.rating.between(1, 5), func.coalesce(C.rating_void, False).is_(False))
_bad_rating = and_(_valid_rating, C.rating <= BAD_MAX)
_concluded = C.concluded_at.is_not(None)


@dataclass(frozen=True)
class Measure:
    """An additive quantity of one case row (an integer): the figures are sums of these."""
    name: str
    expr: Callable[[], ColumnElement[Any]]


_top = C.parent_id.is_(None)
_sub = C.parent_id.is_not(None)
_overdue = C.overdue.is_(True)


def _of_applications(expr: Callable[[], ColumnElement[Any]]) -> Callable[[], ColumnElement[Any]]:
    """A measure of applications (top-level cases): a department's sub-case of a joint case or
    bundle adds 0 (the joint case counts once, for its lead unit)."""
    return lambda: case((_top, expr()), else_=0)


#: every case row counted: all but an online pre-review (预审) that never became a formal application
#: (still in pre-review, or given up there): it was never received, so it is not a case (办件)
def counted() -> ColumnElement[bool]:
    return func.coalesce(C.pre_review_only, False).is_(False)


_APPLICATION_MEASURES = (
    Measure("cases", lambda: literal(1)),
    Measure("concluded", lambda: _flag(_concluded)),
    Measure("online", lambda: _flag(C.online.is_(True))),
    Measure("on_time", lambda: _flag(and_(_concluded, C.on_time.is_(True)))),
    Measure("promised_days", lambda: func.coalesce(C.promised_days, 0)),
    Measure("statutory_days", lambda: func.coalesce(C.statutory_days, 0)),
    Measure("ratings", lambda: _flag(_valid_rating)),
    Measure("satisfied", lambda: _flag(and_(_valid_rating, C.rating >= SATISFIED_MIN))),
    Measure("bad_ratings", lambda: _flag(_bad_rating)),
    Measure("rectified", lambda: _flag(and_(_bad_rating, C.rectified.is_(True)))),
    Measure("site_visits", lambda: func.coalesce(C.site_visits, 0)),
    Measure("site_visits_known", lambda: _flag(C.site_visits.is_not(None))),
    Measure("at_most_one_visit", lambda: _flag(C.site_visits <= 1)),
    Measure("zero_visit", lambda: _flag(C.site_visits == 0)),
    Measure("warnings", lambda: func.coalesce(C.warnings_count, 0)),
    Measure("overdue", lambda: _flag(_overdue)),
    Measure("working_days", lambda: func.coalesce(C.working_days_used, 0)),
    Measure("working_days_known", lambda: _flag(C.working_days_used.is_not(None))),
    Measure("awaiting_payment", lambda: _flag(C.status == "awaiting_payment")),
    Measure("notices", lambda: func.coalesce(C.notices, 0)),
    Measure("yellow_cards", lambda: func.coalesce(C.yellow_cards, 0)),
    Measure("red_cards", lambda: func.coalesce(C.red_cards, 0)),
)
MEASURES: tuple[Measure, ...] = (
    *(Measure(m.name, _of_applications(m.expr)) for m in _APPLICATION_MEASURES),
    # a participating department's own work in a joint case or bundle (its sub-case, with its own
    # sub-limit), in that department's row: counted apart from the applications above
    Measure("sub_cases", lambda: _flag(_sub)),
    Measure("sub_cases_concluded", lambda: _flag(and_(_sub, _concluded))),
    Measure("sub_cases_on_time", lambda: _flag(and_(_sub, _concluded, C.on_time.is_(True)))),
    Measure("sub_cases_overdue", lambda: _flag(and_(_sub, _overdue))),
    Measure("sub_case_warnings", lambda: case((_sub, func.coalesce(C.warnings_count, 0)), else_=0)),
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)
#: the sum of a measure over the rows of a group, by the measure's name
Sum = Callable[[str], ColumnElement[Any]]


@dataclass(frozen=True)
class Figure:
    name: str
    zh: str
    expr: Callable[[Sum], ColumnElement[Any]] | None  # None: the nearest-rank p90, from the histogram (below)
    rate: bool = False


FIGURES: tuple[Figure, ...] = (
    Figure("cases", "办件量", lambda s: s("cases")),
    Figure("concluded", "办结量", lambda s: s("concluded")),
    # online application rate = cases applied online / all cases
    Figure("online_rate", "网上申请率", lambda s: _ratio(s("online"), s("cases")), True),
    # on-time completion rate = concluded within the promised limit / concluded
    Figure("on_time_rate", "按时办结率", lambda s: _ratio(s("on_time"), s("concluded")), True),
    # time-limit compression = 1 - sum(promised) / sum(statutory)
    Figure("compression", "承诺时限压缩率", lambda s: 1 - _ratio(s("promised_days"), s("statutory_days")), True),
    Figure("ratings", "有效评价数", lambda s: s("ratings")),
    # satisfaction = (非常满意 + 满意 + 基本满意) / valid ratings (an upheld appeal voids a rating)
    Figure("satisfaction", "满意率", lambda s: _ratio(s("satisfied"), s("ratings")), True),
    Figure("bad_ratings", "差评数", lambda s: s("bad_ratings")),
    # rectification rate = bad ratings whose rectification was closed / bad ratings
    Figure("rectification_rate", "差评整改率", lambda s: _ratio(s("rectified"), s("bad_ratings")), True),
    # site visits per case (over the cases that know theirs); at most one visit; zero visits
    Figure("avg_site_visits", "平均跑动次数", lambda s: _ratio(s("site_visits"), s("site_visits_known"))),
    Figure("at_most_one_visit_rate", "最多跑一次率", lambda s: _ratio(s("at_most_one_visit"), s("cases")), True),
    Figure("zero_visit_rate", "零跑动率", lambda s: _ratio(s("zero_visit"), s("cases")), True),
    # warnings (every notice, yellow and red card) and overdue cases (a promised or statutory deadline passed)
    Figure("warnings", "预警数", lambda s: s("warnings")),
    Figure("overdue", "超期件数", lambda s: s("overdue")),
    # approved cases waiting for the applicant's online payment now (the applicant's time, not the department's)
    Figure("awaiting_payment", "待缴费件数", lambda s: s("awaiting_payment")),
    # working days used from acceptance to the decision, over concluded cases: mean and p90 (nearest rank)
    Figure("working_days_avg", "平均办理用时（工作日）", lambda s: _ratio(s("working_days"), s("working_days_known"))),
    Figure("working_days_p90", "办理用时90分位（工作日）", None),
    # departments' sub-cases of joint cases and bundles (the department's own sub-limit): how many,
    # concluded within the sub-limit / concluded, with a promised or statutory (sub-limit) overdue card, cards
    Figure("sub_cases", "并联子件量", lambda s: s("sub_cases")),
    Figure("sub_case_on_time_rate", "并联子件按时办结率",
           lambda s: _ratio(s("sub_cases_on_time"), s("sub_cases_concluded")), True),
    Figure("sub_cases_overdue", "并联子件超期数", lambda s: s("sub_cases_overdue")),
    Figure("sub_case_warnings", "并联子件预警数", lambda s: s("sub_case_warnings")),
    # the applications' warnings by level (电子监察 提醒 / 黄牌 / 红牌): together they are `warnings`
    Figure("notices", "提醒数", lambda s: s("notices")),
    Figure("yellow_cards", "黄牌数", lambda s: s("yellow_cards")),
    Figure("red_cards", "红牌数", lambda s: s("red_cards")),
)
KEYS = (("department", "部门"), ("item_code", "事项编码"), ("item_name", "事项名称"))
HEADERS_ZH = [zh for _, zh in KEYS] + [f.zh for f in FIGURES]
COLUMNS = [k for k, _ in KEYS] + [f.name for f in FIGURES]


def china_day(dialect: str) -> ColumnElement[Any]:
    """The China date of a case's `submitted_at`, in SQL (the period a case counts in)."""
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", C.submitted_at))
    return func.date(C.submitted_at, "+8 hours")  # SQLite keeps UTC text


@dataclass(frozen=True)
class Source:
    """Where the measures are summed: per department, item and working days used (`used`), the sum
    of every measure and the largest item name, over the rows of the period, department and item.
    `used` is null or negative for cases without working days (they are not in the p90)."""
    grouped: Any
    where: list[Any]


def _case_source(frm: date | None, to: date | None, department: str | None, item_code: str | None) -> Source:
    where: list[Any] = [counted()]
    if frm is not None:
        where.append(C.submitted_at >= start_of(frm).astimezone(UTC))
    if to is not None:
        where.append(C.submitted_at < end_of(to).astimezone(UTC))
    if department is not None:
        where.append(C.department == department)
    if item_code is not None:
        where.append(C.item_code == item_code)
    keys = (C.department, C.item_code, C.working_days_used)
    grouped = (select(C.department, C.item_code, C.working_days_used.label("used"),
                      func.max(C.item_name).label("item_name"), *[func.sum(m.expr()).label(m.name) for m in MEASURES])
               .where(*where).group_by(*keys))
    return Source(grouped, where)


def _summary_source(frm: date | None, to: date | None, department: str | None, item_code: str | None) -> Source:
    from banjian.figures_summary import S
    where: list[Any] = []
    if frm is not None:
        where.append(S.day >= frm)
    if to is not None:
        where.append(S.day <= to)
    if department is not None:
        where.append(S.department == department)
    if item_code is not None:
        where.append(S.item_code == item_code)
    grouped = (select(S.department, S.item_code, S.used, func.max(S.item_name).label("item_name"),
                      *[func.sum(S[name]).label(name) for name in MEASURE_NAMES])
               .where(*where).group_by(S.department, S.item_code, S.used))
    return Source(grouped, where)


def _compute(session: Session, src: Source) -> list[dict[str, Any]]:
    """One statement: the rows of the period summed once per (department, item, used), then the
    figures over those sums and the p90 over the same sums as a histogram."""
    g = src.grouped.cte("grouped")
    keys = (g.c.department, g.c.item_code)
    # nearest rank: the smallest value with at least 90% of the values at or under it (integers only)
    # over the applications that know their working days (a department's sub-case adds none)
    h = select(*keys, g.c.used, g.c.working_days_known.label("n")).where(g.c.used >= 0,
                                                                         g.c.working_days_known > 0).subquery()
    part = (h.c.department, h.c.item_code)
    cum = select(*part, h.c.used, func.sum(h.c.n).over(partition_by=part, order_by=h.c.used).label("upto"),
                 func.sum(h.c.n).over(partition_by=part).label("total")).subquery()
    p90 = (select(cum.c.department, cum.c.item_code, func.min(cum.c.used).label("p90"))
           .where(cum.c.upto * 10 >= cum.c.total * 9).group_by(cum.c.department, cum.c.item_code).subquery())
    figs = (select(*keys, func.max(g.c.item_name).label("item_name"),
                   *[f.expr(lambda name: func.sum(g.c[name])).label(f.name) for f in FIGURES if f.expr is not None])
            .group_by(*keys).subquery())
    main = (select(figs, p90.c.p90.label("working_days_p90"))
            .select_from(figs.outerjoin(p90, and_(p90.c.department == figs.c.department,
                                                  p90.c.item_code == figs.c.item_code)))
            .order_by(figs.c.department, figs.c.item_code))
    return [_row(dict(r._mapping)) for r in session.execute(main)]


def compute(session: Session, frm: date | None = None, to: date | None = None, department: str | None = None,
            item_code: str | None = None) -> list[dict[str, Any]]:
    """One row per department and item with cases in the period, ordered by department and item,
    from the daily summary."""
    return _compute(session, _summary_source(frm, to, department, item_code))


def compute_from_cases(session: Session, frm: date | None = None, to: date | None = None,
                       department: str | None = None, item_code: str | None = None) -> list[dict[str, Any]]:
    """The same rows as `compute`, from scratch over the case rows (the reference for the summary)."""
    return _compute(session, _case_source(frm, to, department, item_code))


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
    """Cases received per China day (for the weekly chart), from the daily summary."""
    from banjian.figures_summary import S
    src = _summary_source(frm, to, department, item_code)
    q = (select(S.day, func.sum(S.cases).label("n")).where(*src.where).group_by(S.day)
         .having(func.sum(S.cases) > 0).order_by(S.day))
    return [(d if isinstance(d, date) else date.fromisoformat(d), int(n)) for d, n in session.execute(q)]


def weekly(days: list[tuple[date, int]]) -> list[tuple[date, int]]:
    """Day counts summed per ISO week, keyed by the week's Monday."""
    weeks: dict[date, int] = {}
    for d, n in days:
        monday = date.fromordinal(d.toordinal() - d.weekday())
        weeks[monday] = weeks.get(monday, 0) + n
    return sorted(weeks.items())
