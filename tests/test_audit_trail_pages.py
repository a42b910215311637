"""The auditor's pages for what the audit API already offered: the signed daily chain heads checked
across all cases (`/audit/chain-heads`, as `GET /api/audit/chain-heads`) and the auditors' own read
log (`/audit/reads`, as `GET /api/audit/reads`): rendered for auditors, refused to others, filters
and their errors in place, pages bounded."""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text

from banjian import audit
from tests.pages_client import PageClient, text_of

FAR_DAY = date(2099, 6, 1)  # after every real day, so sealing it changes no other day's link


async def _auditor(stack) -> tuple[str, PageClient]:
    name = f"auditor-{uuid.uuid4().hex[:6]}"
    stack.user(name, "auditor")
    page = PageClient(stack)
    await page.login(name)
    return name, page


async def test_the_auditors_navigation_links_both_pages_and_others_are_refused(stack):
    _, page = await _auditor(stack)
    clerk = PageClient(stack)
    try:
        home = await page.get("/audit")
        assert 'href="/audit/chain-heads">链头核验</a>' in home.text
        assert 'href="/audit/reads">审计留痕</a>' in home.text
        staff_name = f"clerk-{uuid.uuid4().hex[:6]}"
        stack.user(staff_name, "clerk", department="amr")
        await clerk.login(staff_name)
        for path in ("/audit/chain-heads", "/audit/reads"):
            assert (await clerk.get(path)).status_code == 403, path
        assert 'href="/audit/reads"' not in (await clerk.get("/work")).text
        anonymous = PageClient(stack)
        try:
            r = await anonymous.get("/audit/reads")
            assert r.status_code in (303, 307) and "/login" in r.headers["location"]
        finally:
            await anonymous.close()
    finally:
        await page.close()
        await clerk.close()


