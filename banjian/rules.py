"""Who may do what to a case, and when: the rules every action is checked against.

Pure functions over `CaseState` and `ItemDefinition`, used by the workflow's update
validator (the authority) and by the API to list `allowed_actions` for a caller. The order
of checks is the contract's: 403 (role or department), then 409 (state), then 422 (data, in
`banjian/action_data.py`). Where a case stands (its step, who it waits for) is `banjian/case_steps.py`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from banjian.action_data import check_input, validate_data
from banjian.case_steps import CLOCK_ROLES, current_step, waiting_roles
from banjian.contracts import (
    EXTENSION_IN_TIME_DESIGN,
    JOINT_SUPPLEMENT_DESIGN,
    SUB_CASE_DESIGN,
    ActionInput,
    Actor,
    CaseState,
)
from banjian.enums import (
    CLOSED,
    STAFF_ROLES,
    UNDER_REVIEW,
    Action,
    Channel,
    Opinion,
    Role,
    Status,
    WarningCause,
)
from banjian.errors import Conflict, Forbidden, Invalid
from banjian.items.schema import ItemDefinition
from banjian.labels import ACTION_NAMES_ZH, roles_zh, status_zh
from banjian.pre_review import pre_review_actions
from banjian.urges import authorise_reply, open_urges

#: Actions the applicant who owns the case may take.
APPLICANT_ACTIONS = {Action.SUBMIT_SUPPLEMENT, Action.WITHDRAW, Action.RATE, Action.CONFIRM_RECEIPT}
CLERK_ACTIONS = {Action.ACCEPT, Action.REQUEST_SUPPLEMENT, Action.REFUSE_ACCEPTANCE, Action.DELIVER,
                 Action.CONFIRM_RECEIPT}
TASK_ACTIONS = {Action.CLAIM, Action.RELEASE, Action.ASSIGN, Action.TRANSFER, Action.DELEGATE,
                Action.COMPLETE_DELEGATION, Action.ADD_SIGNER, Action.RETURN_TO, Action.TAKE_BACK, Action.COPY_TO}
#: Work on the current task: only its holder (or, unclaimed, anyone of its role) may do it.
CLAIMED_WORK = {Action.PASS, Action.RETURN, Action.RETURN_TO, Action.APPROVE, Action.DENY, Action.ACCEPT,
                Action.REQUEST_SUPPLEMENT, Action.REFUSE_ACCEPTANCE, Action.DELIVER, Action.ADD_SIGNER,
                Action.ASK_SUPPLEMENT}
#: the design generation from which a case can be withdrawn only before its decision
WITHDRAW_BEFORE_DECISION = 2


def _owner(state: CaseState, actor: Actor) -> bool:
    return actor.has(Role.APPLICANT) and state.applicant.username == actor.username


def _of_department(state: CaseState, actor: Actor, roles: Iterable[Role]) -> bool:
    roles = set(roles)
    if not actor.has(*roles):
        return False
    staff_needed = roles & STAFF_ROLES
    if staff_needed or actor.department is not None:
        return actor.department == state.department
    return True


def _roles_for(action: Action, item: ItemDefinition, state: CaseState) -> set[Role]:
    """The staff roles that may take `action` on this case (the 403 check)."""
    step = current_step(item, state)
    if action in (Action.PASS, Action.RETURN, Action.RETURN_TO, Action.ADD_SIGNER):
        # `return` also works at the decision step (the decider sends the case back one step)
        if step is not None and (step.kind == "review" or action != Action.PASS):
            return {step.role}
        return {s.role for s in item.review_steps()} or {Role.HANDLER}
    if action in (Action.APPROVE, Action.DENY):
        decide = item.decide_step()
        return {decide.role if decide else Role.APPROVER}
    if action in (Action.ACCEPT, Action.REQUEST_SUPPLEMENT, Action.REFUSE_ACCEPTANCE, Action.DELIVER):
        return {Role.CLERK}
    if action == Action.CONFIRM_RECEIPT:
        return {Role.CLERK}
    if action in (Action.REQUEST_EXTENSION, Action.START_SPECIAL_PROCEDURE, Action.END_SPECIAL_PROCEDURE,
                  Action.SUSPEND, Action.RESUME):
        return set(CLOCK_ROLES)
    if action == Action.APPROVE_EXTENSION:
        return {Role.HEAD}
    if action == Action.ASK_SUPPLEMENT:  # the department's handler or approver, or whoever its step waits for
        return set(CLOCK_ROLES) | ({step.role} if step is not None else set())
    if action == Action.NOTIFY_SUPPLEMENT:
        return {Role.LEAD}
    if action == Action.TERMINATE:
        return {Role.APPROVER, Role.HEAD}
    if action == Action.URGE:
        return {Role.SUPERVISOR, Role.LEAD}
    if action in (Action.CLAIM, Action.RELEASE, Action.TRANSFER, Action.DELEGATE, Action.COPY_TO):
        return waiting_roles(item, state) or set(STAFF_ROLES - {Role.LEAD})
    if action == Action.ASSIGN:
        return {Role.APPROVER, Role.HEAD}
    if action in (Action.TAKE_BACK, Action.COMPLETE_DELEGATION):
        return set()  # only the person concerned (see authorise)
    return set()


#: who alone may take an action no role grants (the 403's "needs")
PERSON_CONCERNED_ZH = {Action.TAKE_BACK: "办理上一环节的本人，且下一环节尚未签收",
                       Action.COMPLETE_DELEGATION: "受委托的本人"}
PERSON_CONCERNED_EN = {Action.TAKE_BACK: "the person who passed the previous step, before the next is claimed",
                       Action.COMPLETE_DELEGATION: "the delegate"}


def authorise(action: Action, item: ItemDefinition, state: CaseState, actor: Actor) -> None:
    """403 unless the actor's role and department may take `action` on this case."""
    if action == Action.REPLY_URGE:
        return authorise_reply(state, actor)  # banjian/urges.py
    if action in APPLICANT_ACTIONS and state.parent_id is None and _owner(state, actor):
        return
    if (action == Action.SUBMIT_SUPPLEMENT and state.channel == Channel.WINDOW
            and _of_department(state, actor, {Role.CLERK})):
        return  # at the window the clerk takes the supplement from the applicant in person
    same_department = actor.department is not None and actor.department == state.department
    if same_department and state.delegated_by and state.claimed_by == actor.username and (
            action in CLAIMED_WORK or action == Action.COMPLETE_DELEGATION):
        return  # a delegate works the task in the delegator's place (委托)
    if same_department and action == Action.TAKE_BACK and state.last_passed_by == actor.username:
        return
    cs = state.countersign
    if same_department and action == Action.PASS and cs is not None and cs.active and cs.slot_of(actor):
        return  # an added signer signs with `pass` (加签)
    if action == Action.URGE:
        if actor.has(Role.SUPERVISOR) and actor.department in (None, state.department):
            return
        # the lead unit urges a late department in its joint case (督办)
        if state.parent_id is not None and actor.has(Role.LEAD) and actor.department == state.lead_department:
            return
    roles = _roles_for(action, item, state)
    if action == Action.URGE:
        roles = {Role.SUPERVISOR, Role.LEAD}
    elif roles and _of_department(state, actor, roles):
        return
    # the person concerned alone (see above): never "the applicant", which misled a handler (收回, 完成委托)
    need = roles_zh(sorted(roles)) or PERSON_CONCERNED_ZH.get(action, "申请人本人")
    if not roles and action in PERSON_CONCERNED_ZH:
        raise Forbidden(
            "forbidden_role",
            f"您不能执行“{ACTION_NAMES_ZH.get(action, action)}”（需要：{need}）",
            f"you may not '{action}' this case (needs: {PERSON_CONCERNED_EN[action]})", field="action")
    raise Forbidden(
        "forbidden_role",
        f"您的角色或部门不能执行“{ACTION_NAMES_ZH.get(action, action)}”（需要：{need}）",
        f"your role or department may not '{action}' this case (needs: {', '.join(sorted(roles)) or 'the applicant'})",
        field="action")


