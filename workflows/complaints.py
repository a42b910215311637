"""A complaint's outcome on its case (投诉处理结果): the case workflow's side of the inquiry workflow.

The inquiry workflow signals `complaint_outcome` once the department has answered; the case
records it in its history (`complaint_answered`, actor `system`) and in the read model. A new
signal only: cases that never receive it replay as before.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import SYSTEM, Actor, CaseState
    from banjian.inquiry_contracts import ComplaintNote


class ComplaintNotes:
    state: CaseState
    lock: asyncio.Lock

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...

        async def _record(self, notify: bool = True) -> None: ...

    @workflow.signal(name="complaint_outcome")
    async def complaint_outcome(self, note: ComplaintNote) -> None:
        """Record the department's answer to a complaint about this case."""
        async with self.lock:
            self._log(SYSTEM, "complaint_answered", comment=note.answer, data={
                "inquiry_id": note.inquiry_id, "answered_by": note.answered_by, "outcome": note.outcome,
                "overdue": note.overdue})
            await self._record()
