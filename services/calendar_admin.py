"""Loading a year's holiday schedule: store it, then tell every open case to re-plan."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select
from temporalio.client import Client

from banjian.calendar import CalendarError, YearSchedule
from banjian.db import CalendarYear, Case, make_engine, session_factory
from banjian.enums import CLOSED
from banjian.errors import Invalid
from banjian.settings import Settings

log = logging.getLogger(__name__)

#: a schedule's fields: the GET's body, whose read-only `source` (and the PUT answer's
#: `recomputed_cases`) may be sent back and are ignored
READ_ONLY = frozenset({"source", "recomputed_cases"})
FIELDS = frozenset({"year", "official", "holidays", "workdays"}) | READ_ONLY


def store_year(sessions: Callable[[], Session], year: int, body: dict[str, Any], actor: str) -> YearSchedule:
    """Validate and store an administrator's schedule for `year`: the body of GET /api/calendar/{year},
    `year` and `official` optional (the path's year; not official). `holidays` and `workdays` are
    required (possibly empty): a body without them would wipe the year's schedule. A date listed
    twice in one list, or a field a schedule does not have, is refused (a typo, not a schedule)."""
    if not isinstance(body, Mapping):
        raise CalendarError(None, "日历数据必须是一个对象", "the schedule must be an object")
    for field in ("holidays", "workdays"):
        if field not in body:
            raise CalendarError(field, f"缺少 {field}（日期列表，没有时写 []）",
                                f"{field} is required (a list of dates; [] for none)")
    unknown = sorted(str(k) for k in body if k not in FIELDS)
    if unknown:
        raise CalendarError(unknown[0], f"未知字段 {unknown[0]}（可用字段：{'、'.join(sorted(FIELDS - READ_ONLY))}）",
                            f"unknown field {unknown[0]!r} (the fields are {', '.join(sorted(FIELDS - READ_ONLY))})")
    sched = YearSchedule.from_json({k: v for k, v in body.items() if k not in READ_ONLY} | {
        "year": body.get("year", year)})
    for field, days in (("holidays", sched.holidays), ("workdays", sched.workdays)):
        if len(body[field]) != len(days):  # valid dates, fewer of them: one is listed twice
            seen: set[str] = set()
            twice = next(str(d) for d in body[field] if str(d) in seen or seen.add(str(d)))
            label = "法定节假日" if field == "holidays" else "调休上班日"
            raise CalendarError(field, f"{label}（{field}）中 {twice} 重复列出，每个日期只列一次",
                                f"{twice} is listed twice in {field}")
    if sched.year != year:
        raise Invalid("year_mismatch", "请求体中的年份与路径不一致", "the body's year differs from the path", field="year")
    with sessions() as session:
        row = session.get(CalendarYear, year) or CalendarYear(year=year, schedule={}, loaded_at=datetime.now(UTC))
        row.schedule, row.loaded_at, row.loaded_by = sched.to_json(), datetime.now(UTC), actor
        session.add(row)
        session.commit()
    from banjian.adminlog import record_admin

    record_admin(sessions, actor, "calendar.load", str(year),
                 {"holidays": len(sched.to_json().get("holidays", [])), "workdays": len(sched.to_json().get("workdays", []))})
    return sched


async def recompute_open_cases(client: Client, sessions: Callable[[], Session], reason: str) -> int:
    """Every open case re-plans its deadlines (its timers move). Returns how many were told."""
    from workflows.case import CaseWorkflow

    with sessions() as session:
        ids = session.exec(select(Case.id).where(Case.status.not_in([s.value for s in CLOSED]))).all()
    gate = asyncio.Semaphore(16)

    async def one(case_id: str) -> None:
        async with gate:
            try:
                await client.get_workflow_handle(f"case-{case_id}").execute_update(CaseWorkflow.recompute, reason)
            except Exception as e:  # a case that closed meanwhile has nothing to re-plan
                log.info("case %s not re-planned: %s", case_id, e)

    await asyncio.gather(*(one(i) for i in ids))
    return len(ids)


async def load_year(settings: Settings, year: int, body: dict[str, Any], actor: str) -> int:
    """The CLI's `calendar load`: store the year, then re-plan open cases if Temporal is reachable."""
    from banjian.migrate import upgrade
    from banjian.temporal import connect

    engine = make_engine(settings.db_url)
    upgrade(engine)

    sessions = session_factory(engine)

    store_year(sessions, year, body, actor)
    try:
        client = await asyncio.wait_for(connect(settings), timeout=5)
    except Exception:
        log.warning("Temporal is not reachable: open cases re-plan when they next change")
        return 0
    return await recompute_open_cases(client, sessions, f"{year} 年工作日历已更新")