def _conflict(action: Action, state: CaseState, why_zh: str, why_en: str,
              extra: dict[str, Any] | None = None) -> Conflict:
    return Conflict("invalid_state",
                    f"办件当前状态为“{status_zh(state.status)}”，不能执行“{ACTION_NAMES_ZH.get(action, action)}”：{why_zh}",
                    f"cannot '{action}' a case in status '{state.status}': {why_en}", field="action", extra=extra)


def _statutory_limit_over(state: CaseState) -> bool:
    """Whether the statutory limit has ended (its red warning recorded), on cases of the design that
    keeps extensions within it."""
    return state.design >= EXTENSION_IN_TIME_DESIGN and any(
        w.cause == WarningCause.STATUTORY_OVERDUE for w in state.warnings)


def admissible(action: Action, item: ItemDefinition, state: CaseState, actor: Actor) -> None:
    """409 unless `action` is allowed in the case's current state (for this actor)."""
    s = state.status
    step = current_step(item, state)
    if s in CLOSED and action not in (Action.RATE,):
        raise _conflict(action, state, "办件已办结或终止", "the case is closed")

    def need(cond: bool, zh: str, en: str) -> None:
        if not cond:
            raise _conflict(action, state, zh, en)

    match action:
        case Action.ACCEPT | Action.REQUEST_SUPPLEMENT:
            need(s == Status.SUBMITTED, "只能对已提交待受理的申请执行", "only a submitted application awaits acceptance")
            if action == Action.REQUEST_SUPPLEMENT:
                need(not state.supplement_requested, "一次性告知只能发出一次", "the one-time supplement notice was already sent")
        case Action.REFUSE_ACCEPTANCE:
            need(s in (Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED) and state.accepted_at is None,
                 "只能在受理前不予受理", "only before acceptance")
        case Action.SUBMIT_SUPPLEMENT:
            need(s == Status.SUPPLEMENT_REQUESTED, "没有待补正的材料", "no supplement was requested")
            need(state.parent_id is None or state.design < JOINT_SUPPLEMENT_DESIGN,
                 "部门子件的补正材料由申请人在主件中提交，经牵头部门转至各部门",
                 "a sub-case's supplement is handed in on the joint case, which forwards it to every department")
        case Action.ASK_SUPPLEMENT:
            need(state.parent_id is not None and state.design >= JOINT_SUPPLEMENT_DESIGN,
                 "只有并联审批（或一件事）的部门子件可以提请牵头部门补正；单独办件请由窗口补正告知",
                 "only a department's sub-case of a joint case or bundle asks the lead unit for a supplement")
            need(state.supplement_ask is None, "本部门已提请补正，等待申请人经牵头部门补正",
                 "the department has already asked: it waits for the applicant's supplement")
            need(s in (Status.ACCEPTED, Status.IN_REVIEW), "只能在本部门办理期间提请补正",
                 "only while the department works its sub-case")
            need(not state.supplement_notified,
                 "牵头部门已向申请人发出一次性补正告知，不能再提请补正",
                 "the lead unit has already sent the joint case's one supplement notice")
        case Action.NOTIFY_SUPPLEMENT:
            need(state.parent_id is None and bool(state.sub_cases) and state.design >= JOINT_SUPPLEMENT_DESIGN,
                 "只有并联审批（或一件事）的主件可以发出合并补正告知",
                 "only a joint case or bundle sends a consolidated supplement notice")
            js = state.joint_supplement
            need(js is None or js.notified_at is None, "一次性告知只能发出一次",
                 "the one consolidated supplement notice was already sent")
            need(s == Status.IN_REVIEW and state.step_index is None, "只能在各部门办理期间告知补正",
                 "only while the departments work their sub-cases")
            need(js is not None and bool(js.asks), "没有部门提请补正", "no department has asked for a supplement")
        case Action.PASS:
            cs = state.countersign
            signing = cs is not None and cs.active and cs.slot_of(actor) is not None
            need(s in (Status.ACCEPTED, Status.IN_REVIEW) and step is not None
                 and (step.kind == "review" or signing), "当前不在审查环节", "the case is not at a review step")
            need(signing or cs is None or not cs.active, "等待加签人签署", "waiting for the added signers")
        case Action.RETURN:
            need(s in (Status.ACCEPTED, Status.IN_REVIEW) and step is not None,
                 "当前不在审查或决定环节", "the case is not at a review or decision step")
            need(bool(state.step_index), "已是第一个审查环节，无法退回", "this is the first step: nothing to return to")
        case Action.APPROVE | Action.DENY:
            need(s in (Status.ACCEPTED, Status.IN_REVIEW) and step is not None and step.kind == "decide",
                 "尚未到决定环节", "the case has not reached its decision step")
            need(state.countersign is None or not state.countersign.active, "等待加签人签署",
                 "waiting for the added signers")
            if action == Action.APPROVE and state.sub_cases:
                against = [c for c in state.sub_cases
                           if c.required and c.opinion not in (Opinion.AGREE, Opinion.AGREE_WITH_REFERRAL)]
                if against:  # named for people; the codes under `departments`
                    raise _conflict(action, state,
                                    f"以下必需部门未同意，只能作出不予许可决定：{'、'.join(c.department_label for c in against)}",
                                    "required departments did not agree ("
                                    + ", ".join(c.department if c.department_name is None
                                                else f"{c.department_name} ({c.department})" for c in against)
                                    + "): only a denial is possible",
                                    extra={"departments": [c.department for c in against]})
        case Action.REQUEST_EXTENSION:
            need(s in (Status.ACCEPTED, Status.IN_REVIEW), "只能在审查期间申请延期", "only while under review")
            need(state.clock.extended_days == 0 and state.extension is None, "延期只能申请一次",
                 "the one extension was already requested")
            need(not _statutory_limit_over(state), "法定办理期限已届满，不能再申请延期（延期须在法定期限内决定）",
                 "the statutory limit has ended: an extension must be decided within it")
        case Action.APPROVE_EXTENSION:
            need(s in UNDER_REVIEW, "只能在作出决定前批准延期", "only before the decision")
            need(state.extension is not None, "没有待批准的延期申请", "no extension request is pending")
            need(not _statutory_limit_over(state), "法定办理期限已届满，不能再批准延期（延期须在法定期限内决定）",
                 "the statutory limit has ended: an extension must be decided within it")
        case Action.START_SPECIAL_PROCEDURE | Action.SUSPEND:
            need(s in (Status.ACCEPTED, Status.IN_REVIEW), "只能在审查期间启动", "only while under review")
        case Action.END_SPECIAL_PROCEDURE:
            need(s == Status.SPECIAL_PROCEDURE, "没有进行中的特别程序", "no special procedure is running")
        case Action.RESUME:
            need(s == Status.SUSPENDED, "办件未中止", "the case is not suspended")
        case Action.DELIVER:
            need(s == Status.DECIDED, "只能送达已作出决定的办件", "only a decided case can be delivered")
        case Action.CONFIRM_RECEIPT:
            need(s == Status.DELIVERED, "办件尚未送达", "the result has not been sent")
        case Action.WITHDRAW:
            need(state.parent_id is None, "子件不能单独撤回，请撤回主件", "withdraw the joint case, not a sub-case")
            # "any time before decision" (domain): an approved case waiting for its fee has its
            # decision, and left unpaid it ends with the payment period. Cases of design 0 and 1
            # (banjian.contracts.CASE_DESIGN) could still be withdrawn then, and keep that rule.
            # An application in online pre-review (not yet formally received) may be given up too.
            before = s in (Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED, Status.PRE_REVIEW) or s in UNDER_REVIEW
            decided = state.result is not None or state.decided_at is not None
            need(before or (s == Status.AWAITING_PAYMENT and state.design < WITHDRAW_BEFORE_DECISION),
                 *(("作出决定后不能撤回", "a decided case cannot be withdrawn") if decided else
                   ("办件已结束办理，不能撤回", "the case has ended: nothing to withdraw")))
        case Action.TERMINATE:
            need(s in UNDER_REVIEW or s in (Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED),
                 "只能终止办理中的办件", "only an open case before decision can be terminated")
        case Action.URGE:
            pass
        case Action.REPLY_URGE:
            need(bool(open_urges(state)), "没有待回复的督办", "no urge awaits a reply")
        case Action.RATE:
            need(s == Status.CONCLUDED, "办结后才能评价", "only a concluded case can be rated")
            need(state.rating is None, "每件只能评价一次", "the case was already rated")
        case Action.RETURN_TO | Action.ADD_SIGNER | Action.DELEGATE:
            need(s in (Status.ACCEPTED, Status.IN_REVIEW) and step is not None,
                 "当前不在审查或决定环节", "the case is not at a review or decision step")
            if action == Action.RETURN_TO and state.parent_id is not None and state.design >= SUB_CASE_DESIGN:
                if state.design >= JOINT_SUPPLEMENT_DESIGN:
                    need(bool(state.step_index), "子件不能退回申请人，且当前已是第一个环节，无可退回的环节；"
                         "需申请人补正材料的，请使用“提请补正”，由牵头部门一次性告知申请人",
                         "a sub-case cannot go back to the applicant, and this is its first step; to have the "
                         "applicant supplement materials, use 'ask_supplement' (the lead unit sends one notice)")
                need(bool(state.step_index), "子件不能退回申请人，且当前已是第一个环节，无可退回的环节",
                     "a sub-case cannot go back to the applicant, and this is its first step")
            if action == Action.ADD_SIGNER:
                need(state.countersign is None, "本环节已有加签", "signers were already added to this step")
            if action == Action.DELEGATE:
                need(state.delegated_by is None, "任务已被委托", "the task is already delegated")
        case Action.COMPLETE_DELEGATION:
            need(state.delegated_by is not None and state.claimed_by == actor.username,
                 "没有委托给您的任务", "no task is delegated to you")
        case Action.TAKE_BACK:
            need(s == Status.IN_REVIEW and bool(state.step_index) and state.claimed_by is None
                 and state.countersign is None and state.last_passed_by == actor.username,
                 "下一环节已开始办理或无可收回的任务", "nothing to take back: the next step has started")
        case Action.COPY_TO:
            pass
        case Action.CLAIM:
            need(bool(waiting_roles(item, state) & set(actor.roles)), "当前没有等待您的角色处理的任务",
                 "the case does not wait for your role now")
            need(state.claimed_by is None, f"任务已被 {state.claimed_by} 签收", f"already claimed by {state.claimed_by}")
        case Action.RELEASE:
            need(state.claimed_by == actor.username, "您没有签收该任务", "you have not claimed this task")
        case Action.TRANSFER:
            need(state.claimed_by == actor.username, "只能转办自己签收的任务", "only your own claimed task can be transferred")
        case Action.ASSIGN:
            need(bool(waiting_roles(item, state)), "办件当前不等待任何人处理", "the case waits for nobody now")
    signer = state.countersign is not None and state.countersign.active and state.countersign.slot_of(actor)
    if action in CLAIMED_WORK and state.claimed_by not in (None, actor.username) and not signer:
        raise _conflict(action, state, f"任务已被 {state.claimed_by} 签收", f"the task is claimed by {state.claimed_by}")


