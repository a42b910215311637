from __future__ import annotations
from temporalio import workflow
with workflow.unsafe.imports_passed_through():
    from workflows.case import CaseWorkflow, run_activity
    from banjian.contracts import CaseInput, CaseState, PauseRequest
    from datetime import date

@workflow.defn(name="Case")
class Incompatible(CaseWorkflow):
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseState:
        await run_activity("count_working_days", PauseRequest(start=date(2026,1,1), end=date(2026,1,2)), int)
        return await super().run(inp)
