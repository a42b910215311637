"""Audit (审计): replay a case's history, prove its records were not altered, log auditors' reads.

Four pieces, each usable from the API, the CLI and tests:

- **Timeline** — a case's full ordered record built from its Temporal event history (the
  source of truth): every history entry the workflow handed to the `record_case` activity,
  the item version in force (the workflow input), Temporal-level events (timer firings,
  signals, child workflows, completion), and for a joint case its sub-cases interleaved. It
  is compared entry by entry with the read model (`case_events`); a disagreement is reported
  in `discrepancies`, never hidden. When Temporal no longer holds the history (the dev
  server keeps a closed workflow 24 hours), the copy exported into the case's archive
  package is used, and failing that the read model alone (`source` says which).
- **Replay** — the history replayed with `temporalio.worker.Replayer` against the current
  workflow code (the worker's `WORKFLOWS`, the pydantic data converter). A failure names the
  workflow task where the code and the history part ways (found by replaying prefixes).
- **Chain verification** — each `case_events` row carries the SM3 hash of its content and of
  the previous row of its case (`banjian.chain`). `verify_case` recomputes the chain, checks
  it is complete (the case row's `rev`), compares it with the hashes recomputed from the
  Temporal history (which catches a row altered *and* re-hashed), and with the signed daily
  chain heads.
- **Daily chain heads** — once a (China) day is over, `seal_day` seals the tips of every
  case's chain that moved that day into one SM3 head, linked to the previous day's head and
  signed with SM2 by the system key (`data_dir/system-sm2.key`). The head is stored in
  `chain_heads` and, with the tips it covers, in `data_dir/chain-heads/{day}.json`, so one
  case can be checked against it without re-reading every other case.
"""
from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from banjian import chain
from banjian.contracts import Actor, CaseInput, CaseState, HistoryEntry, RecordRequest
from banjian.crypto import Sm2Signer, load_or_create_signer, sm2_verify, sm3_hex
from banjian.db import Archive, AuditRead, Case, CaseEvent, ChainHead
from banjian.enums import Role
from banjian.timefmt import china_date, end_of, iso_at, start_of

log = logging.getLogger("banjian.audit")

RECORD_ACTIVITY = "record_case"
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
    event_id: int  # the ActivityTaskScheduled event that carried it
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
    temporal_events: list[dict[str, Any]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # sub-case ids started as child workflows
    problems: list[str] = field(default_factory=list)  # payloads that could not be read

    @property
    def item_version(self) -> int | None:
        return self.case_input.item.version if self.case_input else None


def _event_at(e: HistoryEvent) -> datetime:
    return e.event_time.ToDatetime(tzinfo=UTC)


def _decode(converter: DataConverter, payloads, types: list[type]) -> list[Any]:
    return converter.payload_converter.from_payloads(list(payloads.payloads), types)


def read_history(case_id: str, history: WorkflowHistory, origin: str = "temporal",
                 converter: DataConverter = pydantic_data_converter) -> CaseSource:
    """Extract the case's records, its input and its Temporal-level events from a history."""
    src = CaseSource(case_id=case_id, history=history, origin=origin)
    by_seq: dict[int, SourceRecord] = {}
    record_events: dict[int, list[int]] = {}  # scheduled event id -> seqs it carried
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
            src.last_state = req.state
            record_events[e.event_id] = [h.seq for h in req.events]
            for h in req.events:
                by_seq.setdefault(h.seq, SourceRecord(h, e.event_id, False))
        elif t == ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = e.activity_task_completed_event_attributes.scheduled_event_id
            for seq in record_events.get(sched, []):
                if by_seq[seq].event_id == sched:
                    by_seq[seq].completed = True
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
    """The case workflow's history from Temporal; None once Temporal no longer has it."""
    try:
        return await client.get_workflow_handle(workflow_id(case_id)).fetch_history()
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
                      archived: dict[str, WorkflowHistory] | None = None) -> CaseSource | None:
    """The case's history from Temporal, else from its archive package, else None."""
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
    """One history entry as the contract shows it (the shape of GET /api/cases/{id}/history), with its case."""
    data = e.model_dump(mode="json")["data"] if isinstance(e, HistoryEntry) else (e.data or {})
    return {"seq": e.seq, "at": iso_at(e.at), "actor": e.actor, "role": e.role, "department": e.department,
            "action": e.action, "comment": e.comment, "data": data, "case_id": case_id}


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
        if source.item_version is not None and source.item_version != row.item_version:
            out.append({"case_id": case_id, "seq": None, "kind": "item_version_differs",
                        "temporal": source.item_version, "read_model": row.item_version})
        st = source.last_state
        if st is not None and all(rec.completed for rec in source.records) and st.status.value != row.status:
            out.append({"case_id": case_id, "seq": None, "kind": "status_differs",
                        "temporal": st.status.value, "read_model": row.status})
    elif source.records:
        out.append({"case_id": case_id, "seq": None, "kind": "case_missing_in_read_model"})
    for p in source.problems:
        out.append({"case_id": case_id, "seq": None, "kind": "unreadable_history", "detail": p})
    return out


