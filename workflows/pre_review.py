"""Online pre-review (网上预审) in the case workflow: the stage before formal receipt.

Started only for cases filed with `pre_review: true` on this code (patch `pre-review`). While in
`pre_review` no acceptance deadline exists and no deemed-acceptance timer runs; the pre-review's
own limit (item `pre_review.limit`, default 2 working days) raises a notice
(`pre_review_overdue`) once per round if the clerk has not answered. Formal receipt sets
`received_at` and plans the acceptance deadline from then. Checks: `banjian.pre_review`.
"""
from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import (
        SYSTEM,
        ActionInput,
        Actor,
        Answered,
        CaseInput,
        CaseState,
        MaterialRef,
        PreReviewState,
        WarningRecord,
    )
    from banjian.enums import Status, WarningCause, WarningLevel
    from banjian.errors import DomainError
    from banjian.items.schema import ItemDefinition, Limit, PreReviewPolicy
    from banjian.pre_review import (
        CONFIRM_SUBMISSION,
        PRE_REVIEW_PASS,
        PRE_REVIEW_RESUBMIT,
        PRE_REVIEW_RETURN,
        LimitFrom,
        check_pre_review,
    )
    from banjian.timefmt import china_date, end_of
    from workflows.calls import reject, run_local_activity, takes_path

PRE_REVIEW_PATCH = "pre-review"


class PreReview:
    inp: CaseInput
    item: ItemDefinition
    state: CaseState
    lock: asyncio.Lock
    wake: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...

        async def _record(self, notify: bool = True) -> None: ...

        async def _replan(self, at_once: bool = False) -> None: ...

        def _answer(self) -> Answered: ...

    def _wants_pre_review(self) -> bool:
        """A top-level case filed for pre-review on this code (the patch is asked only then)."""
        return self.inp.pre_review and self.inp.parent_id is None and takes_path(self.inp.design, PRE_REVIEW_PATCH)

    def _policy(self) -> PreReviewPolicy:
        return self.item.pre_review or PreReviewPolicy()

    async def _open_pre_review(self) -> None:
        s = self.state
        s.status = Status.PRE_REVIEW
        s.pre_review = PreReviewState(due=await self._pre_review_due())
        data: dict[str, Any] = {"channel": self.inp.channel, "item_version": self.inp.item.version,
                                "materials": [m.name for m in self.inp.materials], "due": str(s.pre_review.due)}
        if self.inp.case_no is not None:
            data["case_no"] = self.inp.case_no
        self._log(self.inp.submitted_by, "pre_review_submitted", data=data)
        await self._record()
        self._start_pre_review_clock()

    async def _pre_review_due(self) -> date:
        limit: Limit = self._policy().limit
        return await run_local_activity("add_limit", LimitFrom(start=china_date(workflow.now()), limit=limit), date)

    def _start_pre_review_clock(self) -> None:
        pre = self.state.pre_review
        assert pre is not None and pre.due is not None
        asyncio.create_task(self._pre_review_clock(pre.round, pre.due))  # noqa: RUF006  (ends with the round)

    async def _pre_review_clock(self, round_: int, due: date) -> None:
        def over() -> bool:
            pre = self.state.pre_review
            return (self.state.status != Status.PRE_REVIEW or pre is None or pre.round != round_
                    or pre.passed or pre.returned)

        wait = end_of(due) - workflow.now()
        if wait.total_seconds() > 0:
            try:
                await workflow.wait_condition(over, timeout=wait)
                return
            except TimeoutError:
                pass
        async with self.lock:
            pre = self.state.pre_review
            if over() or pre is None or round_ in pre.warned_rounds:
                return
            pre.warned_rounds.append(round_)
            reason = f"网上预审超过时限（{due}）未答复"
            self.state.warnings.append(WarningRecord(level=WarningLevel.NOTICE, cause=WarningCause.PRE_REVIEW_OVERDUE,
                                                     at=workflow.now(), reason=reason))
            self._log(SYSTEM, "warning", comment=reason, data={
                "level": WarningLevel.NOTICE, "cause": WarningCause.PRE_REVIEW_OVERDUE, "step_id": None,
                "reason_en": f"pre-review not answered by its limit ({due})"})
            await self._record()

    def _check_pre_review(self, a: ActionInput) -> None:
        try:
            check_pre_review(self.state, a)
        except DomainError as e:
            raise reject(e) from None

    async def _act_pre_review(self, a: ActionInput) -> Answered:
        async with self.lock:
            self._check_pre_review(a)
            s, pre, data = self.state, self.state.pre_review, a.data or {}
            assert pre is not None
            if a.action == PRE_REVIEW_PASS:
                pre.passed = True
                self._log(a.actor, PRE_REVIEW_PASS, comment=a.comment)
                if self._policy().formal_on_pass:
                    await self._formal_receipt()
                else:
                    await self._record()
            elif a.action == PRE_REVIEW_RETURN:
                pre.returned, pre.missing = True, list(data.get("missing") or [])
                self._log(a.actor, PRE_REVIEW_RETURN, comment=a.comment, data={"missing": pre.missing})
                await self._record()
            elif a.action == PRE_REVIEW_RESUBMIT:
                given = [MaterialRef(name=m) if isinstance(m, str) else MaterialRef.model_validate(m)
                         for m in data.get("materials") or []]
                now = workflow.now()
                s.materials = s.materials + [m.model_copy(update={
                    "version": 1 + max((o.version for o in s.materials if o.name == m.name), default=0),
                    "added_by": a.actor.username, "added_at": now}) for m in given]
                pre.returned, pre.missing, pre.round = False, [], pre.round + 1
                pre.due = await self._pre_review_due()
                self._log(a.actor, PRE_REVIEW_RESUBMIT, comment=a.comment,
                          data={"materials": [m.name for m in given], "due": str(pre.due)})
                await self._record()
                self._start_pre_review_clock()
            elif a.action == CONFIRM_SUBMISSION:
                self._log(a.actor, CONFIRM_SUBMISSION, comment=a.comment)
                await self._formal_receipt()
            return self._answer()

    async def _formal_receipt(self) -> None:
        """Formal receipt (正式受理申请): from now the acceptance clock and deemed acceptance run."""
        s = self.state
        s.status, s.received_at = Status.SUBMITTED, workflow.now()
        self._log(SYSTEM, "formal_submission", data={"case_no": s.case_no} if s.case_no else {})
        await self._replan()
        await self._record()
        self.wake = True
