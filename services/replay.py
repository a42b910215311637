"""Replay verification: a case's history replayed against the current workflow code."""
from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlmodel import Session
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from banjian.audit.timeline import _CLOSED, _event_at, archived_histories, case_id_of, fetch_history
from banjian.timefmt import iso_at

log = logging.getLogger("banjian.audit")

# =====================================================================================================
# Replay
# =====================================================================================================
@dataclass
class ReplayReport:
    case_id: str
    verified: bool
    events: int
    error: str | None = None
    diverged_at: dict[str, Any] | None = None
    source: str = "temporal"

    def json(self) -> dict[str, Any]:
        return {"verified": self.verified, "events": self.events, "error": self.error,
                "diverged_at": self.diverged_at, "source": self.source, "case_id": self.case_id}


@cache
def _replayer(workflows: tuple[type, ...], converter: DataConverter = pydantic_data_converter):
    """A replayer of these workflows; `converter` carries the payload codec, so an encrypted history
    replays as well as a plain one (a plain payload passes the codec unchanged)."""
    from temporalio.worker import Replayer

    return Replayer(workflows=list(workflows), data_converter=converter)


def current_workflows() -> tuple[type, ...]:
    """The workflows the worker runs (`workflows.registry.WORKFLOWS`): what a replay is checked against."""
    from workflows.registry import WORKFLOWS

    return tuple(WORKFLOWS)


def workflow_type_names(workflows: Iterable[type] | None = None) -> list[str]:
    from temporalio.workflow import _Definition

    return [_Definition.must_from_class(w).name for w in (workflows or current_workflows())]


async def _replay_failure(replayer, history: WorkflowHistory) -> Exception | None:
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


#: Events that record a command of the workflow task before them (what replayed code must reissue).
_COMMAND_EVENTS = frozenset({
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_CANCELED, EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    *_CLOSED,
})


def _describe(e: HistoryEvent) -> str:
    name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()
    attr = e.WhichOneof("attributes")
    a = getattr(e, attr) if attr else None
    what = ""
    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        what = f" {a.activity_type.name}"
    elif e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        what = f" {a.workflow_type.name} {a.workflow_id}"
    elif e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
        what = f" {a.start_to_fire_timeout.ToTimedelta()}"
    elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        what = f" {a.marker_name}"
    elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        what = " (update answered)"
    return f"#{e.event_id} {name}{what}"


async def locate_divergence(replayer, history: WorkflowHistory) -> dict[str, Any] | None:
    """The workflow task whose commands no longer match the history: replays ever longer prefixes
    (each ending where a workflow task starts) and bisects for the first that fails."""
    events = list(history.events)
    starts = [i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    if not starts:
        return None

    async def fails(k: int) -> bool:  # the prefix ending at the k-th task start (k == len: whole history)
        prefix = events if k == len(starts) else events[:starts[k] + 1]
        return await _replay_failure(replayer, WorkflowHistory(history.workflow_id, prefix)) is not None

    lo, hi = 1, len(starts)  # the first prefix (up to the first task start) checks no command
    if not await fails(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if await fails(mid):
            hi = mid
        else:
            lo = mid + 1
    # The failing prefix ends at task start `lo`; the task that diverged is the last one completed before it.
    begin = starts[lo - 1]
    end = starts[lo] if lo < len(starts) else len(events)
    done = next((i for i in range(begin, end) if events[i].event_type ==
                 EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), None)
    if done is None:
        return {"workflow_task_started_event_id": events[begin].event_id, "recorded_next": []}
    after = []
    for e in events[done + 1:end]:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            break
        if e.event_type in _COMMAND_EVENTS:
            after.append(_describe(e))
    return {"workflow_task_completed_event_id": events[done].event_id, "at": iso_at(_event_at(events[done])),
            "recorded_next": after}


async def replay_history(case_id: str, history: WorkflowHistory, workflows: Sequence[type] | None = None,
                         source: str = "temporal", converter: DataConverter | None = None) -> ReplayReport:
    """Replay one history against the given workflow classes (default: the worker's); `converter`
    (default: plain pydantic) must hold the payload codec when the history is still encrypted."""
    replayer = _replayer(tuple(workflows) if workflows else current_workflows(),
                         converter or pydantic_data_converter)
    failure = await _replay_failure(replayer, history)
    if failure is None:
        return ReplayReport(case_id, True, len(history.events), source=source)
    where = None
    try:
        where = await locate_divergence(replayer, history)
    except Exception as e:  # locating is a courtesy: never hide the failure itself
        log.warning("could not locate the divergence of %s: %s", case_id, e)
    return ReplayReport(case_id, False, len(history.events), _failure_text(failure, where), where, source)


def _failure_text(failure: Exception, where: dict[str, Any] | None) -> str:
    text = str(failure)
    # Core wraps the useful message in a Rust debug dump; keep the message itself.
    marker = 'message: "'
    if marker in text:
        start = text.index(marker) + len(marker)
        text = text[start:text.index('"', start)] if '"' in text[start:] else text[start:]
    kind = "nondeterminism" if "Nondeterminism" in text or "nondeterminism" in type(failure).__name__.lower() \
        else type(failure).__name__
    msg = f"replay failed ({kind}): {text}"
    if where and "workflow_task_completed_event_id" in where:
        nxt = ", ".join(where["recorded_next"]) or "nothing (the workflow waited)"
        msg += (f" — the current code diverges from the history in the workflow task completed at event "
                f"#{where['workflow_task_completed_event_id']} ({where['at']}); the history records next: {nxt}")
    return msg


async def replay_case(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                      workflows: Sequence[type] | None = None) -> ReplayReport:
    """Replay one case's history (from Temporal, else from its archive package)."""
    history = None
    if client is not None:
        try:
            history = await fetch_history(client, case_id)
        except RPCError as e:
            log.warning("history of %s unavailable from Temporal: %s", case_id, e)
    origin = "temporal"
    if history is None:
        with session_factory() as session:
            history = archived_histories(session, case_id).get(case_id)
        origin = "archive"
    if history is None:
        return ReplayReport(case_id, False, 0, "the workflow history is no longer in Temporal and the case has "
                            "no archive package holding it", source="none")
    return await replay_history(case_id, history, workflows, origin,
                                client.data_converter if client is not None else None)


async def replay_many(client: Client, case_ids: Sequence[str] | None = None, sample: int | None = None,
                      workflows: Sequence[type] | None = None, query: str | None = None,
                      ) -> AsyncIterator[ReplayReport]:
    """Replay every case (or the given ones, or a random sample) against the current code, one
    report per case. Cases are listed from Temporal itself (the workflows of the worker's types)."""
    workflows = tuple(workflows) if workflows else current_workflows()
    if case_ids is None:
        names = workflow_type_names(workflows)
        q = query or " OR ".join(f"WorkflowType = '{n}'" for n in names)
        seen: dict[str, None] = {}
        async for wf in client.list_workflows(q):
            seen.setdefault(wf.id, None)
        # cases only: the worker's other workflows (feed deliveries, inquiries, licence expiry, …)
        # share its types' query but are not cases
        ids = [case_id_of(w) for w in seen if w.startswith("case-")]
    else:
        ids = list(case_ids)
    if sample is not None and sample < len(ids):
        ids = random.sample(ids, sample)
    for cid in ids:
        history = await fetch_history(client, cid)
        if history is None:
            yield ReplayReport(cid, False, 0, "no such workflow history in Temporal", source="none")
            continue
        yield await replay_history(cid, history, workflows, converter=client.data_converter)


# =====================================================================================================
# Chain verification
# =====================================================================================================