def _rows(session: Session, case_id: str) -> list[CaseEvent]:
    return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))).all())


async def timeline(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                   visible: Callable[[Case], bool] = lambda _: True) -> dict[str, Any]:
    """The case's full ordered record (sub-cases interleaved), from Temporal, checked against the read model.

    Returns {"case_id", "entries", "source", "item_code", "item_version", "sub_cases",
    "temporal_events", "discrepancies", "pending"}; `source` is "temporal", "archive" (the
    history exported into the archive package) or "read_model" (no history left anywhere)."""
    with session_factory() as session:
        row = session.get(Case, case_id)
        archived = archived_histories(session, case_id)
        sub_rows = {r.id: r for r in session.exec(select(Case).where(Case.parent_id == case_id)).all()}
    main = await load_source(client, session_factory, case_id, archived)
    sub_ids = list(dict.fromkeys([*(main.children if main else []), *sorted(sub_rows)]))
    order = [case_id] + [s for s in sub_ids if s in sub_rows and visible(sub_rows[s])]
    subs = await asyncio.gather(*(load_source(client, session_factory, sid, archived) for sid in order[1:]))
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


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


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
def _replayer(workflows: tuple[type, ...]):
    from temporalio.worker import Replayer

    return Replayer(workflows=list(workflows), data_converter=pydantic_data_converter)


def current_workflows() -> tuple[type, ...]:
    """The workflows the worker runs (`worker.WORKFLOWS`): what a replay must be checked against."""
    from worker import WORKFLOWS

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
                         source: str = "temporal") -> ReplayReport:
    """Replay one history against the given workflow classes (default: the worker's)."""
    replayer = _replayer(tuple(workflows) if workflows else current_workflows())
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
    return await replay_history(case_id, history, workflows, origin)


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
        ids = [case_id_of(w) for w in seen]
    else:
        ids = list(case_ids)
    if sample is not None and sample < len(ids):
        ids = random.sample(ids, sample)
    for cid in ids:
        history = await fetch_history(client, cid)
        if history is None:
            yield ReplayReport(cid, False, 0, "no such workflow history in Temporal", source="none")
            continue
        yield await replay_history(cid, history, workflows)


