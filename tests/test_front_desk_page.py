"""The clerk's /work page shows today's appointments and the department's open inquiries."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from banjian.appointments import Appointment
from banjian.timefmt import CHINA
from tests.pages_client import PageClient


async def test_clerk_sees_todays_appointments_and_open_inquiries(stack, people):
    question = f"营业执照遗失怎么办-{uuid.uuid4().hex[:6]}"
    r = await stack.http.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": question, "contact": "13800000000"})
    assert r.status_code == 201, r.text
    today, now = datetime.now(CHINA).date(), datetime.now(UTC)
    with stack.sessions() as session:
        session.add(Appointment(id=uuid.uuid4().hex[:16], item_code="food-business-licence", department="amr",
                                slot=f"{today.isoformat()}T23:58", day=today, username="booker-x", status="booked",
                                created_at=now, changed_at=now))
        session.commit()
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
