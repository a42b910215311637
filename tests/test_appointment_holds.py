"""Who may hold how many window appointments (预约占号), and slots that have begun: one open booking per
person and case (or item, without a case), the same slot never twice; a slot that has begun (China
time) is neither listed nor bookable, and saying so."""
from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import select

from banjian import appointments as appt
from banjian.timefmt import CHINA
from tests.test_appointments import item_with_slots


def working_days(slots: list[dict]) -> list[str]:
    return sorted({s["date"] for s in slots})


async def test_a_person_holds_one_open_booking_per_item_and_never_the_same_slot_twice(stack, people):
    code = await item_with_slots(stack)
    u = people.applicant(0)
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = next(d for d in days if d > date.today().isoformat())
    a, b = f"{day}T09:00", f"{day}T10:00"
    first = await u.post("/api/appointments", json={"item_code": code, "slot": a})
    assert first.status_code == 201, first.text
    again = await u.post("/api/appointments", json={"item_code": code, "slot": a})
    assert again.status_code == 409 and again.json()["detail"]["code"] == "slot_already_booked"
    assert "无需重复预约" in again.json()["detail"]["message"]
    other = await u.post("/api/appointments", json={"item_code": code, "slot": b})
    detail = other.json()["detail"]
    assert other.status_code == 409 and detail["code"] == "already_booked" and detail["field"] == "item_code"
    assert "改约" in detail["message"] and "reschedule" in detail["message_en"]
    frees = {s["slot"]: s["free"] for s in (await u.get(f"/api/items/{code}/slots",
                                                       params={"from": day, "to": day})).json()["slots"]}
    assert frees == {a: 4, b: 5}  # the refused bookings took no place
    # rescheduling to the slot it already has is the same slot twice; to another slot is the way
    same = await u.post(f"/api/appointments/{first.json()['id']}/reschedule", json={"slot": a})
    assert same.status_code == 409 and same.json()["detail"]["code"] == "slot_already_booked"
    moved = await u.post(f"/api/appointments/{first.json()['id']}/reschedule", json={"slot": b})
    assert moved.status_code == 201, moved.text
    # another person is not held back; once cancelled, the person may book again
    assert (await people.applicant(1).post("/api/appointments", json={"item_code": code, "slot": b})).status_code == 201
    assert (await u.post(f"/api/appointments/{moved.json()['id']}/cancel")).status_code == 200
    assert (await u.post("/api/appointments", json={"item_code": code, "slot": a})).status_code == 201


async def test_one_open_booking_per_case_and_the_case_must_be_the_callers_own(stack, people):
    code = await item_with_slots(stack)
    u, stranger = stack.applicant(), people.applicant(1)
    cid = (await u.apply(code)).json()["id"]
    cid2 = (await u.apply(code)).json()["id"]
    other_item = (await u.apply("food-business-licence")).json()["id"]
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = next(d for d in days if d > date.today().isoformat())
    a, b = f"{day}T09:00", f"{day}T10:00"

    booked = await u.post("/api/appointments", json={"item_code": code, "slot": a, "case_id": cid})
    assert booked.status_code == 201 and booked.json()["case_id"] == cid, booked.text
    second = await u.post("/api/appointments", json={"item_code": code, "slot": b, "case_id": cid})
    assert second.status_code == 409 and second.json()["detail"]["code"] == "already_booked"
    assert second.json()["detail"]["field"] == "case_id" and "本办件" in second.json()["detail"]["message"]
    # another case of the same person has its own booking, but not in the same slot
    same = await u.post("/api/appointments", json={"item_code": code, "slot": a, "case_id": cid2})
    assert same.status_code == 409 and same.json()["detail"]["code"] == "slot_already_booked"
    assert (await u.post("/api/appointments", json={"item_code": code, "slot": b, "case_id": cid2})).status_code == 201
    # a case of someone else is unknown to the caller; a case of another item does not fit
    r = await stranger.post("/api/appointments", json={"item_code": code, "slot": b, "case_id": cid})
    assert r.status_code == 404
    r = await u.post("/api/appointments", json={"item_code": code, "slot": b, "case_id": other_item})
    assert r.status_code == 422 and r.json()["detail"]["code"] == "case_item_mismatch"
    # a reschedule keeps the booking's case
    day2 = next(d for d in days if d > day)
    moved = await u.post(f"/api/appointments/{booked.json()['id']}/reschedule", json={"slot": f"{day2}T09:00"})
    assert moved.status_code == 201 and moved.json()["case_id"] == cid, moved.text
    mine = [x for x in (await u.get("/api/appointments")).json()["items"] if x["status"] == "booked"]
    assert sorted((x["case_id"], x["slot"]) for x in mine) == sorted([(cid, f"{day2}T09:00"), (cid2, b)])


