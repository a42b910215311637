"""Rectifications of bad ratings (差评整改): list, read, act (record the call-back and the fix,
close or reopen, appeal and decide the appeal)."""
from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import body_doc, json_body
from api.bounds import Offset
from api.deps import CurrentUser
from api.rectifications import RectificationService
from banjian.rectification import MAX_COMMENT

router = APIRouter(prefix="/api/rectifications", tags=["supervision"])
RectificationId = Annotated[str, Path(min_length=1, max_length=48)]
RectStatus = Literal["open", "called_back", "fixed", "reopened", "appealed", "closed", "appeal_upheld"]


def service(request: Request) -> RectificationService:
    return RectificationService(request.app.state.cases)


Service = Annotated[RectificationService, Depends(service)]


class ActionIn(BaseModel):
    """POST /api/rectifications/{id}/actions. `action` is checked by the rules (an unknown one is a
    422 naming the choices, after the 404/403 checks)."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(min_length=1, max_length=40)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


@router.get("")
def list_rectifications(actor: CurrentUser, rectifications: Service,
                        status: Annotated[RectStatus | None, Query()] = None,
                        department: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
                        case_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0) -> dict:
    """Rectifications in the caller's scope, earliest due first: `{"items": [...], "total"}`."""
    return rectifications.list(actor, status, department, case_id, limit, offset)


@router.get("/{rectification_id}")
def get_rectification(rectification_id: RectificationId, actor: CurrentUser, rectifications: Service) -> dict:
    """One rectification with its history and the caller's allowed actions."""
    return rectifications.get(actor, rectification_id)


@router.post("/{rectification_id}/actions", openapi_extra=body_doc(ActionIn))
async def act_on_rectification(rectification_id: RectificationId, request: Request, actor: CurrentUser,
                               rectifications: Service) -> dict:
    """`record_callback`, `record_fix`, `appeal` (the department's staff); `close`, `reopen`,
    `uphold_appeal`, `reject_appeal` (a supervisor). Wrong state: 409; a second appeal: 409."""
    await asyncio.to_thread(rectifications.get, actor, rectification_id)  # 404 before a bad body's 422
    body = await json_body(request, ActionIn)
    return await rectifications.act(actor, rectification_id, body.action, body.comment)
