"""Running a what-if simulation (试运行) of a draft on the real case workflow, in virtual time.

Nothing real is touched: the cases run in a namespace of their own (`{namespace}-whatif`), on a
task queue of their own, served by a worker started for the run whose read model is a scratch
SQLite file in a temporary folder (the draft stored there as its next version, the real
calendar's schedules copied in). Each case's clock moves only when the runner fast-forwards it
(per-workflow time skipping: the server needs `frontend.WorkflowTimeSkippingEnabled=true`, which
the embedded server of `banjian up` has; a cluster without it answers 503).
"""
from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from sqlmodel import Session, select
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from banjian.calendar import WorkingCalendar
from banjian.catalog import Catalog
from banjian.contracts import ActionInput, Actor, Applicant, CaseInput, CaseState, MaterialRef
from banjian.db import CalendarYear, make_engine
from banjian.enums import Action, DeliveryMethod, IdKind, ItemKind, Role, Status, WarningCause
from banjian.errors import Invalid, Unavailable
from banjian.items.schema import ItemDefinition
from banjian.migrate import upgrade
from banjian.seed import ensure_departments
from banjian.settings import Settings
from banjian.simulation import _skipper
from banjian.timefmt import china_date, start_of
from banjian.whatif import MAX_CASES, Outcome, Plan, Profile, check_profile, figures, plan_case

#: cases driven at once (each waits on the server most of its time)
CONCURRENCY = 50
NAMESPACE_WAIT = 30.0  # seconds a freshly registered namespace may take to be served


def whatif_namespace(settings: Settings) -> str:
    return f"{settings.namespace}-whatif"


class TimeSkippingOff(Unavailable):
    pass


def _off() -> TimeSkippingOff:
    return TimeSkippingOff("time_skipping_unavailable",
                           "Temporal 服务未开启按工作流时间跳跃（frontend.WorkflowTimeSkippingEnabled），无法试运行",
                           "the Temporal server does not allow per-workflow time skipping "
                           "(frontend.WorkflowTimeSkippingEnabled=true): simulation is unavailable")


async def _namespace_client(client: Client, namespace: str) -> Client:
    """A client of the what-if namespace, registered when missing (the embedded server has it)."""
    try:
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
    except RPCError as e:  # exists already; or this client may not register (then it must exist)
        if e.status not in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.PERMISSION_DENIED):
            raise
    config = client.config()
    config["namespace"] = namespace
    return Client(**config)


def _scratch(item: ItemDefinition, calendar_rows: list[CalendarYear], folder: Path) -> Callable[[], Session]:
    """A scratch read model: schema, departments, the draft as its version, the real calendar."""
    engine = make_engine(f"sqlite:///{folder / 'whatif.db'}")
    upgrade(engine)

    def sessions() -> Session:
        return Session(engine, expire_on_commit=False)

    ensure_departments(sessions)
    Catalog(sessions).store(item, created_by="whatif")
    with sessions() as session:
        for row in calendar_rows:
            session.add(CalendarYear(year=row.year, schedule=row.schedule, loaded_at=row.loaded_at,
                                     loaded_by=row.loaded_by))
        session.commit()
    sessions.engine = engine  # type: ignore[attr-defined]
    return sessions


