"""Joint approval's one touch of the world: a sub-case reporting to its parent case."""
from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from banjian.activity_contracts import NotifyParent


class ParentNotifier:
    """Tells a joint or bundle case how one of its sub-cases stands, via the parent's update
    (so the parent has recorded it when the sub-case's action answers)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name="notify_parent")
    async def notify_parent(self, req: NotifyParent) -> None:
        from workflows.case import CaseWorkflow

        info = activity.info()
        handle = self.client.get_workflow_handle(f"case-{req.parent_id}")
        # the same id on every retry of this activity: the parent applies the report once
        await handle.execute_update(CaseWorkflow.sub_case_changed, req.sub_case,
                                    id=f"{info.workflow_id}-{info.workflow_run_id}-{info.activity_id}")
