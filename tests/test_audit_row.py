"""Audit beyond the records: the read model's case row compared with the state the workflow last
recorded (`snapshot_differs`), and the archive package checked by `banjian audit verify` as the
download checks it (`archive_altered`). Tampering happens in each test's own read model (a copy of
one case's rows), never in the stack's shared one."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from typer.testing import CliRunner

from banjian import audit
from banjian.archive_queue import ArchiveQueueEntry
from banjian.audit.snapshot import comparable, needs_replay, settle_replayed, snapshot_discrepancy
from banjian.case_row import row_columns
from banjian.codec import decode_history
from banjian.db import Archive, Case, CaseEvent, make_engine, session_factory
from banjian.licence_store import DepartmentKey, Licence
from services.cli import app as cli_app
from services.recorded_state import record_calls
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS
from tests.histories.record import approved_electronic

HISTORIES = Path(__file__).parent / "histories"


def own_read_model(stack, case_id: str, data_dir: Path) -> Engine:
    """A read model of the test's own in `data_dir`, holding a copy of one case's row and records (and the
    e-licence it issued)."""
    data_dir.mkdir()
    engine = make_engine(f"sqlite:///{data_dir / 'banjian.db'}")
    SQLModel.metadata.create_all(engine)
    with stack.sessions() as src, Session(engine) as dst:
        dst.add(Case.model_validate(src.get(Case, case_id).model_dump()))
        for e in src.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))):
            dst.add(CaseEvent.model_validate(e.model_dump()))
        arc = src.get(Archive, case_id)  # a closed case's package, or its place in the archive queue
        queued = src.get(ArchiveQueueEntry, case_id)
        if arc is not None:
            dst.add(Archive.model_validate(arc.model_dump()))
        elif queued is not None:
            dst.add(ArchiveQueueEntry.model_validate(queued.model_dump()))
        lic = src.exec(select(Licence).where(Licence.case_id == case_id)).first()
        if lic is not None:  # the licence the case issued, with its issuer's key (verify checks it too)
            dst.add(Licence.model_validate(lic.model_dump()))
            dst.add(DepartmentKey.model_validate(src.get(DepartmentKey, lic.department).model_dump()))
        dst.commit()
    return engine


async def verify(stack, data_dir: Path, *args: str):
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    return await asyncio.to_thread(CliRunner().invoke, cli_app, ["audit", "verify", *args, "--data-dir", str(data_dir)],
                                   env=env)


def history(name: str) -> WorkflowHistory:
    path = HISTORIES / name
    return decode_history(WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8")),
                          TEST_CONVERTER.payload_codec)


def row_of(src: audit.CaseSource) -> Case:
    """The case row the record activity wrote from the state last recorded."""
    assert src.recorded_state is not None
    return Case(id=src.case_id, snapshot=src.recorded_state.model_dump(mode="json"),
                rev=max(r.entry.seq for r in src.records), **row_columns(src.recorded_state))


# ---- the case row -----------------------------------------------------------------------------------------
async def test_an_edited_case_row_fails_verify_and_shows_in_the_timeline(stack, tmp_path):
    case = await approved_electronic(stack)
    cid = case["id"]
    data_dir = tmp_path / "data"
    engine = own_read_model(stack, cid, data_dir)
    sessions = session_factory(engine)
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 0, r.output
    assert "snapshot" in json.loads(r.output)["checked"]
    assert (await audit.timeline(stack.client, sessions, cid, replayer=record_calls))["discrepancies"] == []

    # someone with database access changes a form value the case page shows
    with Session(engine) as s:
        row = s.get(Case, cid)
        area = row.snapshot["form"]["business_area"]
        row.snapshot = {**row.snapshot, "form": {**row.snapshot["form"], "business_area": 9999}}
        s.add(row)
        s.commit()
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["verified"] is False and out["reason"] == "snapshot_differs" and out["first_altered"] is None
    [finding] = out["findings"]  # the records themselves are untouched
    assert finding["fields"] == ["form.business_area"]
    assert finding["temporal"] == {"form.business_area": area} and finding["read_model"] == {"form.business_area": 9999}
    r = await verify(stack, data_dir, cid)
    assert r.exit_code == 1 and f"FAIL  {cid}: snapshot_differs" in r.output and "form.business_area" in r.output

    t = await audit.timeline(stack.client, sessions, cid, replayer=record_calls)
    [d] = t["discrepancies"]
    assert d["kind"] == "snapshot_differs" and d["fields"] == ["form.business_area"] and d["case_id"] == cid
    # a lean case's history keeps no record input: without replaying it the row cannot be checked
    src = await audit.load_source(stack.client, sessions, cid)
    assert src is not None and needs_replay(src)
    assert (await audit.timeline(stack.client, sessions, cid))["discrepancies"] == []


async def test_an_edited_column_that_lists_read_fails_verify_though_the_snapshot_is_intact(stack, tmp_path):
    """Inboxes, searches and the figures' periods read the plain columns, not the snapshot."""
    case = await approved_electronic(stack)
    cid = case["id"]
    data_dir = tmp_path / "data"
    engine = own_read_model(stack, cid, data_dir)
    assert (await verify(stack, data_dir, cid, "--json")).exit_code == 0
    with Session(engine) as s:
        row = s.get(Case, cid)
        name, status = row.applicant_name, row.status
        row.applicant_name, row.status = "李四", "refused"
        s.add(row)
        s.commit()
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["reason"] == "snapshot_differs" and out["first_altered"] is None
    [finding] = out["findings"]
    assert finding["fields"] == ["row.applicant_name", "row.status"]
    assert finding["temporal"] == {"row.applicant_name": name, "row.status": status}
    assert finding["read_model"] == {"row.applicant_name": "李四", "row.status": "refused"}
    t = await audit.timeline(stack.client, session_factory(engine), cid, replayer=record_calls)
    assert [d["fields"] for d in t["discrepancies"] if d["kind"] == "snapshot_differs"] == \
        [["row.applicant_name", "row.status"]]
    assert {d["kind"] for d in t["discrepancies"]} == {"snapshot_differs", "status_differs"}
    # a moved submission time (the figures count a case in the period of its submission) is found too
    with Session(engine) as s:
        row = s.get(Case, cid)
        row.applicant_name, row.status = name, status
        row.submitted_at = row.submitted_at.replace(year=row.submitted_at.year - 1)
        s.add(row)
        s.commit()
    out = json.loads((await verify(stack, data_dir, cid, "--json")).output)
    assert out["findings"][0]["fields"] == ["row.submitted_at"]


