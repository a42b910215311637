"""Acting on a case: the checks the read model allows before the `act` update is sent (404, 403, 409,
422), the update itself, and the case it answers with.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.case_reading import CaseReading
from api.reads import CaseRow, state_of
from api.updates import Outcome, map_update_error, update_id, workflow_id
from banjian import rules
from banjian.action_data import check_pre_review_data
from banjian.case_steps import waiting_roles
from banjian.contracts import ActionInput, Actor
from banjian.db import User
from banjian.enums import Action, Role
from banjian.errors import Conflict, Forbidden, Invalid
from banjian.files import check_own_files
from banjian.labels import roles_zh
from banjian.licence_reuse import licence_types, supplement_licences
from banjian.nul_text import refuse_nul
from banjian.pre_review import PRE_REVIEW_ACTIONS, PRE_REVIEW_RESUBMIT, check_pre_review
from workflows.case import CaseWorkflow

#: actions naming a user of the case's department in `data.username`
ASSIGNING = (Action.ASSIGN, Action.TRANSFER, Action.DELEGATE, Action.COPY_TO, Action.ADD_SIGNER)


class Acting(CaseReading):
    async def act(self, actor: Actor, case_id: str, action: str, comment: str | None, data: dict[str, Any],
                  request_id: str | None = None) -> dict[str, Any]:
        act = ActionInput(action=action, actor=actor, comment=comment, data=data or {})
        # a supplement's e-licences are verified (SM2, tens of milliseconds each) and an assignee is
        # looked up: the rarer checks are not run on the event loop
        rare = action in (Action.SUBMIT_SUPPLEMENT, PRE_REVIEW_RESUBMIT) or action in ASSIGNING
        await self._read(self._check_action, actor, case_id, act, request_id, light=not rare)
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        try:
            await handle.execute_update(
                CaseWorkflow.act, act, id=update_id(act, request_id),
                rpc_timeout=timedelta(seconds=self.settings.update_timeout_seconds))
        except WorkflowUpdateFailedError as e:
            raise map_update_error(e) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise Outcome() from None
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise Conflict("case_closed", "办件流程已结束，不能再操作", "the case's process has ended",
                               field="action") from None
            raise
        return await self._read(self.answer, actor, case_id)  # recorded before it answered

    async def refuse_before_422(self, actor: Actor, case_id: str, payload: Any) -> None:
        """For a malformed action body, the checks the contract puts before its 422: 404, then, when
        the body names a known action, 403 and 409 (nothing else of it is read)."""
        await self._read(self._refuse_first, actor, case_id, payload)

    def _refuse_first(self, actor: Actor, case_id: str, payload: Any) -> None:
        with self.connect() as conn:
            row = self.view(conn, actor, case_id)
        name = payload.get("action") if isinstance(payload, dict) else None
        try:
            action = Action(name) if isinstance(name, str) else None
        except ValueError:
            return
        if action is None or action in PRE_REVIEW_ACTIONS:
            return
        state = state_of(row)
        item = self.catalog.effective(state.item_code, state.item_version, state.department, state.parent_id is not None)
        rules.authorise(action, item, state, actor)
        rules.admissible(action, item, state, actor)

    def _check_action(self, actor: Actor, case_id: str, act: ActionInput, request_id: str | None) -> None:
        """404/403/409/422 from the read model before the workflow is reached."""
        action, data = act.action, act.data
        with self.connect() as conn:
            row = self.view(conn, actor, case_id)
            # The snapshot is exact after every answered action: a certain rejection needs no round
            # trip, and a closed case (whose workflow may have ended) answers 409 here. The
            # workflow's validator remains the authority for everything that passes.
            state = state_of(row)
            try:
                item = self.catalog.effective(state.item_code, state.item_version, state.department,
                                              state.parent_id is not None)
                if action in PRE_REVIEW_ACTIONS:
                    check_pre_review(state, act)
                    check_pre_review_data(item, act)
                else:
                    rules.check(item, state, act)
            except (Conflict, Forbidden):
                # A retry (same X-Request-Id) of an action already applied, whose answer was lost, is
                # refused by the moved-on snapshot: the workflow knows the update id and answers with
                # its outcome (or its validator refuses, as the snapshot did).
                if request_id is None:
                    raise
            refuse_nul({"comment": act.comment, "data": data})  # a 422 after the 404/403/409 above
            if action in (Action.SUBMIT_SUPPLEMENT, PRE_REVIEW_RESUBMIT) and isinstance(data.get("materials"), list):
                with Session(bind=conn) as session:  # the rarer checks read ORM entities
                    check_own_files(session, actor, data["materials"], field="data.materials")
                    data["materials"] = supplement_licences(session, state.applicant.id_number, data["materials"],
                                                            licence_types(item))
            if action in ASSIGNING and isinstance(data.get("username"), str):
                # who takes the task over (assign, transfer) must hold a role the case waits for
                roles = waiting_roles(item, state) if action in (Action.ASSIGN, Action.TRANSFER) else None
                with Session(bind=conn) as session:
                    self._check_assignee(session, row, data["username"], roles)

    def _check_assignee(self, session: Session, row: CaseRow, username: str, roles: set[Role] | None = None) -> None:
        user = session.get(User, username)
        if user is None or user.department != row.department or not user.active:
            raise Invalid("unknown_user", f"本部门没有用户 {username}", f"no user {username} in department {row.department}",
                          field="data.username")
        if roles and not roles & {Role(r) for r in user.roles}:
            zh = roles_zh(sorted(roles))
            raise Invalid("assignee_role", f"{username} 不能办理当前环节（需要：{zh}）",
                          f"{username} cannot do the current step (needs: {', '.join(sorted(roles))})",
                          field="data.username")
