"""A case's timeline from its Temporal history (the source of truth), compared with the read model;
and the log of auditors' reads."""
from __future__ import annotations

import asyncio
import heapq
import json
import logging
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from banjian import chain
from banjian.activity_contracts import Recorded, RecordRequest
from banjian.audit.snapshot import (
    RecordReplayer,
    needs_replay,
    settle_replayed,
    settled,
    snapshot_discrepancy,
)
from banjian.contracts import Actor, CaseInput, CaseState, HistoryEntry
from banjian.db import Archive, AuditRead, Case, CaseEvent
from banjian.enums import Role
from banjian.lenient_rows import EVENTS_AS_TEXT, case_row, parse_text_row
from banjian.timefmt import aware as _aware
from banjian.timefmt import china_times, iso_at
from banjian.version_moves import VERSION_MIGRATED

log = logging.getLogger("banjian.audit")

RECORD_ACTIVITY = "record_case"
RECORD_LOCAL_ACTIVITY = "record_transition"  # a local activity: its marker keeps what it wrote
LOCAL_ACTIVITY_MARKER = "core_local_activity"
SYSTEM_KEY_FILE = "system-sm2.key"
HEADS_DIR = "chain-heads"
HEAD_SIGNING_LABEL = "banjian-chain-head"


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def case_id_of(wf_id: str) -> str:
    return wf_id.removeprefix("case-")


# =====================================================================================================
# Auditors' reads (审计留痕)
# =====================================================================================================
def log_read(session_factory: Callable[[], Session], actor: Actor, case_id: str | None, what: str) -> None:
    """Record one read by an auditor; other roles are not logged here."""
    if not actor.has(Role.AUDITOR):
        return
    with session_factory() as session:
        session.add(AuditRead(username=actor.username, case_id=case_id, what=what[:200], at=datetime.now(UTC)))
        session.commit()


# =====================================================================================================
# Reading a Temporal history
# =====================================================================================================
@dataclass
class SourceRecord:
    """One history entry as the workflow handed it to `record_case`."""

    entry: HistoryEntry
    event_id: int  # the ActivityTaskScheduled (or local activity MarkerRecorded) event that carried it
    completed: bool  # the activity completed (so the read model should hold it)


