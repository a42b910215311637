"""Audit: the history from Temporal (checked against the read model), replay against the current
workflow code (recorded fixtures, a harmless and an incompatible change), tamper evidence (hash
chain, signed daily chain heads), the archive package, and auditors' read-only, logged access."""
from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select
from temporalio.client import WorkflowHistory
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.archive import ArchiveActivities
from banjian import audit, chain
from banjian.archive_queue import ArchiveQueueEntry
from banjian.crypto import sm2_verify, sm3_hex
from banjian.db import Archive, AuditRead, Case, CaseEvent, ChainHead, make_engine, session_factory
from banjian.licence_store import DepartmentKey, Licence
from banjian.timefmt import CHINA, start_of
from services import replay
from services.cli import app as cli_app
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS
from tests.histories.record import (
    approved_electronic,
    deemed_acceptance,
    joint_construction_permit,
    supplement_then_refused,
)
from tests.workflow_variants import (
    ArchiveOnConclusion,
    ArchiveOnConclusionUnguarded,
    HarmlessChange,
    IncompatibleChange,
)

HISTORIES = Path(__file__).parent / "histories"
FIXTURES = sorted(HISTORIES.glob("*.json"))
ENTRY_KEYS = {"seq", "at", "actor", "role", "department", "action", "comment", "data"}


# ---- helpers -----------------------------------------------------------------------------------------
def auditor(stack, department: str | None = None):
    return stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor", department=department)


def rows(stack, case_id: str) -> list[CaseEvent]:
    with stack.sessions() as s:
        return list(s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))).all())


def sql(stack, statement: str, **params) -> None:
    with stack.engine.begin() as conn:
        conn.execute(text(statement), params)


def fixture_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


async def cli(stack, *args: str):
    """Run the `banjian` command against the stack (in a thread: it runs its own event loop)."""
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_TASK_QUEUE": stack.settings.task_queue,
           "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    return await asyncio.to_thread(CliRunner().invoke, cli_app, [*args, "--data-dir", str(stack.settings.data_dir)],
                                   env=env)


# ---- 1. the timeline -----------------------------------------------------------------------------------
async def test_history_is_built_from_temporal_and_agrees_with_the_read_model(stack):
    case = await deemed_acceptance(stack)
    a = auditor(stack)
    r = await a.get(f"/api/cases/{case['id']}/history")
    assert r.status_code == 200, r.text
    assert r.headers["x-banjian-source"] == "temporal" and r.headers["x-banjian-discrepancies"] == "0"
    history = r.json()
    assert isinstance(history, list) and all(ENTRY_KEYS <= set(h) for h in history)
    actions = [h["action"] for h in history]
    assert actions[:2] == ["submitted", "deemed_acceptance"]
    assert "warning" in actions and actions[-2:] == ["deny", "deliver"]
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    # human actions carry who, role, department, time, opinion and data
    deny = next(h for h in history if h["action"] == "deny")
    assert deny["role"] == "approver" and deny["department"] == "amr" and deny["comment"] == "经现场核查不符合条件"
    assert deny["at"].endswith("+08:00")
    red = next(h for h in history if h["action"] == "warning" and h["data"]["cause"] == "acceptance_overdue")
    assert red["actor"] == "system" and red["data"]["level"] == "red"
    # it agrees with the read model entry for entry
    assert [(h["seq"], h["action"], h["comment"]) for h in history] == \
        [(e.seq, e.action, e.comment) for e in rows(stack, case["id"])]
    assert [{k: h[k] for k in ENTRY_KEYS} for h in history] == case["history"]

    t = (await a.get(f"/api/cases/{case['id']}/timeline")).json()
    assert t["source"] == "temporal" and t["discrepancies"] == [] and t["pending"] == []
    assert t["item_code"] == "food-business-licence" and t["item_version"] == case["item_version"]
    assert t["entries"] == history
    kinds = {e["kind"] for e in t["temporal_events"]}
    assert "timer_fired" in kinds  # the deemed-acceptance and warning timers, from Temporal itself
    assert (await a.get(f"/api/cases/{case['id']}/history", params={"format": "timeline"})).json()["entries"] == history


