"""Time limits on a case: the case workflow's side of its timers and clocks.

Mixed into `CaseWorkflow`, whose main loop waits for the next timer (`workflows/clock.py` lists
them): what a due timer does (deemed acceptance, notice / yellow / red cards, the end of the rating
period, an urge's escalation), and the planning of the deadlines the timers come from, including the
working days a pause adds (activities: the calendar never enters workflow code).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.activity_contracts import PauseRequest
    from banjian.contracts import (
        JOINT_PAUSE_DESIGN,
        SYSTEM,
        Actor,
        CaseInput,
        CaseState,
        Deadlines,
        WarningRecord,
    )
    from banjian.deadlines import merged, plan_request
    from banjian.enums import WARNING_LEVEL, ItemKind, LimitUnit, WarningCause
    from banjian.timefmt import china_date
    from workflows.calls import run_activity, run_local_activity
    from workflows.clock import (
        ACCEPTANCE_LIMIT_NAMED,
        ACCEPTANCE_REASON,
        DEEMED_ACCEPTANCE,
        NOTICE_AT_MOST,
        NOTICE_REASON,
        RATING_CLOSED,
        SUB_CASE_REASONS,
        URGE_ESCALATION,
        WARNING_REASONS,
        Timer,
        notice_is_moot,
        pending_timers,
    )

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition


class TimeLimits:
    state: CaseState
    inp: CaseInput
    item: ItemDefinition
    replan_due: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _lean(self) -> bool: ...
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        def _enter_review(self) -> None: ...
        async def _start_sub_cases(self) -> None: ...
        def _escalate_urge(self, n: int) -> None: ...
        def _sub_case_overdue(self) -> None: ...

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
        if cause == WarningCause.PROMISED_DUE_NEAR and workflow.patched(NOTICE_AT_MOST):
            zh, en = NOTICE_REASON  # "≤ n working days left", not "fewer than n" (cases before replay the old words)
        if (self.state.parent_id is not None and self.state.design >= JOINT_PAUSE_DESIGN
                and cause in SUB_CASE_REASONS):
            zh, en = SUB_CASE_REASONS[cause]  # a department's sub-limit, not the joint case's statutory limit
        fmt = {"n": self.item.warnings.notice_days, "due": due, "step": step.name if step else ""}
        if cause == WarningCause.ACCEPTANCE_OVERDUE and workflow.patched(ACCEPTANCE_LIMIT_NAMED):
            zh, en = ACCEPTANCE_REASON  # the item's own limit, not always 5 working days
            lim = self.item.acceptance_limit
            working = lim.unit == LimitUnit.WORKING_DAYS
            fmt |= {"limit": f"{lim.value} 个工作日" if working else f"{lim.value} 日",
                    "limit_en": f"{lim.value} {'working' if working else 'natural'} days"}
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
