"""The pausable deadline clock: which durable timer a case waits for next.

Pure and deterministic. Due *dates* come from the `plan_deadlines` activity (the working-day
calendar never enters workflow code); this module only turns them into instants — a due day
is overdue at 24:00 China time — and says which warnings and system events are still to come.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from banjian.contracts import CaseState
from banjian.enums import WARNING_LEVEL, Status, WarningCause, WarningLevel
from banjian.items.schema import ItemDefinition
from banjian.timefmt import end_of, start_of
from banjian.urges import escalations

DEEMED_ACCEPTANCE = "deemed_acceptance"
RATING_CLOSED = "rating_closed"
URGE_ESCALATION = "urge_escalation"  # an unanswered urge escalates (banjian/urges.py, workflows/urges.py)
#: from this design on (`CaseState.design`), a notice that the promised deadline is near is not given once
#: that deadline has passed (a clock advanced past both, a deemed acceptance after a short promised
#: limit): the case's timers drop the notice once the overdue warning fired, and `CaseWorkflow._fire_due`
#: skips a notice whose deadline has ended by the time it fires. Nor is it given when it would fall due
#: at or before the acceptance (a promised limit no longer than the notice's lead, e.g. 0 days for an
#: on-the-spot item). Cases of earlier designs replay both.
NO_NOTICE_AFTER_DUE = 3


@dataclass(frozen=True)
class Timer:
    """A point in case time when the system acts on its own."""

    at: datetime
    event: str  # a WarningCause value, DEEMED_ACCEPTANCE, RATING_CLOSED or URGE_ESCALATION
    step_id: str | None = None  # the step of a step_overdue warning; the urge's number of an escalation

    @property
    def level(self) -> WarningLevel | None:
        try:
            return WARNING_LEVEL[WarningCause(self.event)]
        except ValueError:
            return None


def notice_is_moot(state: CaseState, now: datetime) -> bool:
    """Whether a `promised_due_near` notice due now would come after its deadline has ended (the
    overdue warning, due as well, says it instead); always False for cases before `NO_NOTICE_AFTER_DUE`."""
    due = state.deadlines.promised_due
    return state.design >= NO_NOTICE_AFTER_DUE and due is not None and end_of(due) <= now


def _fired(state: CaseState, cause: WarningCause, step_id: str | None = None) -> bool:
    return any(w.cause == cause and (cause != WarningCause.STEP_OVERDUE or w.step_id == step_id)
               for w in state.warnings)


def pending_timers(state: CaseState, item: ItemDefinition) -> list[Timer]:
    """Every timer the case still waits for, earliest first. A paused clock has none."""
    d = state.deadlines
    timers: list[Timer] = []
    running = not state.clock.paused
    if state.status == Status.SUBMITTED and d.acceptance_due:
        timers.append(Timer(end_of(d.acceptance_due), DEEMED_ACCEPTANCE))
    under_review = state.status in (Status.ACCEPTED, Status.IN_REVIEW, Status.SPECIAL_PROCEDURE, Status.SUSPENDED)
    if under_review and running:
        moot = state.design >= NO_NOTICE_AFTER_DUE and (
            _fired(state, WarningCause.PROMISED_OVERDUE)
            # a promised limit no longer than the notice's lead (an on-the-spot item, 即办): the notice
            # would fall due at acceptance, saying nothing the limit did not say
            or (d.notice_on is not None and state.accepted_at is not None
                and start_of(d.notice_on) <= state.accepted_at))
        if d.notice_on and not _fired(state, WarningCause.PROMISED_DUE_NEAR) and not moot:
            timers.append(Timer(start_of(d.notice_on), WarningCause.PROMISED_DUE_NEAR))
        if d.promised_due and not _fired(state, WarningCause.PROMISED_OVERDUE):
            timers.append(Timer(end_of(d.promised_due), WarningCause.PROMISED_OVERDUE))
        if d.statutory_due and not _fired(state, WarningCause.STATUTORY_OVERDUE):
            timers.append(Timer(end_of(d.statutory_due), WarningCause.STATUTORY_OVERDUE))
        step = state.current_step
        if d.step_due and step and not _fired(state, WarningCause.STEP_OVERDUE, step.id):
            timers.append(Timer(end_of(d.step_due), WarningCause.STEP_OVERDUE, step.id))
    if state.status == Status.DECIDED and d.delivery_due and not _fired(state, WarningCause.PROCEDURE_VIOLATION):
        timers.append(Timer(end_of(d.delivery_due), WarningCause.PROCEDURE_VIOLATION))
    if state.status == Status.CONCLUDED and state.concluded_at and state.rating is None and state.parent_id is None:
        timers.append(Timer(state.concluded_at + timedelta(days=item.rating_days), RATING_CLOSED))
    timers += [Timer(at, URGE_ESCALATION, str(n)) for at, n in escalations(state)]
    return sorted(timers, key=lambda t: t.at)


#: the patch from which a `promised_due_near` notice says what the rule says: at most n working days are
#: left (the notice is due when exactly n are left after its day; the older text said "fewer than n").
NOTICE_AT_MOST = "notice-reason-at-most"
NOTICE_REASON = ("承诺办结期限（{due}）临近：剩余不超过 {n} 个工作日",
                 "the promised deadline ({due}) is near: {n} working days or fewer left")
#: the patch from which an `acceptance_overdue` card names the item's own acceptance limit (it said 5
#: working days whatever the item's `acceptance_limit`)
ACCEPTANCE_LIMIT_NAMED = "acceptance-reason-limit"
ACCEPTANCE_REASON = ("{limit}内未作出受理决定，视为受理（{due}）",
                     "no acceptance decision within {limit_en} ({due}): deemed accepted")
#: a department's sub-case of a joint case (design 8 on, `JOINT_PAUSE_DESIGN`): its promised and statutory
#: dates are both its sub-limit (子时限), not the joint case's limits, and its warnings say so
SUB_CASE_REASONS = {
    WarningCause.PROMISED_DUE_NEAR: ("部门办理时限（{due}）临近：剩余不超过 {n} 个工作日",
                                     "the department's sub-limit ({due}) is near: {n} working days or fewer left"),
    WarningCause.PROMISED_OVERDUE: ("已超过部门办理时限（{due}）", "the department's sub-limit ({due}) has passed"),
    WarningCause.STATUTORY_OVERDUE: ("部门办理时限（{due}）已过仍未答复，已上报牵头部门",
                                     "no answer by the department's sub-limit ({due}): reported to the lead unit"),
}
WARNING_REASONS = {
    WarningCause.PROMISED_DUE_NEAR: ("距承诺办结期限不足 {n} 个工作日", "{n} working days or fewer left before the promised deadline"),
    WarningCause.PROMISED_OVERDUE: ("已超过承诺办结期限（{due}）", "the promised deadline ({due}) has passed"),
    WarningCause.STEP_OVERDUE: ("环节“{step}”已超过环节时限（{due}）", "step '{step}' ran past its limit ({due})"),
    WarningCause.STATUTORY_OVERDUE: ("已超过法定办结期限（{due}）", "the statutory deadline ({due}) has passed"),
    WarningCause.ACCEPTANCE_OVERDUE: ("5 个工作日内未作出受理决定，视为受理（{due}）",
                                      "no acceptance decision within 5 working days ({due}): deemed accepted"),
    WarningCause.PROCEDURE_VIOLATION: ("决定后未在期限内送达（{due}）", "the result was not delivered in time ({due})"),
}
