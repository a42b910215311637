"""A window appointment booked, moved and cancelled on a phone (375 px), in a real browser, without
JavaScript of our own: pick a day of the booking window, then one of its slots."""
from __future__ import annotations

import re

from playwright.async_api import expect

from tests.test_browser import PHONE, chromium, live_url, login, new_page, no_horizontal_scroll, shot

__all__ = ["chromium", "live_url", "new_page"]  # the journeys' fixtures, shared with tests/test_browser.py

MARRIAGE = "marriage-registration-appointment"


async def test_applicant_books_moves_and_cancels_a_window_slot_on_a_phone(stack, new_page):
    applicant = stack.applicant()
    cid = (await applicant.apply(MARRIAGE)).json()["id"]
    page = await new_page(PHONE)
    await login(page, applicant.username, f"/cases/{cid}")
    await expect(page.get_by_role("heading", name="窗口预约")).to_be_visible()
    days = page.get_by_label("预约日期")
    values = await days.locator("option").evaluate_all("os => os.map(o => o.value).filter(v => v)")
    assert len(values) >= 15, values  # the whole 30-day window
    await days.select_option(values[-2])
    await page.get_by_role("button", name="查看当日时段").click()
    slot = page.get_by_label("预约时段")
    slots = await slot.locator("option").evaluate_all("os => os.map(o => o.value).filter(v => v)")
    assert slots and all(s.startswith(values[-2]) for s in slots), slots
    await slot.select_option(slots[0])
    await page.get_by_role("button", name="预约", exact=True).click()
    await expect(page.get_by_text("预约成功")).to_be_visible()
    await expect(page.get_by_text("已预约：")).to_be_visible()
    await no_horizontal_scroll(page)
    await shot(page, "case-booking")

    await page.get_by_label("改约到").select_option(slots[1])
    await page.get_by_role("button", name="改约", exact=True).click()
    await expect(page.get_by_text("改约成功")).to_be_visible()
    month, day = int(slots[1][5:7]), int(slots[1][8:10])
    held = re.compile(rf"^{month}月{day}日 星期. {slots[1][11:]}–\d\d:\d\d$")  # the day, the weekday, start–end
    await expect(page.get_by_text(held)).to_be_visible()

    await page.get_by_role("button", name="取消预约").click()
    await expect(page.get_by_text("预约已取消")).to_be_visible()
    await expect(page.get_by_text("已预约：")).to_have_count(0)
    await no_horizontal_scroll(page)
    mine = (await applicant.get("/api/appointments")).json()["items"]
    assert sorted(a["status"] for a in mine) == ["cancelled", "rescheduled"]
