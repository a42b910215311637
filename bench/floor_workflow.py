"""A bare workflow for `bench/floor.py`'s eager way: the shared reference's `BareCaseN`, whose first
workflow task also runs one local activity that tells the starting process the case is "recorded"
(it writes nothing: the floor of an eagerly started case that answers after its first task's local
activity, with no read-model work in it)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bare_case import BareCaseN

#: the starting process's waiters, by workflow id (the worker runs in the same process)
RECORDED: dict[str, asyncio.Future[None]] = {}


@activity.defn
async def mark_recorded(workflow_id: str) -> None:
    waiter = RECORDED.pop(workflow_id, None)
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


@workflow.defn
class EagerBareCase(BareCaseN):
    @workflow.run
    async def run(self, case_id: str, k: int) -> str:
        await workflow.execute_local_activity(mark_recorded, workflow.info().workflow_id,
                                              start_to_close_timeout=timedelta(seconds=30))
        return await super().run(case_id, k)
