"""The working-day calendar: read a year, load an administrator's schedule."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from api.bounds import Year
from api.deps import CurrentUser, SessionDep, require
from banjian.calendar import load_calendar
from banjian.enums import Role
from services.calendar_admin import recompute_open_cases, store_year

router = APIRouter(prefix="/api/calendar", tags=["calendar"])


@router.get("/{year}")
def get_year(year: Year, _: CurrentUser, session: SessionDep) -> dict:
    """The schedule in force for a year (override, official or provisional)."""
    sched = load_calendar(session).schedule(year)  # always fresh: a loaded year shows at once
    return {**sched.to_json(), "source": sched.source}


@router.put("/{year}")
async def put_year(year: Year, request: Request, actor: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> dict:
    """Load a year's schedule (admin); open cases re-compute their deadlines before this answers."""
    require(actor, Role.ADMIN)
    state = request.app.state
    sched = await asyncio.to_thread(store_year, state.sessions, year, body, actor.username)
    state.cases.forget_calendar()
    n = await recompute_open_cases(state.client, state.sessions, f"{year} 年工作日历已更新")
    return {**sched.to_json(), "source": "override", "recomputed_cases": n}
