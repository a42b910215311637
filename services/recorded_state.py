"""The record calls a case's workflow code issues when its history is replayed: how the audit knows
the state a lean case last recorded, whose history keeps the `record_transition` local activity's
result but not its input (banjian/audit/snapshot.py). A `RecordReplayer` for `banjian.audit`."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from banjian.audit.snapshot import RECORD_ACTIVITIES
from services.replay import current_workflows

log = logging.getLogger("banjian.audit")


class _Capture(Interceptor):
    """Keeps the argument of every record call, as JSON at the moment of the call (the workflow goes
    on changing its state; the call's payload is what was sent)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        calls = self.calls

        def keep(activity: str, args: Sequence[Any]) -> None:
            if activity in RECORD_ACTIVITIES and args and workflow.info().workflow_type == "Case":
                arg = args[0]
                calls.append(arg.model_dump(mode="json") if hasattr(arg, "model_dump") else arg)

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle:
                keep(input.activity, input.args)
                return super().start_activity(input)

            def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle:
                keep(input.activity, input.args)
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def record_calls(case_id: str, history: WorkflowHistory, workflows: Sequence[type] | None = None,
                       converter: DataConverter | None = None) -> list[dict[str, Any]] | None:
    """The arguments of the record calls (`record_case`, `record_transition`) the current workflow code
    issues replaying `history` (payloads plain, as `banjian.audit.fetch_history` and the archive give
    them), in order; None when the history does not replay (a replay failure is `banjian audit
    replay`'s to report)."""
    capture = _Capture()
    replayer = Replayer(workflows=list(workflows or current_workflows()),
                        data_converter=converter or pydantic_data_converter, interceptors=[capture])
    try:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    except Exception as e:  # a history this code cannot even start replaying
        log.warning("history of %s does not replay for its record calls: %s", case_id, e)
        return None
    if result.replay_failure is not None:
        log.warning("history of %s does not replay for its record calls: %s", case_id, result.replay_failure)
        return None
    return capture.calls
