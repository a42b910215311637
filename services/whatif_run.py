"""Running a what-if simulation (试运行) of a draft on the real case workflow, in virtual time.

Nothing real is touched: the cases run in a namespace of their own (`{namespace}-whatif`), on a
task queue of their own, served by a worker started for the run whose read model is a scratch
SQLite file in a temporary folder (the draft stored there as its next version, the real
calendar's schedules copied in). Each case's clock moves only when the runner fast-forwards it
(per-workflow time skipping: the server needs `frontend.WorkflowTimeSkippingEnabled=true`, which
the embedded server of `banjian up` has; a cluster without it answers 503).

Joint items and bundles: after acceptance the parent starts one sub-case per lane (department or
member item); the runner drives the lanes concurrently, each sub-case's clock on its own (they
start at the parent's time). A parent cannot skip time while a sub-case runs, so its clock catches
up to the last lane's answer afterwards, and its own steps (consolidation, unified decision) follow.
Because of that catch-up the parent's own step clocks start early in virtual time: their step
figures and `step_overdue` cards come from the plan and the calendar (the same rule the deadline plan
applies), not from the parent's timers; every other warning is the workflows' own.
"""
from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from banjian.calendar import WorkingCalendar
from banjian.catalog import Catalog
from banjian.contracts import CASE_DESIGN, ActionInput, Actor, Applicant, CaseInput, CaseState, MaterialRef
from banjian.db import CalendarYear, Case
from banjian.enums import CLOSED, Action, DeliveryMethod, IdKind, ItemKind, Role, Status, WarningCause
from banjian.errors import Invalid, Unavailable, from_application_error
from banjian.items.schema import ItemDefinition
from banjian.payment_contracts import PaymentNotice
from banjian.settings import Settings
from banjian.timefmt import china_date, end_of, start_of
from banjian.whatif import (
    MAX_CASES,
    Outcome,
    Plan,
    Profile,
    allowed_days,
    check_profile,
    figures,
    flow,
    lanes,
    plan_case,
)
from services.simulation import MARGIN, _skipper
from services.whatif_setup import (
    NAMESPACE_WAIT,
    namespace_client,
    time_skipping_off,
    whatif_namespace,
)
from services.whatif_setup import scratch as scratch_model

#: cases driven at once (each waits on the server most of its time)
CONCURRENCY = 50