def test_an_older_case_is_checked_against_its_record_case_input():
    src = audit.read_history("rated", history("rated.json"))  # recorded by `record_case` activities
    assert not needs_replay(src) and src.recorded_state is not None and src.recorded_state.status.value == "concluded"
    row = row_of(src)
    assert snapshot_discrepancy("rated", src, row) is None
    row.snapshot = {**row.snapshot, "status": "refused", "applicant": {**row.snapshot["applicant"], "name": "张三"}}
    d = snapshot_discrepancy("rated", src, row)
    assert d is not None and d["fields"] == ["applicant.name", "status"]
    assert d["temporal"]["status"] == "concluded" and d["read_model"]["status"] == "refused"


async def test_a_lean_case_is_checked_against_its_replayed_record_call():
    src = audit.read_history("v7.rated", history("v7.rated.json"))
    assert needs_replay(src)
    settle_replayed(src, await record_calls("v7.rated", src.history))
    assert src.recorded_state is not None and not src.record_pending
    # the row holds the deadlines the last `record_transition` planned, where it planned any
    planned = next((t.deadlines for t in reversed(src.transitions) if t.deadlines is not None), None)
    assert planned is not None
    row = row_of(src)
    assert snapshot_discrepancy("v7.rated", src, row) is None
    row.snapshot = {**row.snapshot, "result": None}
    assert snapshot_discrepancy("v7.rated", src, row)["fields"] == ["result"]


