"""A supplement in a joint case or bundle (并联审批补正, `JOINT_SUPPLEMENT_DESIGN`): a department asks the
lead unit, the lead unit tells the applicant once, the applicant's one answer reaches every department.

1. A department's handler or approver posts `ask_supplement` on its sub-case (the materials and why): the
   sub-case waits (`supplement_requested`) with its clock paused, and reports the request to the joint case
   (`SubCaseRef.supplement_ask`, through `notify_parent`), which records it (`supplement_asked`).
2. The lead unit posts `notify_supplement` on the joint case: one notice listing every department's
   materials (一次性告知). The joint case waits for the applicant with its clock paused; every open sub-case
   hears of the notice (`joint_supplement_notified`: no more requests) and pauses with it (`parent_clock`).
3. The applicant posts `submit_supplement` on the joint case once: the materials go to every open sub-case
   (`joint_supplement_answered`), then the clocks run again (`parent_clock`), before the action answers.

Mixed into `CaseWorkflow`; deterministic, no I/O. Cases of earlier designs never take these paths.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import SYSTEM, ActionInput, Actor, CaseInput, CaseState, MaterialRef
    from banjian.enums import CLOSED, Status
    from banjian.joint_contracts import JointSupplement, JointSupplementAnswer, SubCaseRef, SupplementAsk

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition


class JointSupplementFlow:
    """Both sides of a joint case's supplement: the department's request and the lead unit's notice."""

    state: CaseState
    inp: CaseInput
    item: ItemDefinition
    children: dict[str, ChildWorkflowHandle]
    wake: bool
    #: signals to sub-cases the joint case sends once its action is recorded, outside the lock
    joint_outbox: list[tuple[str, str, Any]]

    if TYPE_CHECKING:  # provided by CaseWorkflow
        lock: Any

        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        async def _replan(self, at_once: bool = False) -> None: ...
        async def _resume_clock(self) -> dict: ...

    # ---- the department's side (a sub-case) ------------------------------------------------------
    def _ask_supplement(self, a: ActionInput) -> dict[str, Any]:
        """`ask_supplement`: the sub-case waits for the applicant's answer through the lead unit; its clock
        stops now (the department does not pay for the wait, nor for the lead unit's notice)."""
        s, now = self.state, workflow.now()
        s.supplement_ask = SupplementAsk(sub_case=s.id, department=s.department, missing=list(a.data["missing"]),
                                         comment=a.comment or "", by=a.actor.username,
                                         by_name=a.actor.display_name or None, at=now)
        s.status = Status.SUPPLEMENT_REQUESTED
        if not s.clock.paused:
            s.clock.paused, s.clock.paused_since = True, now
        return {"clock_paused": True, "lead_department": s.lead_department}

    @workflow.signal
    async def joint_supplement_notified(self, missing: list[str]) -> None:
        """A sub-case hears that the lead unit sent the joint case's one notice: no more requests."""
        async with self.lock:
            s = self.state
            if s.parent_id is None or s.status in CLOSED or s.supplement_notified:
                return
            s.supplement_notified = True
            self._log(SYSTEM, "supplement_notified", comment=f"牵头部门已一次性告知申请人补正：{'、'.join(missing)}",
                      data={"parent_id": s.parent_id, "missing": missing})
            await self._record()

    @workflow.signal
    async def joint_supplement_answered(self, answer: JointSupplementAnswer) -> None:
        """A sub-case receives the applicant's supplement from the joint case: a waiting department works
        on (its clock runs again with the joint case's, or now if the joint case's runs already)."""
        async with self.lock:
            s = self.state
            if s.parent_id is None or s.status in CLOSED:
                return
            given = [m for m in answer.materials if self.item.material(m.name) is not None]  # a bundle member's own
            s.materials = s.materials + [m.model_copy(update={
                "version": 1 + max((o.version for o in s.materials if o.name == m.name), default=0)})
                for m in given]
            asked, extra = s.supplement_ask is not None, {}
            if s.status == Status.SUPPLEMENT_REQUESTED:
                s.status, s.supplement_ask = Status.IN_REVIEW, None
                if not s.parent_paused:
                    extra = await self._resume_clock()
                    await self._replan()
            self._log(SYSTEM, "supplement_received", comment="申请人已补正，牵头部门已转来补正材料",
                      data={"parent_id": s.parent_id, "materials": [m.name for m in given],
                            "submitted_by": answer.by, "asked": asked, **extra})
            await self._record()
            self.wake = True

    def _waits_for_supplement(self) -> bool:
        """A sub-case waiting for the applicant's supplement keeps its clock paused when its joint case
        resumes (a suspension ended before the lead unit's notice)."""
        return self.state.status == Status.SUPPLEMENT_REQUESTED and self.state.parent_id is not None

    # ---- the lead unit's side (the joint case) ------------------------------------------------------
    def _supplement_asked(self, ref: SubCaseRef) -> None:
        """A department's request reached the joint case (`sub_case_changed`): it joins the notice, or,
        if the notice went out meanwhile, it is answered with the applicant's supplement all the same."""
        s = self.state
        ask = ref.supplement_ask
        assert ask is not None
        ask = ask.model_copy(update={"department_name": ref.department_name})
        js = s.joint_supplement or JointSupplement()
        label = ref.department_label
        data = {"sub_case": ref.id, "department": ref.department, "missing": ask.missing, "by": ask.by,
                "at": ask.at.isoformat(), "opinion": ask.comment}
        if js.notified_at is None:
            s.joint_supplement = js.model_copy(update={"asks": [*js.asks, ask]})
            self._log(SYSTEM, "supplement_asked", comment=f"{label} 提请补正：{'、'.join(ask.missing)}（{ask.comment}）",
                      data=data)
        else:
            s.joint_supplement = js.model_copy(update={"late": [*js.late, ask]})
            self._log(SYSTEM, "supplement_asked_late",
                      comment=f"{label} 在一次性告知发出后提请补正：{'、'.join(ask.missing)}；申请人补正后一并转交",
                      data=data)

    def _notify_supplement(self, a: ActionInput) -> dict[str, Any]:
        """`notify_supplement`: one notice to the applicant with every department's materials (and any the
        lead unit adds); the joint case's clock stops, and the sub-cases' with it (`_pause_sub_cases`)."""
        s, now = self.state, workflow.now()
        js = s.joint_supplement
        assert js is not None  # the rules admit the notice only once a department asked
        asked = js.asked()
        missing = asked + [m for m in (a.data or {}).get("missing") or [] if m not in asked]
        s.joint_supplement = js.model_copy(update={"notified_at": now, "notified_by": a.actor.username,
                                                   "missing": missing, "comment": a.comment})
        s.status, s.returned_to_applicant, s.missing_materials, s.claimed_by = (
            Status.SUPPLEMENT_REQUESTED, True, missing, None)
        if not s.clock.paused:
            s.clock.paused, s.clock.paused_since = True, now
        self.joint_outbox += [(c.id, "joint_supplement_notified", missing)
                              for c in s.sub_cases or [] if c.status not in CLOSED]
        return {"missing": missing, "clock_paused": True,
                "asks": [{"sub_case": k.sub_case, "department": k.department, "missing": k.missing, "by": k.by}
                         for k in js.asks]}

    def _answers_joint_notice(self) -> bool:
        js = self.state.joint_supplement
        return (self.state.returned_to_applicant and js is not None and js.notified_at is not None
                and js.answered_at is None)

    async def _answer_joint_supplement(self, a: ActionInput, given: list[MaterialRef]) -> dict[str, Any]:
        """The applicant's one answer to the notice: the joint case's clock runs again (the departments'
        follow once they hold the materials) and the materials go to every open sub-case."""
        s = self.state
        js = s.joint_supplement
        assert js is not None
        extra = await self._resume_clock()
        s.joint_supplement = js.model_copy(update={"answered_at": workflow.now()})
        s.returned_to_applicant, s.status, s.step_index, s.current_step = False, Status.IN_REVIEW, None, None
        to = [c.id for c in s.sub_cases or [] if c.status not in CLOSED]
        answer = JointSupplementAnswer(materials=given, by=a.actor.username)
        self.joint_outbox += [(cid, "joint_supplement_answered", answer) for cid in to]
        return {**extra, "forwarded_to": to}

    async def _send_joint_signals(self) -> None:
        """Outside the lock: tell the sub-cases what the joint case's action decided, in order (each
        sub-case takes its signals one by one under its lock, before its `parent_clock`)."""
        out, self.joint_outbox = self.joint_outbox, []
        for cid, name, arg in out:
            try:
                await self.children[cid].signal(name, arg)
            except Exception:  # the sub-case closed meanwhile: nothing to tell
                pass
