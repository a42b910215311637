"""Auditors read the e-licence verification log (`GET /api/audit/licence-verifications` and the page
`/audit/licences/verifications`): every verification with its time, address and answer, newest
first, filtered by licence (identifier or number as printed) and by days, in bounded pages; a
department's auditor sees only its licences; bad filters are refused naming the field."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from banjian.timefmt import CHINA
from tests.pages_client import PageClient
from tests.test_licences import REGISTRATION, approved

LOG = "/api/audit/licence-verifications"


async def test_auditors_read_each_verification_filtered_by_licence_and_day(stack, people):
    case = await approved(stack, stack.applicant(), REGISTRATION)
    lid = case["result"]["licence_id"]
    for _ in range(3):
        assert (await stack.http.get(f"/api/licences/{lid}/verify")).status_code == 200
    with stack.engine.begin() as conn:  # one of them, a week ago
        conn.execute(text("UPDATE licence_verifications SET at = :at WHERE id = (SELECT MIN(id) FROM "
                          "licence_verifications WHERE licence_id = :id)"),
                     {"at": datetime.now(UTC) - timedelta(days=7), "id": lid})
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    body = (await auditor.get(LOG, params={"licence_id": lid})).json()
    assert body["total"] == 3 and len(body["items"]) == 3
    first = body["items"][0]
    assert first["licence_id"] == lid and first["valid"] is True and first["reason"] is None
    assert first["status"] == "valid" and first["signature_valid"] is True and first["address"]
    assert first["at"] >= body["items"][-1]["at"]  # newest first
    number = (await auditor.get(f"/api/licences/{lid}")).json()["licence_no"]
    assert (await auditor.get(LOG, params={"licence_id": number.lower()})).json()["total"] == 3  # as printed
    today = datetime.now(CHINA).date().isoformat()
    assert (await auditor.get(LOG, params={"licence_id": lid, "from": today, "to": today})).json()["total"] == 2
    paged = (await auditor.get(LOG, params={"licence_id": lid, "limit": 2, "offset": 2})).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1

    # a department's auditor: its own licences only
    other = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor", department="hcd")
    r = await other.get(LOG, params={"licence_id": lid})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "licence_id"
    assert lid not in (await other.get(LOG)).text

    # bad filters: named, in Chinese and English; bounded numbers
    r = await auditor.get(LOG, params={"from": today, "to": "2000-01-01"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "from" and r.json()["detail"]["message_en"]
    r = await auditor.get(LOG, params={"licence_id": "no-such-licence"})
    assert r.status_code == 404 and r.json()["detail"]["code"] == "licence_not_found"
    for bad in ({"limit": 201}, {"limit": 0}, {"offset": 100_001}, {"from": "1999-12-31"}, {"to": "2026-13-01"}):
        assert (await auditor.get(LOG, params=bad)).status_code == 422, bad
    assert (await people.staff("amr", "approver").get(LOG)).status_code == 403


async def test_the_auditors_page_lists_verifications_and_says_what_is_wrong_with_a_filter(stack):
    case = await approved(stack, stack.applicant(), REGISTRATION)
    lid = case["result"]["licence_id"]
    assert (await stack.http.get(f"/api/licences/{lid}/verify")).status_code == 200
    name = f"auditor-{uuid.uuid4().hex[:6]}"
    stack.user(name, "auditor")
    page = PageClient(stack)
    try:
        await page.login(name)
        home = await page.get("/audit")
        assert 'href="/audit/licences/verifications">证照核验记录</a>' in home.text
        r = await page.get("/audit/licences/verifications", params={"licence": lid})
        assert r.status_code == 200
        for label in ("证照标识或证照编号", "开始日期", "结束日期", "核验时间", "核验结果", "来源地址", "共 1 条核验记录"):
            assert label in r.text, label
        assert '<label class="label" for="from">' in r.text or 'for="from"' in r.text
        r = await page.get("/audit/licences/verifications", params={"licence": "1.2.156.3005.2.X"})
        assert r.status_code == 404 and "未找到该电子证照" in r.text and 'href="#licence"' in r.text
        r = await page.get("/audit/licences/verifications", params={"from": "2026-12-05", "to": "2026-12-01"})
        assert r.status_code == 422 and "开始日期不能晚于结束日期" in r.text
        r = await page.get("/audit/licences/verifications", params={"from": "明天"})
        assert r.status_code == 422 and "请输入正确的日期" in r.text
    finally:
        await page.close()
