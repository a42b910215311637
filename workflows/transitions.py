"""What each action does to a case: the case workflow's transitions.

Mixed into `CaseWorkflow`, whose `act` update has checked the action (`banjian.rules`) under its lock
before `_apply` changes the state; `_apply` then logs the action, plans the deadlines again when
they may move, and records the transition in the read model. The steps a case goes through
(`_enter_review`, `_start_step`, `_conclude`) are here too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import (
        EXTENSION_UNIT_DESIGN,
        SYSTEM,
        ActionInput,
        Actor,
        CaseResult,
        CaseState,
        Countersign,
        MaterialRef,
        PendingExtension,
        SpecialProcedureState,
        StepRef,
    )
    from banjian.enums import CLOSED, Action, Decision, DeliveryMethod, ItemKind, LimitUnit, Opinion, Status

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition


#: patch: a joint case or bundle resumed after its departments all answered moves on (see _answered_while_paused)
JOINT_RESUME = "joint-resume-after-answers"


class Transitions:
    state: CaseState
    item: ItemDefinition

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        async def _replan(self, at_once: bool = False) -> None: ...
        async def _resume_clock(self) -> dict: ...
        def _countersign(self, actor: Actor, data: dict[str, Any]) -> Countersign: ...
        def _countersign_pass(self, actor: Actor) -> dict[str, Any]: ...
        def _return_to(self, step_id: str, missing: list[str]) -> dict[str, Any]: ...
        async def _urge(self, a: ActionInput) -> dict[str, Any]: ...
        def _reply_urge(self, a: ActionInput) -> dict[str, Any]: ...
        async def _open_rectification(self, a: ActionInput) -> dict[str, Any]: ...
        async def _issue_licence(self) -> None: ...
        async def _after_approval(self) -> None: ...
        async def _start_sub_cases(self) -> None: ...
        async def _all_answered(self) -> None: ...
        def _ask_supplement(self, a: ActionInput) -> dict[str, Any]: ...
        def _notify_supplement(self, a: ActionInput) -> dict[str, Any]: ...
        def _answers_joint_notice(self) -> bool: ...
        async def _answer_joint_supplement(self, a: ActionInput, given: list[MaterialRef]) -> dict[str, Any]: ...

    async def _apply(self, action: Action, a: ActionInput) -> None:
        s, now, data = self.state, workflow.now(), a.data or {}
        replan = joint_answer = False
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
                added = [m.model_copy(update={
                    "version": 1 + max((o.version for o in s.materials if o.name == m.name), default=0),
                    "added_by": a.actor.username, "added_at": now}) for m in given]
                s.materials = s.materials + added
                s.missing_materials = []
                if self._answers_joint_notice():  # a joint case's one notice answered (design 9 on)
                    extra = await self._answer_joint_supplement(a, added)
                    joint_answer = True
                elif s.returned_to_applicant:  # returned during review: review starts again, clock runs on
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
                    if approved:
                        await self._issue_licence()  # a bundle member's own licence (workflows/licensing.py)
                    self._conclude()  # a department's answer goes to the lead unit, not to the applicant
                    await self._record()
                    return
                replan = True
            case Action.REQUEST_EXTENSION:
                s.extension = PendingExtension(requested_by=a.actor.username, reason=a.comment or "",
                                               requested_at=now, days=self.item.extension_limit.value,
                                               unit=self.item.extension_limit.unit
                                               if s.design >= EXTENSION_UNIT_DESIGN else LimitUnit.WORKING_DAYS)
            case Action.APPROVE_EXTENSION:
                pending = s.extension
                assert pending is not None  # the rules admit approve_extension only with a request
                s.extension = None
                s.clock.extended_days, s.clock.extended_unit = pending.days, pending.unit
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
                if pause and not s.parent_paused:  # paused with its joint case: paused since then already
                    s.clock.paused, s.clock.paused_since = True, now
            case Action.END_SPECIAL_PROCEDURE | Action.RESUME:
                # a sub-case whose joint case is still paused stays paused until the joint case resumes
                extra = {"parent_paused": True} if s.parent_paused else await self._resume_clock()
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
            case Action.ASK_SUPPLEMENT:
                extra = self._ask_supplement(a)  # workflows/joint_supplement.py
            case Action.NOTIFY_SUPPLEMENT:
                extra = self._notify_supplement(a)
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
            await self._after_approval()  # the e-licence and a fee to pay online (workflows/payment.py)
        if action == Action.ACCEPT and s.kind != ItemKind.SINGLE:
            await self._start_sub_cases()
        if action == Action.APPROVE_EXTENSION:
            self._log(SYSTEM, "extension_applied", data={"extended_days": s.clock.extended_days, **(
                {"unit": s.clock.extended_unit.value} if s.design >= EXTENSION_UNIT_DESIGN else {})})
        if action in (Action.RESUME, Action.END_SPECIAL_PROCEDURE) and self._answered_while_paused():
            await self._all_answered()  # the lead unit's steps (or the combined result), which waited
            replan = False  # _all_answered has re-planned
        if joint_answer and s.sub_cases and all(c.status in CLOSED for c in s.sub_cases):
            await self._all_answered()  # every department answered while the applicant was supplementing
            replan = False
        if replan:
            await self._replan()
        await self._record()

    def _answered_while_paused(self) -> bool:
        """A joint case or bundle resumed after every department answered while it was suspended or in
        a special procedure: the answer that closed the last sub-case found it paused and moved nothing,
        so the resumption moves it on. Cases resumed so before this path existed replay without it."""
        s = self.state
        return (s.kind != ItemKind.SINGLE and s.status == Status.IN_REVIEW and s.step_index is None
                and bool(s.sub_cases) and all(c.status in CLOSED for c in s.sub_cases or [])
                and workflow.patched(JOINT_RESUME))

    # ---- the steps a case goes through ---------------------------------------------------------
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
