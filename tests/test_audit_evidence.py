"""Audit of what a case's records point at (banjian/audit/evidence.py): the uploaded material files
(their bytes, the SM3 recorded at upload, the digest the archive package kept) and the e-licence the
case issued. Tampering happens in each test's own read model and file store (a copy of one case's
rows and files), never in the stack's shared ones."""
from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from api.routes.pages.oversight import _plain_findings, _plain_verify
from banjian.crypto import sm3_hex
from banjian.db import Archive, Case, CaseEvent, make_engine
from banjian.files import StoredFile
from banjian.licence_store import DepartmentKey, Licence, LicenceEvent
from services.cli import app as cli_app
from tests.conftest import TEST_PAYLOAD_KEYS, application
from tests.histories.record import FOOD, _through_review

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def concluded_with_files(stack) -> dict:
    """A food business licence applied for with a file per material, approved, delivered electronically
    (an e-licence issued) and archived."""
    applicant = stack.applicant()
    body = await application(applicant, FOOD)
    for i, m in enumerate(body["materials"]):
        r = await stack.http.post("/api/files", headers=await applicant.headers(),
                                  files={"file": (f"材料{i}.pdf", PDF + f"{i}-{uuid.uuid4().hex}".encode(),
                                                  "application/pdf")})
        assert r.status_code == 201, r.text
        m["file_id"] = r.json()["file_id"]
    r = await applicant.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    clerk = stack.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept")
    case = await _through_review(stack, "amr", case)
    case = await stack.staff("amr", "approver").ok(case["id"], "approve", "准予许可")
    case = await clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded" and case["result"]["licence_id"]
    return case


async def own_copy(stack, case: dict, data_dir: Path) -> Engine:
    """A read model and file store of the test's own in `data_dir`: the case's row, records, files,
    licence (with its events and issuing key) and archive package."""
    cid = case["id"]
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    package = (await auditor.get(f"/api/cases/{cid}/archive")).content  # built now if not yet
    data_dir.mkdir()
    (data_dir / "files").mkdir()
    (data_dir / "archives").mkdir()
    engine = make_engine(f"sqlite:///{data_dir / 'banjian.db'}")
    SQLModel.metadata.create_all(engine)
    with stack.sessions() as src, Session(engine) as dst:
        row = src.get(Case, cid)
        dst.add(Case.model_validate(row.model_dump()))
        for e in src.exec(select(CaseEvent).where(CaseEvent.case_id == cid)):
            dst.add(CaseEvent.model_validate(e.model_dump()))
        for m in row.snapshot["materials"]:
            if m.get("file_id"):
                dst.add(StoredFile.model_validate(src.get(StoredFile, m["file_id"]).model_dump()))
                shutil.copyfile(stack.settings.data_dir / "files" / m["file_id"], data_dir / "files" / m["file_id"])
        lic = src.get(Licence, case["result"]["licence_id"])
        dst.add(Licence.model_validate(lic.model_dump()))
        dst.add(DepartmentKey.model_validate(src.get(DepartmentKey, lic.department).model_dump()))
        for ev in src.exec(select(LicenceEvent).where(LicenceEvent.licence_id == lic.id)):
            dst.add(LicenceEvent.model_validate(ev.model_dump()))
        path = data_dir / "archives" / f"{cid}.zip"
        path.write_bytes(package)
        dst.add(Archive.model_validate({**src.get(Archive, cid).model_dump(), "path": str(path)}))
        dst.commit()
    return engine


async def verify(stack, data_dir: Path, case_id: str) -> dict:
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    r = await asyncio.to_thread(CliRunner().invoke, cli_app,
                                ["audit", "verify", case_id, "--json", "--data-dir", str(data_dir)], env=env)
    out = json.loads([line for line in r.output.splitlines() if line.startswith("{")][-1])
    assert r.exit_code == (0 if out["verified"] else 1), r.output
    return out


