"""An applicant on a phone, as they see the pages: file inputs that speak Chinese (选择文件, the chosen
file's name, 未选择文件) whatever the browser's language, opened by a tap and found by their label; and
the header's 消息 link on every page they reach, for a citizen and for a company filing through its
agent (经办人). Shares test_browser.py's Chromium and live server, and test_browser_mobile.py's phone."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect

from banjian.ids import make_citizen_id
from tests.pages_client import PDF
from tests.test_browser import PHONE, chromium, live_url, login, new_page, no_horizontal_scroll, shot
from tests.test_browser_mobile import phone

__all__ = ["chromium", "live_url", "new_page", "phone"]  # fixtures shared with the other browser tests

ITEM = "individual-business-registration"
FIRST_MATERIAL = "个体工商户登记（备案）申请书"


async def tap_centre(page: Page, selector: str) -> None:
    """A finger on the middle of what the person sees (not a scripted click on the element)."""
    await page.locator(selector).scroll_into_view_if_needed()
    box = await page.locator(selector).bounding_box()
    assert box is not None
    await page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


async def test_file_inputs_say_choose_and_the_chosen_name_in_chinese_on_a_phone(stack, phone, tmp_path: Path):
    applicant = stack.applicant()
    await login(phone, applicant.username, f"/apply/{ITEM}")
    upload = phone.get_by_label(FIRST_MATERIAL, exact=True)  # found by its material's label, as before
    await expect(upload).to_have_attribute("type", "file")
    group = phone.locator(".form-group", has=upload)
    button, chosen = group.locator(".file-picker__button"), group.locator(".file-picker__chosen")
    await expect(button).to_have_text("选择文件")
    await expect(button).to_be_visible()
    await expect(chosen).to_have_text("未选择文件")
    await expect(chosen).to_be_visible()
    # the browser's own words (Choose File / No file chosen) are not seen: the native input is
    # transparent and lies over the Chinese button, a tap target of at least 44 px
    assert await upload.evaluate("e => getComputedStyle(e).opacity") == "0"
    box, under = await upload.bounding_box(), await button.bounding_box()
    assert box and under and box["height"] >= 44 and under["height"] >= 44
    assert box["x"] <= under["x"] and box["x"] + box["width"] >= under["x"] + under["width"]
    assert box["y"] <= under["y"] and box["y"] + box["height"] >= under["y"] + under["height"]
    # a tap on 选择文件 opens the phone's chooser; the chosen file's name replaces 未选择文件
    doc = tmp_path / "申请书.pdf"
    doc.write_bytes(PDF)
    async with phone.expect_file_chooser() as chooser:
        await tap_centre(phone, f"#{await upload.get_attribute('id')} ~ .file-picker__button")
    await (await chooser.value).set_files(doc)
    await expect(chosen).to_have_text("申请书.pdf")
    await expect(group.locator(".file-picker__button:visible")).to_have_count(1)
    await no_horizontal_scroll(phone)
    await shot(phone, "apply-file-inputs-phone")
    # every material's input reads the same way
    for i, field in enumerate(await phone.locator(".file-picker").all()):
        await expect(field.locator(".file-picker__button")).to_have_text("选择文件")
        await expect(field.locator(".file-picker__chosen")).to_have_text("申请书.pdf" if i == 0 else "未选择文件")


async def test_without_javascript_the_native_file_input_shows_and_still_takes_a_file(stack, new_page, tmp_path):
    applicant = stack.applicant()
    page = await new_page(PHONE, javascript=False)
    await login(page, applicant.username, f"/apply/{ITEM}")
    upload = page.get_by_label(FIRST_MATERIAL, exact=True)
    assert await upload.evaluate("e => getComputedStyle(e).opacity") == "1"
    await expect(page.locator(".file-picker__chosen").first).to_be_hidden()  # no name it could not update
    await expect(page.locator(".file-picker__button").first).to_be_hidden()
    doc = tmp_path / "a.pdf"
    doc.write_bytes(PDF)
    await upload.set_input_files(doc)
    assert await upload.evaluate("e => e.files.length") == 1


def header_notices(page: Page):
    return page.get_by_role("navigation", name="主导航").get_by_role("link", name=re.compile(r"^消息"))


async def every_page_has_the_messages_link(page: Page, paths: list[str]) -> None:
    for path in paths:
        await page.goto(path)
        await expect(header_notices(page), path).to_be_visible()
        await expect(header_notices(page), path).to_have_attribute("href", "/my/notices")


async def test_the_header_links_messages_on_every_page_for_a_citizen_and_a_company_filing_through_its_agent(
        stack, phone, tmp_path):
    citizen = stack.applicant()
    case = (await citizen.apply(ITEM)).json()
    asked = await citizen.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": "要带什么？"})
    assert asked.status_code == 201, asked.text
    common = ["/", "/guide", f"/guide/{ITEM}", f"/apply/{ITEM}", "/my/cases", "/my/licences", "/my/notices",
              "/licences/verify", "/guide/marriage-registration-appointment/book", "/no-such-page"]
    await login(phone, citizen.username, "/my/cases")
    await every_page_has_the_messages_link(phone, [*common, f"/cases/{case['id']}",
                                                   f"/inquiries/{asked.json()['id']}"])
    # a company whose staff member filed as its agent (经办人) follows the case, with the agent section open
    company = stack.applicant(organisation=True)
    filed = await company.apply("food-business-licence",
                                agent={"name": "李经办", "id_number": make_citizen_id("330106", seq=78)})
    assert filed.status_code == 201, filed.text
    await phone.context.clear_cookies()
    await login(phone, company.username, "/apply/food-business-licence")
    await phone.get_by_text("由他人代为办理（经办人信息）").tap()
    await expect(phone.get_by_label("经办人姓名")).to_be_visible()
    await expect(header_notices(phone)).to_be_visible()
    await every_page_has_the_messages_link(phone, [*common, f"/cases/{filed.json()['id']}"])
    # staff have no message centre
    await phone.context.clear_cookies()
    await login(phone, stack.staff("amr", "clerk").username, "/work")
    await expect(phone.get_by_role("navigation", name="主导航").get_by_role("link", name="我的待办")).to_be_visible()
    await expect(header_notices(phone)).to_have_count(0)