async def test_joint_case_history_interleaves_its_sub_cases(stack):
    applicant = stack.applicant(organisation=True)
    case = await joint_construction_permit(stack, applicant)
    t = (await auditor(stack).get(f"/api/cases/{case['id']}/timeline")).json()
    subs = [s["id"] for s in case["sub_cases"]]
    assert sorted(t["sub_cases"]) == sorted(subs) and t["discrepancies"] == [], t["discrepancies"]
    entries = t["entries"]
    assert {e["case_id"] for e in entries} == {case["id"], *subs}
    ats = [datetime.fromisoformat(e["at"]) for e in entries]
    assert ats == sorted(ats)  # one ordered record
    parent = [e for e in entries if e["case_id"] == case["id"]]
    assert [e["seq"] for e in parent] == list(range(1, len(parent) + 1))
    first_sub = next(i for i, e in enumerate(entries) if e["case_id"] != case["id"])
    assert first_sub < len(entries) - 1 and entries[-1]["case_id"] == case["id"]  # interleaved, not appended
    assert entries[-1]["action"] == "deliver"
    assert any(e["kind"] == "sub_case_workflow_started" for e in t["temporal_events"])
    # the lead unit reads every sub-case of its joint case; the applicant the joint case alone
    lead = (await stack.staff("hcd", "clerk").get(f"/api/cases/{case['id']}/history")).json()
    assert lead == entries
    mine = (await applicant.get(f"/api/cases/{case['id']}/history")).json()
    assert mine == parent


async def test_disagreement_with_the_read_model_is_reported_not_hidden(stack):
    case = await approved_electronic(stack)
    cid = case["id"]
    sql(stack, "UPDATE case_events SET comment = :c WHERE case_id = :id AND seq = 2", c="篡改后的意见", id=cid)
    sql(stack, "DELETE FROM case_events WHERE case_id = :id AND seq = 4", id=cid)
    a = auditor(stack)
    r = await a.get(f"/api/cases/{cid}/history")
    assert r.headers["x-banjian-discrepancies"] == "2"
    assert r.json()[1]["comment"] == "材料齐全，予以受理"  # what the workflow recorded
    d = {x["seq"]: x for x in (await a.get(f"/api/cases/{cid}/timeline")).json()["discrepancies"]}
    assert d[2]["kind"] == "differs" and d[2]["fields"] == ["comment"]
    assert d[2]["temporal"] == {"comment": "材料齐全，予以受理"} and d[2]["read_model"] == {"comment": "篡改后的意见"}
    assert d[4]["kind"] == "missing_in_read_model" and d[4]["action"] == "pass"


