"""Online pre-review (网上预审) before formal receipt: its actions and their checks.

A case filed with `pre_review: true` waits in `pre_review`: the window clerk passes it
(`pre_review_pass`) or returns it with what to fix (`pre_review_return`, comment required,
`data.missing` optional); a returned application is resubmitted by the applicant
(`pre_review_resubmit`, `data.materials` optional); a passed one becomes formal when the applicant
confirms (`confirm_submission`), or at once if the item's `pre_review.formal_on_pass`. The
acceptance clock starts only at formal receipt. Sandbox-safe: used by the workflow and the API.
"""
from __future__ import annotations

from datetime import date

from banjian.contracts import ActionInput, Actor, CaseState, Model
from banjian.enums import Role, Status
from banjian.errors import Conflict, Forbidden, Invalid
from banjian.items.schema import Limit

PRE_REVIEW_PASS = "pre_review_pass"
PRE_REVIEW_RETURN = "pre_review_return"
PRE_REVIEW_RESUBMIT = "pre_review_resubmit"
CONFIRM_SUBMISSION = "confirm_submission"
PRE_REVIEW_ACTIONS = frozenset({PRE_REVIEW_PASS, PRE_REVIEW_RETURN, PRE_REVIEW_RESUBMIT, CONFIRM_SUBMISSION})
CLERK_SIDE = frozenset({PRE_REVIEW_PASS, PRE_REVIEW_RETURN})


class LimitFrom(Model):
    """A limit counted from a day (activity `add_limit`): its last day still on time."""

    start: date
    limit: Limit


def pre_review_actions(state: CaseState, actor: Actor) -> list[str]:
    """The pre-review actions this actor may take now (for `allowed_actions`)."""
    out = []
    for action in (PRE_REVIEW_PASS, PRE_REVIEW_RETURN, PRE_REVIEW_RESUBMIT, CONFIRM_SUBMISSION):
        try:
            check_pre_review(state, ActionInput(action=action, actor=actor, comment="-"))
        except (Forbidden, Conflict, Invalid):
            continue
        out.append(action)
    return out


def check_pre_review(state: CaseState, act: ActionInput) -> None:
    """403 (not the clerk of the department / not the applicant), 409 (not in that stage of
    pre-review, or a formal case), 422 (a return without its comment); in the contract's order."""
    action, actor = act.action, act.actor
    if action in CLERK_SIDE:
        if not (actor.has(Role.CLERK) and actor.department == state.department):
            raise Forbidden("forbidden_role", "只有本部门窗口人员可以预审", "only the department's clerk pre-reviews")
    elif actor.username != state.applicant.username:
        raise Forbidden("forbidden_role", "只有申请人本人可以操作", "only the applicant may do this")
    pre = state.pre_review
    if state.status != Status.PRE_REVIEW or pre is None:
        raise Conflict("not_pre_review", "该办件不在预审阶段", "the case is not in pre-review", "action")
    waiting = {PRE_REVIEW_PASS: not pre.passed and not pre.returned,
               PRE_REVIEW_RETURN: not pre.passed and not pre.returned,
               PRE_REVIEW_RESUBMIT: pre.returned, CONFIRM_SUBMISSION: pre.passed}[action]
    if not waiting:
        raise Conflict("pre_review_state", "预审当前阶段不允许此操作", "not allowed at this stage of pre-review",
                       "action")
    if action == PRE_REVIEW_RETURN and not (act.comment or "").strip():
        raise Invalid("comment_required", "退回预审须说明需补正的内容", "a return says what to fix", "comment")
    missing = act.data.get("missing")
    if missing is not None and not (isinstance(missing, list) and all(isinstance(m, str) for m in missing)):
        raise Invalid("bad_data", "missing 应为材料名称列表", "data.missing is a list of names", "data.missing")
