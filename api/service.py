"""The application layer behind the routes: submitting cases, posting actions, reading cases.

The workflow decides; this module only checks what must be checked before a workflow is
reached (who may see a case, the application form), talks to Temporal, and reads the read model.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, func, or_, select
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.numbers import NUMBER_ATTEMPTS, CaseNumbers, submission_token
from api.reads import CaseRow, case_row, department_of, history_rows
from api.views import case_json, history_json
from banjian import applications, audit, case_numbers, inbox, rules, urge_records
from banjian.calendar import WorkingCalendar, load_calendar
from banjian.case_numbers import CaseNumber
from banjian.case_steps import waiting_roles
from banjian.catalog import Catalog
from banjian.contracts import (
    CASE_DESIGN,
    ActionInput,
    Actor,
    Answered,
    Applicant,
    CaseInput,
    CaseState,
    MaterialRef,
)
from banjian.db import Case, Task, User
from banjian.enums import Action, Channel, IdKind, Role
from banjian.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
    from_application_error,
)
from banjian.files import check_own_files
from banjian.ids import IdError, validate_id
from banjian.items.schema import ItemDefinition
from banjian.labels import roles_zh
from banjian.licence_reuse import auto_attach, check_licences, supplement_licences
from banjian.pre_review import PRE_REVIEW_ACTIONS, check_pre_review
from banjian.settings import Settings
from banjian.timefmt import CHINA
from workflows.case import CaseWorkflow

log = logging.getLogger("banjian.api")
T = TypeVar("T")

CALENDAR_TTL_S = 10.0
LISTED_CACHE_SIZE = 4096
READ_ALL_ROLES = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
#: actions naming a user of the case's department in `data.username`
ASSIGNING = (Action.ASSIGN, Action.TRANSFER, Action.DELEGATE, Action.COPY_TO, Action.ADD_SIGNER)
TASK_COLUMNS = (Task.case_id, Task.item_code, Task.item_name, Task.status, Task.step_id, Task.step_name,
                Task.step_role, Task.due, Task.warning, Task.claimed_by, Task.roles, Task.parent_id)


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


#: Temporal answers to a submission that a retry may cure (answered 503 with Retry-After)
TRANSIENT_RPC = (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED, RPCStatusCode.UNAVAILABLE,
                 RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


class Outcome(Exception):
    """Temporal did not answer in time: the action may or may not have been applied."""


def map_update_error(err: Exception) -> DomainError:
    cause = err.cause if isinstance(err, WorkflowUpdateFailedError) else err
    if isinstance(cause, ApplicationError):
        mapped = from_application_error(cause.type, list(cause.details))
        if mapped is not None:
            return mapped
    raise err


class CaseService:
    def __init__(self, settings: Settings, client: Client, session_factory: Callable[[], Session],
                 catalog: Catalog) -> None:
        self.settings = settings
        self.client = client
        self.sessions = session_factory
        self.catalog = catalog
        self.numbers = CaseNumbers(settings, session_factory)
        with session_factory() as probe:  # a session does no I/O until used: this only finds its engine
            self.engine: Engine = cast(Engine, probe.get_bind())
        self.inline_reads = self.engine.dialect.name == "sqlite"
        self._calendar: tuple[float, WorkingCalendar] | None = None
        self._listed: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._listed_lock = threading.Lock()

    # ---- visibility ---------------------------------------------------------------------------
    def can_see(self, actor: Actor, row: CaseRow, session: Session | Connection | None = None) -> bool:
        """Applicants see their own cases (the joint case, not its sub-cases); staff their department's
        cases and sub-cases, and the lead unit the sub-cases of its joint cases; supervisors, auditors
        and admins every case in their scope."""
        if actor.has(*READ_ALL_ROLES) and (actor.department is None or actor.department == row.department):
            return True
        if actor.has(Role.APPLICANT) and row.applicant_username == actor.username and row.parent_id is None:
            return True
        if actor.department is None or actor.has(Role.APPLICANT):
            return False
        if actor.department == row.department:
            return True
        if row.parent_id is not None and session is not None:
            return department_of(session, row.parent_id) == actor.department
        return False

    def visible_filter(self, actor: Actor):
        """A SQL condition selecting the cases `actor` may see."""
        conds = []
        if actor.has(*READ_ALL_ROLES):
            if actor.department is None:
                return None
            conds.append(Case.department == actor.department)
        if actor.has(Role.APPLICANT):
            conds.append((Case.applicant_username == actor.username) & (col(Case.parent_id).is_(None)))
        if actor.department is not None:
            conds.append(Case.department == actor.department)
        return or_(*conds) if conds else Case.id == "\0"

    def row(self, session: Session, actor: Actor, case_id: str) -> Case:
        row = session.get(Case, case_id)
        if row is None or not self.can_see(actor, row, session):
            raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
        return row

    def view(self, db: Session | Connection, actor: Actor, case_id: str) -> CaseRow:
        """`row`'s check on the columns a case is read with (`api.reads`), for the hot paths."""
        row = case_row(db, case_id)
        if row is None or not self.can_see(actor, row, db):
            raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
        return row

    @staticmethod
    def history_of(db: Session | Connection, case_id: str) -> list[dict[str, Any]]:
        """A case's history entries as the contract shows them (plain columns, in order)."""
        return [history_json(h) for h in history_rows(db, case_id)]

    async def _read(self, fn: Callable[..., T], *args: Any, light: bool = True) -> T:
        """An action's pre-check or answer: on SQLite run here, on the event loop (a fraction of a
        millisecond of reads that, in WAL mode, never wait for a writer: the hop to a thread and back
        costs more than the reads); on PostgreSQL, whose reads cross the network, or when not `light`
        (work that takes the CPU for longer), in a thread."""
        if self.inline_reads and light:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def connect(self) -> Connection:
        """A pooled connection for the hot reads (`api.reads`): no ORM session around them."""
        return self.engine.connect()

    # ---- reading -------------------------------------------------------------------------------
    def calendar(self, db: Session | Connection) -> WorkingCalendar:
        """The working calendar for reads (`clock.working_days_used`), kept for a few seconds:
        deadlines themselves are computed by the workers from the database, never from this copy."""
        now = time.monotonic()
        if self._calendar is None or self._calendar[0] < now:
            if isinstance(db, Session):
                cal = load_calendar(db)
            else:
                with Session(bind=db) as session:  # on the connection's transaction
                    cal = load_calendar(session)
            self._calendar = (now + CALENDAR_TTL_S, cal)
        return self._calendar[1]

    def forget_calendar(self) -> None:
        self._calendar = None

    def render(self, session: Session | Connection | None, actor: Actor, row: CaseRow | None, state: CaseState | None = None,
               with_history: bool = True) -> dict[str, Any]:
        """The case as the contract shows it to `actor`: from its read-model row, or from the state
        an update has just answered with (`row` None: recorded before the answer; the history is read
        from the read model unless the state carries it)."""
        state = state or CaseState.model_validate(row.snapshot)
        item = self.catalog.effective(state.item_code, state.item_version, state.department,
                                      state.parent_id is not None)
        history = None
        if state.history:
            history = [history_json(h.model_dump()) for h in state.history]
        elif with_history:
            assert session is not None
            history = self.history_of(session, state.id)
        else:
            history = []
        sub_cases = None
        if state.sub_cases is not None:
            sub_cases = [c.model_dump(mode="json", exclude={"opened"}) for c in state.sub_cases]
            if actor.has(Role.APPLICANT) and state.result is None:
                # departments' internal opinions are not the applicant's until the unified result
                for c in sub_cases:
                    c["opinion"], c["reason"], c["decision"], c["deemed_consent"] = None, None, None, None
                history = hide_opinions(history)
        if session is None:
            with self.connect() as fresh:
                cal = self.calendar(fresh)
        else:
            cal = self.calendar(session)
        return case_json(state, item, actor, cal, recorded_at=row.recorded_at if row is not None else None,
                         history=history, sub_cases=sub_cases)

    def _listed_key(self, actor: Actor, case_id: str, recorded_at: datetime) -> tuple:
        return (case_id, recorded_at, actor.username, actor.department, tuple(actor.roles),
                datetime.now(CHINA).date())

    def listed(self, session: Session, actor: Actor, page: list[tuple[str, datetime]]) -> list[dict[str, Any]]:
        """A page of cases as search results (no history). Lists are read again and again while cases
        stand still, so each rendering is kept until the case is next recorded (per caller and day),
        and only the rows not rendered yet are loaded."""
        keys = [self._listed_key(actor, cid, at) for cid, at in page]
        with self._listed_lock:  # routes run in a thread pool
            found = {k: self._listed[k] for k in keys if k in self._listed}
            for k in found:
                self._listed.move_to_end(k)
        missing = {k[0]: k for k in keys if k not in found}
        if missing:
            rows = session.exec(select(Case).where(col(Case.id).in_(list(missing)))).all()
            fresh = {missing[r.id]: self.render(session, actor, r, with_history=False) for r in rows}
            found.update(fresh)
            with self._listed_lock:
                self._listed.update(fresh)
                while len(self._listed) > LISTED_CACHE_SIZE:
                    self._listed.popitem(last=False)
        return [found[k] for k in keys if k in found]

    def get(self, actor: Actor, case_id: str) -> dict[str, Any]:
        with self.connect() as conn:
            case = self.render(conn, actor, self.view(conn, actor, case_id))
        if actor.has(Role.AUDITOR):
            audit.log_read(self.sessions, actor, case_id, "case")
        return case

    def history(self, actor: Actor, case_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return self.history_of(conn, self.view(conn, actor, case_id).id)

    def search(self, actor: Actor, status: str | None, item_code: str | None, department: str | None,
               warning: str | None, applicant: str | None, q: str | None, kind: str | None,
               limit: int, offset: int) -> dict[str, Any]:
        with self.sessions() as session:
            stmt = select(Case.id, Case.recorded_at)
            vis = self.visible_filter(actor)
            if vis is not None:
                stmt = stmt.where(vis)
            for column, value in ((Case.status, status), (Case.item_code, item_code),
                                  (Case.department, department), (Case.warning, warning), (Case.kind, kind)):
                if value:
                    stmt = stmt.where(column == value)
            if applicant:
                stmt = stmt.where(or_(Case.applicant_id_number == applicant, Case.applicant_username == applicant))
            if q:
                # the text is matched as typed: `%` and `_` are escaped, never LIKE wildcards
                stmt = stmt.where(or_(col(Case.id).contains(q, autoescape=True),
                                      col(Case.case_no).contains(q.upper(), autoescape=True),
                                      col(Case.applicant_name).contains(q, autoescape=True),
                                      col(Case.item_name).contains(q, autoescape=True)))
            total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
            page = session.exec(stmt.order_by(col(Case.submitted_at).desc()).offset(offset).limit(limit)).all()
            found = {"items": self.listed(session, actor, [(cid, at) for cid, at in page]), "total": total}
        if actor.has(Role.AUDITOR):
            query = {k: v for k, v in (("status", status), ("item_code", item_code), ("department", department),
                                       ("warning", warning), ("applicant", applicant), ("q", q), ("kind", kind))
                     if v}
            audit.log_read(self.sessions, actor, None, f"search {query} -> {[cid for cid, _ in page]}")
        return found

    def tasks(self, actor: Actor, scope: str, limit: int, offset: int) -> dict[str, Any]:
        with self.sessions() as session:
            # plain column rows, not ORM objects: an inbox page is read often and may list many tasks
            stmt = select(*TASK_COLUMNS)
            if actor.department is not None:
                stmt = stmt.where(Task.department == actor.department)
            elif not actor.has(*READ_ALL_ROLES):
                return {"items": [], "total": 0}
            # due first, undated last: the order of the index ix_tasks_dept_due on PostgreSQL
            order = (col(Task.due).asc().nulls_last(), col(Task.case_id))
            if scope == "mine":  # waiting for one of my roles, not claimed by someone else
                dialect = session.get_bind().dialect.name
                stmt = stmt.where(or_(col(Task.claimed_by).is_(None), Task.claimed_by == actor.username),
                                  inbox.waits_for_any(dialect, (r.value for r in actor.roles)))
            elif scope == "claimed_by_others":
                stmt = stmt.where(col(Task.claimed_by).is_not(None), Task.claimed_by != actor.username)
            elif scope != "department":
                raise Invalid("invalid_choice", "scope 应为 mine、department 或 claimed_by_others",
                              "scope must be mine, department or claimed_by_others", field="scope")
            total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
            page = session.exec(stmt.order_by(*order).offset(offset).limit(limit)).all()
            items = [{
                "case_id": t.case_id, "item_code": t.item_code, "item_name": t.item_name, "status": t.status,
                "step": {"id": t.step_id, "name": t.step_name, "role": t.step_role} if t.step_id else None,
                "due": t.due.isoformat() if t.due else None, "warning": t.warning, "claimed_by": t.claimed_by,
                "roles": t.roles, "parent_id": t.parent_id} for t in page]
            if scope == "mine" and actor.has(Role.HEAD) and actor.department is not None and offset == 0:
                items += self._escalated_urges(session, actor.department, {i["case_id"] for i in items})
            if scope == "mine" and actor.has(Role.SUPERVISOR) and offset == 0:
                items += self._escalated_urges(session, actor.department, {i["case_id"] for i in items},
                                               to_supervisor=True)
            total += len(items) - len(page)
            urged = urge_records.badges(session, [i["case_id"] for i in items])
            numbers = inbox.case_numbers_of(session, [i["case_id"] for i in items])
            for i in items:
                i["urge"] = urged.get(i["case_id"])
                i["case_no"] = numbers.get(i["case_id"])
            return {"items": items, "total": total}

    @staticmethod
    def _escalated_urges(session: Session, department: str | None, listed: set[str],
                         to_supervisor: bool = False) -> list[dict[str, Any]]:
        """The head's inbox also lists the department's urges escalated to the head (督办升级), on the
        first page, after the tasks: the case may wait for someone else, but the head must see it.
        A supervisor's inbox lists in the same way the urges escalated to supervision (the second
        escalation, `due` its `board_on`), of their department or, without one, of every department."""
        out: list[dict[str, Any]] = []
        if to_supervisor:
            found = urge_records.escalated_to_supervision(session, department)
        else:
            assert department is not None
            found = urge_records.escalated_to_head(session, department)
        role = Role.SUPERVISOR if to_supervisor else Role.HEAD
        for u in found:
            if u.case_id in listed:
                continue
            listed.add(u.case_id)
            row = session.get(Case, u.case_id)
            if row is None:
                continue
            out.append({"case_id": row.id, "item_code": row.item_code, "item_name": row.item_name,
                        "status": row.status, "step": None,
                        "due": (u.board_on if to_supervisor else u.reply_by).isoformat(), "warning": row.warning,
                        "claimed_by": None, "roles": [role.value], "parent_id": row.parent_id})
        return out

    # ---- submitting ------------------------------------------------------------------------------
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
                raise Forbidden("forbidden_department", "只能代理本部门事项的申请",
                                "a clerk files applications for their own department's items only", field="item_code")
            owner, channel = None, Channel.WINDOW
        else:
            raise Forbidden("forbidden_role", "只有申请人或窗口人员可以提交申请",
                            "only an applicant or a window clerk may apply", field=None)
        if item.status != "active":
            raise Conflict("item_inactive", "本事项当前不受理申请", "the item does not take applications now",
                           field="item_code")
        kind = IdKind(a["kind"])
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
        item, applicant, channel, materials, members = checked
        # a joint case's and a bundle's texts name their departments (the workflow does no I/O)
        dispatched = {p.department for p in item.participants} | {m.department for m in members}
        names = await asyncio.to_thread(self.catalog.department_names, dispatched) if dispatched else {}
        token = submission_token(key)
        for attempt in range(NUMBER_ATTEMPTS):
            number, created = first if attempt == 0 else \
                await asyncio.to_thread(self.numbers.reserve, key, item.department, 4**attempt)
            case_id = number.id
            if not created and await asyncio.to_thread(self.numbers.recorded, case_id):
                return await asyncio.to_thread(self.get, actor, case_id), False
            inp = CaseInput(case_id=case_id, case_no=number.case_no, item=item, department=item.department,
                            applicant=applicant, form=body.get("form") or {}, materials=materials, channel=channel,
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
            return await self._read(self.answer, actor, case_id), created  # recorded before it answered
        raise Unavailable("case_number_unavailable", "暂时无法分配受理号码，请稍后重试",
                          "no free case number could be drawn; retry later", field=None)

    def _check_and_reserve(self, actor: Actor, body: dict[str, Any], key: str | None) \
            -> tuple[tuple[ItemDefinition, Applicant, Channel, list[MaterialRef], list[ItemDefinition]],
                     tuple[CaseNumber, bool]]:
        """`_check_submission`, then the submission's number (`CaseNumbers.reserve`)."""
        checked = self._check_submission(actor, body)
        return checked, self.numbers.reserve(key, checked[0].department, 1)

    def _check_submission(self, actor: Actor, body: dict[str, Any]) \
            -> tuple[ItemDefinition, Applicant, Channel, list[MaterialRef], list[ItemDefinition]]:
        """Everything a submission is checked against before a number is drawn (reads the database)."""
        try:
            item = self.catalog.current(body["item_code"])
        except NotFound as e:
            raise Invalid(e.code, e.message, e.message_en, field="item_code") from None
        applicant, channel = self.check_application(actor, item, body)
        given = body.get("materials") or []
        with self.sessions() as session:
            given = given + auto_attach(session, item, applicant.id_number, given)  # e-licence reuse
            materials = applications.check_form(item, body.get("form") or {}, given)
            check_own_files(session, actor, materials)
            materials = check_licences(session, applicant.id_number, materials)
        return item, applicant, channel, materials, [self.catalog.current(code) for code in item.members]

    async def _own_earlier_start(self, case_id: str, token: str) -> Answered | None:
        """The case an earlier attempt of this very submission started (its memo names the same
        submission), or None when the running workflow is someone else's: then nothing is sent to it."""
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        if await (await handle.describe()).memo_value("submission", None) != token:
            return None
        return await handle.execute_update(CaseWorkflow.open, id=f"open-{token}")

    def get_by_number(self, actor: Actor, case_no: str) -> dict[str, Any]:
        """GET /api/cases/by-number/{case_no}: the same visibility as GET /api/cases/{id}."""
        try:
            canonical = case_numbers.parse(case_no)
        except case_numbers.CaseNumberError as e:
            raise Invalid(f"invalid_case_no_{e.rule}", e.message, e.message_en, field="case_no") from None
        with self.sessions() as session:
            case_id = session.exec(select(Case.id).where(Case.case_no == canonical)).first()
        try:
            if case_id is None:
                raise NotFound("case_not_found", "", "")
            return self.get(actor, case_id)
        except NotFound:  # unknown, or not the caller's to see: the same answer, naming only the number
            raise NotFound("case_not_found", f"办件 {canonical} 不存在", f"no case {canonical}", field="case_no") from None

    # ---- acting ------------------------------------------------------------------------------------
    async def act(self, actor: Actor, case_id: str, action: str, comment: str | None, data: dict[str, Any],
                  request_id: str | None = None) -> dict[str, Any]:
        act = ActionInput(action=action, actor=actor, comment=comment, data=data or {})
        # a supplement's e-licences are verified (SM2, tens of milliseconds each) and an assignee is
        # looked up: the rarer checks are not run on the event loop
        rare = action == Action.SUBMIT_SUPPLEMENT or action in ASSIGNING
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
        state = CaseState.model_validate(row.snapshot)
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
            state = CaseState.model_validate(row.snapshot)
            try:
                item = self.catalog.effective(state.item_code, state.item_version, state.department,
                                              state.parent_id is not None)
                if action in PRE_REVIEW_ACTIONS:
                    check_pre_review(state, act)
                else:
                    rules.check(item, state, act)
            except (Conflict, Forbidden):
                # A retry (same X-Request-Id) of an action already applied, whose answer was lost, is
                # refused by the moved-on snapshot: the workflow knows the update id and answers with
                # its outcome (or its validator refuses, as the snapshot did).
                if request_id is None:
                    raise
            if action == Action.SUBMIT_SUPPLEMENT and isinstance(data.get("materials"), list):
                with Session(bind=conn) as session:  # the rarer checks read ORM entities
                    check_own_files(session, actor, data["materials"], field="data.materials")
                    data["materials"] = supplement_licences(session, state.applicant.id_number, data["materials"])
            if action in ASSIGNING and isinstance(data.get("username"), str):
                # who takes the task over (assign, transfer) must hold a role the case waits for
                roles = waiting_roles(item, state) if action in (Action.ASSIGN, Action.TRANSFER) else None
                with Session(bind=conn) as session:
                    self._check_assignee(session, row, data["username"], roles)

    def answer(self, actor: Actor, case_id: str) -> dict[str, Any]:
        """The case once an update has answered: from the read model, which the workflow wrote before
        it answered (read-your-writes), so the update need not carry the state back."""
        with self.connect() as conn:
            row = case_row(conn, case_id)
            if row is None:  # cannot happen once the update answered; say so rather than guess
                raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
            return self.render(conn, actor, row)

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


#: What a sub-case report in the parent's history says about a department's opinion.
OPINION_KEYS = ("opinion", "reason", "decision", "deemed_consent")


def hide_opinions(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A joint case's history as the applicant sees it before the unified result: the departments'
    reports keep who answered, not what they answered."""
    return [{**h, "data": {k: v for k, v in h["data"].items() if k not in OPINION_KEYS}}
            if h["action"] == "sub_case_decided" else h for h in history]


def update_id(act: ActionInput, request_id: str | None) -> str:
    """The id of an action's update: new for every request; with an `X-Request-Id`, that id bound to
    what is asked (who, which action, its comment and data), so that a retry of the same request is
    applied once and the same header on another request is another request, never a lost one."""
    if request_id is None:
        return f"{act.action}-{uuid.uuid4().hex}"
    asked = json.dumps([act.actor.username, act.action, act.comment, act.data], sort_keys=True,
                       ensure_ascii=False, default=str)
    return f"{request_id}-{hashlib.sha256(asked.encode()).hexdigest()[:16]}"