@dataclass
class CaseSource:
    """What one case's Temporal history says."""

    case_id: str
    history: WorkflowHistory
    origin: str  # "temporal" or "archive"
    case_input: CaseInput | None = None
    records: list[SourceRecord] = field(default_factory=list)  # by seq, once each
    last_state: CaseState | None = None
    last_status: str | None = None  # the case's status as last recorded
    # the state the read model's case row should hold (banjian/audit/snapshot.py): the state of the
    # last record call that completed, and whether one after it is still in flight
    recorded_state: CaseState | None = None
    record_pending: bool = False
    task_in_flight: bool = False  # the history ends in a workflow task not completed (see `settled`)
    transitions: list[Recorded] = field(default_factory=list)  # record_transition results, in order
    temporal_events: list[dict[str, Any]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # sub-case ids started as child workflows
    problems: list[str] = field(default_factory=list)  # payloads that could not be read

    @property
    def item_version(self) -> int | None:
        """The item version in force: the one the case was filed under, then the `to_version` of each
        `version_migrated` record (a case moved in flight runs on the new version)."""
        return self.version_in_force()

    def version_in_force(self, completed_only: bool = False) -> int | None:
        """`item_version`, counting only the records the read model holds when `completed_only`."""
        version = self.case_input.item.version if self.case_input else None
        for rec in self.records:
            if rec.entry.action == VERSION_MIGRATED and (rec.completed or not completed_only):
                to = rec.entry.data.get("to_version")
                version = to if isinstance(to, int) else version
        return version


def _event_at(e: HistoryEvent) -> datetime:
    return e.event_time.ToDatetime(tzinfo=UTC)


def _decode(converter: DataConverter, payloads, types: list[type]) -> list[Any]:
    return converter.payload_converter.from_payloads(list(payloads.payloads), types)


def _read_record_marker(src: CaseSource, e: HistoryEvent, by_seq: dict[int, SourceRecord],
                        converter: DataConverter) -> None:
    """A `record_transition` local activity's marker: the entries it wrote (recorded on completion)."""
    attrs = e.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in attrs.details:
        return
    try:
        meta = json.loads(attrs.details["data"].payloads[0].data)
    except (KeyError, IndexError, ValueError):
        return
    if meta.get("activity_type") != RECORD_LOCAL_ACTIVITY:
        return
    try:
        done: Recorded = _decode(converter, attrs.details["result"], [Recorded])[0]
    except Exception as exc:
        src.problems.append(f"event {e.event_id}: record_transition result unreadable: {exc}")
        return
    src.last_status = done.status.value
    src.transitions.append(done)
    for h in done.events:
        by_seq.setdefault(h.seq, SourceRecord(h, e.event_id, True))


def read_history(case_id: str, history: WorkflowHistory, origin: str = "temporal",
                 converter: DataConverter = pydantic_data_converter) -> CaseSource:
    """Extract the case's records, its input and its Temporal-level events from a history."""
    src = CaseSource(case_id=case_id, history=history, origin=origin)
    by_seq: dict[int, SourceRecord] = {}
    record_events: dict[int, list[int]] = {}  # scheduled event id -> seqs it carried
    scheduled_states: dict[int, CaseState] = {}  # scheduled event id -> the state it carried
    timer_started: dict[int, HistoryEvent] = {}
    ET = EventType
    for e in history.events:
        t = e.event_type
        if t == ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            try:
                src.case_input = _decode(converter, e.workflow_execution_started_event_attributes.input,
                                         [CaseInput])[0]
            except Exception as exc:  # an input this code cannot read: say so, keep going
                src.problems.append(f"event {e.event_id}: workflow input unreadable: {exc}")
        elif t == ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != RECORD_ACTIVITY:
                continue
            try:
                req: RecordRequest = _decode(converter, attrs.input, [RecordRequest])[0]
            except Exception as exc:
                src.problems.append(f"event {e.event_id}: record_case input unreadable: {exc}")
                continue
            src.last_state, src.last_status = req.state, req.state.status.value
            scheduled_states[e.event_id] = req.state
            src.record_pending = True
            record_events[e.event_id] = [h.seq for h in req.events]
            for h in req.events:
                by_seq.setdefault(h.seq, SourceRecord(h, e.event_id, False))
        elif t == ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = e.activity_task_completed_event_attributes.scheduled_event_id
            if sched in scheduled_states:
                src.recorded_state = scheduled_states[sched]
                src.record_pending = sched != max(scheduled_states)
            for seq in record_events.get(sched, []):
                if by_seq[seq].event_id == sched:
                    by_seq[seq].completed = True
        elif t == ET.EVENT_TYPE_MARKER_RECORDED:
            _read_record_marker(src, e, by_seq, converter)
        elif t == ET.EVENT_TYPE_TIMER_STARTED:
            timer_started[e.event_id] = e
        elif t == ET.EVENT_TYPE_TIMER_FIRED:
            a = e.timer_fired_event_attributes
            started = timer_started.get(a.started_event_id)
            data: dict[str, Any] = {"timer_id": a.timer_id}
            if started is not None:
                data["after_seconds"] = started.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() \
                    .total_seconds()
            src.temporal_events.append(_tevent(case_id, e, "timer_fired", data))
        elif t == ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            src.temporal_events.append(_tevent(case_id, e, "signal", {
                "name": e.workflow_execution_signaled_event_attributes.signal_name}))
        elif t == ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            wid = e.start_child_workflow_execution_initiated_event_attributes.workflow_id
            if case_id_of(wid) not in src.children:
                src.children.append(case_id_of(wid))
        elif t == ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            a = e.child_workflow_execution_started_event_attributes
            src.temporal_events.append(_tevent(case_id, e, "sub_case_workflow_started", {
                "case_id": case_id_of(a.workflow_execution.workflow_id), "workflow_type": a.workflow_type.name}))
        elif t in _CHILD_CLOSED:
            a = getattr(e, e.WhichOneof("attributes"))
            src.temporal_events.append(_tevent(case_id, e, "sub_case_workflow_closed", {
                "case_id": case_id_of(a.workflow_execution.workflow_id), "outcome": _CHILD_CLOSED[t]}))
        elif t in _CLOSED:
            src.temporal_events.append(_tevent(case_id, e, "workflow_closed", {"outcome": _CLOSED[t]}))
    src.records = [by_seq[s] for s in sorted(by_seq)]
    src.task_in_flight = not settled(history)
    return src


_CHILD_CLOSED = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
}
_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}


def _tevent(case_id: str, e: HistoryEvent, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": case_id, "event_id": e.event_id, "event_type": EventType.Name(e.event_type),
            "at": iso_at(_event_at(e)), "kind": kind, "data": data}


