"""Modified copies of the case workflow, for the replay tests (tests/test_audit.py).

Each is registered under the workflow name "Case", as a new release of the workflow code
would be, and replayed against histories recorded with the current code. Kept in a module of
their own (importable, without test machinery) because the workflow sandbox re-imports it.
"""
from __future__ import annotations

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.activity_contracts import PauseRequest
    from banjian.contracts import CaseInput, CaseState
    from banjian.enums import CLOSED
    from workflows.case import CaseWorkflow, run_activity


@workflow.defn(name="Case")
class HarmlessChange(CaseWorkflow):
    """A release that adds a query and a new step for new cases only, behind `workflow.patched`:
    replaying old histories must still succeed."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        if workflow.patched("audit-test-extra-check"):
            # New cases count working days once more at the start; old histories carry no marker,
            # so replay takes the old path and issues no new command.
            await run_activity("count_working_days", PauseRequest(start=date(2026, 1, 5), end=date(2026, 1, 6)), int)
        return await super().run(inp)

    @workflow.query
    def history_length(self) -> int:
        return len(self.state.history)


@workflow.defn(name="Case")
class IncompatibleChange(CaseWorkflow):
    """The same new step without `workflow.patched`: every recorded case now diverges at its first
    workflow task (the code schedules count_working_days where the history has something else)."""

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        await run_activity("count_working_days", PauseRequest(start=date(2026, 1, 5), end=date(2026, 1, 6)), int)
        return await super().run(inp)


@workflow.defn(name="Case")
class ArchiveOnConclusion(CaseWorkflow):
    """The release that archives a case when it closes, written as docs/workflow-versioning.md
    says: old histories (no marker) replay the old path; new cases write the package."""

    archived = False

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        return await super().run(inp)

    async def _record(self, notify: bool = True) -> None:
        await super()._record(notify)
        s = self.state
        if s.status in CLOSED and s.parent_id is None and not self.archived \
                and workflow.patched("archive-on-conclusion"):
            self.archived = True
            await run_activity("archive_case", s.id, str)


@workflow.defn(name="Case")
class ArchiveOnConclusionUnguarded(CaseWorkflow):
    """The same release without `workflow.patched`: every case that closed before it breaks."""

    archived = False

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        return await super().run(inp)

    async def _record(self, notify: bool = True) -> None:
        await super()._record(notify)
        s = self.state
        if s.status in CLOSED and s.parent_id is None and not self.archived:
            self.archived = True
            await run_activity("archive_case", s.id, str)
