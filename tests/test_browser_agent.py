"""A citizen on a 375 px phone applies through an agent (由他人代为办理): the section opens by touch,
its inputs are labelled, a wrong id number is refused beside it, and the page never scrolls sideways.
Shares test_browser.py's Chromium and live server, and test_browser_mobile.py's phone."""
from __future__ import annotations

from playwright.async_api import expect

from banjian.ids import make_citizen_id
from tests.test_browser import chromium, live_url, login, no_horizontal_scroll, shot
from tests.test_browser_mobile import phone

__all__ = ["chromium", "live_url", "phone"]  # the phone's browser of test_browser_mobile.py

ITEM = "individual-business-registration"


async def test_the_agent_section_opens_on_a_phone_and_says_the_letter_of_authority_is_needed(stack, phone):
    applicant = stack.applicant()
    await login(phone, applicant.username, f"/apply/{ITEM}")
    toggle = phone.get_by_text("由他人代为办理（经办人信息）")
    await expect(phone.get_by_label("经办人姓名")).to_be_hidden()  # collapsed until asked for
    box = await toggle.bounding_box()
    assert box is not None and box["height"] >= 44  # a tap target
    await toggle.tap()
    await expect(phone.get_by_label("经办人姓名")).to_be_visible()
    await expect(phone.get_by_text("填写经办人的，还需提交：授权委托书及受托人身份证明")).to_be_visible()
    await phone.get_by_label("经办人姓名").fill("李四")
    good = make_citizen_id("330106", seq=76)
    await phone.get_by_label("经办人公民身份号码").fill(good[:-1] + ("0" if good[-1] != "0" else "1"))
    await no_horizontal_scroll(phone)
    await shot(phone, "agent-section-phone")
    await phone.get_by_role("button", name="提交申请").click()
    await expect(phone.locator("#agent-id-error")).to_contain_text("经办人公民身份号码校验码错误")
    await expect(phone.get_by_label("经办人姓名")).to_have_value("李四")  # open again, value kept
    await expect(phone.locator("#material-3-error")).to_contain_text("由他人代为办理的，请提交授权委托书及受托人身份证明")
    await no_horizontal_scroll(phone)
