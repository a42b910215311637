"""A department's flow author in a real browser (Chromium): a new version started from the current one
on /admin/items, a mistake shown in place, corrected, compared with the current version (版本对比),
published, and the item suspended, which its guide page then says instead of offering 在线申请."""
from __future__ import annotations

import json
import re
import uuid

import yaml
from playwright.async_api import expect

from tests.test_browser import chromium, live_url, login, new_page, shot

__all__ = ["chromium", "live_url", "new_page"]  # the journeys' fixtures, shared with tests/test_browser.py

FOOD = "food-business-licence"


async def test_an_author_drafts_compares_publishes_and_suspends_an_item(stack, new_page):
    author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")
    data = (await author.get(f"/api/items/{FOOD}")).json()
    for derived in ("version", "versions", "site_visits", "online", "implementation_code"):
        data.pop(derived)
    code = data["code"] = f"web-{uuid.uuid4().hex[:8]}"
    assert (await author.post("/api/items", json=data)).status_code == 201

    page = await new_page()
    await login(page, author.username, "/admin/items")
    await page.goto(f"/admin/items?from={code}#definition")
    text = yaml.safe_load(await page.get_by_label("事项定义").input_value())
    text["steps"].insert(1, {"id": "site_check", "name": "现场核查", "role": "handler", "limit": {"value": 2}})
    text["steps"][0]["limit"] = {"value": 3}
    text["materials"][0]["copies"] = True  # a mistake: yes is no number of copies
    await page.get_by_label("事项定义").fill(yaml.safe_dump(text, allow_unicode=True, sort_keys=False))
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.get_by_role("heading", name="请修改以下问题")).to_be_visible()
    await expect(page.locator(".error-summary")).to_contain_text("materials[0].copies")
    await expect(page.locator(".error-summary")).to_contain_text("应为整数")

    text["materials"][0]["copies"] = 1
    await page.get_by_label("事项定义").fill(json.dumps(text, ensure_ascii=False))
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.get_by_role("status").first).to_contain_text("已保存草稿")
    row = page.locator("#drafts + table tbody tr").filter(has_text=code).first
    await row.get_by_role("link", name="与现行版本对比").click()
    await expect(page.get_by_role("heading", name=re.compile("版本对比"))).to_be_visible()
    changes = page.locator("#changes")
    await expect(changes.get_by_role("row").filter(has_text="steps[id=site_check]")).to_contain_text("新增")
    await expect(changes.get_by_role("row").filter(has_text="steps[id=review].limit.value")).to_contain_text("修改")
    await shot(page, "admin-item-changes")

    await page.get_by_role("link", name="返回事项管理").click()
    row = page.locator("#drafts + table tbody tr").filter(has_text=code).first
    await row.get_by_role("button", name="发布").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"已发布 {code} 第 2 版")
    listed = page.get_by_role("row").filter(has_text=code).first
    await expect(listed).to_contain_text("受理中")
    await listed.get_by_role("link", name="版本对比").click()
    await expect(page.get_by_text("第 1 版 → 第 2 版")).to_be_visible()

    # suspending: a version with status suspended; the guide stops offering 在线申请
    await page.goto(f"/admin/items?from={code}#definition")
    text = yaml.safe_load(await page.get_by_label("事项定义").input_value())
    text["status"] = "suspended"
    await page.get_by_label("事项定义").fill(yaml.safe_dump(text, allow_unicode=True, sort_keys=False))
    await page.get_by_role("button", name="上传并发布").click()
    # the text 新建草稿 puts in the editor has no `version`: published as the next one (it was refused
    # as "version 1 exists with other content")
    await expect(page.get_by_role("status").first).to_contain_text(f"已发布 {code} 第 3 版")
    await expect(page.get_by_role("row").filter(has_text=code).first).to_contain_text("暂停受理")
    await page.goto(f"/guide/{code}")
    await expect(page.get_by_text("本事项暂停受理新的申请")).to_be_visible()
    await expect(page.get_by_role("link", name="在线申请")).to_have_count(0)
