"""Consultations and complaints (咨询投诉): filing, the answer limit's warnings, the answer, the case note."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from banjian.inquiries import Inquiry
from banjian.timefmt import end_of
from services.simulation import _skipper

ITEM = "food-business-licence"  # department amr


async def test_consultation_without_login_is_answered_to_the_asker(stack, people):
    anon = stack.http
    r = await anon.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": "需要哪些材料？"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "contact"
    for text in ("", "   ", "问" * 20_000):
        r = await anon.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": text,
                                                    "contact": "13800000000"})
        assert r.status_code == 422, text[:5]
    r = await anon.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": "需要哪些材料？",
                                                "contact": "13800000000"})
    assert r.status_code == 201, r.text
    filed = r.json()
    assert filed["status"] == "open" and filed["department"] == "amr"
    assert date.fromisoformat(filed["answer_due"]) > date.today()
    iid, key = filed["id"], filed["access_key"]
    assert (await anon.get(f"/api/inquiries/{iid}")).status_code == 404  # no key, no login
    assert (await anon.post(f"/api/inquiries/{iid}/answer", json={"text": "x"})).status_code == 401

    listed = (await people.clerk.get("/api/inquiries", params={"scope": "department", "status": "open"})).json()
    assert iid in {i["id"] for i in listed["items"]}
    other = stack.staff("hcd", "clerk")
    assert (await other.post(f"/api/inquiries/{iid}/answer", json={"text": "答"})).status_code == 404
    assert (await people.applicant(0).post(f"/api/inquiries/{iid}/answer", json={"text": "答"})).status_code == 404
    r = await people.clerk.post(f"/api/inquiries/{iid}/answer", json={"text": "身份证和营业执照。"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "answered" and r.json()["answered_at"]
    r = await people.clerk.post(f"/api/inquiries/{iid}/answer", json={"text": "再答一次"})
    assert r.status_code == 409

    seen = (await anon.get(f"/api/inquiries/{iid}", params={"key": key})).json()
    assert seen["answer"] == "身份证和营业执照。" and seen["overdue"] is False


async def test_complaint_only_about_ones_own_case(stack, people):
    owner, stranger = people.applicant(0), people.applicant(1)
    case = (await owner.apply(ITEM)).json()
    body = {"kind": "complaint", "case_id": case["id"], "text": "窗口态度不好"}
    assert (await stack.http.post("/api/inquiries", json=body)).status_code == 401
    assert (await stranger.post("/api/inquiries", json=body)).status_code == 404
    assert (await stranger.post("/api/inquiries", json={**body, "case_id": "no-such-case"})).status_code == 404
    assert (await owner.post("/api/inquiries", json={**body, "channel": "hotline"})).status_code == 403
    r = await owner.post("/api/inquiries", json=body)
    assert r.status_code == 201, r.text
    mine = (await owner.get("/api/inquiries", params={"scope": "mine"})).json()
    assert [i["id"] for i in mine["items"]] == [r.json()["id"]]
    assert (await stranger.get(f"/api/inquiries/{r.json()['id']}")).status_code == 404
    # the 12345 hotline, filed by staff on a caller's behalf, needs the caller's contact
    hotline = {**body, "channel": "hotline"}
    assert (await people.clerk.post("/api/inquiries", json=hotline)).status_code == 422
    r = await people.clerk.post("/api/inquiries", json={**hotline, "contact": "12345 工单 001"})
    assert r.status_code == 201, r.text


async def test_unanswered_complaint_warns_counts_and_its_outcome_reaches_the_case(stack, people):
    owner = people.applicant(2)
    case = (await owner.apply(ITEM)).json()
    r = await owner.post("/api/inquiries", json={"kind": "complaint", "case_id": case["id"], "text": "超期未受理"})
    assert r.status_code == 201, r.text
    iid, due = r.json()["id"], date.fromisoformat(r.json()["answer_due"])
    assert due >= date.today() + timedelta(days=14)  # 10 working days

    handle = stack.client.get_workflow_handle(f"inquiry-{iid}")
    await _skipper(stack.client).fast_forward(handle, end_of(due) - datetime.now(UTC) + timedelta(hours=1))
    row = await _row_when(stack, iid, lambda r: r.overdue)
    assert row.warning == "yellow" and row.status == "open"
    with stack.sessions() as session:  # what the supervision figures count
        overdue = session.exec(select(Inquiry).where(Inquiry.department == "amr", Inquiry.kind == "complaint",
                                                     Inquiry.overdue == True)).all()  # noqa: E712
    assert iid in {i.id for i in overdue}

    r = await people.clerk.post(f"/api/inquiries/{iid}/answer", json={"text": "已督促受理", "outcome": "upheld"})
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is True and r.json()["outcome"] == "upheld"
    history = await _history_when(owner, case["id"], "complaint_answered")
    note = next(h for h in history if h["action"] == "complaint_answered")
    assert note["actor"] == "system" and note["comment"] == "已督促受理"
    assert note["data"]["inquiry_id"] == iid and note["data"]["outcome"] == "upheld" and note["data"]["overdue"]


async def _row_when(stack, iid: str, ok) -> Inquiry:
    for _ in range(100):
        with stack.sessions() as session:
            row = session.get(Inquiry, iid)
        if row is not None and ok(row):
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"inquiry {iid} never reached the expected state")


async def _history_when(user, case_id: str, action: str) -> list[dict]:
    for _ in range(100):
        history = (await user.get(f"/api/cases/{case_id}/history")).json()
        if any(h["action"] == action for h in history):
            return history
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} in the history of case {case_id}")


async def test_anyone_asks_on_the_guide_page_and_reads_the_answer_with_the_key(stack, people):
    """在线咨询 without a login: the guide page's form (errors in place, the text kept), a confirmation
    with the 查询码, the answer on the inquiry page for whoever holds the key; a wrong key shows nothing."""
    from tests.pages_client import PageClient, csrf_of

    browser = PageClient(stack)
    try:
        page = (await browser.get("/guide/food-business-licence")).text
        assert "在线咨询" in page and 'action="/guide/food-business-licence/ask#consult"' in page
        question = f"请问面积多少需要平面图-{uuid.uuid4().hex[:6]}"
        r = await browser.http.post("/guide/food-business-licence/ask",
                                    data={"csrf_token": csrf_of(page), "text": question, "contact": ""})
        assert r.status_code == 422 and "请留下联系方式" in r.text and question in r.text  # kept as typed
        r = await browser.http.post("/guide/food-business-licence/ask",
                                    data={"csrf_token": csrf_of(page), "text": "x" * 5001, "contact": "138"})
        assert r.status_code == 422 and "请填写咨询内容（1 至 5000 字）" in r.text
        r = await browser.http.post("/guide/food-business-licence/ask",
                                    data={"csrf_token": csrf_of(page), "text": question, "contact": "13800002222"})
        assert r.status_code == 303, r.text
        where = r.headers["location"]
        assert where.startswith("/inquiries/") and "key=" in where
        done = (await browser.get(where)).text
        assert "咨询已提交" in done and "查询码" in done and question in done and "待答复" in done
    finally:
        await browser.close()
    inquiry_id, key = where.split("/inquiries/")[1].split("?")[0], where.split("key=")[1]
    r = await people.staff("amr", "clerk").post(f"/api/inquiries/{inquiry_id}/answer",
                                                 json={"text": "面积超过 100 平方米的需提交平面图"})
    assert r.status_code == 200, r.text
    stranger = PageClient(stack)
    try:
        answered = (await stranger.get(f"/inquiries/{inquiry_id}?key={key}")).text
        assert "已答复" in answered and "面积超过 100 平方米的需提交平面图" in answered
        asked = await stranger.get(f"/inquiries/{inquiry_id}")
        assert asked.status_code == 200 and "查询码" in asked.text and question not in asked.text
        wrong = await stranger.get(f"/inquiries/{inquiry_id}?key=wrong-key")
        assert wrong.status_code == 404 and "查询码不正确" in wrong.text and question not in wrong.text
        assert (await stranger.get("/inquiries/no-such-inquiry")).status_code == 404
        lookup = await stranger.get("/inquiries")  # written down: 咨询编号 and 查询码
        assert lookup.status_code == 200 and "咨询编号" in lookup.text and "查询码" in lookup.text
        found = await stranger.get("/inquiries", params={"id": inquiry_id, "key": key})
        assert found.status_code == 303 and found.headers["location"].startswith(f"/inquiries/{inquiry_id}?key=")
        assert (await stranger.get("/inquiries", params={"id": inquiry_id})).status_code == 422
        assert (await stranger.get("/guide/no-such-item")).status_code == 404
    finally:
        await stranger.close()


async def test_a_logged_in_applicant_asks_without_a_contact_and_sees_a_complaints_outcome(stack, people):
    from tests.pages_client import PageClient, csrf_of

    u = people.applicant(0)
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get("/guide/food-business-licence")).text
        r = await browser.http.post("/guide/food-business-licence/ask",
                                    data={"csrf_token": csrf_of(page), "text": "可以代办吗", "contact": ""})
        assert r.status_code == 303 and "key=" not in r.headers["location"], r.text
        assert "可以代办吗" in (await browser.get(r.headers["location"])).text
        mine = (await browser.get("/my/cases")).text  # found again later: 我的咨询投诉
        assert "我的咨询投诉" in mine and f'href="{r.headers["location"].split("?")[0]}"' in mine
        cid = (await u.apply("food-business-licence")).json()["id"]
        filed = (await u.post("/api/inquiries", json={"kind": "complaint", "case_id": cid, "text": "等太久"})).json()
        await people.staff("amr", "clerk").post(f"/api/inquiries/{filed['id']}/answer",
                                                json={"text": "已督促窗口加快办理", "outcome": "partly_upheld"})
        page = (await browser.get(f"/cases/{cid}")).text
        assert "答复：已督促窗口加快办理" in page and "处理结果：部分属实" in page
    finally:
        await browser.close()
    other = PageClient(stack)
    try:  # someone else's inquiry page: not found
        await other.login(people.applicant(1).username)
        assert (await other.get(f"/inquiries/{filed['id']}")).status_code == 404
    finally:
        await other.close()


async def test_anonymous_consultations_are_limited_per_address(stack, people):
    """Each consultation starts a workflow: without a login one address may file only so many (429 with
    Retry-After, on the API and the guide page); a logged-in asker is not counted."""
    from api.throttle import AddressLimiter
    from tests.pages_client import PageClient, csrf_of

    saved = stack.app.state.inquiry_limiter
    stack.app.state.inquiry_limiter = AddressLimiter(2, 600)
    try:
        body = {"kind": "consultation", "item_code": ITEM, "text": "营业时间？", "contact": "13800000000"}
        codes = [(await stack.http.post("/api/inquiries", json=body)).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        r = await stack.http.post("/api/inquiries", json=body)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["detail"]["code"] == "too_many_requests"
        assert (await people.applicant(0).post("/api/inquiries", json=body)).status_code == 201
        browser = PageClient(stack, address="10.9.8.7")  # another address: its own count
        try:
            page = (await browser.get(f"/guide/{ITEM}")).text
            form = {"csrf_token": csrf_of(page), "text": "营业时间？", "contact": "13800000000"}
            codes = [(await browser.http.post(f"/guide/{ITEM}/ask", data=form)).status_code for _ in range(2)]
            assert codes == [303, 303]
            r = await browser.http.post(f"/guide/{ITEM}/ask", data=form)
            assert r.status_code == 429 and "请求过于频繁" in r.text
        finally:
            await browser.close()
    finally:
        stack.app.state.inquiry_limiter = saved
