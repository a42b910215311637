"""Department task operations on a case's current step (办件任务操作): countersigning (加签) and
returning to a chosen step or to the applicant. Mixed into `CaseWorkflow`; deterministic, no I/O.
Claim, release, assign, transfer, delegate, take back and copy are one-line state changes in
`CaseWorkflow._apply`; the rules for all of them are in `banjian.rules`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import Actor, CaseState, Countersign
    from banjian.enums import Status

if TYPE_CHECKING:
    from banjian.items.schema import ItemDefinition


class TaskOperations:
    state: CaseState
    item: ItemDefinition

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _start_step(self) -> None: ...

    def _countersign(self, actor: Actor, data: dict[str, Any]) -> Countersign:
        slot = f"user:{data['username']}" if data.get("username") else f"role:{data['role']}"
        position = data.get("position", "after")
        return Countersign(slots=[slot], mode=data.get("mode", "all"), position=position,
                           added_by=actor.username, active=position == "before")

    def _countersign_pass(self, actor: Actor) -> dict[str, Any]:
        """`pass` while signers are added: the owner's pass waits for the signers (position after);
        a signer's pass is a signature; once the signatures are complete the step goes on."""
        s = self.state
        cs = s.countersign
        assert cs is not None  # the rules route this pass here only while signers are added
        slot = cs.slot_of(actor) if cs.active else None
        if slot is None:  # the owner passes a step whose signers sign after them
            s.countersign = cs.model_copy(update={"active": True})
            return {"countersign": "awaiting_signers"}
        cs = cs.model_copy(update={"signed": [*cs.signed, slot], "signed_by": [*cs.signed_by, actor.username]})
        s.countersign = cs
        if not cs.complete():
            return {"countersign": "signed"}
        s.countersign = None
        if cs.position == "before":  # back to the step's owner
            return {"countersign": "complete"}
        s.step_index = (s.step_index or 0) + 1
        self._start_step()
        s.status = Status.IN_REVIEW
        return {"countersign": "complete", "advanced": True}

    def _return_to(self, step_id: str, missing: list[str]) -> dict[str, Any]:
        """Send the case back to an earlier step, or to the applicant to correct it (the clock
        stops until they hand in the correction; review then starts again at the first step)."""
        s = self.state
        if step_id == "applicant":
            s.status, s.returned_to_applicant, s.missing_materials = Status.SUPPLEMENT_REQUESTED, True, missing
            s.claimed_by, s.countersign, s.delegated_by = None, None, None
            s.clock.paused, s.clock.paused_since = True, workflow.now()
            return {"clock_paused": True}
        s.step_index = next(i for i, st in enumerate(self.item.steps) if st.id == step_id)
        self._start_step()
        s.status = Status.IN_REVIEW
        return {}