class Runner:
    """Drives the simulated cases of one run."""

    def __init__(self, client: Client, task_queue: str, item: ItemDefinition, calendar: WorkingCalendar,
                 run_id: str) -> None:
        self.client, self.task_queue, self.item, self.calendar, self.run_id = (
            client, task_queue, item, calendar, run_id)
        self.skipper = _skipper(client)

    def actor(self, role: Role) -> Actor:
        return Actor(username=f"whatif-{role.value}", roles=[role], department=self.item.department,
                     display_name="试运行")

    async def advance(self, handle: WorkflowHandle, days: int) -> None:
        """Move the case `days` working days on (same time of day), then settle its due timers."""
        from workflows.case import CaseWorkflow

        skipper = self.skipper
        if days <= 0:
            return
        now = await skipper.get_current_time(handle)
        today = china_date(now)
        target = start_of(self.calendar.add_working_days(today, days)) + (now - start_of(today))
        try:
            await skipper.fast_forward(handle, target - now)
        except RPCError as e:
            if e.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION,
                            RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
                raise _off() from None
            raise
        await handle.execute_update(CaseWorkflow.sync)

    async def act(self, handle: WorkflowHandle, action: Action, role: Role, **data: object) -> None:
        from workflows.case import CaseWorkflow

        await handle.execute_update(CaseWorkflow.act, ActionInput(
            action=action.value, actor=self.actor(role), comment="试运行", data=data))

    async def case(self, n: int, plan: Plan) -> Outcome:
        from workflows.case import CaseWorkflow

        item = self.item
        applicant = Actor(username="whatif-applicant", roles=[Role.APPLICANT], display_name="试运行申请人")
        case_id = f"whatif-{self.run_id}-{n:04d}"
        inp = CaseInput(case_id=case_id, item=item, department=item.department,
                        applicant=Applicant(kind=IdKind.CITIZEN, id_number="110101199003070011", name="试运行申请人",
                                            username=applicant.username),
                        materials=[MaterialRef(name=m.name) for m in item.materials if m.required],
                        submitted_by=applicant)
        handle = await self.client.start_workflow(CaseWorkflow.run, inp, id=f"case-{case_id}",
                                                  task_queue=self.task_queue)
        try:
            await handle.execute_update(CaseWorkflow.open)
            if plan.supplement is not None and item.materials:
                await self.act(handle, Action.REQUEST_SUPPLEMENT, Role.CLERK, missing=[item.materials[0].name])
                await self.advance(handle, plan.supplement)
                await handle.execute_update(CaseWorkflow.act, ActionInput(
                    action=Action.SUBMIT_SUPPLEMENT.value, actor=applicant, data={"materials": [item.materials[0].name]}))
            await self.advance(handle, plan.acceptance)
            state = await handle.query(CaseWorkflow.current)
            if state.status == Status.SUBMITTED:  # else accepted by law (deemed acceptance)
                await self.act(handle, Action.ACCEPT, Role.CLERK)
            for i, step in enumerate(item.steps):
                if plan.special is not None and plan.special[0] == i:
                    role = step.role if step.role in (Role.HANDLER, Role.APPROVER) else Role.HANDLER
                    await self.act(handle, Action.START_SPECIAL_PROCEDURE, role,
                                   kind=item.special_procedures[0].kind, expected_days=plan.special[1])
                    await self.advance(handle, plan.special[1])
                    await self.act(handle, Action.END_SPECIAL_PROCEDURE, role)
                await self.advance(handle, plan.steps[i])
                await self.act(handle, Action.PASS if step.kind == "review" else Action.APPROVE, step.role)
            await self.advance(handle, plan.delivery)
            await self.act(handle, Action.DELIVER, Role.CLERK, method=DeliveryMethod.ELECTRONIC.value)
            state = await handle.query(CaseWorkflow.current)
        finally:
            try:  # the case waits for its rating period: nothing more to learn from it
                await handle.terminate("what-if simulation finished")
            except RPCError:
                pass
        return self.outcome(state, plan)

    def spent(self, plan: Plan) -> list[int]:
        """Working days at each step: its own work, plus a special procedure held in it that counts
        toward the time limit (one that does not count pauses the step's clock as well)."""
        days = list(plan.steps)
        if plan.special is not None and self.item.special_procedures[0].counts_toward_limit:
            days[plan.special[0]] += plan.special[1]
        return days

    def outcome(self, state: CaseState, plan: Plan) -> Outcome:
        d = state.deadlines
        due = d.promised_due or d.statutory_due
        end = state.concluded_at or state.decided_at
        assert end is not None and state.submitted_at is not None
        causes = [str(w.cause) for w in state.warnings]
        return Outcome(on_time=due is None or china_date(end) <= due,
                       working_days=self.calendar.working_days_between(china_date(state.submitted_at), china_date(end)),
                       warnings=causes, step_days=self.spent(plan),
                       step_overdue={w.step_id for w in state.warnings
                                     if w.cause == WarningCause.STEP_OVERDUE and w.step_id})


