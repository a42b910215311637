"""Window appointments on the case page: any day of the booking window, then its free slots; the
booking is the case's, and the page moves (改约) and cancels (取消预约) it."""
from __future__ import annotations

import re
from datetime import date, timedelta

from tests.pages_client import PageClient
from tests.test_appointments import item_with_slots

DAY_OPTION = r'<option value="(\d{4}-\d\d-\d\d)"[^>]*>([^<]*)</option>'
SLOT_OPTION = r'<option value="(\d{4}-\d\d-\d\dT\d\d:\d\d)"[^>]*>([^<]*)</option>'


async def test_the_case_page_offers_every_day_of_the_window_and_books_moves_and_cancels(stack, people):
    code = await item_with_slots(stack)  # 09:00 and 10:00, 5 places, 30 days ahead
    u = stack.applicant()
    cid = (await u.apply(code)).json()["id"]
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
        assert "预约日期" in page and "查看当日时段" in page and 'name="slot_day"' in page
        day_select = page[page.index('name="slot_day"'):]
        day_select = day_select[:day_select.index("</select>")]
        assert "请选择" not in day_select  # the slots listed are always those of the day shown
        days = [d for d, _ in re.findall(DAY_OPTION, page)]
        assert days == sorted(days) and len(days) >= 15, days  # the whole window, not two days
        assert date.fromisoformat(days[-1]) >= date.today() + timedelta(days=25)
        assert all("星期" in text and "个时段可约" in text for _, text in re.findall(DAY_OPTION, page))
        # a day late in the window: the slots of that day alone
        late = days[-3]
        page = (await browser.get(f"/cases/{cid}", params={"slot_day": late})).text
        assert re.search(rf'<option value="{late}" selected', page)
        slots = [s for s, _ in re.findall(SLOT_OPTION, page)]
        assert slots == [f"{late}T09:00", f"{late}T10:00"], slots
        assert f'action="/cases/{cid}/book"' in page and ">预约</button>" in page

        r = await browser.submit(f"/cases/{cid}/book", page, {"slot": f"{late}T09:00"})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        month, day = int(late[5:7]), int(late[8:10])
        weekday = "一二三四五六日"[date.fromisoformat(late).weekday()]
        assert "预约成功" in page and f"已预约：<strong>{month}月{day}日 星期{weekday} 09:00–10:00</strong>" in page
        # 改约 offers the day's other slots, not the one already held
        assert [s for s, _ in re.findall(SLOT_OPTION, page)] == [f"{late}T10:00"]
        booked = next(a for a in (await u.get("/api/appointments")).json()["items"] if a["item_code"] == code)
        assert booked["case_id"] == cid and booked["status"] == "booked"
        aid = booked["id"]
        assert f'action="/cases/{cid}/appointments/{aid}/cancel"' in page and ">取消预约</button>" in page
        assert f'action="/cases/{cid}/appointments/{aid}/reschedule"' in page and ">改约</button>" in page
        assert f'action="/cases/{cid}/book"' not in page  # one booking per case: change it instead

        # a second booking for the case (an old page, say) is refused beside the field
        r = await browser.submit(f"/cases/{cid}/book", page, {"slot": f"{late}T10:00"})
        assert r.status_code == 409 and 'id="slot-error"' in r.text and "改约" in r.text

        r = await browser.submit(f"/cases/{cid}/appointments/{aid}/reschedule", page, {"slot": f"{late}T10:00"})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "改约成功" in page and f"已预约：<strong>{month}月{day}日 星期{weekday} 10:00–11:00</strong>" in page
        mine = {a["id"]: a for a in (await u.get("/api/appointments")).json()["items"] if a["item_code"] == code}
        assert mine[aid]["status"] == "rescheduled"
        new_id = mine[aid]["rescheduled_to"]
        assert mine[new_id]["slot"] == f"{late}T10:00" and mine[new_id]["case_id"] == cid

        stranger = PageClient(stack)
        try:
            await stranger.login(people.applicant(1).username)
            other = (await stranger.get("/my/cases")).text
            r = await stranger.submit(f"/cases/{cid}/appointments/{new_id}/cancel", other)
            assert r.status_code == 404
        finally:
            await stranger.close()

        r = await browser.submit(f"/cases/{cid}/appointments/{new_id}/cancel", page)
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "预约已取消" in page and "已预约：" not in page and f'action="/cases/{cid}/book"' in page
        r = await browser.submit(f"/cases/{cid}/appointments/{new_id}/cancel", page)
        assert r.status_code == 409 and "已取消" in r.text
    finally:
        await browser.close()
    assert (await u.get("/api/appointments")).json()["items"][0]["status"] in ("cancelled", "rescheduled")


async def test_a_visit_is_booked_from_the_guide_before_applying_and_moves_with_the_application(stack, people):
    """预约窗口办理 on the service guide: log in, pick a slot, move or cancel it there; applying then makes
    it the case's booking. Staff get a clear 403 page; an item without slots, a 404 page."""
    from tests.pages_client import csrf_of

    code = await item_with_slots(stack)
    anonymous = PageClient(stack)
    try:
        guide = (await anonymous.get(f"/guide/{code}")).text
        assert "窗口预约" in guide and f'href="/login?next=/guide/{code}/book"' in guide
        assert (await anonymous.get(f"/guide/{code}/book")).status_code == 303  # to the login page
    finally:
        await anonymous.close()
    u = stack.applicant()
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/guide/{code}/book")).text
        assert "预约日期" in page
        # a day after today: both of its slots are free whatever the hour (today's first may have begun)
        later = next(d for d, _ in re.findall(DAY_OPTION, page) if d > date.today().isoformat())
        page = (await browser.get(f"/guide/{code}/book", params={"slot_day": later})).text
        slots = [s for s, _ in re.findall(SLOT_OPTION, page)]
        assert slots == [f"{later}T09:00", f"{later}T10:00"], slots
        r = await browser.http.post(f"/guide/{code}/book", data={"csrf_token": csrf_of(page), "slot": ""})
        assert r.status_code == 422 and "请选择预约时段" in r.text
        r = await browser.http.post(f"/guide/{code}/book", data={"csrf_token": csrf_of(page), "slot": "2020-01-06T09:00"})
        assert r.status_code == 422 and "已开始或已过去" in r.text
        r = await browser.http.post(f"/guide/{code}/book", data={"csrf_token": csrf_of(page), "slot": slots[0]})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "预约成功" in page and "已预约：" in page and "改约到" in page
        booking = re.search(rf'action="/guide/{code}/appointments/(\w+)/reschedule"', page).group(1)
        r = await browser.http.post(f"/guide/{code}/appointments/{booking}/reschedule",
                                    data={"csrf_token": csrf_of(page), "slot": slots[1]})
        assert r.status_code == 303, r.text
        page = (await browser.get(r.headers["location"])).text
        assert "改约成功" in page
        cid = (await u.apply(code)).json()["id"]
        mine = [a for a in (await u.get("/api/appointments")).json()["items"] if a["status"] == "booked"]
        assert [(a["slot"], a["case_id"]) for a in mine] == [(slots[1], cid)]
        assert "未关联办件" not in (await browser.get(f"/cases/{cid}")).text
        assert "已预约：" not in (await browser.get(f"/guide/{code}/book")).text  # the case's now
    finally:
        await browser.close()
    staff = PageClient(stack)
    try:
        await staff.login(people.clerk.username)
        assert (await staff.get(f"/guide/{code}/book")).status_code == 403
        assert (await staff.get("/guide/food-business-licence/book")).status_code == 404
    finally:
        await staff.close()