async def test_the_chain_heads_page_shows_each_day_checked_and_a_tampered_day_in_chinese(stack):
    data_dir = stack.app.state.settings.data_dir
    name, page = await _auditor(stack)
    sealed = len(audit.verify_heads(stack.sessions, data_dir))
    r = await page.get("/audit/chain-heads")
    assert r.status_code == 200
    # nothing sealed yet is said as such, not as "0 days, all verified"
    assert ("尚无封存的链头" in r.text) == (sealed == 0) and ("共封存 0 天" not in r.text)
    assert sealed == 0 or f"共封存 {sealed} 天" in r.text
    audit.seal_day(stack.sessions, data_dir, FAR_DAY)
    try:
        r = await page.get("/audit/chain-heads", params={"from": FAR_DAY.isoformat(), "to": FAR_DAY.isoformat()})
        assert r.status_code == 200
        body = text_of(r.text)
        assert "每日链头核验" in body and "2099-06-01" in body and "共1天" in body.replace(" ", "")
        for label in ("日期", "记录数", "链头（SM3）", "核验结果", "开始日期", "结束日期", "只看未通过核验的日期"):
            assert label in r.text, label
        assert "未通过" not in body.split("只看未通过核验的日期", 1)[1]  # the sealed day checks
        # the same check as the API's
        api = (await stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor").get("/api/audit/chain-heads")).json()
        assert next(d for d in api["items"] if d["day"] == FAR_DAY.isoformat())["verified"] is True
        # the sealed record count altered: the signature and the recomputation fail, said in Chinese
        with stack.engine.begin() as conn:
            conn.execute(text("UPDATE chain_heads SET records = records + 5 WHERE day = :d"), {"d": FAR_DAY})
        r = await page.get("/audit/chain-heads", params={"from": "2099-05-01", "failing": "1"})
        assert r.status_code == 200 and 'role="alert"' in r.text
        assert "SM2 签名验证失败" in r.text and "由现有记录重新计算的链头与封存的不一致（现有 0 条记录，封存时 5 条）" in r.text
        assert "2099-06-01" in r.text and "the signature" not in r.text
        assert '<td class="day">2099-06-01</td>' in r.text  # a day kept on one line (.heads td.day)
        # filters: bad values said beside the field and in the summary, nothing listed
        r = await page.get("/audit/chain-heads", params={"from": "2099-06-02", "to": "2099-06-01"})
        assert r.status_code == 422 and "开始日期不能晚于结束日期" in r.text and 'href="#from"' in r.text
        assert "2099-06-01</td>" not in r.text
        r = await page.get("/audit/chain-heads", params={"to": "昨天"})
        assert r.status_code == 422 and "请输入正确的日期" in r.text and 'href="#to"' in r.text
        r = await page.get("/audit/chain-heads", params={"from": "1999-12-31"})
        assert r.status_code == 422 and "日期应在 2000-01-01 至 2100-12-31 之间" in r.text
        # paging: a page past the end lists nothing and links back; a huge or bad number is bounded
        r = await page.get("/audit/chain-heads", params={"from": "2099-05-01", "page": "999999999"})
        assert r.status_code == 200 and "下一页" not in r.text and "上一页" in r.text and "2099-06-01</td>" not in r.text
        r = await page.get("/audit/chain-heads", params={"from": "2099-05-01", "page": "9" * 5000})
        assert r.status_code == 200 and "2099-06-01</td>" not in r.text and "page=1000" not in r.text
        r = await page.get("/audit/chain-heads", params={"from": "2099-05-01", "page": "²"})
        assert r.status_code == 200 and "2099-06-01</td>" in r.text and "上一页" not in r.text
        reads = (await stack.user(name, "auditor").get("/api/audit/reads", params={"username": name})).json()
        assert "chain-heads" in [i["what"] for i in reads["items"]]
    finally:
        await page.close()
        with stack.engine.begin() as conn:
            conn.execute(text("DELETE FROM chain_heads WHERE day = :d"), {"d": FAR_DAY})
        (data_dir / audit.HEADS_DIR / f"{FAR_DAY}.json").unlink(missing_ok=True)


async def test_the_read_log_page_lists_reads_filtered_and_paged(stack):
    name, page = await _auditor(stack)
    api = stack.user(name, "auditor")
    try:
        case_ids = [f"CASE-{uuid.uuid4().hex[:8]}" for _ in range(2)]
        with stack.engine.begin() as conn:  # 55 reads of one case by this auditor, one of another case
            for i in range(55):
                conn.execute(text("INSERT INTO audit_reads (username, case_id, what, at) VALUES (:u, :c, :w, :at)"),
                             {"u": name, "c": case_ids[0], "w": "verify" if i % 2 else "timeline",
                              "at": f"2030-01-0{1 + i % 5} 02:00:00"})
            conn.execute(text("INSERT INTO audit_reads (username, case_id, what, at) VALUES (:u, :c, 'replay', :at)"),
                         {"u": name, "c": case_ids[1], "at": "2030-02-01 02:00:00"})
        r = await page.get("/audit/reads", params={"username": name, "case": case_ids[0]})
        assert r.status_code == 200
        body = text_of(r.text)
        assert "共55条查阅记录" in body and "当前显示第1–50条" in body
        for label in ("查阅时间", "查阅人", "办件", "查阅内容", "校验哈希链", "审计时间线", "查阅人用户名", "办件标识"):
            assert label in r.text, label
        assert f'href="/audit/cases/{case_ids[0]}"' in r.text and case_ids[1] not in r.text
        assert "下一页" in r.text and "上一页" not in r.text
        r = await page.get("/audit/reads", params={"username": name, "case": case_ids[0], "page": "2"})
        # reading the log is itself logged (after the read): page 1's read is now on page 2
        assert "共56条查阅记录" in text_of(r.text) and "当前显示第51–56条" in text_of(r.text) and "下一页" not in r.text and "上一页" in r.text
        # days are China days: 2030-01-01 02:00 UTC is 10:00 in China on 2030-01-01
        r = await page.get("/audit/reads", params={"username": name, "from": "2030-01-02", "to": "2030-01-02"})
        assert "共11条查阅记录" in text_of(r.text)
        r = await page.get("/audit/reads", params={"username": name, "from": "2030-02-01"})
        assert "共1条查阅记录" in text_of(r.text) and "重放工作流历史" in r.text
        # the same reader as the API's (which also logs this page's reads, as "audit-reads")
        listed = (await api.get("/api/audit/reads", params={"username": name, "case_id": case_ids[0]})).json()
        assert len(listed["items"]) == 57 and listed["items"][0]["what"] == "audit-reads"
        # bad filters: in place, nothing listed
        r = await page.get("/audit/reads", params={"from": "2030-02-02", "to": "2030-02-01"})
        assert r.status_code == 422 and "开始日期不能晚于结束日期" in r.text and "查阅时间" not in r.text
        r = await page.get("/audit/reads", params={"case": "x" * 65, "username": "u" * 201})
        assert r.status_code == 422 and "办件标识不能超过 64 个字符" in r.text and 'href="#case"' in r.text
        assert "用户名不能超过 200 个字符" in r.text and 'href="#username"' in r.text
        r = await page.get("/audit/reads", params={"from": "2030-13-01"})
        assert r.status_code == 422 and "请输入正确的日期" in r.text
        # paging bounded: past the end is an empty page; a huge page number is capped, not a 5xx
        r = await page.get("/audit/reads", params={"username": name, "page": "99999999999999"})
        assert r.status_code == 200 and "下一页" not in r.text
        r = await page.get("/audit/reads", params={"username": name, "page": "2000"})
        assert r.status_code == 200 and "本页之后没有更多记录" in r.text
    finally:
        await page.close()


async def test_the_licence_verifications_page_bounds_any_page_value(stack):
    """`page` as typed into the address: a superscript digit or a 5,000-digit number is a page, not a 500."""
    _, page = await _auditor(stack)
    try:
        for bad in ("²", "9" * 5000):
            r = await page.get("/audit/licences/verifications", params={"page": bad})
            assert r.status_code == 200, bad
    finally:
        await page.close()
