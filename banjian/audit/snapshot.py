"""The read model's case row checked against the state the workflow last recorded.

`cases.snapshot` (what GET /api/cases/{id} shows: status, form, applicant, materials, deadlines,
result, …) is written by the record activity from the state the workflow hands it. That state is
in the case's Temporal history in one of two ways:

- cases recorded by the `record_case` activity (older cases): the activity's input, in its
  `ActivityTaskScheduled` event (`CaseSource.recorded_state`, read by `read_history`);
- lean cases (`record_transition`, a local activity: every case started on design 1 or later): the
  history keeps the local activity's result (`Recorded`: the entries and the deadlines it planned)
  but not its input. The input is what the workflow code issues when the history is replayed: a
  `RecordReplayer` (services/recorded_state.py, above this package: it runs the workflow code)
  returns the record calls of a replay, and `settle_replayed` pairs the k-th call with the k-th
  marker.

The row holds that state as the activity wrote it (without its history: the workflow sends it
without), with the deadlines the local activity planned (`Recorded.deadlines`) in place of those
sent, twice: as the snapshot, and as the plain columns that lists, inboxes and searches read
(`banjian.case_row.row_columns`; a column that differs is reported as `row.<column>`). Nothing
else of the snapshot is the read model's own. Both sides are read through the current `CaseState`
model before they are compared, so fields added to the model since the row was written
compare as their defaults on both sides.

A comparison is made only when the history shows the row's last write completed: while a record
call is in flight (or the row is ahead of the history, which a lean case's update is until its
workflow task completes) the state to compare with is not known yet.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from banjian.activity_contracts import RecordRequest
from banjian.case_row import row_columns
from banjian.contracts import CaseState
from banjian.db import Case

if TYPE_CHECKING:
    from banjian.audit.timeline import CaseSource

#: Replays a case's history against the workflow code; returns the arguments of its record calls
#: (`record_case` and `record_transition`, as JSON, in the order the code issued them), or None when
#: the history does not replay.
RecordReplayer = Callable[[str, WorkflowHistory], Awaitable[list[dict[str, Any]] | None]]

RECORD_ACTIVITIES = ("record_case", "record_transition")


_TASK_EVENTS = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
_CLOSE_EVENTS = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
                 EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW}


def settled(history: WorkflowHistory) -> bool:
    """Whether no workflow task is in flight at the end of the history (as far as the history shows)."""
    for e in reversed(history.events):
        if e.event_type in _CLOSE_EVENTS:
            return True
        if e.event_type in _TASK_EVENTS:
            return e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    return True


def needs_replay(src: CaseSource) -> bool:
    """Whether the history keeps no record input to compare with (a lean case's markers only)."""
    return bool(src.transitions) and src.recorded_state is None


def settle_replayed(src: CaseSource, calls: list[dict[str, Any]] | None) -> None:
    """Set `recorded_state` of a lean case from the record calls of its replay: the call of the last
    `record_transition` marker, with the deadlines that marker says it planned."""
    n = len(src.transitions)
    if not n or calls is None or len(calls) < n:
        return
    try:
        req = RecordRequest.model_validate(calls[n - 1])
    except ValidationError as e:
        src.problems.append(f"record call {n} of the replay unreadable: {e}")
        return
    done = src.transitions[n - 1]
    state = req.state
    if done.deadlines is not None:
        state = state.model_copy(update={"deadlines": done.deadlines})
    src.recorded_state = state
    src.record_pending = len(calls) > n


def differing_paths(want: Any, have: Any, prefix: str = "") -> list[str]:
    """The dotted paths where two JSON values differ, going into objects (not lists)."""
    if isinstance(want, dict) and isinstance(have, dict):
        out: list[str] = []
        for k in sorted(set(want) | set(have)):
            out += differing_paths(want.get(k), have.get(k), f"{prefix}{k}.")
        return out
    return [] if want == have else [prefix.rstrip(".")]


def _at(doc: Any, path: str) -> Any:
    for k in path.split("."):
        doc = doc.get(k) if isinstance(doc, dict) else None
    return doc


def snapshot_discrepancy(case_id: str, src: CaseSource, row: Case | None) -> dict[str, Any] | None:
    """`{"kind": "snapshot_differs", "fields", "temporal", "read_model"}` when the case row's snapshot
    differs from the state the workflow last recorded; None when they agree or cannot be compared yet
    (see `comparable`)."""
    if row is None or not comparable(src, row):
        return None
    assert src.recorded_state is not None
    want = src.recorded_state.model_dump(mode="json")
    try:
        have = CaseState.model_validate(row.snapshot).model_dump(mode="json")
    except ValidationError as e:
        return {"case_id": case_id, "seq": None, "kind": "snapshot_differs", "fields": ["snapshot"],
                "temporal": None, "read_model": None,
                "detail": f"the case row's snapshot is no valid case state: {e.error_count()} errors"}
    fields = differing_paths(want, have)
    # the plain columns lists, inboxes and searches read: each compared as the record activity writes it
    columns = {f"row.{k}": (_plain(v), _plain(getattr(row, k, None)))
               for k, v in row_columns(src.recorded_state).items() if v != getattr(row, k, None)}
    if not fields and not columns:
        return None
    temporal = {f: _at(want, f) for f in fields} | {f: w for f, (w, _) in columns.items()}
    read_model = {f: _at(have, f) for f in fields} | {f: h for f, (_, h) in columns.items()}
    fields += sorted(columns)
    return {"case_id": case_id, "seq": None, "kind": "snapshot_differs", "fields": fields,
            "temporal": temporal, "read_model": read_model,
            "detail": "the case row differs from the state the workflow last recorded: " + ", ".join(fields)}


def _plain(value: Any) -> Any:
    """A column's value as JSON shows it (dates and times as ISO text)."""
    return value.isoformat() if isinstance(value, date | datetime) else value


def comparable(src: CaseSource, row: Case) -> bool:
    """Whether the history tells the state the row should hold now: a recorded state is known, no
    record call nor workflow task is in flight, and the row records no entry the history does not
    show completed (a lean case's update writes the row inside a workflow task that reaches the
    history only when it completes)."""
    if src.recorded_state is None or src.record_pending or src.task_in_flight:
        return False
    if any(not r.completed for r in src.records):
        return False
    return row.rev <= max((r.entry.seq for r in src.records), default=0)

