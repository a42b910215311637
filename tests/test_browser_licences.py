"""The public e-licence verification page in a real browser on a phone (375 px): what a QR code
scanned off a printed licence opens. Shares test_browser.py's Chromium and live server."""
from __future__ import annotations

import re

from playwright.async_api import expect

from tests.test_browser import PHONE, chromium, live_url, login, new_page, no_horizontal_scroll, shot
from tests.test_licence_verify_page import holder_and_licence

__all__ = ["chromium", "live_url", "new_page"]  # fixtures, used by name


async def test_verify_page_on_a_phone(stack, people, new_page):
    holder, me, licence_id = await holder_and_licence(stack, people, 40)
    # the holder opens 在线核验 from 我的电子证照
    page = await new_page(PHONE)
    await login(page, holder.username, "/my/licences")
    await expect(page.locator(".tag--valid", has_text="有效")).to_be_visible()
    await page.get_by_role("link", name="在线核验").click()
    await expect(page.get_by_role("heading", name="电子证照核验")).to_be_visible()
    verdict = page.locator(".verdict__word")
    await expect(verdict).to_have_text("✓ 有效")
    assert float(await verdict.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 36
    await expect(page.locator("#main").get_by_text(me["display_name"], exact=True)).to_be_visible()
    await no_horizontal_scroll(page)
    await shot(page, "licence-verify-phone")
    qr_url = page.url
    assert re.search(r"/licences/[^/]+/verify\?code=[A-Z2-9]{8}$", qr_url)

    # a stranger with only the licence number sees validity, not the holder; the code shows it
    stranger = await new_page(PHONE)
    await stranger.goto(f"/licences/{licence_id}/verify")
    await expect(stranger.locator(".verdict__word")).to_have_text("✓ 有效")
    await expect(stranger.get_by_text(me["display_name"])).to_have_count(0)
    await stranger.get_by_label("核验码").fill(qr_url.rsplit("=", 1)[1].lower())
    await stranger.get_by_role("button", name="查看持证主体").click()
    await expect(stranger.get_by_text(me["display_name"], exact=True)).to_be_visible()
    await no_horizontal_scroll(stranger)

    # revoked: the same page says so in large text, with the reason
    r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                   json={"action": "revoke", "comment": "吊销"})
    assert r.status_code == 200, r.text
    await stranger.reload()
    await expect(stranger.locator(".verdict__word")).to_have_text("✗ 无效")
    await expect(stranger.get_by_text("原因：已撤销")).to_be_visible()
    await no_horizontal_scroll(stranger)
    await shot(stranger, "licence-verify-revoked-phone")


async def test_the_printable_licence_is_readable_on_a_phone(stack, people, chromium, live_url):
    """A phone honours the page's viewport: without one the licence laid out at 980 px, scaled to 0.38."""
    holder, _, _ = await holder_and_licence(stack, people, 41)
    ctx = await chromium.new_context(base_url=live_url, viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = await ctx.new_page()
        await login(page, holder.username, "/my/licences")
        await page.get_by_role("link", name="查看并打印证照").click()
        await expect(page.get_by_role("heading", name="营业执照")).to_be_visible()
        assert await page.evaluate("window.visualViewport.scale") == 1
        await no_horizontal_scroll(page)
        await expect(page.get_by_text(re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")).first).to_be_visible()
        await shot(page, "licence-document-phone")
    finally:
        await ctx.close()


async def test_the_issuing_approver_suspends_a_licence_on_the_staff_page(stack, people, new_page):
    """The form beside each licence on 证照管理 posts with the session's CSRF token: it went out empty
    (its macro was imported without the page's context) and every change made there was refused."""
    _, _, licence_id = await holder_and_licence(stack, people, 42)
    page = await new_page(PHONE)
    await login(page, people.staff("amr", "approver").username, "/licences?status=valid")
    form = page.locator(f'form[action="/licences/{licence_id}/actions"]')
    await form.get_by_label("变更说明（必填）").fill("责令停业整改")
    await form.get_by_role("button", name="暂停").click()
    await expect(page.get_by_text("已暂停证照")).to_be_visible()
    assert re.search(r"/licences\?done=", page.url), page.url
    r = await stack.http.get(f"/api/licences/{licence_id}/verify")
    assert (r.json()["status"], r.json()["reason"]) == ("suspended", "suspended")
    await no_horizontal_scroll(page)
