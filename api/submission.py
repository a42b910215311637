"""Submitting an application: who applies and how, the form and materials checked before a case
number is drawn, and the case's workflow started with its first update (update-with-start).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.case_reading import CaseReading
from api.numbers import NUMBER_ATTEMPTS, submission_token
from api.updates import Outcome, workflow_id
from banjian import applications
from banjian.agents import check_agent
from banjian.appointment_holds import link_to_case
from banjian.case_numbers import CaseNumber
from banjian.contracts import CASE_DESIGN, Actor, Agent, Answered, Applicant, CaseInput, MaterialRef
from banjian.db import User
from banjian.enums import Channel, IdKind, Role
from banjian.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from banjian.files import check_own_files
from banjian.form_values import today
from banjian.ids import IdError, validate_id
from banjian.item_effective import check_effective
from banjian.items.schema import ItemDefinition
from banjian.licence_reuse import auto_attach, check_licences, explain_missing, licence_types
from banjian.nul_text import refuse_nul
from banjian.zh_quotes import quoted
from workflows.case import CaseWorkflow

log = logging.getLogger("banjian.api")

#: Temporal answers to a submission that a retry may cure (answered 503 with Retry-After)
TRANSIENT_RPC = (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED, RPCStatusCode.UNAVAILABLE,
                 RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


class Submission(CaseReading):
    def check_application(self, actor: Actor, item: ItemDefinition, body: dict[str, Any]) -> tuple[Applicant, Channel]:
        """Who applies and how: an applicant only as themself; a clerk of the item's department for
        anyone. Checked in the contract's order: 403, then 409, then 422."""
        a = body["applicant"]
        given = str(a["id_number"]).strip().upper()
        if actor.has(Role.APPLICANT) and not actor.has(Role.CLERK):
            if given != (actor.id_number or "").upper():
                raise Forbidden("apply_as_self", "申请人只能以本人身份申请",
                                "an applicant may only apply as themself", field="applicant.id_number")
            owner, channel = actor.username, Channel(body.get("channel") or "web")
            if channel == Channel.WINDOW:
                channel = Channel.WEB  # only a clerk files at the window
        elif actor.has(Role.CLERK):
            if actor.department != item.department:
                raise Forbidden("forbidden_department",
                                f"事项 {item.code} 由部门 {item.department} 受理，只能代理本部门事项的申请",
                                f"item {item.code} belongs to department {item.department}: a clerk or a department's "
                                f"system files applications for its own department's items only", field="item_code")
            # a clerk files at the window; a department's system (its own online hall, a kiosk) says
            # how the applicant reached it, as the online figures (网办率) count it
            owner, channel = None, Channel(body.get("channel") or "web") if actor.acts_as else Channel.WINDOW
        else:
            raise Forbidden("forbidden_role", "只有申请人或窗口人员可以提交申请",
                            "only an applicant or a window clerk may apply", field=None)
        if item.status != "active":
            raise Conflict("item_inactive", "本事项当前不受理申请", "the item does not take applications now",
                           field="item_code")
        day = today()
        check_effective(item, day)
        for code in item.members:  # a bundle is applied for as a whole: every member must take it
            member = self.catalog.current(code)
            if member.status != "active":
                raise Conflict("member_inactive", f"“一件事”中的成员事项{quoted(member.name)}当前不受理申请",
                               f"member item {code} of this bundle does not take applications now",
                               field="item_code")
            check_effective(member, day, member_of=item.code)
        try:
            kind = IdKind(a["kind"])
        except ValueError:
            raise Invalid("invalid_applicant_kind", "请选择申请人类型：自然人或法人", "the applicant's kind is "
                          "'citizen' or 'organisation'", field="applicant.kind") from None
        try:
            id_number = validate_id(kind.value, a["id_number"])
        except IdError as e:
            raise Invalid(e.code, e.message, e.message_en, field="applicant.id_number") from None
        if kind not in item.service_object:
            objs = "、".join("自然人" if o == IdKind.CITIZEN else "法人" for o in item.service_object)
            raise Invalid("wrong_service_object", f"本事项的服务对象为：{objs}",
                          f"this item serves: {', '.join(item.service_object)}", field="applicant.kind")
        name = a["name"]
        if owner is None:
            owner = self._owner_of(id_number)
        elif actor.display_name.strip():
            name = actor.display_name.strip()  # as themself: under the account's real name (实名), whatever was typed
        return Applicant(kind=kind, id_number=id_number, name=name, username=owner), channel

    def _owner_of(self, id_number: str) -> str | None:
        with self.sessions() as session:
            user = session.exec(select(User).where(User.id_number == id_number)).first()
            return user.username if user else None

    async def submit(self, actor: Actor, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply for an item. Returns (case, created); the same idempotency key returns the same case
        (created: this attempt stored the key, so of two concurrent twins exactly one is created).

        The case number is drawn from the day's sequence and stored with the idempotency key before
        the workflow starts; the start fails on a workflow id in use (`WorkflowIDConflictPolicy.FAIL`),
        so two applications never share a case. Database work runs in worker threads."""
        key = f"{actor.username}\x1f{body['idempotency_key']}" if body.get("idempotency_key") else None
        # the checks and the first number in one worker thread: each hop waits for a thread and the GIL
        checked, first = await asyncio.to_thread(self._check_and_reserve, actor, body, key)
        if checked is None:  # filed before with this key: that case, whatever would be checked today,
            case = await asyncio.to_thread(self.get, actor, first[0].id)  # if it is the same application
            given = str(((body.get("applicant") or {}).get("id_number")) or "").strip().upper()
            check_same_application(case, body.get("item_code"), given, body.get("form") or {})
            return case, False
        item, applicant, channel, materials, members, agent = checked
        # a joint case's and a bundle's texts name their departments (the workflow does no I/O)
        dispatched = {p.department for p in item.participants} | {m.department for m in members}
        names = await asyncio.to_thread(self.catalog.department_names, dispatched) if dispatched else {}
        token = submission_token(key)
        for attempt in range(NUMBER_ATTEMPTS):
            number, created = first if attempt == 0 else \
                await asyncio.to_thread(self.numbers.reserve, key, item.department, 4**attempt)
            case_id = number.id
            if not created and await asyncio.to_thread(self.numbers.recorded, case_id):
                case = await asyncio.to_thread(self.get, actor, case_id)
                check_same_application(case, item.code, applicant.id_number, body.get("form") or {})
                return case, False
            inp = CaseInput(case_id=case_id, case_no=number.case_no, item=item, department=item.department,
                            applicant=applicant, agent=agent, form=body.get("form") or {}, materials=materials, channel=channel,
                            submitted_by=actor, members=members, pre_review=bool(body.get("pre_review")),
                            design=CASE_DESIGN, department_names=names)
            start = WithStartWorkflowOperation(
                CaseWorkflow.run, inp, id=workflow_id(case_id), task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                task_timeout=timedelta(seconds=self.settings.workflow_task_timeout_seconds),
                memo={"submission": token})
            try:
                # The update id names this submission, not the workflow: the server answers an
                # update-with-start whose update id it has seen in the running workflow with that
                # update's result, whatever the conflict policy, so `open-{case_id}` would hand a
                # clash the other applicant's case.
                await self.client.execute_update_with_start_workflow(
                    CaseWorkflow.open, start_workflow_operation=start, id=f"open-{token}",
                    rpc_timeout=timedelta(seconds=self.settings.update_timeout_seconds))
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                raise Outcome() from None  # the same idempotency key again finds the case if it started
            except RPCError as e:
                if e.status not in TRANSIENT_RPC:
                    raise
                # e.g. "Workflow Task in failed state" on a saturated worker: the case may have started;
                # the same idempotency key finds it again (its memo names this submission)
                log.warning("submission of case %s: Temporal answered %s: %s", case_id, e.status, e)
                raise Unavailable("temporal_busy", "系统繁忙，请稍后使用相同的幂等键重试",
                                  "the workflow service is busy; retry with the same idempotency key") from None
            except WorkflowAlreadyStartedError:
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    await start.workflow_handle()  # the same error, retrieved so it is not reported as lost
                # a twin attempt of this very submission (same key) may have started it first
                earlier = await self._own_earlier_start(case_id, token) if key is not None else None
                if earlier is None:
                    log.error("case id %s is already in use by another case: drawing a new number", case_id)
                    await asyncio.to_thread(self.numbers.release, key, case_id)
                    continue
            if created and applicant.username is not None and item.appointments is not None:
                await asyncio.to_thread(self._link_booking, applicant.username, item.code, case_id)
            return await self._read(self.answer, actor, case_id), created  # recorded before it answered
        raise Unavailable("case_number_unavailable", "暂时无法分配受理号码，请稍后重试",
                          "no free case number could be drawn; retry later", field=None)

    def _link_booking(self, username: str, item_code: str, case_id: str) -> None:
        """The applicant's window booking for the item, made before applying, is now for this case."""
        with self.sessions() as session:
            link_to_case(session, username, item_code, case_id, datetime.now(UTC))

    def _check_and_reserve(self, actor: Actor, body: dict[str, Any], key: str | None) \
            -> tuple[tuple[ItemDefinition, Applicant, Channel, list[MaterialRef], list[ItemDefinition],
                           Agent | None] | None, tuple[CaseNumber, bool]]:
        """`_check_submission`, then the submission's number (`CaseNumbers.reserve`). A key whose case
        is filed already skips the checks (None): a retry answers that case even when something it
        was checked against has changed since (its attached e-licence revoked, a newer item version)."""
        refuse_nul(body)  # before any query: PostgreSQL refuses a NUL even in a lookup
        filed = self.numbers.recorded_case(key) if key is not None else None
        if filed is not None:
            return None, (filed, False)
        checked = self._check_submission(actor, body)
        return checked, self.numbers.reserve(key, checked[0].department, 1)

    def _check_submission(self, actor: Actor, body: dict[str, Any]) \
            -> tuple[ItemDefinition, Applicant, Channel, list[MaterialRef], list[ItemDefinition], Agent | None]:
        """Everything a submission is checked against before a number is drawn (reads the database)."""
        try:
            item = self.catalog.current(body["item_code"])
        except NotFound as e:
            raise Invalid(e.code, e.message, e.message_en, field="item_code") from None
        applicant, channel = self.check_application(actor, item, body)
        # 经办人: checked after who applies (403) and before the form and materials (422 in body order)
        agent = check_agent(body["agent"], applicant.id_number if applicant.kind == IdKind.CITIZEN else None) \
            if body.get("agent") else None
        given = body.get("materials") or []
        with self.sessions() as session:
            given = given + auto_attach(session, item, applicant.id_number, given)  # e-licence reuse
            try:
                materials = applications.check_form(item, body.get("form") or {}, given)
            except Invalid as e:  # a material an e-licence could stand in for: say why it did not
                raise explain_missing(session, item, applicant.id_number, given, e) from None
            check_own_files(session, actor, materials)
            materials = check_licences(session, applicant.id_number, materials, types=licence_types(item))
        return item, applicant, channel, materials, [self.catalog.current(code) for code in item.members], agent

    async def _own_earlier_start(self, case_id: str, token: str) -> Answered | None:
        """The case an earlier attempt of this very submission started (its memo names the same
        submission), or None when the running workflow is someone else's: then nothing is sent to it."""
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        if await (await handle.describe()).memo_value("submission", None) != token:
            return None
        return await handle.execute_update(CaseWorkflow.open, id=f"open-{token}")


def check_same_application(case: dict[str, Any], item_code: str, id_number: str, form: dict[str, Any]) -> None:
    """A submission whose idempotency key filed `case` before must be that application again: the
    same item, applicant and form (materials may differ: a page's retry uploads its files anew).
    Another application under a used key is a 422, never answered with the earlier case."""
    filed = {"item_code": case.get("item_code"), "applicant.id_number": (case.get("applicant") or {}).get("id_number"),
             "form": case.get("form") or {}}
    now = {"item_code": item_code, "applicant.id_number": id_number, "form": form}
    differs = [name for name in filed if filed[name] != now[name]]
    if differs:
        number = case.get("case_no") or case["id"]
        raise Invalid("idempotency_key_reused",
                      f"提交编号（idempotency_key）已用于此前提交的另一份申请（办件 {number}），本次申请内容与其不同"
                      f"（{'、'.join(differs)}）；如需另行申请，请重新提交（使用新的提交编号）",
                      f"idempotency_key was used for an earlier, different application (case {number}; differs in "
                      f"{', '.join(differs)}): send a new key for a new application",
                      field="idempotency_key", extra={"case_id": case["id"], "differs": differs})