# ---- 2. replay -----------------------------------------------------------------------------------------
def test_fixtures_are_recorded():
    names = {p.stem.split(".")[0] for p in FIXTURES}
    assert {"approved_electronic", "deemed_acceptance", "joint_construction_permit", "rated",
            "supplement_then_refused"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
async def test_recorded_history_replays_against_the_current_code(path):
    # the converter of the running system (SM4 codec): plain histories recorded before encryption
    # replay through it unchanged, the enc.* ones are decrypted by it
    report = await replay.replay_history(path.stem, fixture_history(path), converter=TEST_CONVERTER)
    assert report.verified, f"{path.name} no longer replays: {report.error}\n(see docs/workflow-versioning.md)"
    assert report.events > 10 and report.error is None


@pytest.mark.parametrize("name", ["approved_electronic", "deemed_acceptance", "rated", "joint_construction_permit"])
async def test_replay_after_a_harmless_change_passes(name):
    report = await replay.replay_history(name, fixture_history(HISTORIES / f"{name}.json"), [HarmlessChange])
    assert report.verified, report.error


async def test_replay_after_an_incompatible_change_fails_with_a_clear_message():
    history = fixture_history(HISTORIES / "approved_electronic.json")
    report = await replay.replay_history("approved_electronic", history, [IncompatibleChange])
    assert not report.verified and report.events == len(history.events)
    err = report.error
    assert err.startswith("replay failed (nondeterminism): [TMPRL1100] Nondeterminism error"), err
    assert "count_working_days" in err  # what the new code does ...
    where = report.diverged_at
    assert where["workflow_task_completed_event_id"] < 20  # ... at the start of the case
    assert f"event #{where['workflow_task_completed_event_id']}" in err
    assert where["recorded_next"] and "activity_task_scheduled" in where["recorded_next"][0]
    assert where["recorded_next"][0] in err  # ... and what the history has there instead


async def test_archiving_on_conclusion_behind_patched_keeps_old_cases_replaying():
    """The change the case workflow needs for item 4 (archive when a case closes), checked both ways."""
    for path in FIXTURES:
        report = await replay.replay_history(path.stem, fixture_history(path), [ArchiveOnConclusion],
                                            converter=TEST_CONVERTER)
        assert report.verified, f"{path.name}: {report.error}"
    history = fixture_history(HISTORIES / "approved_electronic.json")
    report = await replay.replay_history("approved_electronic", history, [ArchiveOnConclusionUnguarded])
    assert not report.verified and "Nondeterminism error" in report.error, report.error
    # located right after the concluding record, where the history has the update answered instead
    last_record = max(e.event_id for e in history.events
                      if e.activity_task_scheduled_event_attributes.activity_type.name == "record_case")
    assert report.diverged_at["workflow_task_completed_event_id"] > last_record
    assert "update answered" in report.diverged_at["recorded_next"][0]
    still_open = fixture_history(HISTORIES / "special_procedure_extension.json")  # decided, not closed
    assert (await replay.replay_history("open", still_open, [ArchiveOnConclusionUnguarded])).verified


async def test_replay_route_and_its_access(stack):
    applicant = stack.applicant()
    case = await approved_electronic(stack, applicant)
    cid = case["id"]
    r = await auditor(stack).get(f"/api/cases/{cid}/replay")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["events"] > 20 and body["error"] is None
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    assert (await admin.get(f"/api/cases/{cid}/replay")).json()["verified"] is True
    assert (await applicant.get(f"/api/cases/{cid}/replay")).status_code == 403
    assert (await stack.staff("amr", "approver").get(f"/api/cases/{cid}/replay")).status_code == 403
    assert (await auditor(stack, "hcd").get(f"/api/cases/{cid}/replay")).status_code == 404  # not in scope
    assert (await auditor(stack).get("/api/cases/nope/replay")).status_code == 404


async def test_audit_replay_command(stack):
    case = await supplement_then_refused(stack)
    r = await cli(stack, "audit", "replay", case["id"])
    assert r.exit_code == 0, r.output
    assert f"ok    {case['id']}" in r.output and "1 replayed cleanly, 0 failed" in r.output
    for _ in range(2):  # a sample of three cases (other workflows, such as licence expiry, are not cases)
        assert (await stack.applicant().apply("food-business-licence")).status_code == 201
    r = await cli(stack, "audit", "replay", "--all", "--sample", "3", "--json")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert len(lines) == 3 and all(x["verified"] for x in lines), lines
    assert not any(x["case_id"].startswith("licence-") for x in lines)
    assert (await cli(stack, "audit", "replay")).exit_code == 1  # nothing named


# ---- 3. tamper evidence ----------------------------------------------------------------------------------
async def test_verify_names_the_first_altered_record(stack):
    case = await approved_electronic(stack)
    cid = case["id"]
    a = auditor(stack)
    body = (await a.get(f"/api/cases/{cid}/verify")).json()
    assert body == {**body, "verified": True, "records": len(case["history"]), "first_altered": None}
    assert set(body["checked"]) >= {"chain", "temporal"}
    assert (await cli(stack, "audit", "verify", cid)).exit_code == 0

    # someone with database access changes an opinion
    target = rows(stack, cid)[2]
    sql(stack, "UPDATE case_events SET comment = '同意（已改）' WHERE id = :id", id=target.id)
    body = (await a.get(f"/api/cases/{cid}/verify")).json()
    assert body["verified"] is False and body["records"] == len(case["history"])
    assert body["first_altered"] == {"seq": 3, "at": case["history"][2]["at"], "action": "pass"}
    assert body["reason"] == "content_altered"
    r = await cli(stack, "audit", "verify", cid)
    assert r.exit_code == 1 and "first altered record 3 (pass" in r.output, r.output
    applicant_owner = (await stack.staff("amr", "clerk").get(f"/api/cases/{cid}/verify"))
    assert applicant_owner.status_code == 403


async def test_an_alteration_rehashed_to_look_consistent_is_caught_by_the_history(stack):
    case = await approved_electronic(stack)
    cid = case["id"]
    events = rows(stack, cid)
    # the attacker changes record 2 and recomputes every hash after it
    prev = events[0].hash
    with stack.sessions() as s:
        for e in events[1:]:
            e = s.get(CaseEvent, e.id)
            if e.seq == 2:
                e.comment = "不予受理"
            e.prev_hash, e.hash = prev, chain.record_hash(prev, e)
            prev = e.hash
            s.add(e)
        s.commit()
    with stack.sessions() as s:
        assert audit.verify_case(s, cid)["verified"] is True  # the chain alone no longer tells
    body = (await auditor(stack).get(f"/api/cases/{cid}/verify")).json()
    assert body["verified"] is False and body["reason"] == "differs_from_history"
    assert body["first_altered"]["seq"] == 2 and body["first_altered"]["action"] == "accept"


async def test_removed_records_are_caught(stack):
    case = await approved_electronic(stack)
    cid = case["id"]
    n = len(case["history"])
    sql(stack, "DELETE FROM case_events WHERE case_id = :id AND seq = :n", id=cid, n=n)
    with stack.sessions() as s:
        local = audit.verify_case(s, cid)  # without Temporal: the case row knows how many there were
    assert local["verified"] is False and local["reason"] == "missing" and local["first_altered"]["seq"] == n
    body = (await auditor(stack).get(f"/api/cases/{cid}/verify")).json()
    assert body["first_altered"] == {"seq": n, "at": case["history"][-1]["at"], "action": "deliver"}


def _fresh_db(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'heads.db'}")
    SQLModel.metadata.create_all(engine)
    return engine, session_factory(engine)


def _add_records(sessions, case_id: str, times: list[datetime]) -> None:
    with sessions() as s:
        prev, n = chain.GENESIS, 0
        last = s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq).desc())).first()
        if last:
            prev, n = last.hash, last.seq
        for i, at in enumerate(times, start=n + 1):
            e = CaseEvent(case_id=case_id, seq=i, at=at, actor="u", role="clerk", department="amr",
                          action=f"a{i}", comment=f"意见{i}", data={"i": i}, prev_hash=prev, hash="")
            e.hash = chain.record_hash(prev, e)
            prev = e.hash
            s.add(e)
        s.commit()


