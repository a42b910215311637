"""The simulation clock (BANJIAN_SIMULATION=1 only): advance one case's time by N days."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.bodies import body_doc, json_body
from api.bounds import CaseId
from api.deps import CasesDep, CurrentUser, require
from banjian.enums import Role
from banjian.errors import NotFound
from services.simulation import advance_case

router = APIRouter(prefix="/api/simulation", tags=["simulation"])


class Advance(BaseModel):
    days: float = Field(gt=0, le=3650)


@router.post("/cases/{case_id}/advance", openapi_extra=body_doc(Advance))
async def advance(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep) -> dict:
    """Advance the case's clock (and its open sub-cases'); answers after every due timer fired."""
    if not request.app.state.settings.simulation:
        raise NotFound("not_found", "未启用模拟时钟", "the simulation clock is off")
    require(actor, Role.ADMIN)
    await asyncio.to_thread(cases.get, actor, case_id)  # 404 for an unknown case
    body = await json_body(request, Advance)  # a bad body after the 404 (contract order)
    await advance_case(request.app.state.client, cases.sessions, case_id, timedelta(days=body.days))
    return await asyncio.to_thread(cases.get, actor, case_id)