async def fetch_history(client: Client, case_id: str) -> WorkflowHistory | None:
    """The case workflow's history from Temporal, its payloads decrypted with the client's codec
    (so readers, the replayer and the archive see them plain); None once Temporal no longer has it."""
    from banjian.codec import decode_history

    try:
        history = await client.get_workflow_handle(workflow_id(case_id)).fetch_history()
        return decode_history(history, client.data_converter.payload_codec)
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


def archived_histories(session: Session, case_id: str) -> dict[str, WorkflowHistory]:
    """The Temporal histories exported into the case's archive package, by case id (may be empty)."""
    arc = session.get(Archive, case_id)
    if arc is None or not Path(arc.path).exists():
        return {}
    out: dict[str, WorkflowHistory] = {}
    try:
        with zipfile.ZipFile(arc.path) as z:
            for name in z.namelist():
                if name.startswith("temporal-history/") and name.endswith(".json"):
                    cid = name.removeprefix("temporal-history/").removesuffix(".json")
                    out[cid] = WorkflowHistory.from_json(workflow_id(cid), z.read(name).decode())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        log.warning("archive of %s unreadable: %s", case_id, e)
    return out


async def load_source(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                      archived: dict[str, WorkflowHistory] | None = None,
                      replayer: RecordReplayer | None = None) -> CaseSource | None:
    """The case's history from Temporal, else from its archive package, else None. With `replayer`,
    a lean case's history is replayed for the state it last recorded (banjian/audit/snapshot.py)."""
    src = await _load_source(client, session_factory, case_id, archived)
    if src is not None and replayer is not None and needs_replay(src):
        settle_replayed(src, await replayer(case_id, src.history))
    return src


async def _load_source(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                       archived: dict[str, WorkflowHistory] | None) -> CaseSource | None:
    history = None
    if client is not None:
        try:
            history = await fetch_history(client, case_id)
        except RPCError as e:  # Temporal unreachable: fall back rather than fail the read
            log.warning("history of %s unavailable from Temporal: %s", case_id, e)
    if history is not None and history.events:
        return read_history(case_id, history, "temporal")
    if archived is None:
        with session_factory() as session:
            archived = archived_histories(session, case_id)
    if case_id in archived:
        return read_history(case_id, archived[case_id], "archive")
    return None


# =====================================================================================================
# Timeline
# =====================================================================================================
def entry_json(case_id: str, e: HistoryEntry | CaseEvent) -> dict[str, Any]:
    """One history entry as the contract shows it (the shape of GET /api/cases/{id}/history), with its case
    (times in `data` in China time, as `api.views.history_json` shows them)."""
    data = e.model_dump(mode="json")["data"] if isinstance(e, HistoryEntry) else (e.data or {})
    return {"seq": e.seq, "at": iso_at(e.at), "actor": e.actor, "role": e.role, "department": e.department,
            "action": e.action, "comment": e.comment, "data": china_times(data), "case_id": case_id}


def _content(case_id: str, e: HistoryEntry | CaseEvent) -> dict[str, Any]:
    """The fields a record's hash covers, normalised for comparison."""
    data = e.model_dump(mode="json")["data"] if isinstance(e, HistoryEntry) else (e.data or {})
    return json.loads(chain.canonical(case_id, e.seq, e.at, e.actor, e.role, e.department, e.action,
                                      e.comment, data))


def compare(case_id: str, source: CaseSource, rows: Sequence[CaseEvent], row: Case | None) -> list[dict[str, Any]]:
    """Every disagreement between what Temporal says and what the read model holds for one case."""
    out: list[dict[str, Any]] = []
    db = {r.seq: r for r in rows}
    for rec in source.records:
        r = db.pop(rec.entry.seq, None)
        if r is None:
            if rec.completed:
                out.append({"case_id": case_id, "seq": rec.entry.seq, "kind": "missing_in_read_model",
                            "action": rec.entry.action, "temporal_event_id": rec.event_id})
            continue
        want, have = _content(case_id, rec.entry), _content(case_id, r)
        if want != have:
            fields = sorted(k for k in want if want[k] != have.get(k))
            out.append({"case_id": case_id, "seq": r.seq, "kind": "differs", "action": rec.entry.action,
                        "fields": fields, "temporal": {k: want[k] for k in fields},
                        "read_model": {k: have.get(k) for k in fields}, "temporal_event_id": rec.event_id})
    for seq, r in sorted(db.items()):
        out.append({"case_id": case_id, "seq": seq, "kind": "not_in_temporal", "action": r.action})
    if row is not None:
        version = source.version_in_force(completed_only=True)
        if version is not None and version != row.item_version:
            out.append({"case_id": case_id, "seq": None, "kind": "item_version_differs",
                        "temporal": version, "read_model": row.item_version})
        st = source.last_status
        if st is not None and all(rec.completed for rec in source.records) and st != row.status:
            out.append({"case_id": case_id, "seq": None, "kind": "status_differs",
                        "temporal": st, "read_model": row.status})
        snap = snapshot_discrepancy(case_id, source, row)
        if snap is not None:
            out.append(snap)
    elif source.records:
        out.append({"case_id": case_id, "seq": None, "kind": "case_missing_in_read_model"})
    for p in source.problems:
        out.append({"case_id": case_id, "seq": None, "kind": "unreadable_history", "detail": p})
    return out