async def test_no_comparison_while_the_row_may_be_ahead_of_the_history():
    full = history("v7.rated.json")
    events = list(full.events)
    # the history up to the start of the workflow task whose record the last marker keeps
    last = max(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED)
    start = max(i for i in range(last) if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    src = audit.read_history("v7.rated", WorkflowHistory(full.workflow_id, events[:start + 1]))
    settle_replayed(src, await record_calls("v7.rated", src.history))
    assert src.recorded_state is not None and src.task_in_flight
    done = audit.read_history("v7.rated", full)
    settle_replayed(done, await record_calls("v7.rated", full))
    ahead = row_of(done)  # the read model already holds what the task in flight wrote
    assert not comparable(src, ahead) and snapshot_discrepancy("v7.rated", src, ahead) is None
    src.task_in_flight = False  # an update's task is in no history before it completes: the rev tells
    assert ahead.rev > max(r.entry.seq for r in src.records) and not comparable(src, ahead)


# ---- the archive package ------------------------------------------------------------------------------------
async def test_verify_checks_the_archive_package(stack, tmp_path):
    case = await approved_electronic(stack)
    cid = case["id"]
    data_dir = tmp_path / "data"
    engine = own_read_model(stack, cid, data_dir)
    package = (await stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor").get(f"/api/cases/{cid}/archive")).content
    path = data_dir / "archive" / f"{cid}.zip"
    path.parent.mkdir()
    path.write_bytes(package)
    with stack.sessions() as s, Session(engine) as dst:
        dst.merge(Archive.model_validate({**s.get(Archive, cid).model_dump(), "path": str(path)}))
        dst.commit()
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 0, r.output
    assert "archive_package" in json.loads(r.output)["checked"]

    path.write_bytes(package[:-1] + bytes([package[-1] ^ 1]))  # one bit of the ZIP flipped
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["verified"] is False and out["reason"] == "archive_altered" and out["first_altered"] is None
    assert [f["reason"] for f in out["findings"]] == ["archive_altered"]
    path.unlink()  # gone altogether
    r = await verify(stack, data_dir, cid)
    assert r.exit_code == 1 and f"FAIL  {cid}: archive_altered" in r.output


def test_the_audit_page_says_what_failed_beside_the_records():
    from api.routes.pages.oversight import _plain_verify

    row = {"verified": False, "first_altered": None, "findings": [{"seq": None, "reason": "snapshot_differs"}]}
    assert "办件数据" in _plain_verify(row) and "条记录" not in _plain_verify(row)
    both = {"verified": False, "first_altered": {"seq": 3, "action": "pass"},
            "findings": [{"seq": 3, "reason": "content_altered"}, {"seq": None, "reason": "archive_altered"}]}
    assert "第 3 条记录（通过）" in _plain_verify(both) and "归档文件" in _plain_verify(both)


async def test_a_closed_case_whose_archive_row_was_deleted_is_reported(stack, tmp_path):
    """A closed case has its package or its place in the archive queue; with neither, the `archives`
    row was deleted (with its file, or not): once told apart from "never archived" by nothing."""
    case = await approved_electronic(stack)
    cid = case["id"]
    await stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor").get(f"/api/cases/{cid}/archive")  # built now
    data_dir = tmp_path / "data"
    engine = own_read_model(stack, cid, data_dir)
    with Session(engine) as s:
        assert s.get(Archive, cid) is not None
        s.delete(s.get(Archive, cid))
        s.commit()
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert [(f["reason"], f.get("problem")) for f in out["findings"]] == [("archive_altered", "record_missing")]
    with Session(engine) as s:  # still waiting in the queue: nothing to report
        s.add(ArchiveQueueEntry(case_id=cid, enqueued_at=datetime.now(UTC)))
        s.commit()
    r = await verify(stack, data_dir, cid, "--json")
    assert r.exit_code == 0, r.output


async def test_verify_without_temporal_says_what_it_could_not_check_and_exits_2(stack, tmp_path):
    """An open case (no archive package) verified while Temporal is not reachable: its chain is checked,
    its history and row are not, and the command says so instead of `ok` (exit status 2, not 0)."""
    applicant = stack.applicant()
    r = await applicant.apply("food-business-licence")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    data_dir = tmp_path / "data"
    own_read_model(stack, cid, data_dir)
    env = {"BANJIAN_TEMPORAL_ADDRESS": "127.0.0.1:9", "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    run = partial(CliRunner().invoke, cli_app, env=env)
    out = await asyncio.to_thread(run, ["audit", "verify", cid, "--data-dir", str(data_dir)])
    assert out.exit_code == 2, out.output
    assert f"part  {cid}" in out.output and "NOT checked: history, snapshot" in out.output, out.output
    assert f"ok    {cid}" not in out.output and "0 verified, 1 verified only in part, 0 failed" in out.output
    assert "cannot reach Temporal at 127.0.0.1:9" in out.output  # the note, on stderr
    js = await asyncio.to_thread(run, ["audit", "verify", cid, "--json", "--data-dir", str(data_dir)])
    assert js.exit_code == 2, js.output
    line = json.loads(next(x for x in js.output.splitlines() if x.startswith("{")))
    assert line["verified"] is True and line["not_checked"] == ["history", "snapshot"] and line["checked"] == ["chain"]
    # with Temporal the same case is verified in full
    full = await verify(stack, data_dir, cid)
    assert full.exit_code == 0 and f"ok    {cid}" in full.output and "1 verified, 0 verified only in part" in full.output