# =====================================================================================================
# Chain verification
# =====================================================================================================
def verify_case(session: Session, case_id: str, source: CaseSource | None = None,
                heads_dir: Path | None = None) -> dict[str, Any]:
    """Recompute the case's hash chain and check it against every independent witness available.

    Returns {"verified", "records", "first_altered": {"seq", "at", "action"} | null, "reason",
    "findings": [...], "checked": [...]}. `first_altered` is the earliest record found altered,
    missing or out of place; `findings` lists every check that failed."""
    rows = _rows(session, case_id)
    row = session.get(Case, case_id)
    findings: list[dict[str, Any]] = []
    checked = ["chain"]
    # 1. the chain itself: each hash covers the content and the previous hash; seqs run 1..N
    prev, expect = chain.GENESIS, 1
    for r in rows:
        if r.seq != expect:
            findings.append({"seq": expect, "reason": "missing", "detail": f"record {expect} is missing"})
            break
        if r.prev_hash != prev:
            findings.append({"seq": r.seq, "reason": "link_broken",
                             "detail": "the record does not link to the record before it"})
            break
        if chain.record_hash(prev, r) != r.hash:
            findings.append({"seq": r.seq, "reason": "content_altered",
                             "detail": "the record's content does not match its hash"})
            break
        prev, expect = r.hash, expect + 1
    # 2. completeness: the case row knows how many records were written
    if row is not None and rows and row.rev > rows[-1].seq:
        findings.append({"seq": rows[-1].seq + 1, "reason": "missing",
                         "detail": f"records {rows[-1].seq + 1}..{row.rev} were removed"})
    elif row is not None and not rows and row.rev > 0:
        findings.append({"seq": 1, "reason": "missing", "detail": "every record was removed"})
    # 3. the Temporal history (source of truth): recompute the expected hashes from it
    if source is not None:
        checked.append(source.origin)
        db = {r.seq: r for r in rows}
        prev = chain.GENESIS
        for rec in source.records:
            e = rec.entry
            want = chain.link(prev, chain.canonical(case_id, e.seq, e.at, e.actor, e.role, e.department,
                                                    e.action, e.comment, e.model_dump(mode="json")["data"]))
            prev = want
            r = db.get(e.seq)
            if r is None:
                if rec.completed:
                    findings.append({"seq": e.seq, "reason": "missing",
                                     "detail": f"record {e.seq} is in the {source.origin} history but not in "
                                               "the read model", "action": e.action})
                    break
                continue
            if r.hash != want:
                findings.append({"seq": e.seq, "reason": "differs_from_history",
                                 "detail": f"the record differs from what the {source.origin} history says"})
                break
    # 4. the signed daily chain heads that sealed this case's chain
    if heads_dir is not None:
        sealed = _sealed_tips(session, heads_dir, case_id)
        if sealed:
            checked.append("chain_heads")
        db = {r.seq: r for r in rows}
        last = 0
        for day, seq, h, problem in sealed:
            if problem:
                findings.append({"seq": last + 1, "reason": "chain_head_invalid", "day": day.isoformat(),
                                 "detail": problem})
                break
            r = db.get(seq)
            if r is None or r.hash != h:
                findings.append({"seq": last + 1, "reason": "differs_from_chain_head", "day": day.isoformat(),
                                 "detail": f"the records up to {seq} differ from those sealed on {day} "
                                           f"(altered at or after record {last + 1})"})
                break
            last = seq
    # the chain and the history name the exact record; a chain head only bounds it from below
    exact = [f for f in findings if f["reason"] not in ("differs_from_chain_head", "chain_head_invalid")]
    first = min(exact or findings, key=lambda f: f["seq"]) if findings else None
    first_altered = None
    if first is not None:
        r = next((x for x in rows if x.seq == first["seq"]), None)
        rec = next((x.entry for x in (source.records if source else []) if x.entry.seq == first["seq"]), None)
        at = r.at if r is not None else (rec.at if rec is not None else None)
        first_altered = {"seq": first["seq"], "at": iso_at(at) if at else None,
                         "action": r.action if r is not None else (rec.action if rec is not None else None)}
    return {"verified": not findings, "records": len(rows), "first_altered": first_altered,
            "reason": first["reason"] if first else None, "findings": findings, "checked": checked}


