"""The delivery workflow of one feed subscriber (banjian/feed.py).

Each run first prunes the subscriber's events delivered longer ago than the retention, then runs
the drain activity, which posts queued case events in per-case order for a while, again and again.
While the far end is down the drain comes back with `retry_at` (at most 30 s ahead, the contract's
retry spacing) and the workflow waits for it on a durable timer: the retry rhythm is kept by
Temporal, in the workflow's own clock (so time-skipping tests can keep a subscriber down for hours),
not by a sleeping worker. The run continues as new every few dozen rounds, so a day of outage adds
no more history than a quiet hour. A `wake` signal (sent by the API when an event of a case has waited
a second without an attempt: api/feed.py) ends the wait early, so a new case's first attempt comes
within seconds even while the far end is down and older events wait out their backoff.

The queue lives in SQL (written with the history, in one transaction), so a worker killed
mid-delivery loses nothing: the activity times out on its heartbeat and runs again elsewhere; an
event the far end acknowledged is marked delivered before the next one of its case is sent."""
from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from banjian.feed_contracts import (
        DRAIN_ACTIVITY,
        FEED_WORKFLOW,
        PRUNE_ACTIVITY,
        WAKE_SIGNAL,
        DrainResult,
        FeedInput,
        PruneInput,
    )

#: the longest wait between two attempts (contract: retries at most 30 s apart)
MAX_RETRY_WAIT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5))


@workflow.defn(name=FEED_WORKFLOW)
class FeedWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.signal(name=WAKE_SIGNAL)
    def wake(self) -> None:
        """New events wait for a first attempt: end the retry wait now (one that comes while a drain
        runs ends the wait after it)."""
        self._woken = True

    @workflow.run
    async def run(self, inp: FeedInput) -> str:
        if workflow.patched("feed-retention"):
            await workflow.execute_activity(
                PRUNE_ACTIVITY, PruneInput(name=inp.name, before=workflow.now() - timedelta(days=inp.retention_days)),
                result_type=int, start_to_close_timeout=timedelta(minutes=5), retry_policy=RETRY)
        for _ in range(inp.rounds_per_run):  # a drain, and a timer while the far end is down
            self._woken = False  # a wake during the drain still ends the wait that follows: set again
            result = await workflow.execute_activity(
                DRAIN_ACTIVITY, inp.model_copy(update={"now": workflow.now()}), result_type=DrainResult,
                start_to_close_timeout=timedelta(seconds=inp.drain_seconds + 2 * inp.timeout_seconds + 30),
                heartbeat_timeout=timedelta(seconds=inp.timeout_seconds + 5), retry_policy=RETRY)
            if result.removed:
                return "removed"
            if result.retry_at is not None:  # the far end is down: wait in the workflow's clock
                wait = min(max(result.retry_at - workflow.now(), timedelta(milliseconds=100)), MAX_RETRY_WAIT)
                if workflow.patched("feed-wake"):
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(lambda: self._woken, timeout=wait)
                else:  # a history recorded before the wake signal replays its plain timer
                    await workflow.sleep(wait)
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(inp.model_copy(update={"now": None}))
