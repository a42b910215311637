"""在线咨询 on a phone (375 px), in a real browser: a citizen without an account asks on the service
guide, the window clerk answers at the front desk, the citizen reads the answer with the 查询码."""
from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.test_browser import PHONE, chromium, live_url, login, new_page, no_horizontal_scroll, shot

__all__ = ["chromium", "live_url", "new_page"]  # the journeys' fixtures, shared with tests/test_browser.py


async def test_a_citizen_asks_without_an_account_and_reads_the_answer_on_a_phone(stack, people, new_page):
    page = await new_page(PHONE)
    await page.goto("/guide/driving-licence-replacement")
    await expect(page.get_by_role("heading", name="在线咨询")).to_be_visible()
    await page.get_by_role("button", name="提交咨询").click()
    await expect(page.get_by_role("alert")).to_contain_text("请留下联系方式")
    await no_horizontal_scroll(page)
    question = f"补领的驾驶证可以寄到外地吗-{uuid.uuid4().hex[:4]}"
    await page.get_by_label("咨询内容").fill(question)
    await page.get_by_label("联系方式").fill("13800001111")
    await page.get_by_role("button", name="提交咨询").click()
    await expect(page.get_by_role("heading", name="咨询已提交")).to_be_visible()
    await no_horizontal_scroll(page)
    await shot(page, "consult-filed")
    link = page.url

    clerk = await new_page(PHONE)
    await login(clerk, people.staff("psb", "clerk").username, "/work")
    row = clerk.get_by_role("row").filter(has_text=question)
    await row.get_by_text("答复", exact=True).click()  # the <summary> opens the form, no script needed
    await row.get_by_label("答复内容").fill("可以，邮寄到全国各地。")
    await row.get_by_role("button", name="确认").click()
    await expect(clerk.get_by_text("已答复")).to_be_visible()
    await no_horizontal_scroll(clerk)

    await page.goto(link.replace("new=1&", ""))
    await expect(page.get_by_text("可以，邮寄到全国各地。")).to_be_visible()
    await no_horizontal_scroll(page)
    await shot(page, "consult-answered")
