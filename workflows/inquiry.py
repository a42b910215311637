"""The inquiry workflow (咨询投诉): one consultation or complaint, its answer limit and its answer.

Filed by the API with its answer limit already planned (`answer_due`, working days, from the
calendar). A durable timer raises a notice at the start of the last day (`answer_due_near`) and
a yellow card once the day has ended unanswered (`answer_overdue`). The department answers
through the `answer` update; a complaint's outcome is then signalled to its case, whose history
records it. Every change is written to the read model (`record_inquiry`) before anyone is answered.
"""
from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from banjian.errors import Conflict
    from banjian.inquiry_contracts import (
        AnswerInput,
        ComplaintNote,
        InquiryInput,
        InquiryState,
        InquiryWarning,
    )
    from banjian.timefmt import end_of, start_of
    from workflows.calls import reject, run_local_activity


@workflow.defn(name="Inquiry")
class InquiryWorkflow:
    @workflow.init
    def __init__(self, inp: InquiryInput) -> None:
        self.state = InquiryState(inp=inp, filed_at=workflow.now())
        self.lock = asyncio.Lock()
        self.opened = False

    @workflow.run
    async def run(self, inp: InquiryInput) -> InquiryState:
        async with self.lock:
            await self._open()
        for cause, at in (("answer_due_near", start_of(inp.answer_due)), ("answer_overdue", end_of(inp.answer_due))):
            wait = at - workflow.now()
            if wait.total_seconds() > 0:
                try:
                    await workflow.wait_condition(lambda: self.state.status == "answered", timeout=wait)
                except TimeoutError:
                    pass
            if self.state.status == "answered":
                break
            async with self.lock:
                if self.state.status == "open":
                    await self._warn(cause)
        await workflow.wait_condition(lambda: self.state.status == "answered")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    async def _open(self) -> None:
        if not self.opened:
            self.opened = True
            await self._record()

    async def _warn(self, cause: str) -> None:
        level = "notice" if cause == "answer_due_near" else "yellow"
        self.state.warnings.append(InquiryWarning(level=level, cause=cause, at=workflow.now()))  # type: ignore[arg-type]
        if cause == "answer_overdue":
            self.state.overdue = True
        await self._record()

    async def _record(self) -> None:
        await run_local_activity("record_inquiry", self.state)

    @workflow.update
    async def open(self) -> InquiryState:
        """Answer the filing once the inquiry is recorded."""
        async with self.lock:
            await self._open()
            return self.state

    @workflow.update
    async def answer(self, a: AnswerInput) -> InquiryState:
        """The department's answer; a complaint's outcome goes to its case's history."""
        async with self.lock:
            self._check_open()
            s = self.state
            s.status, s.answered_at, s.answered_by, s.answer, s.outcome = (
                "answered", workflow.now(), a.actor.username, a.text, a.outcome)
            if workflow.now() >= end_of(s.inp.answer_due):
                s.overdue = True
            if s.inp.kind == "complaint" and s.inp.case_id:
                s.case_noted = await self._note_on_case(s.inp.case_id, ComplaintNote(
                    inquiry_id=s.inp.id, answered_by=a.actor.username, answer=a.text, outcome=a.outcome,
                    overdue=s.overdue))
            await self._record()
            return s

    @answer.validator
    def validate_answer(self, a: AnswerInput) -> None:
        self._check_open()

    def _check_open(self) -> None:
        if self.state.status != "open":
            raise reject(Conflict("inquiry_answered", "该咨询投诉已答复", "the inquiry is already answered"))

    async def _note_on_case(self, case_id: str, note: ComplaintNote) -> bool:
        """Signal the case; a case whose workflow has already completed keeps the outcome here only."""
        try:
            await workflow.get_external_workflow_handle(f"case-{case_id}").signal("complaint_outcome", note)
        except FailureError:  # the case's workflow is closed: the inquiry row keeps the outcome
            return False
        return True

    @workflow.query
    def current(self) -> InquiryState:
        return self.state
