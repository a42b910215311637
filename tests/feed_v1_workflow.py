"""The delivery workflow as released before the retention and the durable retry timer (commit
11ab161), for the replay test in tests/test_feed_operations.py: histories of delivery workflows
running at an upgrade must replay on the current code. Importable on its own (the sandbox
re-imports it)."""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from banjian.feed_contracts import DRAIN_ACTIVITY, FEED_WORKFLOW, DrainResult, FeedInput


@workflow.defn(name=FEED_WORKFLOW)
class FeedWorkflowV1:
    @workflow.run
    async def run(self, inp: FeedInput) -> str:
        for _ in range(50):
            result = await workflow.execute_activity(
                DRAIN_ACTIVITY, inp, result_type=DrainResult,
                start_to_close_timeout=timedelta(seconds=inp.drain_seconds + 2 * inp.timeout_seconds + 30),
                heartbeat_timeout=timedelta(seconds=inp.timeout_seconds + 5),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1),
                                         maximum_interval=timedelta(seconds=5)))
            if result.removed:
                return "removed"
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(inp)