class Runner:
    """Drives the simulated cases of one run."""

    def __init__(self, client: Client, task_queue: str, item: ItemDefinition, calendar: WorkingCalendar,
                 run_id: str, members: list[ItemDefinition] | None = None,
                 sessions: Callable[[], Session] | None = None) -> None:
        self.client, self.task_queue, self.item, self.calendar, self.run_id = (
            client, task_queue, item, calendar, run_id)
        self.members = members or []
        self.sessions = sessions  # the scratch read model (a composite case's sub-cases are read there)
        self.flow = flow(item, self.members)
        self.skipper = _skipper(client)

    def actor(self, role: Role, department: str | None = None) -> Actor:
        return Actor(username=f"whatif-{role.value}", roles=[role], department=department or self.item.department,
                     display_name="试运行")

    async def now(self, handle: WorkflowHandle) -> datetime:
        return await self.skipper.get_current_time(handle)

    async def advance(self, handle: WorkflowHandle, days: int) -> None:
        """Move the case `days` working days on (same time of day), then settle its due timers."""
        if days <= 0:
            return
        now = await self.now(handle)
        today = china_date(now)
        await self.advance_to(handle, start_of(self.calendar.add_working_days(today, days)) + (now - start_of(today)),
                              now)

    async def advance_to(self, handle: WorkflowHandle, target: datetime, now: datetime | None = None) -> None:
        """Move the case's clock on to `target` (nothing if it is there already)."""
        from workflows.case import CaseWorkflow

        now = now or await self.now(handle)
        if target <= now:
            return
        try:
            await self.skipper.fast_forward(handle, target - now)
        except RPCError as e:
            if e.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION,
                            RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
                raise time_skipping_off() from None
            raise
        try:
            await handle.execute_update(CaseWorkflow.sync)
        except RPCError as e:  # it ended during the advance (a sub-case answered by deemed consent)
            if e.status != RPCStatusCode.NOT_FOUND:
                raise

    async def act(self, handle: WorkflowHandle, action: Action, role: Role, department: str | None = None,
                  **data: object) -> None:
        from workflows.case import CaseWorkflow

        await handle.execute_update(CaseWorkflow.act, ActionInput(
            action=action.value, actor=self.actor(role, department), comment="试运行", data=data))

    async def steps(self, handle: WorkflowHandle, plan: Plan, indexes: list[int], days: list[int],
                    over: list[int]) -> None:
        """Work the steps `indexes` of the flow on one case (the parent, or one lane's sub-case):
        each takes its planned working days, then is passed (review) or decided (decide);
        `days[i]` gets the working days step i took, `over[i]` those past its limit."""
        from workflows.case import CaseWorkflow

        item = self.item
        for i in indexes:
            f = self.flow[i]
            started = china_date(await self.now(handle))
            if plan.special is not None and plan.special[0] == i:
                role = f.step.role if f.step.role in (Role.HANDLER, Role.APPROVER) else Role.HANDLER
                await self.act(handle, Action.START_SPECIAL_PROCEDURE, role, f.department,
                               kind=item.special_procedures[0].kind, expected_days=plan.special[1])
                await self.advance(handle, plan.special[1])
                await self.act(handle, Action.END_SPECIAL_PROCEDURE, role, f.department)
            await self.advance(handle, plan.steps[i])
            if f.lane is not None:
                state = await handle.query(CaseWorkflow.current)
                if state.status in CLOSED:  # past its sub-limit, the department's silence was taken as
                    answered = china_date(state.decided_at or state.concluded_at or state.clock_at)
                    days[i] = self.calendar.working_days_between(started, answered)  # consent: it is answered
                    for rest in indexes[indexes.index(i) + 1:]:
                        days[rest] = 0
                    over[i] = max(0, days[i] - allowed_days(self.calendar, started, f.step.limit)) \
                        if f.step.limit is not None else 0
                    return
            if f.step.limit is not None:
                over[i] = max(0, days[i] - allowed_days(self.calendar, started, f.step.limit))
            await self.act(handle, Action.PASS if f.step.kind == "review" else Action.APPROVE, f.step.role,
                           f.department)

    async def case(self, n: int, plan: Plan) -> Outcome:
        from workflows.case import CaseWorkflow

        item = self.item
        applicant = Actor(username="whatif-applicant", roles=[Role.APPLICANT], display_name="试运行申请人")
        case_id = f"whatif-{self.run_id}-{n:04d}"
        inp = CaseInput(case_id=case_id, item=item, department=item.department,
                        applicant=Applicant(kind=IdKind.CITIZEN, id_number="110101199003070011", name="试运行申请人",
                                            username=applicant.username),
                        materials=[MaterialRef(name=m.name) for m in item.materials if m.required],
                        submitted_by=applicant, members=self.members, design=CASE_DESIGN)
        handle = await self.client.start_workflow(CaseWorkflow.run, inp, id=f"case-{case_id}",
                                                  task_queue=self.task_queue)
        over, days = [0] * len(self.flow), self.spent(plan)
        lane_ends: dict[str, datetime] = {}
        try:
            await handle.execute_update(CaseWorkflow.open)
            if plan.supplement is not None and item.materials:
                await self.act(handle, Action.REQUEST_SUPPLEMENT, Role.CLERK, missing=[item.materials[0].name])
                await self.advance(handle, plan.supplement)
                await handle.execute_update(CaseWorkflow.act, ActionInput(
                    action=Action.SUBMIT_SUPPLEMENT.value, actor=applicant, data={"materials": [item.materials[0].name]}))
            await self.acceptance(handle, plan.acceptance)
            state = await handle.query(CaseWorkflow.current)
            if state.status == Status.SUBMITTED:  # else accepted by law (deemed acceptance)
                await self.act(handle, Action.ACCEPT, Role.CLERK)
            if item.kind != ItemKind.SINGLE:
                lane_ends = await self.lanes(handle, plan, days, over)
            await self.steps(handle, plan, [i for i, f in enumerate(self.flow) if f.lane is None], days, over)
            await self.pay(handle)
            await self.advance(handle, plan.delivery)
            await self.act(handle, Action.DELIVER, Role.CLERK, method=DeliveryMethod.ELECTRONIC.value)
            state = await handle.query(CaseWorkflow.current)
        finally:
            try:  # the case waits for its rating period: nothing more to learn from it
                await handle.terminate("what-if simulation finished")
            except RPCError:
                pass
        return await self.outcome(state, days, over, lane_ends)

    async def acceptance(self, handle: WorkflowHandle, days: int) -> None:
        """Let `days` working days pass before the clerk accepts; a case still waiting at the end of
        its acceptance due day is accepted by law then (deemed acceptance), and its review starts
        at once: the rest of the drawn days never pass."""
        from workflows.case import CaseWorkflow

        if days <= 0:
            return
        state = await handle.query(CaseWorkflow.current)
        due = state.deadlines.acceptance_due
        if due is not None and self.calendar.add_working_days(china_date(await self.now(handle)), days) > due:
            await self.advance_to(handle, end_of(due) + MARGIN)
        else:
            await self.advance(handle, days)

    async def pay(self, handle: WorkflowHandle) -> None:
        """An approved case of an item that charges online waits for its fee: the applicant pays at
        once (the provider's callback, as the payment route hands it to the case)."""
        from workflows.case import CaseWorkflow

        state = await handle.query(CaseWorkflow.current)
        pay = state.payment
        if state.status != Status.AWAITING_PAYMENT or pay is None:
            return
        await handle.execute_update(CaseWorkflow.record_payment, PaymentNotice(
            provider=pay.provider, case_id=state.id, order_id=pay.order_id,
            transaction_id=f"whatif-{state.id}", amount_fen=pay.amount_fen))

    async def lanes(self, handle: WorkflowHandle, plan: Plan, days: list[int], over: list[int]) -> dict[str, datetime]:
        """Work every lane's sub-case concurrently, then bring the parent's clock up to the last
        answer; → when each lane answered (its sub-case's clock)."""
        from workflows.case import CaseWorkflow

        state = await handle.query(CaseWorkflow.current)
        by_lane = {(c.department if self.item.kind == ItemKind.JOINT else c.item_code): c.id
                   for c in state.sub_cases or []}
        ends: dict[str, datetime] = {}

        async def lane(key: str) -> None:
            sub = self.client.get_workflow_handle(f"case-{by_lane[key]}")
            await self.steps(sub, plan, [i for i, f in enumerate(self.flow) if f.lane == key], days, over)
            st = await sub.query(CaseWorkflow.current)
            ends[key] = st.decided_at or st.concluded_at or await self.now(sub)

        await asyncio.gather(*(lane(ln.key) for ln in lanes(self.item, self.members) if ln.key in by_lane))
        if ends:
            await self.advance_to(handle, max(ends.values()))
        return ends

    def spent(self, plan: Plan) -> list[int]:
        """Working days at each step: its own work, plus a special procedure held in it that counts
        toward the time limit (one that does not count pauses the step's clock as well)."""
        days = list(plan.steps)
        if plan.special is not None and self.item.special_procedures[0].counts_toward_limit:
            days[plan.special[0]] += plan.special[1]
        return days

    def _sub_cases(self, parent_id: str) -> list[CaseState]:
        assert self.sessions is not None
        with self.sessions() as session:
            rows = session.exec(select(Case.snapshot).where(Case.parent_id == parent_id)).all()
        return [CaseState.model_validate(r) for r in rows]

    async def outcome(self, state: CaseState, days: list[int], over: list[int],
                      lane_ends: dict[str, datetime] | None = None) -> Outcome:
        d = state.deadlines
        due = d.promised_due or d.statutory_due
        end = state.concluded_at or state.decided_at
        assert end is not None and state.submitted_at is not None
        if self.item.kind == ItemKind.SINGLE:
            causes = [str(w.cause) for w in state.warnings]
            overdue = {w.step_id for w in state.warnings if w.cause == WarningCause.STEP_OVERDUE and w.step_id}
        else:  # the parent's own step clocks ran early (see the module's note): its step cards from the plan
            late = [f for i, f in enumerate(self.flow) if f.lane is None and over[i] > 0]
            causes = [str(w.cause) for w in state.warnings if w.cause != WarningCause.STEP_OVERDUE]
            causes += [str(WarningCause.STEP_OVERDUE)] * len(late)
            overdue = {f.key for f in late}
        out = Outcome(on_time=due is None or china_date(end) <= due,
                      working_days=self.calendar.working_days_between(china_date(state.submitted_at), china_date(end)),
                      warnings=causes, step_days=days, step_overdue=overdue, step_over=over)
        if self.item.kind != ItemKind.SINGLE and state.accepted_at is not None:
            dispatched = china_date(state.accepted_at)
            subs = await asyncio.to_thread(self._sub_cases, state.id)
            for sub in subs:
                key = sub.department if self.item.kind == ItemKind.JOINT else sub.item_code
                sub_causes = [str(w.cause) for w in sub.warnings]
                out.warnings += sub_causes
                out.lane_warnings[key] = sub_causes
                answered = sub.decided_at or sub.concluded_at or (lane_ends or {}).get(key)
                out.lane_days[key] = self.calendar.working_days_between(dispatched, china_date(answered)) \
                    if answered else 0
                if any(w.cause in (WarningCause.PROMISED_OVERDUE, WarningCause.STATUTORY_OVERDUE)
                       for w in sub.warnings):
                    out.lane_overdue.add(key)
                out.step_overdue |= {f"{key}.{w.step_id}" for w in sub.warnings
                                     if w.cause == WarningCause.STEP_OVERDUE and w.step_id}
        return out


