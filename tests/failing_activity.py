"""A workflow whose activity always fails (for the activity-failure metric), in a module of its own:
the workflow sandbox re-imports the module that defines a workflow."""
from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@activity.defn
async def always_fails() -> None:
    raise RuntimeError("the far end is down")


@workflow.defn
class CallsAFailingActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(always_fails, start_to_close_timeout=timedelta(seconds=5),
                                        retry_policy=RetryPolicy(maximum_attempts=2,
                                                                 initial_interval=timedelta(milliseconds=10)))