def sql(engine: Engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def attachment_problems(out: dict) -> list[tuple[str, str]]:
    return [(f["problem"], f["material"]) for f in out["findings"] if f["reason"] == "attachment_altered"]


async def test_a_material_file_replaced_or_unrecorded_fails_verify_naming_the_material(stack, tmp_path):
    case = await concluded_with_files(stack)
    cid = case["id"]
    data_dir = tmp_path / "data"
    engine = await own_copy(stack, case, data_dir)
    out = await verify(stack, data_dir, cid)
    assert out["verified"] is True and {"attachments", "archive_package", "licence"} <= set(out["checked"])

    material = case["materials"][1]
    fid, name = material["file_id"], material["name"]
    path = data_dir / "files" / fid
    original = path.read_bytes()
    path.chmod(0o640)
    forged = original.replace(b"%%EOF", b"%%EOX")
    path.write_bytes(forged)  # the bytes replaced, the upload record left alone
    out = await verify(stack, data_dir, cid)
    assert out["verified"] is False and out["reason"] == "attachment_altered" and out["first_altered"] is None
    assert attachment_problems(out) == [("bytes_altered", name)]

    # the upload record's digest made to match the forged bytes: the archive package still knows
    sql(engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h=sm3_hex(forged), f=fid)
    out = await verify(stack, data_dir, cid)
    assert attachment_problems(out) == [("digest_altered", name)]

    path.write_bytes(original)
    sql(engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h=sm3_hex(original), f=fid)
    assert (await verify(stack, data_dir, cid))["verified"] is True
    path.unlink()
    assert attachment_problems(await verify(stack, data_dir, cid)) == [("file_missing", name)]
    sql(engine, "DELETE FROM files WHERE file_id = :f", f=fid)
    assert attachment_problems(await verify(stack, data_dir, cid)) == [("record_missing", name)]


async def test_an_altered_or_removed_licence_fails_verify_and_a_real_revocation_does_not(stack, tmp_path):
    case = await concluded_with_files(stack)
    cid, lid = case["id"], case["result"]["licence_id"]
    revoked = await stack.staff("amr", "approver").post(f"/api/licences/{lid}/actions",
                                                       json={"action": "revoke", "comment": "以欺骗手段取得"})
    assert revoked.status_code == 200, revoked.text
    data_dir = tmp_path / "data"
    engine = await own_copy(stack, case, data_dir)
    out = await verify(stack, data_dir, cid)
    assert out["verified"] is True and "licence" in out["checked"]  # a recorded revocation is no tampering

    sql(engine, "UPDATE licences SET status = 'valid' WHERE id = :id", id=lid)  # revocation undone in the row
    out = await verify(stack, data_dir, cid)
    assert out["verified"] is False and out["reason"] == "licence_altered"
    [f] = out["findings"]
    assert (f["problem"], f["status"], f["expected"]) == ("status_altered", "valid", "revoked")
    sql(engine, "UPDATE licences SET status = 'revoked', holder_name = '王五' WHERE id = :id", id=lid)
    out = await verify(stack, data_dir, cid)
    assert [(f["reason"], f["problem"]) for f in out["findings"]] == [("licence_altered", "fields_altered")]
    sql(engine, "DELETE FROM licences WHERE id = :id", id=lid)
    out = await verify(stack, data_dir, cid)
    assert [(f["reason"], f["problem"]) for f in out["findings"]] == [("licence_altered", "licence_missing")]


def test_the_audit_page_names_every_finding_in_chinese_without_codes():
    findings = [
        {"seq": 3, "reason": "content_altered", "detail": "x"},
        {"seq": None, "reason": "snapshot_differs", "fields": ["row.status"]},
        {"seq": None, "reason": "archive_altered"},
        {"seq": None, "reason": "attachment_altered", "problem": "bytes_altered", "material": "营业执照",
         "version": 2, "file_id": "abc"},
        {"seq": None, "reason": "licence_altered", "problem": "status_altered", "licence_id": "1.2.156",
         "status": "revoked", "expected": "valid"},
    ]
    report = {"verified": False, "first_altered": {"seq": 3, "action": "pass", "at": None}, "findings": findings}
    said = _plain_findings(report)
    assert said == ["第 3 条记录（通过）的内容与其哈希不符，可能已被改动",
                    "办件数据（表单、状态等）与流程最后记录的不符，可能已被改动",
                    "归档文件缺失或与登记的SM3摘要不符",
                    "申请材料“营业执照”（第 2 版）的文件内容与上传时登记的SM3摘要不符，可能已被替换",
                    "电子证照 1.2.156 的状态为“已撤销”，但其状态变更记录显示应为“有效”，可能已被改动"]
    for reason, words in (("missing", "已被删除"), ("link_broken", "调换顺序"), ("differs_from_history", "流程历史")):
        one = {"verified": False, "first_altered": {"seq": 4, "action": "deliver"},
               "findings": [{"seq": 4, "reason": reason}]}
        assert _plain_findings(one) == [_plain_findings(one)[0]] and words in _plain_verify(one)
        assert "deliver" not in _plain_verify(one) and "送达" in _plain_verify(one)
    codes = ("content_altered", "snapshot_differs", "attachment_altered", "licence_altered", "revoked", "pass")
    assert not any(code in _plain_verify(report) for code in codes)


# ---- rows altered past reading (SQLite keeps any text in a JSON or DATETIME column) ------------------------
async def test_records_and_case_rows_altered_past_reading_are_findings_not_errors(stack, tmp_path):
    case = await concluded_with_files(stack)
    cid = case["id"]
    data_dir = tmp_path / "data"
    engine = await own_copy(stack, case, data_dir)

    sql(engine, "UPDATE case_events SET data = 'not json' WHERE case_id = :c AND seq = 2", c=cid)
    out = await verify(stack, data_dir, cid)
    assert out["verified"] is False and out["reason"] == "content_altered" and out["first_altered"]["seq"] == 2
    sql(engine, "UPDATE case_events SET at = 'garbage' WHERE case_id = :c AND seq = 3", c=cid)
    assert (await verify(stack, data_dir, cid))["first_altered"]["seq"] == 2  # still the first

    fresh = tmp_path / "fresh"
    engine = await own_copy(stack, case, fresh)
    sql(engine, "UPDATE cases SET submitted_at = 'garbage' WHERE id = :c", c=cid)
    out = await verify(stack, fresh, cid)
    assert out["verified"] is False and out["reason"] == "snapshot_differs" and "row.submitted_at" in \
        out["findings"][0]["fields"]
    sql(engine, "UPDATE cases SET snapshot = 'garbage' WHERE id = :c", c=cid)
    out = await verify(stack, fresh, cid)
    assert out["verified"] is False and out["reason"] == "snapshot_differs"


async def test_the_audit_surfaces_answer_for_a_case_whose_rows_no_longer_read(stack):
    """In the stack's own read model, restored at the end: the API's audit routes and the audit page
    answer (with the finding), never 500, while a record's data and the case row's snapshot are unreadable."""
    from tests.pages_client import PageClient

    case = await concluded_with_files(stack)
    cid = case["id"]
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    with stack.sessions() as s:
        snapshot = json.dumps(s.get(Case, cid).snapshot)
        data = json.dumps(s.exec(select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.seq == 2)).one().data)
    page = PageClient(stack)
    try:
        sql(stack.engine, "UPDATE case_events SET data = 'not json' WHERE case_id = :c AND seq = 2", c=cid)
        sql(stack.engine, "UPDATE cases SET snapshot = '{}' WHERE id = :c", c=cid)
        for path in ("verify", "timeline", "history", "replay"):
            r = await auditor.get(f"/api/cases/{cid}/{path}")
            assert r.status_code == 200, (path, r.text)
        body = (await auditor.get(f"/api/cases/{cid}/verify")).json()
        assert body["verified"] is False and body["first_altered"]["seq"] == 2
        assert {f["reason"] for f in body["findings"]} >= {"content_altered", "snapshot_differs"}
        await page.login(auditor.username)
        shown = await page.get(f"/audit/cases/{cid}")
        assert shown.status_code == 200, shown.text
        assert "办件数据无法读取" in shown.text and "第 2 条记录（受理）的内容与其哈希不符" in shown.text
    finally:
        sql(stack.engine, "UPDATE case_events SET data = :d WHERE case_id = :c AND seq = 2", d=data, c=cid)
        sql(stack.engine, "UPDATE cases SET snapshot = :s WHERE id = :c", s=snapshot, c=cid)
        await page.close()
    assert (await auditor.get(f"/api/cases/{cid}/verify")).json()["verified"] is True


