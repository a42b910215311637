"""The read model on both stores (SQLite and PostgreSQL): the case row, its hash-chained history,
its task and its warnings; and `record_case` is safe to retry."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from banjian import chain
from banjian.activity_contracts import RecordRequest
from banjian.contracts import CaseState, HistoryEntry
from banjian.db import Case, CaseEvent, CaseWarning, Task

ITEM = "food-business-licence"
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request):
    """The session's stack on SQLite, then on PostgreSQL (resolved outside the test's event loop)."""
    return request.getfixturevalue(request.param)


def events_of(stack, case_id: str) -> list[CaseEvent]:
    with stack.sessions() as session:
        return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(col(CaseEvent.seq))).all())


def assert_chain(events: list[CaseEvent]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == chain.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for e in events:
        assert len(e.hash) == 64
        assert chain.record_hash(e.prev_hash, e) == e.hash, f"record {e.seq} ({e.action}) does not hash back"
    assert chain.first_altered(events) is None
    assert len({e.hash for e in events}) == len(events)


async def test_basic_path_writes_the_read_model(store):
    stack = store
    applicant = stack.applicant()
    staff = {role: stack.staff("amr", role) for role in ("clerk", "handler", "approver")}
    r = await applicant.apply(ITEM)
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]

    with stack.sessions() as session:
        row = session.get(Case, cid)
        assert row is not None
        assert (row.status, row.item_code, row.item_version, row.department, row.channel, row.kind) == (
            "submitted", ITEM, stack.app.state.catalog.current(ITEM).version, "amr", "web", "single")
        assert row.applicant_username == applicant.username
        assert row.applicant_id_number == case["applicant"]["id_number"]
        assert row.item_name == "食品经营许可"
        assert row.rev == 1
        assert row.acceptance_due is not None and row.acceptance_due.isoformat() == case["deadlines"]["acceptance_due"]
        assert row.snapshot["status"] == "submitted" and row.snapshot["id"] == cid
        task = session.get(Task, cid)
        assert task is not None
        assert (task.department, task.roles, task.status, task.step_id, task.claimed_by) == (
            "amr", ["clerk"], "submitted", None, None)
        assert task.due == row.acceptance_due

    # no decision within five working days: deemed acceptance and a red card
    case = await stack.advance(cid, 10)
    assert case["status"] == "accepted"
    with stack.sessions() as session:
        row = session.get(Case, cid)
        assert row.status == "accepted" and row.warning == "red" and row.accepted_at is not None
        warnings = session.exec(select(CaseWarning).where(CaseWarning.case_id == cid)).all()
        assert [(w.cause, w.level, w.department, w.item_code) for w in warnings] == [
            ("acceptance_overdue", "red", "amr", ITEM)]
        task = session.get(Task, cid)
        assert (task.roles, task.step_id, task.step_role, task.warning) == (["handler"], "review", "handler", "red")
        assert task.due is not None and task.due.isoformat() == case["deadlines"]["step_due"]

    while case["current_step"]["kind"] == "review":
        case = await staff[case["current_step"]["role"]].ok(cid, "pass", "同意")
    case = await staff["approver"].ok(cid, "approve", "准予许可")
    with stack.sessions() as session:
        assert session.get(Task, cid).roles == ["clerk"]  # the result waits for delivery
    case = await staff["clerk"].ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"

    events = events_of(stack, cid)
    assert_chain(events)
    assert [e.action for e in events] == [h["action"] for h in case["history"]]
    assert [e.action for e in events][:3] == ["submitted", "deemed_acceptance", "warning"]
    assert [e.action for e in events][-3:] == ["approve", "licence_issued", "deliver"]  # the e-licence
    assert events[-1].actor == staff["clerk"].username and events[-1].role == "clerk"
    assert events[-1].data["method"] == "electronic"
    approve = next(e for e in events if e.action == "approve")
    assert approve.comment == "准予许可" and approve.department == "amr"
    history = (await staff["clerk"].get(f"/api/cases/{cid}/history")).json()
    assert [h["seq"] for h in history] == [e.seq for e in events]

    with stack.sessions() as session:
        row = session.get(Case, cid)
        assert row.status == "concluded" and row.concluded_at is not None and row.decided_at is not None
        assert row.rev == len(events)
        assert row.snapshot["status"] == "concluded"
        assert row.snapshot["result"]["decision"] == "approved"
        assert session.get(Task, cid) is None  # concluded: in no inbox
        assert len(session.exec(select(CaseWarning).where(CaseWarning.case_id == cid)).all()) == 1

    # altering a stored record breaks the chain from that record on
    with stack.sessions() as session:
        victim = session.exec(select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.action == "approve")).one()
        victim.comment = "不予许可"
        session.add(victim)
        session.commit()
    altered = chain.first_altered(events_of(stack, cid))
    assert altered is not None and altered.action == "approve"
    with stack.sessions() as session:  # put it back: the stack is shared with other files' audits
        victim = session.get(CaseEvent, victim.id)
        victim.comment = "准予许可"
        session.add(victim)
        session.commit()
    assert chain.first_altered(events_of(stack, cid)) is None


def record_request(stack, case_id: str, n_events: int, status: str = "submitted") -> RecordRequest:
    """A synthetic transition of a made-up case (no workflow behind it)."""
    with stack.sessions() as session:
        template = session.exec(select(Case).where(Case.item_code == ITEM, Case.item_version == stack.app.state.catalog.current(ITEM).version)).first()
        assert template is not None
        snapshot = dict(template.snapshot)
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    state = CaseState.model_validate({**snapshot, "id": case_id, "case_no": None, "history": [], "status": status, "warnings": [],
                                     "claimed_by": None, "parent_id": None, "kind": "single",
                                     "step_index": None, "current_step": None, "submitted_at": at,
                                     "received_at": at, "accepted_at": None, "decided_at": None,
                                     "concluded_at": None, "clock_at": at + timedelta(minutes=n_events)})
    assert state.status.value == status
    events = [HistoryEntry(seq=i, at=at + timedelta(minutes=i), actor="someone", role="applicant",
                           action="submitted" if i == 1 else "urge", comment=f"第{i}条", data={"n": i})
              for i in range(1, n_events + 1)]
    return RecordRequest(state=state, events=events, item_definition_version=1)


async def test_record_case_is_idempotent(store):
    stack = store
    applicant = stack.applicant()
    assert (await applicant.apply(ITEM)).status_code == 201  # a template state exists
    case_id = f"rm{uuid.uuid4().hex[:12]}"
    try:
        await check_record_case(stack, case_id)
    finally:  # the made-up case has no workflow: leave nothing for other files' audits to trip on
        with stack.sessions() as session:
            for table in (CaseEvent, CaseWarning, Task, Case):
                for row in session.exec(select(table).where(table.case_id == case_id if table is not Case
                                                            else Case.id == case_id)).all():
                    session.delete(row)
            session.commit()


async def check_record_case(stack, case_id: str) -> None:
    acts = RecordActivities(stack.sessions, stack.app.state.catalog.effective)
    env = ActivityEnvironment()
    req = record_request(stack, case_id, 3)

    assert env.run(acts.record_case, req) == 3
    first = events_of(stack, case_id)
    with stack.sessions() as session:
        rev1 = session.get(Case, case_id).rev
    assert rev1 == 3

    # the same request again (an activity retry): nothing twice, same rev and hashes
    assert env.run(acts.record_case, req) == 3
    again = events_of(stack, case_id)
    assert [(e.seq, e.hash, e.prev_hash) for e in again] == [(e.seq, e.hash, e.prev_hash) for e in first]
    assert len(again) == 3
    assert_chain(again)
    with stack.sessions() as session:
        assert session.get(Case, case_id).rev == rev1
        assert len(session.exec(select(Task).where(Task.case_id == case_id)).all()) == 1

    # a stale retry (older rev) does not move the row back
    newer = record_request(stack, case_id, 4, status="withdrawn")
    assert env.run(acts.record_case, newer) == 4
    stale = record_request(stack, case_id, 2, status="submitted")
    assert env.run(acts.record_case, stale) == 4
    with stack.sessions() as session:
        row = session.get(Case, case_id)
        assert row.rev == 4 and row.status == "withdrawn"
        assert session.get(Task, case_id) is None  # nor does it put a closed case back in an inbox
    events = events_of(stack, case_id)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert_chain(events)
    assert [e.hash for e in events[:3]] == [e.hash for e in first]