def test_daily_chain_heads_are_sealed_signed_and_checked(tmp_path):
    engine, sessions = _fresh_db(tmp_path)
    d1, d2 = date(2030, 3, 4), date(2030, 3, 5)
    t1, t2 = start_of(d1) + timedelta(hours=9), start_of(d2) + timedelta(hours=10)
    _add_records(sessions, "A", [t1, t1 + timedelta(minutes=5), t2])
    _add_records(sessions, "B", [t1 + timedelta(hours=1)])
    _add_records(sessions, "C", [t2 + timedelta(hours=20)])  # 06:00 China time on d2 + 1: not over yet
    # a day is sealed only once it is over (plus the grace period)
    assert audit.seal_due(sessions, tmp_path, now=start_of(d2) + timedelta(minutes=30)) == []
    assert audit.seal_due(sessions, tmp_path, now=start_of(d2 + timedelta(days=1)) + timedelta(hours=2)) == [d1, d2]
    assert audit.seal_due(sessions, tmp_path, now=start_of(d2 + timedelta(days=1)) + timedelta(hours=3)) == []
    with sessions() as s:
        heads = s.exec(select(ChainHead).order_by(col(ChainHead.day))).all()
    assert [(h.day, h.records) for h in heads] == [(d1, 3), (d2, 1)]
    key = audit.system_signer(tmp_path)
    assert (tmp_path / "system-sm2.key").exists()
    for h in heads:
        assert h.public_key == key.public_key_hex
        assert sm2_verify(h.public_key, audit.signed_bytes(h.day, h.records, h.head), h.signature)
    assert json.loads((tmp_path / "chain-heads" / "2030-03-04.json").read_text())["tips"]["A"]["seq"] == 2
    assert all(h["verified"] for h in audit.verify_heads(sessions, tmp_path))
    with sessions() as s:
        assert audit.verify_case(s, "A", None, tmp_path / "chain-heads")["checked"] == ["chain", "chain_heads"]
        assert audit.verify_case(s, "A", None, tmp_path / "chain-heads")["verified"] is True

    # record A/2 rewritten and the chain re-hashed from there: only the signed heads can tell
    with sessions() as s:
        evs = s.exec(select(CaseEvent).where(CaseEvent.case_id == "A").order_by(col(CaseEvent.seq))).all()
        prev = evs[0].hash
        for e in evs[1:]:
            if e.seq == 2:
                e.comment = "改过的意见"
            e.prev_hash, e.hash = prev, chain.record_hash(prev, e)
            prev = e.hash
            s.add(e)
        s.commit()
    with sessions() as s:
        v = audit.verify_case(s, "A", None, tmp_path / "chain-heads")
        assert v["verified"] is False and v["reason"] == "differs_from_chain_head"
        assert v["first_altered"]["seq"] == 1 and "2030-03-04" in v["findings"][0]["detail"]
        assert audit.verify_case(s, "B", None, tmp_path / "chain-heads")["verified"] is True
    by_day = {h["day"]: h for h in audit.verify_heads(sessions, tmp_path)}
    assert by_day["2030-03-04"]["verified"] is False and "no longer yields" in by_day["2030-03-04"]["problems"][0]

    # a forged head (without the system key) fails its signature
    with sessions() as s:
        h = s.get(ChainHead, d2)
        h.head = sm3_hex(b"forged")
        s.add(h)
        s.commit()
    assert "the signature does not verify" in {h["day"]: h for h in audit.verify_heads(sessions, tmp_path)}[
        "2030-03-05"]["problems"]
    engine.dispose()


