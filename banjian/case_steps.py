"""Where a case stands on its item's steps: the definition it runs on, its current step and the roles
it waits for. Pure functions over `CaseState` and `ItemDefinition`, read by the rules
(`banjian/rules.py`), the workflow and the read model."""
from __future__ import annotations

from banjian.contracts import CaseState
from banjian.enums import PAUSED, UNDER_REVIEW, Role, Status
from banjian.items.schema import ItemDefinition, Step

#: the roles that run a case's clock (extension, special procedure, suspension) and take a paused case
CLOCK_ROLES = (Role.HANDLER, Role.APPROVER)


def effective_item(item: ItemDefinition, department: str, is_sub_case: bool) -> ItemDefinition:
    """The definition a case runs on: a joint item's sub-case runs its participant's steps and sub-limit."""
    if not is_sub_case or not item.participants:
        return item
    for p in item.participants:
        if p.department == department:
            return item.model_copy(update={
                "steps": p.steps, "promised_limit": p.sub_limit, "statutory_limit": p.sub_limit,
                "department": department, "participants": [], "kind": "single"})
    return item


def current_step(item: ItemDefinition, state: CaseState) -> Step | None:
    if state.step_index is None or state.status not in UNDER_REVIEW:
        return None
    return item.steps[state.step_index] if state.step_index < len(item.steps) else None


def waiting_roles(item: ItemDefinition, state: CaseState) -> set[Role]:
    """The roles the case waits for now (who may claim it)."""
    if state.status in (Status.SUBMITTED, Status.DECIDED, Status.DELIVERED):
        return {Role.CLERK}
    if state.status == Status.PRE_REVIEW:  # pre-review waits for the clerk, or for the applicant
        pre = state.pre_review
        return {Role.CLERK} if pre is not None and not (pre.passed or pre.returned) else set()
    step = current_step(item, state)
    if step is not None and state.status in (Status.ACCEPTED, Status.IN_REVIEW):
        return {step.role}
    if state.status in PAUSED:
        return set(CLOCK_ROLES)
    return set()