async def test_an_item_booking_without_a_case_blocks_a_second_one_for_a_case_of_the_item(stack, people):
    code = await item_with_slots(stack)
    u = stack.applicant()
    cid = (await u.apply(code)).json()["id"]
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = next(d for d in days if d > date.today().isoformat())
    assert (await u.post("/api/appointments", json={"item_code": code, "slot": f"{day}T09:00"})).status_code == 201
    r = await u.post("/api/appointments", json={"item_code": code, "slot": f"{day}T10:00", "case_id": cid})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "already_booked"
    assert "该事项" in r.json()["detail"]["message"]


async def test_a_booking_whose_slot_has_begun_no_longer_counts(stack, people):
    """An old booking that was never marked (no-show or not) holds nothing once its slot began."""
    code = await item_with_slots(stack)
    u = stack.applicant()
    yesterday = date.today() - timedelta(days=1)
    now = datetime.now(UTC)
    with stack.sessions() as session:
        session.add(appt.Appointment(id=appt.new_id(), item_code=code, department="amr",
                                     slot=f"{yesterday.isoformat()}T09:00", day=yesterday, username=u.username,
                                     status="booked", created_at=now, changed_at=now))
        session.commit()
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = next(d for d in days if d > date.today().isoformat())
    assert (await u.post("/api/appointments", json={"item_code": code, "slot": f"{day}T09:00"})).status_code == 201


async def test_slots_that_have_begun_are_not_offered_and_booking_one_says_the_time_has_passed(
        stack, people, monkeypatch):
    code = await item_with_slots(stack)
    u = people.applicant(2)
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = date.fromisoformat(next(d for d in days if d > date.today().isoformat()))
    # it is 09:30 in China on that working day (01:30 UTC): 09:00 has begun, 10:00 has not
    monkeypatch.setattr(appt, "utcnow", lambda: datetime.combine(day, time(9, 30), CHINA).astimezone(UTC))
    listed = (await u.get(f"/api/items/{code}/slots")).json()["slots"]
    assert listed[0]["slot"] == f"{day.isoformat()}T10:00"
    assert f"{day.isoformat()}T09:00" not in {s["slot"] for s in listed}
    earlier = (await u.get(f"/api/items/{code}/slots", params={"from": (day - timedelta(days=3)).isoformat(),
                                                                "to": day.isoformat()})).json()["slots"]
    assert [s["slot"] for s in earlier] == [f"{day.isoformat()}T10:00"]
    r = await u.post("/api/appointments", json={"item_code": code, "slot": f"{day.isoformat()}T09:00"})
    detail = r.json()["detail"]
    assert r.status_code == 422 and detail["code"] == "slot_passed" and detail["field"] == "slot"
    assert "已开始或已过去" in detail["message"] and "30 天" not in detail["message"]
    assert "already begun" in detail["message_en"]
    far = day + timedelta(days=45)
    r = await u.post("/api/appointments", json={"item_code": code, "slot": f"{far.isoformat()}T09:00"})
    assert r.status_code == 422 and r.json()["detail"]["code"] in ("slot_out_of_range", "not_working_day")
    assert (await u.post("/api/appointments", json={"item_code": code,
                                                    "slot": f"{day.isoformat()}T10:00"})).status_code == 201


async def one_person_racing_for_many_slots_keeps_one(stack) -> None:
    code = await item_with_slots(stack)
    u = stack.applicant()
    days = [d for d in working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
            if d > date.today().isoformat()][:5]
    slots = [f"{d}T{t}" for d in days for t in ("09:00", "10:00")]
    answers = await asyncio.gather(*(u.post("/api/appointments", json={"item_code": code, "slot": s})
                                     for s in slots))
    assert sorted(r.status_code for r in answers) == [201] + [409] * (len(slots) - 1)
    with stack.sessions() as session:
        held = session.exec(select(appt.SlotCount).where(appt.SlotCount.item_code == code)).all()
    assert sum(c.booked for c in held) == 1  # the refused ones took no place


async def test_one_person_racing_for_ten_slots_keeps_one_on_sqlite(stack):
    await one_person_racing_for_many_slots_keeps_one(stack)


async def test_one_person_racing_for_ten_slots_keeps_one_on_postgresql(pg_stack):
    await one_person_racing_for_many_slots_keeps_one(pg_stack)


async def test_no_booking_for_a_withdrawn_case(stack):
    code = await item_with_slots(stack)
    u = stack.applicant()
    cid = (await u.apply(code)).json()["id"]
    await u.ok(cid, "withdraw", "不办了")
    days = working_days((await u.get(f"/api/items/{code}/slots")).json()["slots"])
    day = next(d for d in days if d > date.today().isoformat())
    r = await u.post("/api/appointments", json={"item_code": code, "slot": f"{day}T09:00", "case_id": cid})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "case_closed"