async def simulate(client: Client, settings: Settings, real_sessions: Callable[[], Session],
                   item: ItemDefinition, cases: int, profile: Profile) -> dict:
    """Run `cases` cases of `item` (a draft, as its next version) with `profile`; the figures."""
    from worker import build_worker

    if not 1 <= cases <= MAX_CASES:
        raise Invalid("invalid_number", f"模拟件数须为 1 至 {MAX_CASES}", f"cases must be from 1 to {MAX_CASES}",
                      field="cases")
    if item.kind != ItemKind.SINGLE:
        raise Invalid("simulation_unsupported", "目前只能试运行单一事项（联办事项暂不支持）",
                      "only single-department items can be simulated for now (not joint items or bundles)",
                      field="kind")
    check_profile(item, profile)
    def real_calendar() -> tuple[WorkingCalendar, list[CalendarYear]]:
        with real_sessions() as session:
            rows = list(session.exec(select(CalendarYear)).all())
        return Catalog(real_sessions).calendar(), rows

    calendar, rows = await asyncio.to_thread(real_calendar)
    rng = random.Random(profile.seed)
    plans = [plan_case(item, profile, rng) for _ in range(cases)]
    namespace = whatif_namespace(settings)
    ns_client = await _namespace_client(client, namespace)
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="banjian-whatif-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        sessions = await asyncio.to_thread(_scratch, item, rows, folder)
        scratch = settings.model_copy(update={"data_dir": folder, "database_url": str(sessions.engine.url),  # type: ignore[attr-defined]
                                              "namespace": namespace, "task_queue": f"whatif-{run_id}"})
        runner = Runner(ns_client, scratch.task_queue, item, calendar, run_id)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> Outcome:
            async with gate:
                try:
                    return await runner.case(n, plans[n])
                except WorkflowUpdateFailedError as e:  # the draft's flow refused a simulated action
                    raise Invalid("simulation_failed", f"试运行第 {n + 1} 件时流程拒绝了操作：{e.cause}",
                                  f"simulated case {n + 1}: the flow refused an action: {e.cause}",
                                  field="profile") from None

        try:
            async with build_worker(ns_client, scratch, sessions.engine, archive=False):  # type: ignore[attr-defined]
                await _first_start(runner, plans[0])
                tasks = [asyncio.create_task(one(n)) for n in range(cases)]
                try:
                    outcomes = list(await asyncio.gather(*tasks))
                except BaseException:  # one case failed: stop the others before the worker goes
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
        finally:
            sessions.engine.dispose()  # type: ignore[attr-defined]
    return figures(item, outcomes)


async def _first_start(runner: Runner, plan: Plan) -> None:
    """Wait until the namespace is served (a freshly registered one takes a few seconds), and check
    that the server allows time skipping (503 otherwise) before the run starts."""
    from workflows.case import CaseWorkflow

    loop = asyncio.get_running_loop()
    deadline = loop.time() + NAMESPACE_WAIT
    probe_id = f"whatif-{runner.run_id}-probe"
    while True:
        try:
            handle = await runner.client.start_workflow(
                CaseWorkflow.run, CaseInput(
                    case_id=probe_id, item=runner.item, department=runner.item.department,
                    applicant=Applicant(kind=IdKind.CITIZEN, id_number="110101199003070011", name="试运行"),
                    submitted_by=runner.actor(Role.CLERK)),
                id=f"case-{probe_id}", task_queue=runner.task_queue)
            break
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            if loop.time() > deadline:
                raise Unavailable("whatif_namespace_missing",
                                  f"Temporal 中没有试运行命名空间 {runner.client.namespace}，请先创建",
                                  f"the Temporal namespace {runner.client.namespace} for what-if runs is "
                                  "missing: create it (docs/operations.md)") from None
            await asyncio.sleep(0.5)
    try:
        await handle.execute_update(CaseWorkflow.open)
        await runner.advance(handle, 1)
    finally:
        try:
            await handle.terminate("probe")
        except RPCError:
            pass