async def simulate(client: Client, settings: Settings, real_sessions: Callable[[], Session],
                   item: ItemDefinition, cases: int, profile: Profile) -> dict:
    """Run `cases` cases of `item` (a draft, as its next version) with `profile`; the figures."""
    from worker import build_worker

    if not 1 <= cases <= MAX_CASES:
        raise Invalid("invalid_number", f"模拟件数须为 1 至 {MAX_CASES}", f"cases must be from 1 to {MAX_CASES}",
                      field="cases")
    def real_calendar() -> tuple[WorkingCalendar, list[CalendarYear], list[ItemDefinition], dict[str, str]]:
        catalog = Catalog(real_sessions)
        with real_sessions() as session:
            rows = list(session.exec(select(CalendarYear)).all())
        members = [catalog.current(code) for code in item.members] if item.kind == ItemKind.BUNDLE else []
        names = catalog.department_names({item.department, *(f.department for f in flow(item, members))})
        return catalog.calendar(), rows, members, names

    # a bundle's members as published; the departments' names for the figures
    calendar, rows, members, names = await asyncio.to_thread(real_calendar)
    check_profile(item, profile, members)
    rng = random.Random(profile.seed)
    plans = [plan_case(item, profile, rng, members) for _ in range(cases)]
    namespace = whatif_namespace(settings)
    ns_client = await namespace_client(client, namespace)
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="banjian-whatif-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        sessions = await asyncio.to_thread(scratch_model, item, rows, folder, members)
        scratch = settings.model_copy(update={"data_dir": folder, "database_url": str(sessions.engine.url),  # type: ignore[attr-defined]
                                              "namespace": namespace, "task_queue": f"whatif-{run_id}"})
        runner = Runner(ns_client, scratch.task_queue, item, calendar, run_id, members, sessions)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> Outcome:
            async with gate:
                try:
                    return await runner.case(n, plans[n])
                except WorkflowUpdateFailedError as e:  # the draft's flow refused a simulated action
                    cause = e.cause
                    known = from_application_error(getattr(cause, "type", None), getattr(cause, "details", None))
                    zh, en = (known.message, known.message_en) if known is not None else (str(cause), str(cause))
                    raise Invalid("simulation_failed", f"试运行第 {n + 1} 件时流程拒绝了操作：{zh}",
                                  f"simulated case {n + 1}: the flow refused an action: {en}",
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
    return figures(item, outcomes, members, names)


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
                    submitted_by=runner.actor(Role.CLERK), design=CASE_DESIGN),
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
