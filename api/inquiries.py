"""Consultations and complaints (咨询投诉) behind the routes: who may file, ask and answer what.

An inquiry is filed to the item's or the case's department, with its answer limit planned here
from the working calendar; its workflow (`workflows/inquiry.py`) owns it from then on. Reads come
from the read model (`inquiries`), written by the workflow before it answers.
"""
from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.service import CaseService
from api.updates import map_update_error
from banjian.contracts import Actor
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorised
from banjian.inquiries import ANSWER_DAYS, Inquiry, inquiry_json, key_hash
from banjian.inquiry_contracts import AnswerInput, InquiryInput
from banjian.nul_text import refuse_nul
from banjian.timefmt import china_date
from workflows.inquiry import InquiryWorkflow

READ_ALL = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


def workflow_id(inquiry_id: str) -> str:
    return f"inquiry-{inquiry_id}"


class InquiryService:
    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    # ---- filing -----------------------------------------------------------------------------------
    async def file(self, actor: Actor | None, body: dict[str, Any]) -> dict[str, Any]:
        # a NUL cannot be stored on PostgreSQL: the workflow's record activity would retry it forever
        refuse_nul({k: v for k, v in body.items() if k in ("text", "contact", "item_code", "case_id")})
        inp, key = await asyncio.to_thread(self._check_filing, actor, body)
        client = self.cases.client
        handle = await client.start_workflow(
            InquiryWorkflow.run, inp, id=workflow_id(inp.id), task_queue=self.cases.settings.task_queue)
        await handle.execute_update(InquiryWorkflow.open)
        out = {"id": inp.id, "status": "open", "answer_due": inp.answer_due.isoformat(), "kind": inp.kind,
               "department": inp.department}
        if key is not None:
            out["access_key"] = key
        return out

    def _check_filing(self, actor: Actor | None, body: dict[str, Any]) -> tuple[InquiryInput, str | None]:
        kind, channel = body["kind"], body.get("channel") or "web"
        staff = actor is not None and actor.has(*STAFF_ROLES, Role.ADMIN)
        if channel != "web" and not staff:
            raise Forbidden("channel_forbidden", "只有工作人员可代为登记热线或窗口咨询投诉",
                            "only staff file inquiries for the hotline or the window", "channel")
        contact = body.get("contact")
        with self.cases.sessions() as session:
            if kind == "complaint":
                if actor is None:
                    raise Unauthorised("not_authenticated", "投诉需先登录", "a complaint needs a login")
                department, case_id, item_code = self._complaint_target(session, actor, body.get("case_id"), staff)
            else:
                if body.get("case_id"):
                    try:
                        row = self.cases.row(session, actor, body["case_id"]) if actor else None
                    except NotFound:  # named by the field the caller sent
                        row = None
                    if row is None:
                        raise NotFound("case_not_found", "办件不存在", "no such case", "case_id")
                    department, case_id, item_code = row.department, row.id, row.item_code
                elif body.get("item_code"):
                    item = self.cases.catalog.current(body["item_code"])
                    department, case_id, item_code = item.department, None, item.code
                else:
                    raise Invalid("missing_required", "请指明咨询的事项或办件", "item_code or case_id is required",
                                  "item_code")
            if (actor is None or channel != "web") and not contact:
                raise Invalid("missing_required", "请留下联系方式", "a contact is required", "contact")
            today = china_date(datetime.now(UTC))
            due = self.cases.calendar(session).add_working_days(today, ANSWER_DAYS[kind])
        key = secrets.token_urlsafe(18) if actor is None else None
        return InquiryInput(id=uuid.uuid4().hex[:16], kind=kind, channel=channel, department=department,
                            item_code=item_code, case_id=case_id,
                            asker=actor.username if actor is not None and channel == "web" else None,
                            contact=contact, text=body["text"], answer_due=due,
                            key_hash=key_hash(key) if key else None), key

    def _complaint_target(self, session: Session, actor: Actor, case_id: str | None,
                          staff: bool) -> tuple[str, str, str]:
        if not case_id:
            raise Invalid("missing_required", "投诉需指明办件", "a complaint names its case", "case_id")
        from banjian.db import Case

        row = session.get(Case, case_id)
        own = row is not None and row.applicant_username == actor.username and row.parent_id is None
        # staff file a hotline complaint about any case of the platform
        if row is None or not (own or staff):
            raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", "case_id")
        return row.department, row.id, row.item_code

    # ---- reading ------------------------------------------------------------------------------------
    def list(self, actor: Actor, scope: str, status: str | None, limit: int, offset: int) -> dict[str, Any]:
        where: list[Any] = []
        if scope == "mine":
            where.append(Inquiry.asker == actor.username)
        elif scope == "department":
            if actor.has(*READ_ALL) and actor.department is None:
                pass
            elif actor.department is not None and actor.has(*STAFF_ROLES, *READ_ALL):
                where.append(Inquiry.department == actor.department)
            else:
                raise Forbidden("forbidden_role", "只有部门工作人员可查看部门咨询投诉",
                                "only a department's staff read its inquiries")
        else:
            raise Invalid("bad_scope", "scope 只能是 mine 或 department", "scope is mine or department", "scope")
        if status:
            where.append(Inquiry.status == status)
        with self.cases.sessions() as session:
            total = session.exec(select(func.count()).select_from(Inquiry).where(*where)).one()
            rows = session.exec(select(Inquiry).where(*where).order_by(col(Inquiry.answer_due), col(Inquiry.id))
                                .offset(offset).limit(limit)).all()
        return {"items": [inquiry_json(r) for r in rows], "total": total}

    def get(self, actor: Actor | None, inquiry_id: str, key: str | None) -> dict[str, Any]:
        with self.cases.sessions() as session:
            row = session.get(Inquiry, inquiry_id)
            if row is None or not self._may_read(actor, row, key):
                raise NotFound("inquiry_not_found", "咨询投诉不存在", "no such inquiry", "id")
            return inquiry_json(row)

    def _may_read(self, actor: Actor | None, row: Inquiry, key: str | None) -> bool:
        if key and row.key_hash and secrets.compare_digest(key_hash(key), row.key_hash):
            return True
        if actor is None:
            return False
        if row.asker == actor.username or (actor.has(*READ_ALL) and actor.department in (None, row.department)):
            return True
        return actor.department == row.department and actor.has(*STAFF_ROLES)

    # ---- answering ----------------------------------------------------------------------------------
    def may_answer(self, actor: Actor, inquiry_id: str) -> Inquiry:
        """The inquiry if the caller may answer it: 404 unless they may read it, 403 unless they are
        staff of its department."""
        row = self._row(inquiry_id)
        if row is None or not self._may_read(actor, row, None):
            raise NotFound("inquiry_not_found", "咨询投诉不存在", "no such inquiry", "id")
        if not (actor.has(*STAFF_ROLES) and actor.department == row.department):
            raise Forbidden("forbidden_role", "只有承办部门的工作人员可答复", "only the department's staff answer")
        return row

    async def answer(self, actor: Actor, inquiry_id: str, text: str, outcome: str | None) -> dict[str, Any]:
        row = await asyncio.to_thread(self.may_answer, actor, inquiry_id)
        refuse_nul({"text": text, "outcome": outcome})
        if outcome is not None and row.kind != "complaint":
            raise Invalid("outcome_for_complaint", "只有投诉有处理结果", "only a complaint has an outcome", "outcome")
        answered = Conflict("inquiry_answered", "该咨询投诉已答复", "the inquiry is already answered")
        if row.status != "open":
            raise answered
        handle = self.cases.client.get_workflow_handle(workflow_id(inquiry_id))
        try:
            await handle.execute_update(InquiryWorkflow.answer, AnswerInput(actor=actor, text=text, outcome=outcome),
                                        rpc_timeout=timedelta(seconds=self.cases.settings.update_timeout_seconds))
        except WorkflowUpdateFailedError as e:
            raise map_update_error(e) from None
        except RPCError as e:  # answered (and completed) by a colleague a moment ago
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            raise answered from None
        return await asyncio.to_thread(self.get, actor, inquiry_id, None)

    def _row(self, inquiry_id: str) -> Inquiry | None:
        with self.cases.sessions() as session:
            return session.get(Inquiry, inquiry_id)
