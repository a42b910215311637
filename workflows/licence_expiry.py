"""A licence's validity (电子证照有效期): one durable timer per licence that has a `valid_to`.

`licence-{licence id}` is started when the licence is issued (the `watch_licence` activity, run by
the case workflow after `issue_licence`). It sleeps until 00:00 China time on the day after
`valid_to` and then runs `expire_licence`, which stores the status `expired` in the licence library
and records the change (`expire`, by `system`), unless the licence was revoked or cancelled first.
Verification computes the same status from the date as well, so a reader never sees a licence as
valid past its last day, even while the timer is late; the timer is what writes it down.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.licences import ExpireRequest, LicenceTerm
    from banjian.timefmt import end_of
    from workflows.calls import run_activity


def licence_workflow_id(licence_id: str) -> str:
    return f"licence-{licence_id}"


@workflow.defn(name="LicenceExpiry")
class LicenceExpiryWorkflow:
    """Waits out a licence's validity, then marks it expired (once)."""

    @workflow.run
    async def run(self, term: LicenceTerm) -> str:
        left = end_of(term.valid_to) - workflow.now()
        if left > timedelta(0):
            await workflow.sleep(left)
        status: str = await run_activity("expire_licence", ExpireRequest(licence_id=term.licence_id,
                                                                         at=workflow.now()), str)
        return status
