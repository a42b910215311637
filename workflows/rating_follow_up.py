"""A bad rating's follow-up on its case (差评整改): the case workflow's side of the rectification.

Mixed into `CaseWorkflow`. A rating of 1 or 2 plans and records the rectification
(`open_rectification`, a local activity: the row exists when the rating answers) and starts the
`Rectification` workflow as a child. The rectification reports every entry back through the
`rectification_note` update, so the case's history (and audit timeline) holds it, and the figure
columns (`rectified`, `rating_void`) follow it. The case stays open until its rectification ends.
Cases rated before this code (patch `rectification`) open none.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import ActionInput, Actor, CaseInput, CaseState, RectificationRef
    from banjian.rectification import (
        BAD_RATING_MAX,
        CaseNote,
        OpenRequest,
        RectificationInput,
        rectification_id,
    )
    from workflows.calls import run_local_activity, takes_path

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition

RECTIFICATION_PATCH = "rectification"


class RatingFollowUp:
    state: CaseState
    inp: CaseInput
    item: ItemDefinition
    lock: asyncio.Lock
    wake: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...

    def _awaiting_rectification(self) -> bool:
        """The case waits for its rectification to end (it records the rectification's entries)."""
        r = self.state.rectification
        return r is not None and r.open

    async def _open_rectification(self, a: ActionInput) -> dict[str, Any]:
        """After a bad rating: plan and record the rectification, start its workflow; the rating's
        history entry carries its id and due date."""
        s = self.state
        level = int((a.data or {})["level"])
        if level > BAD_RATING_MAX or not takes_path(self.inp.design, RECTIFICATION_PATCH):
            return {}
        # before the first await: the rating already took the rating period's timer away, and the main
        # loop (e.g. back from archiving) must not see a closed case with nothing to wait for and end
        s.rectification = RectificationRef(id=rectification_id(s.id), status="open")
        inp: RectificationInput = await run_local_activity("open_rectification", OpenRequest(
            id=rectification_id(s.id), case_id=s.id, case_no=s.case_no, department=s.department,
            item_code=s.item_code, item_name=s.item_name, rating=level, rating_comment=a.comment,
            rated_by=a.actor.username, rated_at=workflow.now(), days=self.item.rectification_days,
            notice_days=self.item.warnings.notice_days), RectificationInput)
        await workflow.start_child_workflow(
            "Rectification", inp, id=f"rectification-{inp.id}", parent_close_policy=ParentClosePolicy.ABANDON)
        s.rectification = RectificationRef(id=inp.id, status="open", due=inp.due)
        return {"rectification_id": inp.id, "rectification_due": inp.due.isoformat()}

    @workflow.update
    async def rectification_note(self, note: CaseNote) -> None:
        """One entry of the rectification, into the case's history."""
        async with self.lock:
            self._log(note.actor, note.action, note.comment, note.data)
            self.state.rectification = note.ref
            await self._record(notify=False)
            if not note.ref.open:
                self.wake = True  # the main loop may end now
