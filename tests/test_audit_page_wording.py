"""The audit page says what was altered and where: the case's fields that differ from what the
workflow recorded, each with both values, and each disagreement of the timeline (not just how many);
the timeline's times to the second, since several actions fall in one minute."""
from __future__ import annotations

import re
import uuid

from sqlalchemy import text

from api.routes.pages.audit_wording import discrepancy_zh
from api.routes.pages.oversight import _plain_findings
from tests.pages_client import PageClient
from tests.test_licences import REGISTRATION, approved


def test_a_case_row_finding_names_the_field_and_both_values():
    finding = {"seq": None, "reason": "snapshot_differs", "fields": ["row.applicant_name", "form.business_name"],
               "temporal": {"row.applicant_name": "张三", "form.business_name": "张三小吃店"},
               "read_model": {"row.applicant_name": "王五", "form.business_name": None}}
    [said] = _plain_findings({"verified": False, "findings": [finding], "first_altered": None})
    assert "申请人姓名（流程记录为“张三”，数据库中为“王五”）" in said
    assert "申请表单中的“business_name”（流程记录为“张三小吃店”，数据库中为（空））" in said


def test_each_timeline_disagreement_is_a_sentence_naming_the_record():
    said = discrepancy_zh({"case_id": "c1", "seq": 3, "kind": "differs", "action": "pass", "fields": ["comment"],
                           "temporal": {"comment": "材料齐全"}, "read_model": {"comment": "材料不全"}}, "c1")
    assert said == "第 3 条记录（通过）与流程历史不符：意见（流程记录为“材料齐全”，数据库中为“材料不全”）"
    said = discrepancy_zh({"case_id": "c2", "seq": None, "kind": "status_differs", "temporal": "concluded",
                           "read_model": "accepted"}, "c1")
    assert said.startswith("子件 c2 的办件状态与流程历史不符") and "已受理" in said


async def test_the_audit_page_shows_what_was_altered_and_when_to_the_second(stack):
    case = await approved(stack, stack.applicant(), REGISTRATION)
    cid = case["id"]
    with stack.engine.begin() as conn:
        conn.execute(text("UPDATE cases SET applicant_name = '王五' WHERE id = :id"), {"id": cid})
    name = f"auditor-{uuid.uuid4().hex[:6]}"
    stack.user(name, "auditor")
    page = PageClient(stack)
    try:
        await page.login(name)
        r = await page.get(f"/audit/cases/{cid}")
        assert r.status_code == 200
        assert f"申请人姓名（流程记录为“{case['applicant']['name']}”，数据库中为“王五”）" in r.text
        assert "发现 1 处不一致" in r.text and r.text.count("数据库中为“王五”") == 2  # the check and the timeline's list
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}</td>", r.text)
        # who: the applicant's name beside the account, not the account alone
        applicant = case["history"][0]["actor"]
        assert f"申请人{applicant}<br><span class=\"meta\">账号 {applicant}</span>" in r.text
    finally:
        await page.close()


def test_the_cli_names_both_values_of_a_case_row_field_that_differs(capsys):
    from services.cli_audit import _fail_lines

    _fail_lines("c1", {"findings": [{"seq": None, "reason": "snapshot_differs", "detail": "differs",
                                     "temporal": {"row.applicant_name": "张三"},
                                     "read_model": {"row.applicant_name": "王五"}}], "first_altered": None})
    assert 'row.applicant_name: workflow "张三", database "王五"' in capsys.readouterr().out


async def test_an_altered_archive_package_is_not_offered_for_download(stack):
    case = await approved(stack, stack.applicant(), REGISTRATION)
    await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    name = f"auditor-{uuid.uuid4().hex[:6]}"
    auditor = stack.user(name, "auditor")
    assert (await auditor.get(f"/api/cases/{case['id']}/archive")).status_code == 200
    page = PageClient(stack)
    try:
        await page.login(name)
        assert "下载归档包（ZIP）" in (await page.get(f"/audit/cases/{case['id']}")).text
        path = stack.settings.archive_dir / f"{case['id']}.zip"
        data = path.read_bytes()
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        r = await page.get(f"/audit/cases/{case['id']}")
        assert "下载归档包（ZIP）" not in r.text and "归档包缺失或已被改动，无法下载" in r.text
    finally:
        await page.close()
