"""Rectifications (差评整改) behind the routes: who reads which, and acting through the workflow.

Reads come from the read model (`rectifications`), written by the workflow before it answers.
Visibility: a department's staff read their department's (others' are a 404, as if they did not
exist); supervisors, auditors and admins read every department's, or their own department's when
they have one; an applicant reads none here (the rating's case shows its rectification).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, func, select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.service import CaseService
from api.updates import Outcome, map_update_error
from banjian import rectification as rules
from banjian.contracts import Actor
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import Conflict, NotFound
from banjian.rectification import ActInput, RectificationState
from banjian.rectification_records import Rectification, detail_json, summary_json
from workflows.rectification import RectificationWorkflow

READ_ALL = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


def workflow_id(rectification_id: str) -> str:
    return f"rectification-{rectification_id}"


def _not_found(what: str = "id") -> NotFound:
    return NotFound("rectification_not_found", "整改不存在", "no such rectification", what)


class RectificationService:
    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    def scope(self, actor: Actor, department: str | None) -> str | bool | None:
        """The department the caller may read (None: every one); False: none at all. Asking for
        another department than one's own is a 404."""
        if actor.department is None:
            return department if actor.has(*READ_ALL) else False
        if not actor.has(*READ_ALL, *STAFF_ROLES):
            return False
        if department is not None and department != actor.department:
            raise NotFound("department_not_found", "未找到该部门的数据", "no such department in your scope",
                           "department")
        return actor.department

    def may_read(self, actor: Actor, row: Rectification) -> bool:
        if actor.department is None:
            return actor.has(*READ_ALL)
        return actor.department == row.department and actor.has(*READ_ALL, *STAFF_ROLES)

    def list(self, actor: Actor, status: str | None, department: str | None, case_id: str | None,
             limit: int, offset: int) -> dict[str, Any]:
        dept = self.scope(actor, department)
        if dept is False:
            return {"items": [], "total": 0}
        where: list[Any] = []
        if dept is not None:
            where.append(Rectification.department == dept)
        if status:
            where.append(Rectification.status == status)
        if case_id:
            where.append(Rectification.case_id == case_id)
        with self.cases.sessions() as session:
            total = session.exec(select(func.count()).select_from(Rectification).where(*where)).one()
            rows = session.exec(select(Rectification).where(*where)
                                .order_by(col(Rectification.due), col(Rectification.id)).offset(offset).limit(limit)).all()
        return {"items": [summary_json(r) for r in rows], "total": total}

    def _row(self, session: Session, actor: Actor, rectification_id: str) -> Rectification:
        row = session.get(Rectification, rectification_id)
        if row is None or not self.may_read(actor, row):
            raise _not_found()
        return row

    def get(self, actor: Actor, rectification_id: str) -> dict[str, Any]:
        with self.cases.sessions() as session:
            row = self._row(session, actor, rectification_id)
            state = RectificationState.model_validate(row.snapshot)
            return detail_json(row, rules.allowed_actions(state, actor))

    def _check(self, actor: Actor, rectification_id: str, act: ActInput) -> None:
        """404 from the read model, then the rules (403, 409, 422) on its snapshot, which is exact after
        every answered action; the workflow's validator remains the authority."""
        with self.cases.sessions() as session:
            row = self._row(session, actor, rectification_id)
            rules.check(RectificationState.model_validate(row.snapshot), act)

    async def act(self, actor: Actor, rectification_id: str, action: str, comment: str | None) -> dict[str, Any]:
        act = ActInput(action=action, actor=actor, comment=comment)
        await asyncio.to_thread(self._check, actor, rectification_id, act)
        handle = self.cases.client.get_workflow_handle(workflow_id(rectification_id))
        try:
            await handle.execute_update(RectificationWorkflow.act, act,
                                        rpc_timeout=timedelta(seconds=self.cases.settings.update_timeout_seconds))
        except WorkflowUpdateFailedError as e:
            raise map_update_error(e) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise Outcome() from None
        except RPCError as e:  # ended a moment ago (closed, or its appeal upheld)
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            raise Conflict("rectification_closed", "整改已结束，不能再操作", "the rectification has ended",
                           "action") from None
        return await asyncio.to_thread(self.get, actor, rectification_id)