# ---- the daily chain heads' tips files ------------------------------------------------------------------------
def test_a_sealed_days_tips_file_missing_unreadable_or_orphaned_is_reported(tmp_path):
    from datetime import date, timedelta

    from banjian import audit
    from banjian.db import ChainHead
    from banjian.timefmt import start_of
    from tests.test_audit import _add_records, _fresh_db

    engine, sessions = _fresh_db(tmp_path)
    day = date(2030, 3, 4)
    _add_records(sessions, "A", [start_of(day) + timedelta(hours=9)])
    _add_records(sessions, "B", [start_of(day + timedelta(days=1)) + timedelta(hours=9)])  # another day
    audit.seal_day(sessions, tmp_path, day)
    heads_dir = tmp_path / "chain-heads"
    path = heads_dir / f"{day}.json"
    good = path.read_text(encoding="utf-8")

    def case(cid: str) -> dict:
        with sessions() as s:
            return audit.verify_case(s, cid, None, heads_dir)

    def problems() -> list[str]:
        return [p for h in audit.verify_heads(sessions, tmp_path) for p in h["problems"]]

    assert case("A")["verified"] is True and problems() == []
    for content, said in (("garbage", "unreadable"), (json.dumps({"prev_head": "0", "tips": "x"}), "unreadable"),
                          (json.dumps({"prev_head": "0", "tips": {"A": {"seq": "abc"}}}), "unreadable"), (None, "missing")):
        if content is None:
            path.unlink()
        else:
            path.write_text(content, encoding="utf-8")
        a = case("A")
        assert a["verified"] is False and a["reason"] == "chain_head_invalid" and said in a["findings"][0]["detail"]
        assert case("B")["verified"] is True  # no record of B that day: nothing to check against it
        assert problems() == [f"the sealed tips file of {day} is {said}"]
    path.write_text(good, encoding="utf-8")
    with sessions() as s:  # the head's row removed: its tips file still says the day was sealed
        s.delete(s.get(ChainHead, day))
        s.commit()
    assert problems() == [f"the chain head of {day} is missing from the database (its tips file remains)"]
    assert case("A")["reason"] == "chain_head_invalid"
    engine.dispose()


