"""The applicant's front office on the case page: pay the fee, book a window slot, ask or complain."""
from __future__ import annotations

import re

from tests.pages_client import PageClient
from tests.test_payments import approved, past_payment_due


async def test_applicant_pays_from_the_case_page(stack, people):
    u, cid, _ = await approved(people)
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        mine = (await browser.get("/my/cases")).text
        assert "待缴费" in mine and f'href="/cases/{cid}#front-office">去缴费' in mine
        page = (await browser.get(f"/cases/{cid}")).text
        assert "在线缴费" in page and "10.00 元" in page and "缴费截止" in page and "待缴费" in page
        assert f'action="/cases/{cid}/pay"' in page
        r = await browser.submit(f"/cases/{cid}/pay", page)
        assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{cid}?front=paid")
        page = (await browser.get(r.headers["location"])).text
        assert "缴费已完成" in page and "在线缴费" not in page and "收到缴费" in page
        assert "前送达办理结果" in page  # what happens next
        # the sandbox sent its callback twice: the history says so once
        assert page.count("<strong>收到缴费</strong>") == 1
    finally:
        await browser.close()
    case = await u.case(cid)
    assert case["status"] == "decided" and [h["action"] for h in case["history"]].count("payment_received") == 1
    other = PageClient(stack)
    try:  # nobody else sees the controls or can pay
        await other.login(people.staff("psb", "clerk").username)
        page = (await other.get(f"/cases/{cid}")).text
        assert "办事服务" not in page
    finally:
        await other.close()


async def test_applicant_complains_about_the_case_and_books_a_slot(stack, people):
    u = people.applicant(0)
    r = await u.apply("marriage-registration-appointment")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
        assert "咨询投诉" in page and "窗口预约" in page
        r = await browser.submit(f"/cases/{cid}/ask", page, {"kind": "complaint", "text": "窗口排队太久"})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "投诉：窗口排队太久" in page and "待答复" in page
        slot = re.search(r'<option value="(\d{4}-\d\d-\d\dT\d\d:\d\d)"', page)
        assert slot, "no free slot offered"
        r = await browser.submit(f"/cases/{cid}/book", page, {"slot": slot.group(1)})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "预约成功" in page and "已预约" in page
        empty = await browser.submit(f"/cases/{cid}/ask", page, {"kind": "consultation", "text": " "})
        assert empty.status_code == 422
    finally:
        await browser.close()
    mine = (await u.get("/api/inquiries", params={"scope": "mine"})).json()["items"]
    assert any(i.get("case_id") == cid and i["kind"] == "complaint" for i in mine)
    booked = (await u.get("/api/appointments")).json()["items"]
    assert any(b["slot"] == slot.group(1) for b in booked)
    stranger = PageClient(stack)
    try:  # another applicant may neither see nor complain about the case
        await stranger.login(people.applicant(1).username)
        page = (await stranger.get("/my/cases")).text
        r = await stranger.submit(f"/cases/{cid}/ask", page, {"kind": "complaint", "text": "x"})
        assert r.status_code == 404
    finally:
        await stranger.close()


async def test_an_anonymous_consultation_about_a_case_is_404(stack, people):
    u = people.applicant(0)
    cid = (await u.apply("food-business-licence")).json()["id"]
    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "case_id": cid, "text": "进度如何？",
                                                      "contact": "13800000000"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "case_id"
    r = await people.applicant(1).post("/api/inquiries", json={"kind": "complaint", "case_id": cid, "text": "慢"})
    assert r.status_code == 404
    r = await people.applicant(1).post("/api/inquiries", json={"kind": "consultation", "case_id": cid, "text": "慢"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "case_id"


async def test_a_case_ended_unpaid_tells_its_applicant_why(stack, people):
    import asyncio

    u, cid, case = await approved(people)
    await stack.advance(cid, past_payment_due(case))
    for _ in range(50):
        if (await u.case(cid))["status"] == "terminated":
            break
        await asyncio.sleep(0.1)
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
    finally:
        await browser.close()
    assert "办件已终止" in page and "未在缴费期限内缴纳费用" in page and "请重新申请" in page
    assert "在线缴费" not in page and 'action="/cases/' + cid + '/pay"' not in page