# ---- 4. the archive package --------------------------------------------------------------------------------
async def test_archive_package(stack):
    applicant = stack.applicant()
    case = await approved_electronic(stack, applicant)
    cid = case["id"]
    r = await applicant.get(f"/api/cases/{cid}/archive")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    data = r.content
    with stack.sessions() as s:
        arc = s.get(Archive, cid)
    assert arc is not None and arc.sm3 == sm3_hex(data) == r.headers["x-banjian-sm3"] and arc.size == len(data)
    assert Path(arc.path) == (stack.settings.archive_dir / f"{cid}.zip").resolve()

    z = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["format"] == "banjian-archive" and manifest["format_version"] == 1
    assert manifest["case_id"] == cid and manifest["status"] == "concluded"
    assert manifest["item"]["code"] == "food-business-licence" and manifest["item"]["version"] == case["item_version"]
    paths = {f["path"] for f in manifest["files"]}
    assert {"item-definition.json", "application.json", "actions.json", "result.json", "chain.json", "case.json",
            f"temporal-history/{cid}.json"} <= paths
    assert set(z.namelist()) == paths | {"manifest.json"}
    for f in manifest["files"]:
        content = z.read(f["path"])
        assert sm3_hex(content) == f["sm3"] and len(content) == f["size"], f["path"]
    assert json.loads(z.read("item-definition.json"))["definition"]["code"] == "food-business-licence"
    application = json.loads(z.read("application.json"))
    assert application["applicant"]["username"] == applicant.username and application["form"]
    assert [m["name"] for m in application["materials"]] == [m["name"] for m in case["materials"]]
    actions = json.loads(z.read("actions.json"))
    assert [a["action"] for a in actions] == [h["action"] for h in case["history"]]
    assert next(a for a in actions if a["action"] == "approve")["comment"] == "符合条件，准予许可"
    result = json.loads(z.read("result.json"))
    assert result["result"]["decision"] == "approved" and result["delivery"]["method"] == "electronic"
    chain_doc = json.loads(z.read("chain.json"))
    events = rows(stack, cid)
    assert [(c["seq"], c["hash"]) for c in chain_doc["records"]] == [(e.seq, e.hash) for e in events]
    assert manifest["chain"][cid] == {"records": len(events), "head": events[-1].hash, "verified": True}
    # the exported Temporal history replays against the current code
    exported = WorkflowHistory.from_json(f"case-{cid}", z.read(f"temporal-history/{cid}.json").decode())
    assert manifest["temporal"][cid]["events"] == len(exported.events)
    assert (await replay.replay_history(cid, exported)).verified

    # written once: the same package again, from the route and from the activity
    again = await auditor(stack).get(f"/api/cases/{cid}/archive")
    assert again.content == data
    archiver = ArchiveActivities(stack.sessions, stack.settings.archive_dir, stack.client)
    assert await archiver.archive_case(cid) == arc.sm3

    # who may download it
    assert (await stack.applicant().get(f"/api/cases/{cid}/archive")).status_code == 404
    assert (await stack.staff("amr", "clerk").get(f"/api/cases/{cid}/archive")).status_code == 403
    open_case = (await stack.applicant().apply("food-business-licence")).json()
    r = await auditor(stack).get(f"/api/cases/{open_case['id']}/archive")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "case_not_concluded"

    # the package on disk is checked against its recorded digest before it is served
    Path(arc.path).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    r = await applicant.get(f"/api/cases/{cid}/archive")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "archive_altered"


