"""Moving open cases from one version of an item to a later one (POST /api/items/{code}/migrations)."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.bounds import ItemCode
from api.deps import CatalogDep, CurrentUser
from api.service import workflow_id
from banjian.contracts import CaseState
from banjian.db import Case
from banjian.enums import CLOSED
from banjian.errors import Invalid, NotFound
from banjian.rules import authorise_authoring
from banjian.timefmt import china_date
from banjian.version_moves import MigrateInput, blocked_reason

router = APIRouter(prefix="/api/items", tags=["items"])

MOVES_AT_ONCE = 8


class MigrationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_version: int = Field(ge=1, le=1_000_000)
    to_version: int = Field(ge=1, le=1_000_000)
    dry_run: bool = False


def migration_body(raw: bytes) -> MigrationBody:
    try:
        return MigrationBody.model_validate(json.loads(raw or b"null"))
    except ValueError as e:  # ValidationError is a ValueError too
        if isinstance(e, ValidationError):
            first = e.errors()[0]
            path = ".".join(str(p) for p in first["loc"]) or None
            raise Invalid("invalid_body", f"迁移参数有误（{path or '请求体'}）：{first['msg']}",
                          f"{path or 'body'}: {first['msg']}", field=path) from None
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None


@router.post("/{code}/migrations",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": MigrationBody.model_json_schema()}}}})
async def migrate_cases(code: ItemCode, request: Request, actor: CurrentUser, catalog: CatalogDep) -> dict[str, Any]:
    """Move the open cases of version `from_version` to `to_version` (admin or the department's
    author) → `{"cases", "movable": [case_id], "blocked": [{"case_id", "reason", "message"}], "dry_run"}`.
    A dry run changes nothing; otherwise every movable case moves through its workflow (history
    `version_migrated`) and `movable` lists the cases that moved. 422: a version that does not
    exist, or `to_version` not after `from_version`."""
    item = await asyncio.to_thread(catalog.current, code)  # 404 for an unknown item
    authorise_authoring(actor, item.department)
    body = migration_body(await request.body())
    try:
        old = await asyncio.to_thread(catalog.version, code, body.from_version)
        new = await asyncio.to_thread(catalog.version, code, body.to_version)
    except NotFound as e:
        raise Invalid("version_not_found", e.message, e.message_en, field="to_version"
                      if "version " + str(body.to_version) in e.message_en else "from_version") from None
    if body.to_version <= body.from_version:
        raise Invalid("version_not_newer", "只能迁移到更新的版本（to_version 须大于 from_version）",
                      "cases can only move to a newer version (to_version must be above from_version)",
                      field="to_version")
    calendar = await asyncio.to_thread(catalog.calendar)
    today = china_date(datetime.now(UTC))

    def open_cases() -> list[CaseState]:
        with catalog.session_factory() as session:
            rows = session.exec(select(Case.snapshot).where(
                Case.item_code == code, Case.item_version == body.from_version,
                col(Case.status).not_in([s.value for s in CLOSED])).order_by(col(Case.id))).all()
        return [CaseState.model_validate(r) for r in rows]

    states = await asyncio.to_thread(open_cases)
    movable: list[str] = []
    blocked: list[dict[str, Any]] = []
    for state in states:
        why = blocked_reason(state, old, new, calendar, today)
        if why is None:
            movable.append(state.id)
        else:
            blocked.append({"case_id": state.id, "reason": why.code, "message": why.message})
    if not body.dry_run and movable:
        moved = await _move(request.app.state.client, movable, MigrateInput(
            actor=actor, from_version=body.from_version, item=new), blocked)
        movable = moved
    blocked.sort(key=lambda b: b["case_id"])
    return {"cases": len(states), "movable": movable, "blocked": blocked, "dry_run": body.dry_run,
            "from_version": body.from_version, "to_version": body.to_version}


async def _move(client, case_ids: list[str], arg: MigrateInput, blocked: list[dict[str, Any]]) -> list[str]:
    """Send `migrate_version` to each case (a few at once); a case whose workflow refuses (its state
    changed since it was read) joins `blocked` with the workflow's reason."""
    gate = asyncio.Semaphore(MOVES_AT_ONCE)
    moved: list[str] = []

    async def one(case_id: str) -> None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id(case_id))
            try:
                await handle.execute_update("migrate_version", arg,
                                            id=f"migrate-{case_id}-{arg.from_version}-{arg.item.version}")
                moved.append(case_id)
            except WorkflowUpdateFailedError as e:
                cause = e.cause
                reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
                blocked.append({"case_id": case_id, "reason": reason, "message": str(cause)})
            except RPCError as e:  # the workflow ended meanwhile
                blocked.append({"case_id": case_id, "reason": "case_closed", "message": e.message})

    await asyncio.gather(*(one(c) for c in case_ids))
    return sorted(moved)
