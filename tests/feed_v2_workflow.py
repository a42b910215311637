"""The delivery workflow as released before the wake signal (commit 8713b62: a plain timer while
the far end is down), for the replay test in tests/test_feed_timing.py: histories of delivery
workflows waiting at an upgrade must replay on the current code. Importable on its own (the sandbox
re-imports it)."""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from banjian.feed_contracts import (
        DRAIN_ACTIVITY,
        FEED_WORKFLOW,
        PRUNE_ACTIVITY,
        DrainResult,
        FeedInput,
        PruneInput,
    )

#: the longest wait between two attempts (contract: retries at most 30 s apart)
MAX_RETRY_WAIT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5))


@workflow.defn(name=FEED_WORKFLOW)
class FeedWorkflowV2:
    @workflow.run
    async def run(self, inp: FeedInput) -> str:
        if workflow.patched("feed-retention"):
            await workflow.execute_activity(
                PRUNE_ACTIVITY, PruneInput(name=inp.name, before=workflow.now() - timedelta(days=inp.retention_days)),
                result_type=int, start_to_close_timeout=timedelta(minutes=5), retry_policy=RETRY)
        for _ in range(inp.rounds_per_run):  # a drain, and a timer while the far end is down
            result = await workflow.execute_activity(
                DRAIN_ACTIVITY, inp.model_copy(update={"now": workflow.now()}), result_type=DrainResult,
                start_to_close_timeout=timedelta(seconds=inp.drain_seconds + 2 * inp.timeout_seconds + 30),
                heartbeat_timeout=timedelta(seconds=inp.timeout_seconds + 5), retry_policy=RETRY)
            if result.removed:
                return "removed"
            if result.retry_at is not None:  # the far end is down: wait in the workflow's clock
                wait = min(max(result.retry_at - workflow.now(), timedelta(milliseconds=100)), MAX_RETRY_WAIT)
                await workflow.sleep(wait)
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(inp.model_copy(update={"now": None}))