def parse_action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise Invalid("unknown_action", f"未知的操作：{name}", f"unknown action: {name}", field="action") from None


def check(item: ItemDefinition, state: CaseState, act: ActionInput, bounds: bool = True) -> Action:
    """Every check, in the contract's order; returns the parsed action. `bounds`: also the input's
    size limits and the other checks on the input alone (`check_input`)."""
    action = parse_action(act.action)
    authorise(action, item, state, act.actor)
    admissible(action, item, state, act.actor)
    validate_data(action, item, state, act)
    if bounds:
        check_input(item, act)
    return action


def _candidates(state: CaseState, actor: Actor) -> list[Action]:
    """The actions worth checking for this actor at all (a cheap filter before the full checks)."""
    if state.status in CLOSED:
        return [Action.RATE] if actor.has(Role.APPLICANT) else []
    out: list[Action] = []
    if actor.has(Role.APPLICANT):
        out += [a for a in Action if a in APPLICANT_ACTIONS]
    if actor.has(*STAFF_ROLES):
        out += [a for a in Action if a not in (Action.WITHDRAW, Action.RATE, Action.URGE) and a not in out]
    if actor.has(Role.SUPERVISOR, Role.LEAD) and Action.URGE not in out:
        out.append(Action.URGE)
    return out


