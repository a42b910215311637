"""The clerk's /work page shows today's appointments and the department's open inquiries."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from banjian.appointments import Appointment
from banjian.timefmt import CHINA
from tests.pages_client import PageClient


def book(stack, day: date, time: str, username: str) -> str:
    """A booking of food-business-licence at the amr window, written straight into the read model."""
    booking, now = uuid.uuid4().hex[:16], datetime.now(UTC)
    with stack.sessions() as session:
        session.add(Appointment(id=booking, item_code="food-business-licence", department="amr",
                                slot=f"{day.isoformat()}T{time}", day=day, username=username, status="booked",
                                created_at=now, changed_at=now))
        session.commit()
    return booking


async def test_clerk_sees_todays_appointments_and_open_inquiries(stack, people):
    question = f"营业执照遗失怎么办-{uuid.uuid4().hex[:6]}"
    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": question, "contact": "13800000000"})
    assert r.status_code == 201, r.text
    book(stack, datetime.now(CHINA).date(), "23:58", "booker-x")
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        page = (await browser.get("/work")).text
    finally:
        await browser.close()
    assert "今日预约" in page and "23:58" in page and "booker-x" in page
    assert "待答复的咨询投诉" in page and question in page
    applicant = PageClient(stack)
    try:
        await applicant.login(people.applicant(0).username)
        assert "今日预约" not in (await applicant.get("/work")).text
    finally:
        await applicant.close()


async def test_clerk_records_a_no_show_and_answers_a_complaint_from_the_desk(stack, people):
    """The front desk acts too: 登记爽约 once a slot has begun, 答复 a complaint about a case."""
    from tests.pages_client import csrf_of

    owner = people.applicant(0)
    cid = (await owner.apply("food-business-licence")).json()["id"]
    r = await owner.post("/api/inquiries", json={"kind": "complaint", "case_id": cid, "text": "窗口态度差"})
    assert r.status_code == 201, r.text
    inquiry = r.json()["id"]
    booking = book(stack, datetime.now(CHINA).date(), "00:00", "late-comer")
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        page = (await browser.get("/work")).text
        assert f'action="/work/appointments/{booking}/no_show"' in page and "登记爽约" in page
        r = await browser.http.post(f"/work/appointments/{booking}/no_show", data={"csrf_token": csrf_of(page)})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "已登记爽约" in page
        r = await browser.http.post(f"/work/inquiries/{inquiry}/answer", data={
            "csrf_token": csrf_of(page), "text": "已约谈窗口人员并整改", "outcome": "upheld"})
        assert r.status_code == 303, r.text
        assert "已答复" in (await browser.get(r.headers["location"])).text
    finally:
        await browser.close()
    with stack.sessions() as session:
        assert session.get(Appointment, booking).status == "no_show"
    answered = (await owner.get(f"/api/inquiries/{inquiry}")).json()
    assert answered["status"] == "answered" and answered["outcome"] == "upheld"


async def test_the_desk_names_people_items_and_cases_and_shows_the_whole_question(stack, people):
    """A clerk reads who booked (their name), for which item (its name, never its code) and which case —
    also a booking made before applying, once the person has filed — and the whole text of a question
    with the case or item it is about and how to reach the asker."""
    owner = people.applicant(0)
    book(stack, datetime.now(CHINA).date(), "00:01", owner.username)  # this morning, before applying
    case = (await owner.apply("food-business-licence")).json()
    long_text = "我想问一下" + "经营场所面积怎么计算" * 20 + f"-{uuid.uuid4().hex[:6]}"
    r = await owner.post("/api/inquiries", json={"kind": "complaint", "case_id": case["id"], "text": long_text})
    assert r.status_code == 201, r.text
    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": "需要带原件吗", "contact": "13911112222"})
    assert r.status_code == 201, r.text
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        page = (await browser.get("/work")).text
    finally:
        await browser.close()
    desk = page[page.index('id="desk"'):]
    row = desk[:desk.index("待答复的咨询投诉")]
    assert "food-business-licence" not in row and "食品经营许可" in row
    name = (await owner.get("/api/me")).json()["display_name"]
    assert name and name != owner.username and name in row and f'href="/cases/{case["id"]}"' in row
    inquiries = desk[desk.index("待答复的咨询投诉"):]
    assert long_text in inquiries and case["case_no"] in inquiries
    assert "13911112222" in inquiries and "事项：食品经营许可" in inquiries


async def test_an_empty_or_too_long_answer_comes_back_in_place_with_the_text_kept(stack, people):
    from tests.pages_client import csrf_of

    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": "可以邮寄吗", "contact": "13800000000"})
    inquiry = r.json()["id"]
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        page = (await browser.get("/work")).text
        typed = "答" * 5001
        r = await browser.http.post(f"/work/inquiries/{inquiry}/answer", data={"csrf_token": csrf_of(page), "text": typed})
        assert r.status_code == 422 and "答复未提交" in r.text and typed in r.text
        assert f'href="#answer-{inquiry}"' in r.text and "<details open>" in r.text
        r = await browser.http.post(f"/work/inquiries/{inquiry}/answer", data={"csrf_token": csrf_of(page), "text": "  "})
        assert r.status_code == 422 and "请填写答复内容" in r.text
        r = await browser.http.post("/work/inquiries/no-such/answer", data={"csrf_token": csrf_of(page), "text": ""})
        assert r.status_code == 404
    finally:
        await browser.close()
    assert (await people.clerk.get(f"/api/inquiries/{inquiry}")).json()["status"] == "open"


async def test_the_clerk_looks_at_another_days_bookings(stack, people):
    """The desk shows today's bookings by default, and any day's by 预约日期 / 前一天 / 后一天."""
    ahead = datetime.now(CHINA).date() + timedelta(days=3)
    booker = f"booker-{uuid.uuid4().hex[:6]}"
    book(stack, ahead, "10:30", booker)
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        today_page = (await browser.get("/work")).text
        r = await browser.get(f"/work?day={ahead.isoformat()}")
        later = (await browser.get(f"/work?day={(ahead - timedelta(days=1)).isoformat()}")).text
        bad = await browser.get("/work?day=2026-13-40")
    finally:
        await browser.close()
    assert "今日预约" in today_page and booker not in today_page and "<label for=\"desk-day\">预约日期</label>" in today_page
    assert r.status_code == 200 and booker in r.text and "10:30" in r.text
    assert f"{ahead.year}年{ahead.month}月{ahead.day}日预约" in r.text and "今日预约" not in r.text
    nxt = ahead + timedelta(days=1)
    assert f'href="/work?scope=mine&day={nxt.isoformat()}#desk">后一天' in r.text
    assert booker not in later  # the day before holds none of its bookings
    # a bad date: the inbox again, with the problem named beside the field (today's bookings meanwhile)
    assert bad.status_code == 422 and 'id="desk-day-error">预约日期应为' in bad.text
    assert 'href="#desk-day">预约日期应为' in bad.text and "今日预约" in bad.text


async def test_a_handler_answers_the_departments_inquiries_from_the_inbox_without_its_bookings(stack, people):
    """Any of the department's staff may answer (the API says so); only clerks keep the window bookings."""
    from tests.pages_client import csrf_of

    question = f"办理食品经营许可需要多久-{uuid.uuid4().hex[:6]}"
    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": question, "contact": "13800000001"})
    assert r.status_code == 201, r.text
    inquiry = r.json()["id"]
    browser = PageClient(stack)
    try:
        await browser.login(people.handler.username)
        page = (await browser.get("/work")).text
        assert "待答复的咨询投诉" in page and question in page
        assert "今日预约" not in page and 'id="desk-day"' not in page
        r = await browser.http.post(f"/work/inquiries/{inquiry}/answer",
                                    data={"csrf_token": csrf_of(page), "text": "一般为10个工作日。"})
        assert r.status_code == 303, r.text
    finally:
        await browser.close()
    answered = (await people.handler.get("/api/inquiries", params={"scope": "department"})).json()["items"]
    assert next(i for i in answered if i["id"] == inquiry)["status"] == "answered"