async def verify_case_full(client: Client | None, session_factory: Callable[[], Session], case_id: str,
                           data_dir: Path | None) -> dict[str, Any]:
    """verify_case with the Temporal (or archived) history fetched and the chain heads of data_dir."""
    source = await load_source(client, session_factory, case_id)
    heads = data_dir / HEADS_DIR if data_dir is not None else None
    with session_factory() as session:
        return verify_case(session, case_id, source, heads)


# =====================================================================================================
# Daily chain heads
# =====================================================================================================
def system_signer(data_dir: Path) -> Sm2Signer:
    return _signer(str((Path(data_dir) / SYSTEM_KEY_FILE).resolve()))


@cache
def _signer(path: str) -> Sm2Signer:
    return load_or_create_signer(Path(path))


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)  # the columns store aware times (in UTC)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return _utc(start_of(day)), _utc(end_of(day))


def day_tips(session: Session, day: date) -> tuple[dict[str, tuple[int, str]], int]:
    """The tip (last seq and hash) of each case's chain among the records of `day` (China time),
    and how many records that day holds."""
    lo, hi = _day_bounds(day)
    rows = session.exec(select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.hash)
                        .where(CaseEvent.at >= lo, CaseEvent.at < hi)
                        .order_by(col(CaseEvent.case_id), col(CaseEvent.seq))).all()
    tips: dict[str, tuple[int, str]] = {}
    for cid, seq, h in rows:
        tips[cid] = (seq, h)
    return tips, len(rows)


def head_of(prev_head: str, day: date, tips: dict[str, tuple[int, str]]) -> str:
    """SM3 over the previous day's head, the day, and every case's tip that day (sorted by case)."""
    body = f"{prev_head}\n{day.isoformat()}\n" + "".join(f"{cid}\t{seq}\t{h}\n" for cid, (seq, h) in sorted(tips.items()))
    return sm3_hex(body.encode())


def signed_bytes(day: date, records: int, head: str) -> bytes:
    """What the system key signs for a day."""
    return f"{HEAD_SIGNING_LABEL}\n{day.isoformat()}\n{records}\n{head}\n".encode()


def _prev_head(session: Session, day: date) -> str:
    prev = session.exec(select(ChainHead).where(ChainHead.day < day).order_by(col(ChainHead.day).desc())
                        .limit(1)).first()
    return prev.head if prev else chain.GENESIS


def seal_day(session_factory: Callable[[], Session], data_dir: Path, day: date) -> ChainHead:
    """Seal `day`: compute and sign its head, store it (replacing an earlier seal of that day) and
    write the tips it covers to data_dir/chain-heads/{day}.json."""
    signer = system_signer(data_dir)
    with session_factory() as session:
        tips, records = day_tips(session, day)
        prev = _prev_head(session, day)
        head = head_of(prev, day, tips)
        signature = signer.sign(signed_bytes(day, records, head))
        row = session.get(ChainHead, day) or ChainHead(day=day, head="", records=0, signature="", public_key="",
                                                       created_at=datetime.now(UTC))
        row.head, row.records, row.signature, row.public_key = head, records, signature, signer.public_key_hex
        row.created_at = datetime.now(UTC)
        session.add(row)
        out = Path(data_dir) / HEADS_DIR
        out.mkdir(parents=True, exist_ok=True)
        doc = {"day": day.isoformat(), "prev_head": prev, "head": head, "records": records,
               "tips": {cid: {"seq": s, "hash": h} for cid, (s, h) in sorted(tips.items())},
               "signature": signature, "public_key": signer.public_key_hex, "algorithm": "SM3/SM2",
               "signed": signed_bytes(day, records, head).decode()}
        tmp = out / f".{day.isoformat()}.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(out / f"{day.isoformat()}.json")
        session.commit()
        session.refresh(row)
        return row