def _rows(session: Session, case_id: str) -> list[CaseEvent]:
    """The case's records in order of `seq`. A record the ORM cannot read (SQLite keeps any text in a
    JSON or DATETIME column: someone wrote there by hand) is read as text instead: its unreadable
    field then fails the hash like any other alteration, rather than failing the audit itself."""
    try:
        return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(col(CaseEvent.seq))).all())
    except ValueError:  # json.JSONDecodeError, or a date SQLite's DATETIME type cannot parse
        return _rows_as_text(session, case_id)


def _rows_as_text(session: Session, case_id: str) -> list[CaseEvent]:
    return [CaseEvent(**parse_text_row(r))
            for r in session.connection().execute(EVENTS_AS_TEXT, {"case_id": case_id}).mappings()]


async def timeline(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                   visible: Callable[[Case], bool] = lambda _: True,
                   replayer: RecordReplayer | None = None) -> dict[str, Any]:
    """The case's full ordered record (sub-cases interleaved), from Temporal, checked against the read model
    (its records, and each case row against the state last recorded: `replayer` recovers it for a
    lean case, see `load_source`).

    Returns {"case_id", "entries", "source", "item_code", "item_version", "sub_cases",
    "temporal_events", "discrepancies", "pending"}; `source` is "temporal", "archive" (the
    history exported into the archive package) or "read_model" (no history left anywhere)."""
    with session_factory() as session:
        row = case_row(session, case_id)
        archived = archived_histories(session, case_id)
        sub_ids = session.exec(select(Case.id).where(Case.parent_id == case_id)).all()
        sub_rows = {r.id: r for r in (case_row(session, sid) for sid in sub_ids) if r is not None}
    main = await load_source(client, session_factory, case_id, archived, replayer)
    sub_ids = list(dict.fromkeys([*(main.children if main else []), *sorted(sub_rows)]))
    order = [case_id] + [s for s in sub_ids if s in sub_rows and visible(sub_rows[s])]
    subs = await asyncio.gather(*(load_source(client, session_factory, sid, archived, replayer)
                                  for sid in order[1:]))
    sources: dict[str, CaseSource | None] = {case_id: main, **dict(zip(order[1:], subs, strict=True))}
    lists: list[list[tuple[datetime, dict[str, Any]]]] = []
    discrepancies: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    temporal_events: list[dict[str, Any]] = []
    with session_factory() as session:
        for cid in order:
            src, rows = sources[cid], _rows(session, cid)
            crow = row if cid == case_id else sub_rows.get(cid)
            if src is None:
                lists.append([(_aware(r.at), entry_json(cid, r)) for r in rows])
                continue
            lists.append([(_aware(rec.entry.at), entry_json(cid, rec.entry)) for rec in src.records])
            discrepancies += compare(cid, src, rows, crow)
            have = {r.seq for r in rows}
            pending += [{"case_id": cid, "seq": rec.entry.seq, "action": rec.entry.action}
                        for rec in src.records if not rec.completed and rec.entry.seq not in have]
            temporal_events += src.temporal_events
    entries = [e for _, e in heapq.merge(*lists, key=lambda p: p[0])]
    kinds = {s.origin if s else "read_model" for s in sources.values()}
    source = main.origin if main else "read_model"
    if len(kinds) > 1:
        source = "mixed"
    return {"case_id": case_id, "entries": entries, "source": source,
            "item_code": main.case_input.item.code if main and main.case_input else (row.item_code if row else None),
            "item_version": main.item_version if main and main.item_version is not None
            else (row.item_version if row else None),
            "sub_cases": order[1:], "temporal_events": temporal_events, "discrepancies": discrepancies,
            "pending": pending}
