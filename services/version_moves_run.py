"""Moving open cases of an item from one version to a later one: the check of every open case
(`banjian.version_moves`) and, unless a dry run, the `migrate_version` update to each movable case.
Used by the API (POST /api/items/{code}/migrations) and the CLI (`banjian items migrate`)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from banjian.adminlog import record_admin
from banjian.catalog import Catalog
from banjian.contracts import Actor, CaseState
from banjian.db import Case
from banjian.enums import CLOSED
from banjian.errors import Invalid, NotFound, from_application_error
from banjian.timefmt import china_date
from banjian.version_moves import MigrateInput, blocked_reason, case_today

MOVES_AT_ONCE = 8


async def migrate(client: Client, catalog: Catalog, actor: Actor, code: str, from_version: int, to_version: int,
                  dry_run: bool) -> dict[str, Any]:
    """→ `{"cases", "movable", "blocked", "dry_run", "from_version", "to_version"}` (the caller
    checked who may); 422 for a version that does not exist or `to_version` not after `from_version`."""
    versions = []
    for field, number in (("from_version", from_version), ("to_version", to_version)):
        try:
            versions.append(await asyncio.to_thread(catalog.version, code, number))
        except NotFound as e:
            raise Invalid("version_not_found", e.message, e.message_en, field=field) from None
    old, new = versions
    if to_version <= from_version:
        raise Invalid("version_not_newer", "只能迁移到更新的版本（to_version 须大于 from_version）",
                      "cases can only move to a newer version (to_version must be above from_version)",
                      field="to_version")
    calendar = await asyncio.to_thread(catalog.calendar)
    today = china_date(datetime.now(UTC))

    def open_cases() -> list[CaseState]:
        with catalog.session_factory() as session:
            rows = session.exec(select(Case.snapshot).where(
                Case.item_code == code, Case.item_version == from_version,
                col(Case.status).not_in([s.value for s in CLOSED])).order_by(col(Case.id))).all()
        return [CaseState.model_validate(r) for r in rows]

    states = await asyncio.to_thread(open_cases)
    movable: list[str] = []
    blocked: list[dict[str, Any]] = []
    for state in states:
        why = blocked_reason(state, old, new, calendar, case_today(state, today))
        if why is None:
            movable.append(state.id)
        else:
            blocked.append({"case_id": state.id, "reason": why.code, "message": why.message,
                            "message_en": why.message_en})
    if not dry_run and movable:
        moved = await _move(client, movable, MigrateInput(
            actor=actor, from_version=from_version, item=new), blocked)
        movable = moved
    blocked.sort(key=lambda b: b["case_id"])
    if not dry_run:  # the auditors' admin log (API and command line): which open cases moved, by whom
        await asyncio.to_thread(record_admin, catalog.session_factory, actor.username, "item.migrate", code,
                                {"from_version": from_version, "to_version": to_version, "moved": movable,
                                 "blocked": [b["case_id"] for b in blocked]})
    return {"cases": len(states), "movable": movable, "blocked": blocked, "dry_run": dry_run,
            "from_version": from_version, "to_version": to_version}


async def _move(client: Client, case_ids: list[str], arg: MigrateInput, blocked: list[dict[str, Any]]) -> list[str]:
    """Send `migrate_version` to each case (a few at once); a case whose workflow refuses (its state
    changed since it was read) joins `blocked` with the workflow's reason."""
    gate = asyncio.Semaphore(MOVES_AT_ONCE)
    moved: list[str] = []

    async def one(case_id: str) -> None:
        async with gate:
            handle = client.get_workflow_handle(f"case-{case_id}")
            try:
                await handle.execute_update("migrate_version", arg,
                                            id=f"migrate-{case_id}-{arg.from_version}-{arg.item.version}")
                moved.append(case_id)
            except WorkflowUpdateFailedError as e:
                cause = e.cause
                reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
                known = from_application_error(reason, cause.details if isinstance(cause, ApplicationError) else None)
                blocked.append({"case_id": case_id, "reason": reason,
                                "message": known.message if known is not None else "流程拒绝迁移",
                                "message_en": known.message_en if known is not None else str(cause)})
            except RPCError as e:  # the workflow ended meanwhile
                blocked.append({"case_id": case_id, "reason": "case_closed", "message": "办件已办结或终止",
                                "message_en": f"the case is closed ({e.message})"})

    await asyncio.gather(*(one(c) for c in case_ids))
    return sorted(moved)
