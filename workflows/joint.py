"""Joint approval (并联审批) and bundles (一件事): the parent's and the sub-case's side of a case.

A joint case or bundle is a `Case` workflow whose acceptance starts one child `Case` per
participating department (or member item). Children report through the `notify_parent`
activity, which calls the parent's `sub_case_changed` update, so the parent is current when a
department's action answers. Mixed into `CaseWorkflow`; deterministic, no I/O.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from banjian.case_numbers import sub_case_no
    from banjian.case_steps import effective_item
    from banjian.contracts import (
        JOINT_PAUSE_DESIGN,
        JOINT_SUPPLEMENT_DESIGN,
        SYSTEM,
        CaseInput,
        CaseResult,
        CaseState,
    )
    from banjian.enums import CLOSED, Decision, ItemKind, Opinion, Status, WarningCause
    from banjian.errors import DomainError
    from banjian.joint_contracts import SubCaseRef
    from workflows.calls import reject

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition


class JointApproval:
    """Dispatching to departments, hearing back from them, and the unified or combined result."""

    state: CaseState
    inp: CaseInput
    item: ItemDefinition
    lock: asyncio.Lock
    children: dict[str, ChildWorkflowHandle]
    wake: bool
    parent_ended_as: Status | None

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Any, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        async def _replan(self) -> None: ...
        async def _resume_clock(self) -> dict: ...
        def _start_step(self) -> None: ...
        def _conclude(self) -> None: ...
        def _supplement_asked(self, ref: SubCaseRef) -> None: ...
        def _waits_for_supplement(self) -> bool: ...
        async def _send_joint_signals(self) -> None: ...

    async def _cancelled_by_parent(self) -> None:
        """The joint case was withdrawn: this sub-case ends cleanly, recorded, without a decision."""
        s = self.state
        if s.status in CLOSED:
            return
        terminated = self.parent_ended_as == Status.TERMINATED  # design 8 on: the parent says how it ended
        s.status, s.claimed_by, s.current_step = (Status.TERMINATED if terminated else Status.WITHDRAWN), None, None
        self._log(SYSTEM, "cancelled_by_parent",
                  comment="主件已终止办理，子件随之终止" if terminated else "主件已撤回，子件随之撤销",
                  data={"parent_id": s.parent_id, **({"parent_status": Status.TERMINATED} if terminated else {})})
        await self._record(notify=False)

    def _sub_case_overdue(self) -> None:
        """A department did not answer within its sub-limit: escalated to the lead unit (the red card
        is already on the sub-case); where the item says so, its silence counts as consent."""
        s = self.state
        self._log(SYSTEM, "sub_case_overdue", comment="部门未在子时限内答复，已上报牵头部门",
                  data={"lead_department": s.lead_department, "silence_is_consent": self.inp.item.silence_is_consent})
        if self.inp.item.silence_is_consent and s.status not in CLOSED:
            s.result = CaseResult(decision=Decision.APPROVED, opinion=Opinion.AGREE, reason="逾期未答复，视为同意")
            s.status, s.decided_at, s.step_index, s.current_step, s.claimed_by = (
                Status.DECIDED, workflow.now(), None, None, None)
            self._log(SYSTEM, "deemed_consent", comment="逾期未答复，视为同意")
            self._conclude()

    async def _settle_sub_cases(self) -> None:
        """Outside the lock, so sub-cases can report in: after acceptance wait until every sub-case
        exists in the read model; after a withdrawal cancel them and wait until they have ended."""
        s = self.state
        if not self.children:
            return
        if s.status in (Status.WITHDRAWN, Status.TERMINATED):
            open_ids = [c.id for c in s.sub_cases or [] if c.status not in CLOSED]
            ended_as = s.status if s.design >= JOINT_PAUSE_DESIGN else Status.WITHDRAWN
            if s.design >= JOINT_PAUSE_DESIGN:  # tell the departments how the joint case ended, then cancel
                for cid in open_ids:
                    try:
                        await self.children[cid].signal("parent_ending", ended_as)
                    except Exception:  # the sub-case closed meanwhile: nothing to tell
                        pass
            for cid in open_ids:
                self.children[cid].cancel()
            for cid in open_ids:
                try:
                    await self.children[cid]
                except Exception:  # a sub-case that ended otherwise has nothing more to say
                    pass
            async with self.lock:
                for c in s.sub_cases or []:
                    if c.id in open_ids:
                        c.status = ended_as
                if open_ids:
                    self._log(SYSTEM, "sub_cases_cancelled", data={"sub_cases": open_ids})
                    await self._record()
        else:
            await workflow.wait_condition(lambda: all(c.opened for c in s.sub_cases or []))
            if s.design >= JOINT_SUPPLEMENT_DESIGN:
                await self._send_joint_signals()  # a supplement's notice or answer, before the clocks follow
            if s.design >= JOINT_PAUSE_DESIGN:
                await self._pause_sub_cases()

    async def _pause_sub_cases(self) -> None:
        """The joint case's clock stopped or runs again: every open sub-case's clock follows it, so a
        department's sub-limit does not run out (nor its silence count as consent) while the whole case
        is suspended. Outside the lock: each sub-case records the change and reports back before the
        action that paused (or resumed) the joint case answers."""
        s = self.state
        paused = s.clock.paused and s.status not in CLOSED

        def pending() -> list[SubCaseRef]:
            return [c for c in s.sub_cases or [] if c.status not in CLOSED and c.parent_paused != paused]

        told = pending()
        if not told:
            return
        for c in told:
            try:
                await self.children[c.id].signal("parent_clock", paused)
            except Exception:  # the sub-case closed meanwhile: its report says so, nothing to pause
                pass
        await workflow.wait_condition(lambda: not pending())
        async with self.lock:
            if paused:
                self._log(SYSTEM, "sub_cases_paused", comment="各部门办理时限随主件暂停计时",
                          data={"sub_cases": [c.id for c in told]})
            else:
                self._log(SYSTEM, "sub_cases_resumed", comment="各部门办理时限随主件恢复计时",
                          data={"sub_cases": [c.id for c in told]})
            await self._record()

    @workflow.signal
    def parent_ending(self, status: Status) -> None:
        """A sub-case hears, just before it is cancelled, whether its joint case was withdrawn or terminated."""
        self.parent_ended_as = status

    @workflow.signal
    async def parent_clock(self, paused: bool) -> None:
        """A sub-case hears that its joint case's clock stopped (True) or runs again (False)."""
        async with self.lock:
            s = self.state
            if s.parent_id is None or s.status in CLOSED or s.parent_paused == paused:
                return
            s.parent_paused = paused
            if paused:
                if not s.clock.paused:
                    s.clock.paused, s.clock.paused_since = True, workflow.now()
                self._log(SYSTEM, "paused_by_parent", comment="主件暂停计时，本部门办理时限随之暂停",
                          data={"parent_id": s.parent_id})
            else:
                own = self._paused_by_itself()  # its own suspension goes on: the clock stays paused
                extra = {} if own else await self._resume_clock()
                if not own:
                    await self._replan()
                self._log(SYSTEM, "resumed_by_parent", comment="主件恢复计时，本部门办理时限继续计算",
                          data={"parent_id": s.parent_id, "clock_paused": own, **extra})
            await self._record()
            self.wake = True

    def _paused_by_itself(self) -> bool:
        """Whether the sub-case's own suspension or special procedure (one that does not count toward the
        limit) keeps its clock paused whatever its joint case does."""
        s = self.state
        if s.status == Status.SUSPENDED or self._waits_for_supplement():
            return True
        if s.status == Status.SPECIAL_PROCEDURE and s.special_procedure is not None:
            spec = next((p for p in self.item.special_procedures if p.kind == s.special_procedure.kind), None)
            return spec is None or not spec.counts_toward_limit
        return False

    @workflow.update
    async def sub_case_changed(self, ref: SubCaseRef) -> None:
        """A department's sub-case reports how it stands (from its `notify_parent` activity)."""
        async with self.lock:
            s = self.state
            old = next((c for c in s.sub_cases or [] if c.id == ref.id), None)
            if old is None or s.status in CLOSED:
                return
            ref = ref.model_copy(update={"required": old.required, "opened": True,
                                         "department_name": old.department_name})
            s.sub_cases = [ref if c.id == ref.id else c for c in s.sub_cases or []]
            if ref.overdue and not old.overdue:
                self._log(SYSTEM, "sub_case_overdue", comment=f"{ref.department_label} 未在子时限内答复（督办提醒）",
                          data={"sub_case": ref.id, "department": ref.department, "due": str(ref.due)})
            if ref.supplement_ask is not None and (old.supplement_ask is None
                                                   or old.supplement_ask.at != ref.supplement_ask.at):
                self._supplement_asked(ref)  # a department asks for a supplement (workflows/joint_supplement.py)
            if ref.status in CLOSED and old.status not in CLOSED:
                self._log(SYSTEM, "sub_case_decided", data={
                    "sub_case": ref.id, "department": ref.department, "opinion": ref.opinion,
                    "deemed_consent": ref.deemed_consent})
            if (s.status == Status.IN_REVIEW and s.step_index is None
                    and all(c.status in CLOSED for c in s.sub_cases or [])):
                await self._all_answered()
            await self._record()
            self.wake = True

    @sub_case_changed.validator
    def validate_sub_case_changed(self, ref: SubCaseRef) -> None:
        if not any(c.id == ref.id for c in self.state.sub_cases or []):
            raise reject(DomainError("unknown_sub_case", "不是本件的子件", "not a sub-case of this case", "sub_case"))

    async def _all_answered(self) -> None:
        """Every department has answered: the lead unit's own steps follow (joint), or the combined
        result is decided at once (bundle, or a joint item without steps)."""
        s = self.state
        if s.kind == ItemKind.JOINT and self.item.steps:
            s.step_index = 0
            self._start_step()
            await self._replan()
            return
        agreed = all(c.opinion in (Opinion.AGREE, Opinion.AGREE_WITH_REFERRAL) for c in s.sub_cases or [] if c.required)
        reasons = "；".join(f"{c.item_name}（{c.department_label}）：{c.reason}" for c in s.sub_cases or []
                           if c.opinion == Opinion.DISAGREE and c.reason)
        s.result = CaseResult(decision=Decision.APPROVED if agreed else Decision.DENIED, reason=reasons or None)
        s.status, s.decided_at = Status.DECIDED, workflow.now()
        self._log(SYSTEM, "combined_decision", comment=reasons or None,
                  data={"decision": s.result.decision, "sub_cases": [c.id for c in s.sub_cases or []]})
        await self._replan()

    def _sub_case_inputs(self) -> list[CaseInput]:
        """One input per participating department (joint) or member item (bundle)."""
        inp, s = self.inp, self.state
        base: dict[str, Any] = dict(applicant=inp.applicant, channel=inp.channel, submitted_by=SYSTEM, parent_id=s.id, design=inp.design,
                    accepted_at=s.accepted_at, lead_department=s.department)
        if inp.agent is not None:  # only when given: a sub-case input of an older case stays as recorded
            base["agent"] = inp.agent
        if s.kind == ItemKind.JOINT:
            return [CaseInput(case_id=f"{s.id}-{n:02d}", case_no=sub_case_no(s.case_no, n),
                              item=inp.item, department=p.department, form=inp.form,
                              materials=s.materials, **base)
                    for n, p in enumerate(inp.item.participants, start=1)]
        out = []
        for n, member in enumerate(inp.members, start=1):
            form = {k: v for k, v in inp.form.items() if any(f.name == k for f in member.form)}
            materials = [m for m in s.materials if member.material(m.name) is not None]
            out.append(CaseInput(case_id=f"{s.id}-{n:02d}", case_no=sub_case_no(s.case_no, n),
                                 item=member, department=member.department, form=form,
                                 materials=materials, **base))
        return out

    async def _start_sub_cases(self) -> None:
        """Dispatch the accepted application to every department at once (前台受理、后台并联审批)."""
        s = self.state
        required = {p.department: p.required for p in self.inp.item.participants}
        s.sub_cases = []
        for child in self._sub_case_inputs():
            self.children[child.case_id] = await workflow.start_child_workflow(
                "Case", child, id=f"case-{child.case_id}",
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
            item = effective_item(child.item, child.department, True)
            s.sub_cases.append(SubCaseRef(id=child.case_id, department=child.department,
                                          department_name=self.inp.department_names.get(child.department),
                                          item_code=item.code,
                                          item_name=item.name, status=Status.ACCEPTED,
                                          required=required.get(child.department, True)))
            self._log(SYSTEM, "sub_case_started", data={"sub_case": child.case_id, "department": child.department})

    def _as_sub_case(self) -> SubCaseRef:
        s = self.state
        return SubCaseRef(
            id=s.id, department=s.department, item_code=self.item.code, item_name=self.item.name, status=s.status,
            opinion=s.result.opinion if s.result else None, decision=s.result.decision if s.result else None,
            due=s.deadlines.statutory_due, reason=s.result.reason if s.result else None, opened=True,
            overdue=any(w.cause == WarningCause.STATUTORY_OVERDUE for w in s.warnings),
            deemed_consent=any(h.action == "deemed_consent" for h in s.history),
            licence_id=s.result.licence_id if s.result else None, parent_paused=s.parent_paused,
            supplement_ask=s.supplement_ask)