async def test_archive_activity_and_archived_history_outlive_temporal_retention(stack, monkeypatch):
    case = await supplement_then_refused(stack)
    cid = case["id"]
    archiver = ArchiveActivities(stack.sessions, stack.settings.archive_dir, lambda: stack.client)
    digest = await ActivityEnvironment().run(archiver.archive_case, cid)
    with stack.sessions() as s:
        assert s.get(Archive, cid).sm3 == digest
    r = await auditor(stack).get(f"/api/cases/{cid}/archive")
    assert r.headers["x-banjian-sm3"] == digest
    # once Temporal has forgotten the workflow, the history comes from the archive package
    a = auditor(stack)
    t = (await a.get(f"/api/cases/{cid}/timeline")).json()
    assert t["source"] == "temporal"
    real_fetch = audit.fetch_history

    async def forgotten(client, case_id):  # past the namespace's retention period
        return None if case_id == cid else await real_fetch(client, case_id)

    for module in ("banjian.audit.timeline", "services.replay", "banjian.audit.chainheads"):
        found = sys.modules[module]
        if hasattr(found, "fetch_history"):
            monkeypatch.setattr(found, "fetch_history", forgotten)
    t2 = (await a.get(f"/api/cases/{cid}/timeline")).json()
    assert t2["source"] == "archive" and t2["entries"] == t["entries"] and t2["discrepancies"] == []
    replay = (await a.get(f"/api/cases/{cid}/replay")).json()
    assert replay["verified"] is True and replay["source"] == "archive"
    v = (await a.get(f"/api/cases/{cid}/verify")).json()
    assert v["verified"] is True and "archive" in v["checked"]


# ---- 5. auditors read everything in scope, change nothing, and every read is logged -------------------------
async def test_auditor_reads_are_logged_and_change_nothing(stack):
    applicant = stack.applicant()
    done = await approved_electronic(stack, applicant)
    open_case = (await stack.applicant().apply("food-business-licence")).json()
    a = auditor(stack)
    for path in (f"/api/cases/{done['id']}", f"/api/cases/{done['id']}/history", f"/api/cases/{done['id']}/timeline",
                 f"/api/cases/{done['id']}/verify", f"/api/cases/{done['id']}/replay",
                 f"/api/cases/{done['id']}/archive", "/api/cases?item_code=food-business-licence&limit=5"):
        r = await a.get(path)
        assert r.status_code == 200, (path, r.text)
    with stack.sessions() as s:
        logged = s.exec(select(AuditRead).where(AuditRead.username == a.username).order_by(col(AuditRead.id))).all()
    assert [(x.case_id, x.what) for x in logged][:6] == [(done["id"], w) for w in
                                                        ("case", "history", "timeline", "verify", "replay", "archive")]
    assert logged[6].case_id is None and logged[6].what.startswith("search")
    assert all(x.at <= datetime.now(UTC) + timedelta(seconds=1) for x in logged)
    listed = (await a.get("/api/audit/reads", params={"username": a.username})).json()["items"]
    assert [(x["case_id"], x["what"]) for x in listed] == [(x.case_id, x.what) for x in reversed(logged)]
    # an admin's reads, and other users', are not audit reads
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    await admin.get(f"/api/cases/{done['id']}")
    await applicant.get(f"/api/cases/{done['id']}/history")
    with stack.sessions() as s:
        assert not s.exec(select(AuditRead).where(col(AuditRead.username).in_([admin.username, applicant.username]))
                          ).all()
    assert (await applicant.get("/api/audit/reads")).status_code == 403

    # read-only: no action, no item, no calendar, no simulated time
    r = await a.act(open_case["id"], "accept")
    assert r.status_code == 403, r.text
    assert (await a.act(done["id"], "urge")).status_code in (403, 409)
    assert (await a.post("/api/items", json={"code": "x"})).status_code == 403
    assert (await a.put("/api/calendar/2031", json={"year": 2031, "holidays": [], "workdays": []})).status_code == 403
    assert (await a.post(f"/api/simulation/cases/{open_case['id']}/advance", json={"days": 1})).status_code == 403
    assert (await applicant.case(done["id"]))["status"] == "concluded"

    # an auditor of one department sees that department's cases only
    hcd_auditor = auditor(stack, "hcd")
    assert (await hcd_auditor.get(f"/api/cases/{done['id']}")).status_code == 404
    assert (await hcd_auditor.get(f"/api/cases/{done['id']}/archive")).status_code == 404
    amr_auditor = auditor(stack, "amr")
    assert (await amr_auditor.get(f"/api/cases/{done['id']}/verify")).json()["verified"] is True


