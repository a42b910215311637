"""A window clerk's journey in a real browser (Chromium): find a walk-in's case by the id number as
read out, accept it from the keyboard, and print the acceptance notice — A4, the toolbar and the
site's navigation gone on paper, the QR code drawn whole in its box."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from banjian.ids import make_citizen_id
from tests.test_browser import DESKTOP, chromium, live_url, login, new_page, shot

__all__ = ["chromium", "live_url", "new_page"]  # fixtures shared with the other journeys

ITEM = "food-business-licence"


@pytest.mark.timeout(180)
async def test_clerk_finds_by_id_number_accepts_by_keyboard_and_prints_the_notice(stack, people, new_page):
    clerk = people.clerk
    number = make_citizen_id("330106", seq=51)
    filed = await clerk.apply(ITEM, applicant={"kind": "citizen", "id_number": number, "name": "钱七"},
                              channel="window")
    assert filed.status_code == 201, filed.text
    case = filed.json()

    page = await new_page(DESKTOP)
    await login(page, clerk.username, "/work")
    search = page.get_by_label("办件查询")
    await search.focus()
    await page.keyboard.type(f"{number[:6]} {number[6:14]} {number[14:]}")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await page.get_by_role("link", name=case["item_name"]).first.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await page.get_by_role("button", name="受理", exact=True).focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_text("已完成：受理")).to_be_visible()
    await page.get_by_role("link", name="打印受理通知书").focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="受理通知书")).to_be_visible()
    await expect(page.get_by_role("button", name="打印")).to_be_visible()
    await shot(page, "window-acceptance-notice")

    await page.emulate_media(media="print")
    await expect(page.get_by_role("button", name="打印")).to_be_hidden()
    assert await page.locator("header, nav, footer").count() == 0
    # the QR code scales to its box: a viewBox holding the whole drawing (else the print clips it)
    whole = await page.evaluate("""() => {
        const svg = document.querySelector('.qr svg'); const vb = svg.viewBox.baseVal; const b = svg.getBBox();
        const box = svg.getBoundingClientRect();
        return !!vb && vb.width > 0 && b.x >= vb.x && b.x + b.width <= vb.x + vb.width && box.width > 80 && box.width < 160;
    }""")
    assert whole
