"""Moving a case in flight to a later version of its item (`migrate_version`). Mixed into
`CaseWorkflow`; deterministic, no I/O. The API decides which cases may move
(`banjian.version_moves`); the validator re-checks what the workflow can see itself, and the
handler checks again under the case's lock.

The case then runs on the new definition: its steps (the current one is kept by id), limits and
warnings; deadlines are re-planned by the next record. Recorded in the history as
`version_migrated` with both versions. Guarded by `workflow.patched("version-migration")`.

When the new version gives the current step to another role, the task is no longer the claimer's
(nor a delegate's): the claim is released, so the step's new role finds the case in its inbox, and
`version_migrated` names the released claim (`released_claim`). Patch `migration-role-changed`,
asked only on that path."""
from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian import rules
    from banjian.case_steps import effective_item
    from banjian.contracts import Actor, Answered, CaseInput, CaseState, StepRef
    from banjian.errors import DomainError
    from banjian.version_moves import VERSION_MIGRATED, Blocked, MigrateInput, workflow_check
    from workflows.calls import reject, takes_path

if TYPE_CHECKING:
    import asyncio

    from banjian.items.schema import ItemDefinition

VERSION_MIGRATION = "version-migration"
MIGRATION_ROLE_CHANGED = "migration-role-changed"


class VersionMigration:
    state: CaseState
    inp: CaseInput
    item: ItemDefinition
    lock: asyncio.Lock
    wake: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _replan(self, at_once: bool = False) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        def _timers_moved(self) -> bool: ...
        def _answer(self) -> Answered: ...

    def _check_migration(self, m: MigrateInput) -> None:
        try:
            rules.authorise_authoring(m.actor, self.state.department)
        except DomainError as e:
            raise reject(e) from None
        if m.item.code != self.state.item_code:
            raise reject(Blocked("item_mismatch", "新版本属于另一个事项", "the new version is of another item"))
        try:
            workflow_check(self.state, m.from_version, m.item)
        except DomainError as e:
            raise reject(e) from None

    @workflow.update
    async def migrate_version(self, m: MigrateInput) -> Answered:
        async with self.lock:
            self._check_migration(m)  # again: an action may have closed the case meanwhile
            if takes_path(self.inp.design, VERSION_MIGRATION):
                s = self.state
                self.item = effective_item(m.item, s.department, False)
                s.item_version, s.item_name = m.item.version, m.item.name
                data: dict = {"from_version": m.from_version, "to_version": m.item.version}
                if s.current_step is not None:
                    index = next(i for i, st in enumerate(self.item.steps) if st.id == s.current_step.id)
                    step = self.item.steps[index]
                    role_changed = step.role != s.current_step.role
                    s.step_index = index
                    s.current_step = StepRef(id=step.id, name=step.name, role=step.role)
                    if role_changed and s.claimed_by is not None and workflow.patched(MIGRATION_ROLE_CHANGED):
                        data["released_claim"] = s.claimed_by
                        s.claimed_by, s.delegated_by = None, None
                self._log(m.actor, VERSION_MIGRATED, data=data)
                await self._replan()
                await self._record()
                if self._timers_moved():
                    self.wake = True
        return self._answer()

    @migrate_version.validator
    def validate_migrate_version(self, m: MigrateInput) -> None:
        self._check_migration(m)
