"""Consultations and complaints (咨询投诉): filing, the answer limit's warnings, the answer, the case note."""
from __future__ import annotations

import asyncio
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
