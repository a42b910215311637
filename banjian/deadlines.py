"""The deadline plan of a case (期限): what the working-day calendar is asked, and how its answer
lands on the case's state. Pure and deterministic: used by the case workflow (which builds the
request) and by the activity that answers it (which records the state with the answer), so both
agree on the deadlines without the calendar ever entering workflow code.
"""
from __future__ import annotations

from banjian.activity_contracts import PlanRequest
from banjian.contracts import CaseState, Deadlines
from banjian.enums import CLOSED, LimitUnit, Status
from banjian.items.schema import ItemDefinition
from banjian.timefmt import china_date


def plan_request(state: CaseState, item: ItemDefinition) -> PlanRequest:
    """The dates the case's clocks started on and the limits that run from them."""
    s = state
    step = item.steps[s.step_index] if s.step_index is not None and s.status not in CLOSED else None
    natural_extension = s.clock.extended_unit == LimitUnit.NATURAL_DAYS
    return PlanRequest(
        received_on=china_date(s.received_at), acceptance_limit=item.acceptance_limit,
        accepted_on=china_date(s.accepted_at) if s.accepted_at else None,
        promised_limit=item.promised_limit, statutory_limit=item.statutory_limit,
        extra_working_days=s.clock.paused_working_days + (0 if natural_extension else s.clock.extended_days),
        extension_natural_days=s.clock.extended_days if natural_extension else 0,
        notice_days=item.warnings.notice_days,
        step_started_on=china_date(s.step_started_at) if step and s.step_started_at else None,
        step_limit=step.limit if step else None,
        step_extra_working_days=s.clock.paused_working_days - s.clock.step_base,
        # a fee paid online: delivery is counted from the payment (the applicant's wait is not the department's)
        decided_on=china_date((s.payment.paid_at if s.payment else None) or s.decided_at) if s.decided_at else None,
        delivery_limit=item.delivery_limit)


def merged(state: CaseState, planned: Deadlines) -> Deadlines:
    """The planned deadlines as the case keeps them: the acceptance deadline is fixed once the case
    has left `submitted`, and there is none while a supplement is awaited."""
    if state.status not in (Status.SUBMITTED,):
        planned = planned.model_copy(update={"acceptance_due": state.deadlines.acceptance_due})
    if state.status == Status.SUPPLEMENT_REQUESTED:
        planned = planned.model_copy(update={"acceptance_due": None})
    return planned
