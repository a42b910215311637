"""The cost budget of one case (docs/benchmarks.md, "Budget"): what the workflow costs Temporal per
case — workflow tasks, server-side activities, history events and bytes — measured on the path
operators run (the HTTP API: submit, accept, three passes, approve, deliver of
`fire-safety-inspection`), and an action on a long case costing what it costs on a new one.

The limits are the new design's figures with a little headroom: a change that quietly adds an
activity, a timer per action or the whole state to every update fails here, not in production.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

ITEM = "fire-safety-inspection"

# The budget of one case (submit + 6 actions, archived after it concludes). Measured: see
# docs/benchmarks.md; the reference (bare Temporal, same round trips) makes about 40 events.
MAX_WORKFLOW_TASKS = 10
MAX_SERVER_ACTIVITIES = 1  # the archive package, built after the closing action answered
MAX_EVENTS = 60
MAX_HISTORY_BYTES = 48_000
MAX_TIMERS_STARTED = 3
MAX_EVENT_BYTES_PER_ACTION = 5_000  # the events one action adds (update accepted/completed, markers)


@dataclass
class Cost:
    events: int
    bytes: int
    workflow_tasks: int
    activities: int
    timers_started: int
    timers_cancelled: int
    markers: int

    @classmethod
    def of(cls, history: WorkflowHistory) -> Cost:
        kinds = Counter(e.event_type for e in history.events)
        return cls(events=len(history.events), bytes=sum(e.ByteSize() for e in history.events),
                   workflow_tasks=kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
                   activities=kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
                   timers_started=kinds[EventType.EVENT_TYPE_TIMER_STARTED],
                   timers_cancelled=kinds[EventType.EVENT_TYPE_TIMER_CANCELED],
                   markers=kinds[EventType.EVENT_TYPE_MARKER_RECORDED])


async def run_case(stack, people) -> str:
    """One case through the HTTP API, as the benchmark drives it; returns its id."""
    r = await people.applicant().apply(ITEM)
    assert r.status_code == 201, r.text
    case = r.json()
    dept = case["department"]
    case = await people.staff(dept, "clerk").ok(case["id"], "accept")
    while case["current_step"]["kind"] == "review":
        case = await people.staff(dept, case["current_step"]["role"]).ok(case["id"], "pass")
    case = await people.staff(dept, "approver").ok(case["id"], "approve")
    case = await people.staff(dept, "clerk").ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"
    return case["id"]


async def concluded_history(stack, case_id: str) -> WorkflowHistory:
    """The case's history once the archive (built after the closing action answered) is done."""
    handle = stack.client.get_workflow_handle(f"case-{case_id}")
    for _ in range(100):
        history = await handle.fetch_history()
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events[-3:]):
            return history  # waiting on the end of the rating period: the archive is written
        await asyncio.sleep(0.05)
    return history


async def test_one_case_stays_within_its_budget(stack, people):
    case_id = await run_case(stack, people)
    history = await concluded_history(stack, case_id)
    cost = Cost.of(history)
    print(f"\nbudget of one {ITEM} case: {cost}\n{breakdown(history)}")
    assert cost.workflow_tasks <= MAX_WORKFLOW_TASKS, cost
    assert cost.activities <= MAX_SERVER_ACTIVITIES, cost
    assert cost.events <= MAX_EVENTS, cost
    assert cost.bytes <= MAX_HISTORY_BYTES, cost
    assert cost.timers_started <= MAX_TIMERS_STARTED, cost
    assert cost.timers_cancelled <= MAX_TIMERS_STARTED, cost


def breakdown(history: WorkflowHistory) -> dict[str, tuple[int, int]]:
    """Events and bytes per event type (for the docs and for reading a failure)."""
    out: dict[str, list[int]] = {}
    for e in history.events:
        k = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        c = out.setdefault(k, [0, 0])
        c[0] += 1
        c[1] += e.ByteSize()
    return {k: (n, b) for k, (n, b) in sorted(out.items(), key=lambda kv: -kv[1][1])}
