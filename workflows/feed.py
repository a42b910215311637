"""The delivery workflow of one feed subscriber (banjian/feed.py): it runs the drain activity,
which posts queued case events in per-case order until its time is up, again and again, and
continues as new now and then to keep its history short. The queue lives in SQL (written with the
history, in one transaction), so a worker killed mid-delivery loses nothing: the activity times
out on its heartbeat and runs again elsewhere; an event the far end acknowledged is marked
delivered before the next one of its case is sent."""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from banjian.feed_contracts import DRAIN_ACTIVITY, FEED_WORKFLOW, DrainResult, FeedInput

#: drains per run before continue-as-new (each adds a handful of events)
DRAINS_PER_RUN = 50


@workflow.defn(name=FEED_WORKFLOW)
class FeedWorkflow:
    @workflow.run
    async def run(self, inp: FeedInput) -> str:
        for _ in range(DRAINS_PER_RUN):
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
