"""The case workflow (办件流程): one durable workflow per case, accept → review → decide → deliver.

It owns the case's state. People act through the `act` update, whose validator applies the
rules (`banjian.rules`) before anything changes; durable timers enforce the time limits
(deemed acceptance, notice / yellow / red cards, delivery). After every transition an
activity writes the read model, before the update answers (read-your-writes).

Cases started on this code (patch `lean-actions`) pay one local activity per transition: it
writes the read model and, when the transition can move a deadline, plans the deadlines in the
same call; the main loop's timer is re-created only when a deadline comes earlier; updates answer
without the growing history. Older cases replay the path they took (docs/workflow-versioning.md).

This module holds the workflow's entry points (run and the main loop, opening, the updates and
queries) and the recording of transitions; what each action does is in `workflows/transitions.py`,
what a due timer does and the planning of deadlines in `workflows/time_limits.py`, and the rest in
the other mixins (`workflows/joint.py`, `workflows/urges.py`, `workflows/payment.py`, ...).
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from banjian import rules
    from banjian.action_data import check_pre_review_data
    from banjian.activity_contracts import NotifyParent, Recorded, RecordRequest
    from banjian.case_steps import effective_item
    from banjian.contracts import SYSTEM, ActionInput, Actor, Answered, CaseInput, CaseState, HistoryEntry
    from banjian.deadlines import plan_request
    from banjian.enums import CLOSED, ItemKind, Role, Status
    from banjian.errors import DomainError
    from banjian.joint_contracts import SubCaseRef
    from banjian.pre_review import PRE_REVIEW_ACTIONS
    from workflows.calls import reject, run_activity, run_local_activity, takes_path
    from workflows.clock import pending_timers
    from workflows.complaints import ComplaintNotes
    from workflows.joint import JointApproval
    from workflows.joint_supplement import JointSupplementFlow
    from workflows.licensing import Licensing
    from workflows.migration import VersionMigration
    from workflows.payment import Payments
    from workflows.pre_review import PreReview
    from workflows.rating_follow_up import RatingFollowUp
    from workflows.tasks import TaskOperations
    from workflows.time_limits import TimeLimits
    from workflows.transitions import Transitions
    from workflows.urges import Urging

LEAN_ACTIONS = "lean-actions"
#: from this design on (`CaseInput.design`), `sync` (the simulation clock's advance) records the case's
#: clock: its read model then counts working days to the advanced time, not to its last transition
CLOCK_RECORDED_ON_SYNC = 2
#: from this design on, the workflow's result and the `sync` / `recompute` updates' results are the
#: case's state without its history (the read model and the workflow's own history hold every entry):
#: a long case's history no longer travels in them, where it could pass Temporal's payload limit and
#: a joint parent's history would hold a copy of each sub-case's
LEAN_RESULTS = 3


@workflow.defn(name="Case")
class CaseWorkflow(Transitions, TimeLimits, JointApproval, JointSupplementFlow, TaskOperations, VersionMigration, Licensing,
                   ComplaintNotes, PreReview, Payments, Urging, RatingFollowUp):
    """One case: a single-department case, a department's sub-case of a joint case, or the parent
    of a joint case or bundle (whose department work is in `JointApproval`)."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self.inp = inp
        self.item = effective_item(inp.item, inp.department, inp.parent_id is not None)
        now = workflow.now()
        kind = ItemKind.SINGLE if inp.parent_id is not None else inp.item.kind
        self.state = CaseState(
            id=inp.case_id, design=inp.design, case_no=inp.case_no, item_code=inp.item.code, item_version=inp.item.version, item_name=inp.item.name,
            kind=kind.value, department=inp.department, status=Status.SUBMITTED, applicant=inp.applicant,
            agent=inp.agent, channel=inp.channel, form=inp.form, submitted_at=now, received_at=now,
            materials=[m if m.added_at else m.model_copy(update={"added_by": inp.submitted_by.username,
                                                                  "added_at": now}) for m in inp.materials],
            parent_id=inp.parent_id, lead_department=inp.lead_department, clock_at=now)
        self.lock = asyncio.Lock()
        self.opened = False
        self.recorded = 0  # history entries already in the read model
        self.wake = False
        self.children: dict[str, ChildWorkflowHandle] = {}
        self.joint_outbox: list[tuple[str, str, Any]] = []  # signals to sub-cases (workflows/joint_supplement.py)
        self.notified: SubCaseRef | None = None  # what the parent last heard from this sub-case
        self.parent_ended_as: Status | None = None  # a sub-case: how its joint case ended (`parent_ending`)
        self.archived = False
        self.lean: bool | None = None  # see _lean()
        self.replan_due = False  # lean: the next record plans the deadlines
        self.waiting_on: tuple[datetime | None, bool] | None = None  # the main loop's timer, while it waits

    def _lean(self) -> bool:
        """One local activity per transition (record + plan), timers kept across actions, slim update
        results: True for cases started on this code, False when replaying a case started before."""
        if self.lean is None:  # cases started with design 1 or later never ask (no marker)
            self.lean = takes_path(self.inp.design, LEAN_ACTIONS)
        return self.lean

    # ---- the main loop: timers ------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        try:
            await self._main()
        except asyncio.CancelledError:
            if self.state.parent_id is None:
                raise
            await self._cancelled_by_parent()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result()

    async def _main(self) -> None:
        async with self.lock:
            await self._open()
        while True:
            if self.state.status in CLOSED and self.state.parent_id is None and not self.archived:
                await self._archive()
            timers = pending_timers(self.state, self.item)
            if self.state.status in CLOSED and not timers and not self._awaiting_rectification():
                break
            if timers and timers[0].at <= workflow.now():
                async with self.lock:
                    await self._fire_due()
                continue
            timeout = (timers[0].at - workflow.now()) if timers else None
            if self.wake and self._lean():  # something changed already: no timer to start and cancel
                self.wake = False
                continue
            self.waiting_on = (timers[0].at if timers else None, self.state.status in CLOSED)
            try:
                await workflow.wait_condition(lambda: self.wake, timeout=timeout)
            except TimeoutError:
                pass
            self.wake, self.waiting_on = False, None

    def _timers_moved(self) -> bool:
        """Whether the main loop must re-read the timers now: it waits for a later instant than the next
        timer, or the case closed. A deadline that moved later needs nothing: the loop wakes at the old
        instant, finds nothing due and waits again (one timer per deadline change, not per action)."""
        if not self._lean() or self.waiting_on is None:
            return True
        at, closed = self.waiting_on
        if closed != (self.state.status in CLOSED):
            return True
        timers = pending_timers(self.state, self.item)
        return bool(timers) and (at is None or timers[0].at < at)

    # ---- opening ---------------------------------------------------------------------------
    async def _open(self) -> None:
        if self.opened:
            return
        self.opened = True
        inp = self.inp
        if inp.parent_id is not None:
            self.state.accepted_at = inp.accepted_at or workflow.now()
            self._log(SYSTEM, "sub_case_started", data={"parent_id": inp.parent_id, "department": inp.department})
            self._enter_review()
        else:
            if self._wants_pre_review():
                await self._open_pre_review()
                return
            actor = inp.submitted_by
            data: dict[str, Any] = {"channel": inp.channel, "item_version": inp.item.version,
                                    "materials": [m.name for m in inp.materials]}
            if inp.case_no is not None:  # cases received before case numbers have none
                data["case_no"] = inp.case_no
            self._log(actor, "submitted", data=data)
        await self._replan()
        await self._record()

    @workflow.update
    async def open(self) -> Answered:
        """Answer the submission once the case is recorded (used with update-with-start)."""
        async with self.lock:
            await self._open()
            return self._answer()

    def _answer(self) -> Answered:
        """An update's answer: a few fields, not the state (the read model, written before the answer,
        holds it), so that an action costs the same on a long case as on a new one."""
        return Answered(id=self.state.id, status=self.state.status, seq=len(self.state.history))

    # ---- human actions -------------------------------------------------------------------------
    @workflow.update
    async def act(self, a: ActionInput) -> Answered:
        """A person's action; the validator has checked it, and it is checked again under the lock."""
        if a.action in PRE_REVIEW_ACTIONS:
            return await self._act_pre_review(a)
        async with self.lock:
            try:  # the state's rules again, not the input's bounds (the validator has checked those,
                # and a replay must not refuse what a recorded history accepted before a bound existed)
                action = rules.check(self.item, self.state, a, bounds=False)
            except DomainError as e:  # lost a race with another action
                raise reject(e) from None
            await self._apply(action, a)
            if self._timers_moved():
                self.wake = True
        await self._settle_sub_cases()
        return self._answer()

    @act.validator
    def validate_act(self, a: ActionInput) -> None:
        if a.action in PRE_REVIEW_ACTIONS:
            self._check_pre_review(a)
        try:
            if a.action in PRE_REVIEW_ACTIONS:  # its input too (not under the lock: see `act`)
                return check_pre_review_data(self.item, a)
            rules.check(self.item, self.state, a)
        except DomainError as e:
            raise reject(e) from None

    @workflow.update
    async def recompute(self, reason: str) -> CaseState:
        """The working-day calendar changed: re-plan the deadlines; timers move with them."""
        async with self.lock:
            if self.state.status not in CLOSED:
                before = self.state.deadlines
                await self._replan(at_once=True)
                if self.state.deadlines != before:
                    self._log(SYSTEM, "calendar_changed", comment=reason, data={
                        "before": before.model_dump(mode="json"), "after": self.state.deadlines.model_dump(mode="json")})
                    await self._record()
            self.wake = True
            return self._result()

    @workflow.update
    async def sync(self) -> CaseState:
        """Answer once every timer due by now has fired and been recorded (simulation clock)."""
        await workflow.wait_condition(
            lambda: not self.lock.locked() and not any(t.at <= workflow.now()
                                                       for t in pending_timers(self.state, self.item)))
        if self.inp.design >= CLOCK_RECORDED_ON_SYNC and self.recorded:
            async with self.lock:  # the read model's clock is the case's now, not its last transition's
                await self._record(notify=False)
        return self._result()

    def _result(self) -> CaseState:
        """The case's state as a result (see `LEAN_RESULTS`); the `current` query keeps the history."""
        if self.inp.design >= LEAN_RESULTS:
            return self.state.model_copy(update={"history": []})
        return self.state

    @workflow.query
    def current(self) -> CaseState:
        return self.state

    # ---- recording -------------------------------------------------------------------------------
    def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None:
        role = next((r for r in actor.roles if r != Role.APPLICANT), actor.roles[0]) if actor.roles else ""
        if actor.has(Role.APPLICANT) and actor.username == self.state.applicant.username:
            role = Role.APPLICANT
        if actor.acts_as:  # a department system's service account (banjian/service_accounts.py)
            role = actor.acts_as
        self.state.history.append(HistoryEntry(
            seq=len(self.state.history) + 1, at=workflow.now(), actor=actor.username, role=str(role),
            department=actor.department, action=str(action), comment=comment, data=data or {}))

    async def _archive(self) -> None:
        """Write the archive package (电子文件归档) of a closed case. It runs after the closing action
        has answered (the package is also built on demand if asked for first); cases that closed
        before this step existed replay without it (see docs/workflow-versioning.md). Cases submitted
        of design 1 or later (`CaseInput.design`) leave it to the worker's archive sweeper (no event, no marker)."""
        self.archived = True
        if self.inp.design >= 1:  # the read model's archive queue builds it, off the case's path
            return
        # a lean case is newer than this step: asking again would cost another marker and search
        # attribute update (TemporalChangeVersion) per case
        if self._lean() or workflow.patched("archive-after-close"):
            # an ordinary activity, not a local one: a local activity would hold the workflow task,
            # and with it the answer to the closing action, until the package is written
            await run_activity("archive_case", self.state.id, str)

    async def _record(self, notify: bool = True) -> None:
        """Write the transition to the read model (idempotent) before anyone is answered; a sub-case
        then tells its parent, so the joint case reflects it too when the action answers."""
        s = self.state
        s.clock_at = workflow.now()
        new = s.history[self.recorded:]
        if self._lean():  # one local activity: plan (if due) and write; its marker keeps what it wrote
            plan = plan_request(s, self.item) if self.replan_due else None
            self.replan_due = False
            done: Recorded = await run_local_activity("record_transition", RecordRequest(
                state=s.model_copy(update={"history": []}), events=new, item_definition_version=s.item_version,
                plan=plan), Recorded)
            if done.deadlines is not None:
                s.deadlines = done.deadlines
        else:
            await run_activity("record_case", RecordRequest(
                state=s.model_copy(update={"history": []}), events=new, item_definition_version=s.item_version))
        self.recorded = len(s.history)
        if notify and s.parent_id is not None:
            ref = self._as_sub_case()
            if ref != self.notified:
                await run_activity("notify_parent", NotifyParent(parent_id=s.parent_id, sub_case=ref))
                self.notified = ref

__all__ = ["CaseWorkflow"]
