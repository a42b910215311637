"""Appointment reminders (预约提醒): the day before a booked slot, an event reaches the feed's
subscribers; a cancelled booking is not reminded. Durable timers, advanced by time skipping."""
from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from temporalio.testing import TimeSkipper
from temporalio.testing._timeskipping import TimeSkippingConfig

from banjian.appointment_reminders import reminder_data, reminder_time
from banjian.appointments import Appointment
from banjian.items.schema import ItemDefinition
from banjian.timefmt import CHINA
from tests.feed_receiver import subscribed_receiver
from tests.test_api_cases import definition
from workflows.appointment_reminder import reminder_workflow_id

ITEM = "marriage-registration-appointment"  # offers window slots
SECRET = "reminder-test-secret-0123456789"


def test_the_reminder_goes_at_nine_the_day_before():
    now = datetime(2026, 12, 1, 8, 0, tzinfo=CHINA)
    assert reminder_time("2026-12-04T10:00", now) == datetime(2026, 12, 3, 9, 0, tzinfo=CHINA)
    assert reminder_time("2026-12-02T10:00", now.replace(hour=15)) == now.replace(hour=15)  # booked late: at once
    assert reminder_time("2026-12-01T07:00", now) is None  # the slot has begun


def _booking(slot: str, item_code: str = ITEM) -> Appointment:
    now = datetime.now(UTC)
    return Appointment(id="a1", item_code=item_code, department="civil", slot=slot, day=date.fromisoformat(slot[:10]),
                       username="zhangsan", status="booked", created_at=now, changed_at=now)


def test_the_reminder_says_when_and_where_in_china_time():
    item = ItemDefinition.model_validate(definition(ITEM))
    data = reminder_data(_booking("2026-12-04T13:30"), item)
    assert data["starts_at"] == "2026-12-04T13:30:00+08:00" and data["ends_at"] == "2026-12-04T14:30:00+08:00"
    assert data["time"] == "13:30-14:30" and data["place"] == "市民政局婚姻登记处（市民中心一楼）"
    assert data["item_name"] == "婚姻登记预约"
    text = data["reminder"]
    assert "2026年12月4日（星期五）13:30—14:30" in text and "市民政局婚姻登记处（市民中心一楼）" in text
    assert "明天" not in text and "取消或改约" in text


def test_without_a_place_of_handling_the_reminder_names_the_implementing_body():
    d = definition("food-business-licence")
    d.pop("location", None)
    d["appointments"] = {"times": ["09:00-10:00"], "capacity": 2}
    item = ItemDefinition.model_validate(d)
    data = reminder_data(_booking("2026-12-07T09:00", item.code), item)
    assert data["place"] == item.implementing_body.name and f"地点：{item.implementing_body.name}" in data["reminder"]
    assert "2026年12月7日（星期一）09:00—10:00" in data["reminder"]
    # an item no longer offered: the time still, the place unknown
    gone = reminder_data(_booking("2026-12-07T09:00", "gone-item"), None)
    assert gone["starts_at"] == "2026-12-07T09:00:00+08:00" and gone["ends_at"] is None and gone["place"] is None
    assert "2026年12月7日（星期一）09:00" in gone["reminder"] and "地点" not in gone["reminder"]



async def _advance(stack, appointment_id: str) -> None:
    handle = stack.client.get_workflow_handle(reminder_workflow_id(appointment_id))
    skipper = TimeSkipper(stack.client, config=TimeSkippingConfig(disable_propagation=True))
    await skipper.fast_forward(handle, timedelta(days=40))  # past the day before any bookable slot
    assert await handle.result() in (True, False)


async def test_the_reminder_event_reaches_a_subscriber(stack, people):
    admin = people.admin
    async with subscribed_receiver(stack, admin, SECRET, (18150, 18198), "sms") as receiver:
        u = people.applicant(0)
        slots = (await u.get(f"/api/items/{ITEM}/slots")).json()["slots"]
        later = [s["slot"] for s in slots if date.fromisoformat(s["date"]) >= date.today() + timedelta(days=3)]
        keep, drop = later[0], later[1]
        dropped = (await u.post("/api/appointments", json={"item_code": ITEM, "slot": drop})).json()
        assert (await u.post(f"/api/appointments/{dropped['id']}/cancel")).status_code == 200
        booked = (await u.post("/api/appointments", json={"item_code": ITEM, "slot": keep})).json()
        await asyncio.gather(_advance(stack, booked["id"]), _advance(stack, dropped["id"]))
        events = receiver.state.received.events
        for _ in range(150):
            if any(e["case_id"] == f"appt-{booked['id']}" for e in events):
                break
            await asyncio.sleep(0.1)
        mine = [e for e in events if e["action"] == "appointment_reminder" and e["data"]["username"] == u.username]
        assert len(mine) == 1, mine
        event = mine[0]
        assert event["case_id"] == f"appt-{booked['id']}" and event["seq"] == 1 and event["case_no"] is None
        assert event["data"]["slot"] == keep and event["data"]["status"] == "booked"
        day = date.fromisoformat(keep[:10])
        assert event["data"]["starts_at"] == f"{keep}:00+08:00" and event["data"]["place"] == "市民政局婚姻登记处（市民中心一楼）"
        assert f"{day.year}年{day.month}月{day.day}日" in event["data"]["reminder"] and keep[11:] in event["data"]["reminder"]
        assert "市民政局婚姻登记处" in event["data"]["reminder"]
        assert receiver.state.received.bad_signatures == 0
        assert datetime.fromisoformat(event["at"]).astimezone(UTC) <= datetime.now(UTC)