def allowed_actions(item: ItemDefinition, state: CaseState, actor: Actor) -> list[str]:
    """The actions this actor may take now (role, department and state allow them)."""
    out = []
    for action in _candidates(state, actor):
        if action == Action.URGE and state.parent_id is None and not actor.has(Role.SUPERVISOR):
            continue
        try:
            authorise(action, item, state, actor)
            admissible(action, item, state, actor)
        except (Forbidden, Conflict):
            continue
        out.append(action.value)
    if state.status == Status.PRE_REVIEW:
        out += pre_review_actions(state, actor)
    return out


def authorise_authoring(actor: Actor, department: str | None) -> None:
    """Item authoring (drafts, publishing): an admin (of the item's department, or of none), or the
    item's department's `author`; 403 otherwise."""
    if actor.has(Role.ADMIN) and (actor.department is None or actor.department == department):
        return
    if actor.has(Role.AUTHOR) and actor.department is not None and actor.department == department:
        return
    if actor.has(Role.ADMIN, Role.AUTHOR):
        raise Forbidden("forbidden_department", "只能编辑和发布本部门的事项",
                        "you may only author your own department's items")
    raise Forbidden("forbidden_role", "只有事项管理员或本部门的事项编辑人员可以编辑和发布事项",
                    "only an admin or the department's author may author items")