async def test_the_audit_page_lists_each_material_with_its_digest_and_check(stack):
    from tests.pages_client import PageClient

    case = await concluded_with_files(stack)
    cid = case["id"]
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    first = case["materials"][0]
    with stack.sessions() as s:
        digest = s.get(StoredFile, first["file_id"]).sm3
    page = PageClient(stack)
    try:
        await page.login(auditor.username)
        shown = (await page.get(f"/audit/cases/{cid}")).text
        assert "<h2 class=\"heading-m\">申请材料</h2>" in shown and first["name"] in shown and digest in shown
        assert shown.count("✓ 一致") == len(case["materials"])
        sql(stack.engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h="b" * 64, f=first["file_id"])
        shown = (await page.get(f"/audit/cases/{cid}")).text
        assert shown.count("✓ 一致") == len(case["materials"]) - 1
        assert f"✗ 申请材料“{first['name']}”的文件内容与上传时登记的SM3摘要不符" in shown
    finally:
        sql(stack.engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h=digest, f=first["file_id"])
        await page.close()


# ---- untouched cases verify cleanly on either read model, also after a simulated clock advance -----------------
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request):
    """The session's stack on SQLite, then on PostgreSQL (resolved outside the test's event loop)."""
    return request.getfixturevalue(request.param)


async def test_untouched_cases_verify_cleanly_and_tampering_is_found_on_either_read_model(store):
    auditor = store.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    case = await concluded_with_files(store)
    cid = case["id"]
    await auditor.get(f"/api/cases/{cid}/archive")  # the package exists (built now if the sweeper has not yet)
    body = (await auditor.get(f"/api/cases/{cid}/verify")).json()
    assert body["verified"] is True, body
    assert {"attachments", "licence", "archive_package", "snapshot"} <= set(body["checked"])
    # an open case whose clock jumped 30 days (deemed acceptance, warnings): nothing to report either
    waiting = (await store.applicant().apply(FOOD)).json()
    await store.advance(waiting["id"], 30)
    body = (await auditor.get(f"/api/cases/{waiting['id']}/verify")).json()
    assert body["verified"] is True, body

    first, lid = case["materials"][0], case["result"]["licence_id"]
    with store.sessions() as s:
        digest = s.get(StoredFile, first["file_id"]).sm3
    try:
        sql(store.engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h="c" * 64, f=first["file_id"])
        sql(store.engine, "UPDATE licences SET status = 'suspended' WHERE id = :id", id=lid)
        body = (await auditor.get(f"/api/cases/{cid}/verify")).json()
        assert body["verified"] is False
        assert sorted((f["reason"], f["problem"]) for f in body["findings"]) == [
            ("attachment_altered", "bytes_altered"), ("licence_altered", "status_altered")]
    finally:
        sql(store.engine, "UPDATE files SET sm3 = :h WHERE file_id = :f", h=digest, f=first["file_id"])
        sql(store.engine, "UPDATE licences SET status = 'valid' WHERE id = :id", id=lid)
    assert (await auditor.get(f"/api/cases/{cid}/verify")).json()["verified"] is True