async def test_audit_verify_command_over_every_case_and_the_chain_heads(stack, tmp_path):
    # the stack shares its database with every test: check the command on a copy of one case's rows
    case = await approved_electronic(stack)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    engine = make_engine(f"sqlite:///{data_dir / 'banjian.db'}")
    SQLModel.metadata.create_all(engine)
    with stack.sessions() as src, Session(engine) as dst:
        dst.add(Case.model_validate(src.get(Case, case["id"]).model_dump()))
        for e in rows(stack, case["id"]):
            dst.add(CaseEvent.model_validate(e.model_dump()))
        lic = src.get(Licence, case["result"]["licence_id"])  # the e-licence it issued: verify checks it too
        dst.add(Licence.model_validate(lic.model_dump()))
        dst.add(DepartmentKey.model_validate(src.get(DepartmentKey, lic.department).model_dump()))
        queued = src.get(ArchiveQueueEntry, case["id"])  # closed: its package is still to be built (or it is)
        arc = src.get(Archive, case["id"])
        dst.add(ArchiveQueueEntry.model_validate(queued.model_dump()) if arc is None else
                Archive.model_validate(arc.model_dump()))
        dst.commit()
    day = datetime.fromisoformat(case["history"][0]["at"]).astimezone(CHINA).date()
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    run = lambda *a: CliRunner().invoke(cli_app, [*a, "--data-dir", str(data_dir)], env=env)  # noqa: E731
    sealed = await asyncio.to_thread(run, "audit", "seal", "--day", day.isoformat())
    assert sealed.exit_code == 0, sealed.output
    r = await asyncio.to_thread(run, "audit", "verify")
    assert r.exit_code == 0, r.output
    assert f"ok    {case['id']}" in r.output and f"ok    chain head {day}" in r.output
    assert "chain_heads" in r.output and "temporal" in r.output
    n = len(case["history"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE case_events SET data = :d WHERE seq = :n"), {"d": '{"method": "courier"}', "n": n})
    r = await asyncio.to_thread(run, "audit", "verify")
    assert r.exit_code == 1 and f"first altered record {n} (deliver" in r.output and "content_altered" in r.output
    assert f"ok    chain head {day}" in r.output  # the sealed hashes themselves are unchanged
    # re-hashed to look consistent: the history and the signed head both tell
    with Session(engine) as s:
        last = s.exec(select(CaseEvent).where(CaseEvent.seq == n)).one()
        last.hash = chain.record_hash(last.prev_hash, last)
        s.add(last)
        s.commit()
    r = await asyncio.to_thread(run, "audit", "verify", "--json")
    assert r.exit_code == 1
    out = [json.loads(x) for x in r.output.splitlines()]
    assert out[0]["first_altered"]["seq"] == n and out[0]["reason"] == "differs_from_history"
    assert {f["reason"] for f in out[0]["findings"]} == {"differs_from_history", "differs_from_chain_head"}
    assert out[1]["chain_head"]["verified"] is False
    engine.dispose()
