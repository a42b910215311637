"""Window appointments (预约): slots on working days, atomic booking at capacity, cancel, reschedule,
no-show."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from banjian.appointments import Appointment, SlotCount
from tests.test_api_cases import as_json, fresh_item

SLOTS = {"times": ["09:00-10:00", "10:00-11:00"], "capacity": 5, "days_ahead": 30}


async def item_with_slots(stack) -> str:
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    d = fresh_item(appointments=SLOTS)
    d["channels"] = {**d["channels"], "appointment": True}
    r = await stack.http.post("/api/items", content=as_json(d).encode(),
                              headers={**await admin.headers(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    return d["code"]


async def concurrent_bookings_stop_at_capacity(stack) -> None:
    code = await item_with_slots(stack)
    clients = [stack.applicant() for _ in range(20)]
    await asyncio.gather(*(c.token() for c in clients))
    first = (await clients[0].get(f"/api/items/{code}/slots")).json()["slots"]
    slot = next(s for s in first if s["date"] > date.today().isoformat())["slot"]
    answers = await asyncio.gather(*(c.post("/api/appointments", json={"item_code": code, "slot": slot})
                                     for c in clients))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 5 + [409] * 15, codes
    with stack.sessions() as session:
        assert session.get(SlotCount, (code, slot)).booked == 5
        booked = session.exec(select(Appointment).where(Appointment.item_code == code)).all()
    assert len(booked) == 5 and {b.status for b in booked} == {"booked"}
    after = (await clients[0].get(f"/api/items/{code}/slots", params={"from": slot[:10], "to": slot[:10]})).json()
    assert next(s for s in after["slots"] if s["slot"] == slot)["free"] == 0


async def test_twenty_concurrent_clients_book_five_places_on_sqlite(stack):
    await concurrent_bookings_stop_at_capacity(stack)


async def test_twenty_concurrent_clients_book_five_places_on_postgresql(pg_stack):
    await concurrent_bookings_stop_at_capacity(pg_stack)


async def test_slots_follow_the_calendar_and_bookings_change(stack, people):
    code = await item_with_slots(stack)
    u = people.applicant(0)
    today = date.today()
    slots = (await u.get(f"/api/items/{code}/slots", params={"from": (today + timedelta(days=1)).isoformat(),
                                                              "to": (today + timedelta(days=14)).isoformat()})).json()
    days = {s["date"] for s in slots["slots"]}
    assert all(s["capacity"] == 5 and s["free"] == 5 for s in slots["slots"])
    off = next(today + timedelta(days=n) for n in range(1, 15) if (today + timedelta(days=n)).isoformat() not in days)
    r = await u.post("/api/appointments", json={"item_code": code, "slot": f"{off.isoformat()}T09:00"})
    assert r.status_code == 422 and r.json()["detail"]["code"] == "not_working_day"
    day = sorted(days)[0]
    for bad in (f"{day}T09:30", "2026-13-01T09:00", f"{(today - timedelta(days=3)).isoformat()}T09:00"):
        r = await u.post("/api/appointments", json={"item_code": code, "slot": bad})
        assert r.status_code == 422, bad
    assert (await people.clerk.post("/api/appointments", json={"item_code": code,
                                                                "slot": f"{day}T09:00"})).status_code == 403

    booked = await u.post("/api/appointments", json={"item_code": code, "slot": f"{day}T09:00"})
    assert booked.status_code == 201, booked.text
    aid = booked.json()["id"]
    moved = await u.post(f"/api/appointments/{aid}/reschedule", json={"slot": f"{day}T10:00"})
    assert moved.status_code == 201, moved.text
    frees = {s["slot"]: s["free"] for s in (await u.get(f"/api/items/{code}/slots",
                                                       params={"from": day, "to": day})).json()["slots"]}
    assert frees == {f"{day}T09:00": 5, f"{day}T10:00": 4}
    assert (await u.post(f"/api/appointments/{aid}/cancel")).status_code == 409  # moved already
    assert (await people.applicant(1).post(f"/api/appointments/{moved.json()['id']}/cancel")).status_code == 404
    r = await u.post(f"/api/appointments/{moved.json()['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    mine = (await u.get("/api/appointments")).json()
    assert {a["status"] for a in mine["items"] if a["item_code"] == code} == {"rescheduled", "cancelled"}


async def test_a_no_show_is_recorded_by_the_clerk_and_counted(stack, people):
    code = await item_with_slots(stack)
    u = people.applicant(0)
    yesterday = date.today() - timedelta(days=1)
    now = datetime.now(UTC)
    with stack.sessions() as session:  # a booking whose slot has passed
        session.add(Appointment(id=uuid.uuid4().hex[:16], item_code=code, department="amr",
                                slot=f"{yesterday.isoformat()}T09:00", day=yesterday, username=u.username,
                                status="booked", created_at=now, changed_at=now))
        session.commit()
    listed = (await people.clerk.get("/api/appointments", params={"scope": "department",
                                                                 "day": yesterday.isoformat()})).json()
    aid = next(a["id"] for a in listed["items"] if a["item_code"] == code)
    assert (await u.post(f"/api/appointments/{aid}/no_show")).status_code == 403
    assert (await stack.staff("hcd", "clerk").post(f"/api/appointments/{aid}/no_show")).status_code == 404
    r = await people.clerk.post(f"/api/appointments/{aid}/no_show")
    assert r.status_code == 200 and r.json()["status"] == "no_show"
    assert (await people.clerk.post(f"/api/appointments/{aid}/no_show")).status_code == 409
    with stack.sessions() as session:  # what the supervision figures count
        no_shows = session.exec(select(Appointment).where(Appointment.department == "amr",
                                                          Appointment.status == "no_show")).all()
    assert aid in {a.id for a in no_shows}


async def test_slots_beyond_the_booking_window_are_not_listed(stack, people):
    """Only what can be booked is offered: a range past `days_ahead` lists nothing there."""
    code = await item_with_slots(stack)
    u = people.applicant(0)
    last = date.today() + timedelta(days=SLOTS["days_ahead"])
    far = (await u.get(f"/api/items/{code}/slots", params={"from": (last - timedelta(days=6)).isoformat(),
                                                            "to": (last + timedelta(days=20)).isoformat()})).json()
    assert far["slots"] and max(s["date"] for s in far["slots"]) <= last.isoformat()
    beyond = (await u.get(f"/api/items/{code}/slots", params={"from": (last + timedelta(days=1)).isoformat(),
                                                               "to": (last + timedelta(days=25)).isoformat()})).json()
    assert beyond["slots"] == []
    # and every slot listed can be booked
    r = await u.post("/api/appointments", json={"item_code": code, "slot": far["slots"][-1]["slot"]})
    assert r.status_code == 201, r.text


async def test_a_booking_made_before_applying_becomes_the_cases(stack, people):
    """Booked for the item, then applied: the booking is the new case's (one visit), and the case page no
    longer calls it 未关联办件; a second booking for the case is still refused."""
    u = people.applicant(1)
    code = "marriage-registration-appointment"
    slot = (await u.get(f"/api/items/{code}/slots")).json()["slots"][-1]["slot"]
    booked = await u.post("/api/appointments", json={"item_code": code, "slot": slot})
    assert booked.status_code == 201, booked.text
    r = await u.apply(code)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    mine = {a["id"]: a for a in (await u.get("/api/appointments")).json()["items"]}
    assert mine[booked.json()["id"]]["case_id"] == cid
    again = await u.post("/api/appointments", json={"item_code": code, "slot": slot[:11] + "10:00", "case_id": cid})
    assert again.status_code == 409 and again.json()["detail"]["code"] in ("already_booked", "slot_already_booked")
    from tests.pages_client import PageClient

    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
    finally:
        await browser.close()
    assert "已预约：" in page and "未关联办件" not in page
    assert (await u.ok(cid, "withdraw"))["status"] == "withdrawn"  # leaves others free to book
