"""The case workflow (办件流程): one durable workflow per case, accept → review → decide → deliver.

It owns the case's state. People act through the `act` update, whose validator applies the
rules (`banjian.rules`) before anything changes; durable timers enforce the time limits
(deemed acceptance, notice / yellow / red cards, delivery). After every transition an
activity writes the read model, before the update answers (read-your-writes).

Cases started on this code (patch `lean-actions`) pay one local activity per transition: it
writes the read model and, when the transition can move a deadline, plans the deadlines in the
same call; the main loop's timer is re-created only when a deadline comes earlier; updates answer
without the growing history. Older cases replay the path they took (docs/workflow-versioning.md).
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from banjian import rules
    from banjian.activity_contracts import NotifyParent, PauseRequest, Recorded, RecordRequest
    from banjian.case_steps import effective_item
    from banjian.contracts import (
        SYSTEM,
        ActionInput,
        Actor,
        Answered,
        CaseInput,
        CaseResult,
        CaseState,
        Deadlines,
        HistoryEntry,
        MaterialRef,
        PendingExtension,
        SpecialProcedureState,
        StepRef,
        SubCaseRef,
        WarningRecord,
    )
    from banjian.deadlines import merged, plan_request
    from banjian.enums import (
        CLOSED,
        WARNING_LEVEL,
        Action,
        Decision,
        DeliveryMethod,
        ItemKind,
        Opinion,
        Role,
        Status,
        WarningCause,
    )
    from banjian.errors import DomainError
    from banjian.pre_review import PRE_REVIEW_ACTIONS
    from banjian.timefmt import china_date
    from workflows.calls import reject, run_activity, run_local_activity, takes_path
    from workflows.clock import (
        DEEMED_ACCEPTANCE,
        RATING_CLOSED,
        URGE_ESCALATION,
        WARNING_REASONS,
        Timer,
        notice_is_moot,
        pending_timers,
    )
    from workflows.complaints import ComplaintNotes
    from workflows.joint import JointApproval
    from workflows.licensing import Licensing
    from workflows.migration import VersionMigration
    from workflows.payment import Payments
    from workflows.pre_review import PreReview
    from workflows.rating_follow_up import RatingFollowUp
    from workflows.tasks import TaskOperations
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
class CaseWorkflow(JointApproval, TaskOperations, VersionMigration, Licensing, ComplaintNotes, PreReview,
                   Payments, Urging, RatingFollowUp):
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
            channel=inp.channel, form=inp.form, submitted_at=now, received_at=now,
            materials=[m if m.added_at else m.model_copy(update={"added_by": inp.submitted_by.username,
                                                                  "added_at": now}) for m in inp.materials],
            parent_id=inp.parent_id, lead_department=inp.lead_department, clock_at=now)
        self.lock = asyncio.Lock()
        self.opened = False
        self.recorded = 0  # history entries already in the read model
        self.wake = False
        self.children: dict[str, ChildWorkflowHandle] = {}
        self.notified: SubCaseRef | None = None  # what the parent last heard from this sub-case
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

    async def _fire_due(self) -> None:
        """Act on every timer that is due now (deemed acceptance, warnings, end of rating)."""
        now = workflow.now()
        fired = False
        for timer in pending_timers(self.state, self.item):
            if timer.at > now:
                break
            fired = True
            if timer.event == DEEMED_ACCEPTANCE:
                await self._deemed_acceptance()
                break  # the plan changed: re-read the timers
            if timer.event == RATING_CLOSED:
                self.state.rating = 0  # no rating given within the rating period
                self._log(SYSTEM, "rating_closed", data={"rating_days": self.item.rating_days})
                continue
            if timer.event == URGE_ESCALATION:
                self._escalate_urge(int(timer.step_id or 0))  # workflows/urges.py
                continue
            if timer.event == WarningCause.PROMISED_DUE_NEAR and notice_is_moot(self.state, now):
                continue  # the deadline has passed: its overdue warning, due too, follows in this loop
            self._warn(timer)
            if timer.event == WarningCause.STATUTORY_OVERDUE and self.state.parent_id is not None:
                self._sub_case_overdue()
        if fired:
            await self._record()

    def _warn(self, timer: Timer) -> None:
        cause = WarningCause(timer.event)
        d = self.state.deadlines
        due = {WarningCause.PROMISED_DUE_NEAR: d.promised_due, WarningCause.PROMISED_OVERDUE: d.promised_due,
               WarningCause.STATUTORY_OVERDUE: d.statutory_due, WarningCause.STEP_OVERDUE: d.step_due,
               WarningCause.ACCEPTANCE_OVERDUE: d.acceptance_due,
               WarningCause.PROCEDURE_VIOLATION: d.delivery_due}[cause]
        step = self.state.current_step
        zh, en = WARNING_REASONS[cause]
        fmt = {"n": self.item.warnings.notice_days, "due": due, "step": step.name if step else ""}
        record = WarningRecord(level=WARNING_LEVEL[cause], cause=cause, step_id=timer.step_id, at=workflow.now(),
                               reason=zh.format(**fmt))
        self.state.warnings.append(record)
        self._log(SYSTEM, "warning", comment=zh.format(**fmt),
                  data={"level": record.level, "cause": cause, "step_id": timer.step_id, "reason_en": en.format(**fmt)})

    async def _deemed_acceptance(self) -> None:
        """No decision within the acceptance limit: accepted by law from the day of receipt."""
        due = self.state.deadlines.acceptance_due
        self.state.accepted_at = self.state.received_at
        self._log(SYSTEM, "deemed_acceptance", comment="受理期限届满未作决定，依法视为受理",
                  data={"acceptance_due": str(due), "accepted_at": self.state.received_at.isoformat()})
        self._warn(Timer(workflow.now(), WarningCause.ACCEPTANCE_OVERDUE))
        self._enter_review()
        if self.state.kind != ItemKind.SINGLE:
            await self._start_sub_cases()
        await self._replan()

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
            return self._check_pre_review(a)
        try:
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

    async def _apply(self, action: Action, a: ActionInput) -> None:
        s, now, data = self.state, workflow.now(), a.data or {}
        replan = False
        extra: dict = {}
        match action:
            case Action.ACCEPT:
                s.accepted_at = now
                self._enter_review()
                replan = True
            case Action.REQUEST_SUPPLEMENT:
                s.status, s.missing_materials, s.supplement_requested = (
                    Status.SUPPLEMENT_REQUESTED, list(data["missing"]), True)
                s.deadlines = s.deadlines.model_copy(update={"acceptance_due": None})
                s.claimed_by = None
            case Action.REFUSE_ACCEPTANCE:
                s.status = Status.REFUSED
                s.claimed_by = None
            case Action.SUBMIT_SUPPLEMENT:
                given = [MaterialRef(name=m) if isinstance(m, str) else MaterialRef.model_validate(m)
                         for m in data["materials"]]
                s.materials = s.materials + [m.model_copy(update={
                    "version": 1 + max((o.version for o in s.materials if o.name == m.name), default=0),
                    "added_by": a.actor.username, "added_at": now}) for m in given]
                s.missing_materials = []
                if s.returned_to_applicant:  # returned during review: review starts again, clock runs on
                    extra = await self._resume_clock()
                    s.returned_to_applicant, s.status, s.step_index = False, Status.IN_REVIEW, 0
                    self._start_step()
                else:  # the acceptance clock restarts on the complete supplement
                    s.status, s.received_at = Status.SUBMITTED, now
                replan = True
            case Action.PASS if s.countersign is not None and (s.countersign.active
                                                                 or s.countersign.position == "after"):
                extra = self._countersign_pass(a.actor)  # 加签: a signature, or the owner's pass
                replan = bool(extra.get("advanced"))
            case Action.PASS | Action.RETURN:
                passer = a.actor.username
                s.step_index = (s.step_index or 0) + (1 if action == Action.PASS else -1)
                self._start_step()
                s.status = Status.IN_REVIEW
                s.last_passed_by = passer if action == Action.PASS else None
                replan = True
            case Action.RETURN_TO:
                extra = self._return_to(data["step_id"], data.get("missing") or [])
                replan = data["step_id"] != "applicant"
            case Action.TAKE_BACK:
                s.step_index = (s.step_index or 1) - 1
                self._start_step()
                s.claimed_by, s.last_passed_by = a.actor.username, None
                replan = True
            case Action.DELEGATE:
                s.delegated_by, s.claimed_by = a.actor.username, data["username"]
            case Action.COMPLETE_DELEGATION:
                s.claimed_by, s.delegated_by = s.delegated_by, None
            case Action.COPY_TO:
                s.copied_to = [*s.copied_to, data["username"]]
            case Action.ADD_SIGNER:
                s.countersign = self._countersign(a.actor, data)
            case Action.APPROVE | Action.DENY:
                approved = action == Action.APPROVE
                opinion = None
                if s.parent_id is not None:
                    opinion = (Opinion.AGREE_WITH_REFERRAL if data.get("referral") else Opinion.AGREE) \
                        if approved else Opinion.DISAGREE
                reason = a.comment
                if not approved and s.sub_cases:
                    reason = "；".join([a.comment or ""] + [f"{c.department_label}：{c.reason}" for c in s.sub_cases
                                                             if c.opinion == Opinion.DISAGREE and c.reason])
                s.result = CaseResult(decision=Decision.APPROVED if approved else Decision.DENIED,
                                      reason=reason, opinion=opinion)
                s.status, s.decided_at, s.step_index, s.current_step, s.claimed_by = (
                    Status.DECIDED, now, None, None, None)
                if s.parent_id is not None:
                    self._log(a.actor, action, a.comment, data)
                    self._conclude()  # a department's answer goes to the lead unit, not to the applicant
                    await self._record()
                    return
                replan = True
            case Action.REQUEST_EXTENSION:
                s.extension = PendingExtension(requested_by=a.actor.username, reason=a.comment or "",
                                               requested_at=now, days=self.item.extension_limit.value)
            case Action.APPROVE_EXTENSION:
                pending = s.extension
                assert pending is not None  # the rules admit approve_extension only with a request
                s.extension = None
                s.clock.extended_days = pending.days
                extra = {"reason": pending.reason, "requested_by": pending.requested_by}
                replan = True
            case Action.START_SPECIAL_PROCEDURE | Action.SUSPEND:
                if action == Action.START_SPECIAL_PROCEDURE:
                    spec = next(p for p in self.item.special_procedures if p.kind == data["kind"])
                    days = data.get("expected_days", spec.expected_days)
                    s.special_procedure = SpecialProcedureState(kind=spec.kind, name=spec.name, expected_days=days,
                                                                started_at=now)
                    s.status = Status.SPECIAL_PROCEDURE
                    pause = not spec.counts_toward_limit
                    extra = {"name": spec.name, "expected_days": days, "clock_paused": pause}
                else:
                    s.status, pause = Status.SUSPENDED, True
                if pause:
                    s.clock.paused, s.clock.paused_since = True, now
            case Action.END_SPECIAL_PROCEDURE | Action.RESUME:
                extra = await self._resume_clock()
                s.special_procedure = None
                s.status = Status.IN_REVIEW
                replan = True
            case Action.DELIVER:
                s.delivery = {"method": data["method"], "tracking_no": data.get("tracking_no"), "at": now.isoformat()}
                s.delivered_at, s.claimed_by = now, None
                if data["method"] == DeliveryMethod.ELECTRONIC:
                    self._conclude()  # an e-licence is received the moment it is sent
                else:
                    s.status = Status.DELIVERED
            case Action.CONFIRM_RECEIPT:
                self._conclude()
            case Action.WITHDRAW | Action.TERMINATE:
                s.status = Status.WITHDRAWN if action == Action.WITHDRAW else Status.TERMINATED
                s.claimed_by, s.current_step = None, None
                if s.clock.paused:
                    extra = await self._resume_clock()
            case Action.URGE:
                extra = await self._urge(a)  # workflows/urges.py
            case Action.REPLY_URGE:
                extra = self._reply_urge(a)
            case Action.RATE:
                s.rating = int(data["level"])
                extra = await self._open_rectification(a)  # workflows/rating_follow_up.py
            case Action.CLAIM:
                s.claimed_by = a.actor.username
                if s.status == Status.ACCEPTED:
                    s.status = Status.IN_REVIEW
            case Action.RELEASE:
                s.claimed_by = None
            case Action.ASSIGN | Action.TRANSFER:
                s.claimed_by = data["username"]
        self._log(a.actor, action, a.comment, {**data, **extra})
        if action == Action.APPROVE:
            await self._issue_licence()  # e-licence (workflows/licensing.py)
            await self._await_payment()  # a fee to pay online first (workflows/payment.py)
        if action == Action.ACCEPT and s.kind != ItemKind.SINGLE:
            await self._start_sub_cases()
        if action == Action.APPROVE_EXTENSION:
            self._log(SYSTEM, "extension_applied", data={"extended_days": s.clock.extended_days})
        if replan:
            await self._replan()
        await self._record()

    # ---- helpers ---------------------------------------------------------------------------------
    def _enter_review(self) -> None:
        s = self.state
        s.status, s.claimed_by = Status.ACCEPTED, None
        if s.kind != ItemKind.SINGLE:
            s.status, s.step_index, s.current_step = Status.IN_REVIEW, None, None
            return  # the departments work first: see _start_sub_cases
        s.step_index = 0
        self._start_step()

    def _start_step(self) -> None:
        s = self.state
        step = self.item.steps[s.step_index or 0]
        s.current_step = StepRef(id=step.id, name=step.name, role=step.role)
        s.step_started_at = workflow.now()
        s.claimed_by, s.delegated_by, s.countersign = None, None, None
        s.clock.step_base = s.clock.paused_working_days

    def _conclude(self) -> None:
        s = self.state
        s.status, s.concluded_at, s.claimed_by = Status.CONCLUDED, workflow.now(), None

    async def _resume_clock(self) -> dict:
        """End a pause: the paused working days push every deadline."""
        s = self.state
        if not s.clock.paused or s.clock.paused_since is None:
            return {}
        call = run_local_activity if self._lean() else run_activity
        days = await call("count_working_days", PauseRequest(
            start=china_date(s.clock.paused_since), end=china_date(workflow.now())), int)
        s.clock.paused_working_days += days
        s.clock.paused, s.clock.paused_since = False, None
        return {"paused_working_days": days}

    async def _replan(self, at_once: bool = False) -> None:
        """Re-compute every due date from the dates the clocks started on (an activity: calendar data).
        Lean cases plan in the local activity of the next `_record`, unless asked `at_once`."""
        if self._lean() and not at_once:
            self.replan_due = True
            return
        call = run_local_activity if self._lean() else run_activity
        planned: Deadlines = await call("plan_deadlines", plan_request(self.state, self.item), Deadlines)
        self.state.deadlines = merged(self.state, planned)

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