def seal_due(session_factory: Callable[[], Session], data_dir: Path, now: datetime | None = None,
             grace: timedelta = timedelta(hours=1)) -> list[date]:
    """Seal every day that has records, has ended (plus `grace`, for records still in flight at
    midnight) and is not sealed yet, in order. Returns the days sealed."""
    now = now or datetime.now(UTC)
    last_open = china_date(now - grace)  # days before this one are over
    sealed: list[date] = []
    with session_factory() as session:
        last = session.exec(select(func.max(ChainHead.day))).one()
    cursor = start_of(last + timedelta(days=1)) if last else None
    while True:
        with session_factory() as session:
            stmt = select(func.min(CaseEvent.at))
            if cursor is not None:
                stmt = stmt.where(CaseEvent.at >= _utc(cursor))
            first = session.exec(stmt).one()
        if first is None:
            break
        day = china_date(_aware(first))
        if day >= last_open:
            break
        seal_day(session_factory, data_dir, day)
        sealed.append(day)
        cursor = end_of(day)
    return sealed


def verify_heads(session_factory: Callable[[], Session], data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Check every sealed day: its signature, its link to the day before, and that the read model
    still yields the same head. One result per day, oldest first."""
    out = []
    with session_factory() as session:
        heads = session.exec(select(ChainHead).order_by(col(ChainHead.day))).all()
        prev = chain.GENESIS
        for h in heads:
            problems = []
            if not sm2_verify(h.public_key, signed_bytes(h.day, h.records, h.head), h.signature):
                problems.append("the signature does not verify")
            if data_dir is not None and h.public_key != system_signer(data_dir).public_key_hex:
                problems.append("signed by a key that is not the system key")
            tips, records = day_tips(session, h.day)
            if head_of(prev, h.day, tips) != h.head or records != h.records:
                problems.append(f"the read model no longer yields this head ({records} records now, "
                                f"{h.records} sealed)")
            out.append({"day": h.day.isoformat(), "verified": not problems, "records": h.records,
                        "head": h.head, "problems": problems})
            prev = h.head
    return out


def _sealed_tips(session: Session, heads_dir: Path, case_id: str) -> list[tuple[date, int, str, str | None]]:
    """(day, seq, hash, problem) for every sealed day whose tips include the case, oldest first.
    The tips file is trusted only if it reproduces the signed head stored for that day."""
    if not heads_dir.exists():
        return []
    heads = {h.day: h for h in session.exec(select(ChainHead)).all()}
    out = []
    for path in sorted(heads_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            day = date.fromisoformat(doc["day"])
        except (ValueError, KeyError, OSError):
            continue
        tip = doc.get("tips", {}).get(case_id)
        if tip is None:
            continue
        problem = None
        h = heads.get(day)
        tips = {cid: (t["seq"], t["hash"]) for cid, t in doc["tips"].items()}
        if h is None:
            problem = f"the chain head of {day} is missing from the database"
        elif head_of(doc["prev_head"], day, tips) != h.head:
            problem = f"the sealed tips of {day} do not reproduce its head"
        elif not sm2_verify(h.public_key, signed_bytes(day, h.records, h.head), h.signature):
            problem = f"the chain head of {day} has an invalid signature"
        out.append((day, int(tip["seq"]), tip["hash"], problem))
    return out


async def seal_forever(session_factory: Callable[[], Session], data_dir: Path, every: float = 3600) -> None:
    """Seal finished days as they end (run beside the worker)."""
    while True:
        try:
            days = await asyncio.to_thread(seal_due, session_factory, data_dir)
            if days:
                log.info("sealed chain heads: %s", ", ".join(d.isoformat() for d in days))
        except Exception:  # keep sealing later; never take the worker down
            log.exception("sealing chain heads failed")
        await asyncio.sleep(every)


__all__ = [
    "CaseSource",
    "ReplayReport",
    "archived_histories",
    "entry_json",
    "fetch_history",
    "load_source",
    "log_read",
    "read_history",
    "replay_case",
    "replay_history",
    "replay_many",
    "seal_day",
    "seal_due",
    "seal_forever",
    "system_signer",
    "timeline",
    "verify_case",
    "verify_case_full",
    "verify_heads",
]
