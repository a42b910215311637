"""An applicant on a 375 px phone (touch, mobile viewport) trying wrong input on the pages: an id
number with a wrong check character, and a session that ended while the form was being filled in.
Shares test_browser.py's Chromium and live server."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from api.routes.pages.common import SESSION_COOKIE
from tests.conftest import PASSWORD
from tests.pages_client import PDF
from tests.test_browser import PHONE, chromium, live_url, login, no_horizontal_scroll, shot

__all__ = ["chromium", "live_url"]  # the journeys' fixtures, shared with tests/test_browser.py

MARRIAGE = "marriage-registration-appointment"


@pytest.fixture
async def phone(chromium: Browser, live_url: str) -> AsyncIterator[Page]:
    """A phone's browser: 375 × 812, touch, the page's own viewport honoured."""
    ctx = await chromium.new_context(base_url=live_url, viewport=PHONE, is_mobile=True, has_touch=True,
                                     locale="zh-CN")
    try:
        yield await ctx.new_page()
    finally:
        await ctx.close()


async def fill_marriage(page: Page, tmp_path: Path, other_id: str) -> None:
    await page.get_by_label("预约业务").select_option("结婚登记")
    await page.get_by_label("另一方姓名").fill("李梅")
    await page.get_by_label("另一方公民身份号码").fill(other_id)
    await page.get_by_label("联系电话", exact=True).fill("13800000000")
    doc = tmp_path / "身份证.pdf"
    doc.write_bytes(PDF)
    for name in ("本人居民身份证", "另一方居民身份证"):
        await page.get_by_label(name, exact=True).set_input_files(doc)


async def test_a_wrong_check_character_in_the_other_partys_id_is_refused_beside_it(stack, phone, tmp_path):
    """The last character of 另一方公民身份号码 mistyped: refused beside the field, saying which
    character it should be, everything typed kept; corrected, the appointment is filed."""
    applicant = stack.applicant()
    await login(phone, applicant.username, f"/apply/{MARRIAGE}")
    await expect(phone.get_by_text("18 位公民身份号码，最后一位可为 X")).to_be_visible()
    await fill_marriage(phone, tmp_path, "110101199001010010")
    await phone.get_by_role("button", name="提交申请").click()
    error = phone.locator("#form-party_b_id_number-error")
    await expect(error).to_contain_text("另一方公民身份号码有误")
    await expect(error).to_contain_text("最后一位应为“5”")
    await expect(phone.get_by_role("link", name=re.compile("另一方公民身份号码有误"))).to_be_visible()  # the summary
    await expect(phone.get_by_label("另一方姓名")).to_have_value("李梅")
    await expect(phone.get_by_label("另一方公民身份号码")).to_have_value("110101199001010010")
    await no_horizontal_scroll(phone)
    await shot(phone, "apply-wrong-id-phone")
    assert (await applicant.get("/api/cases")).json()["total"] == 0
    await phone.get_by_label("另一方公民身份号码").fill("11010119900101004x")  # a final x typed lower-case
    await phone.get_by_role("button", name="提交申请").click()
    await expect(phone.get_by_role("heading", name="申请已提交")).to_be_visible()
    case = await applicant.case(re.search(r"/cases/(\d+)", phone.url).group(1))
    assert case["form"]["party_b_id_number"] == "11010119900101004X"  # recorded as the standard writes it


async def test_an_application_posted_after_the_session_ended_keeps_what_was_typed(stack, phone, tmp_path):
    """The login ran out while the form was filled in on the phone: submitting shows the login page
    saying the application was not submitted, with the typed answers to copy; after logging in the
    applicant is back on the form (it was a bare redirect to the login page and everything lost)."""
    applicant = stack.applicant()
    await login(phone, applicant.username, f"/apply/{MARRIAGE}")
    await fill_marriage(phone, tmp_path, "110101199001010015")
    await phone.context.clear_cookies(name=SESSION_COOKIE)  # the session ended meanwhile
    await phone.get_by_role("button", name="提交申请").click()
    await expect(phone.get_by_role("heading", name="登录", exact=True)).to_be_visible()
    await expect(phone.get_by_role("alert")).to_contain_text("登录已超时，“提交申请”尚未提交")
    await expect(phone.get_by_role("alert")).to_contain_text("材料文件未保存，请重新选择")
    await expect(phone.get_by_label("另一方姓名")).to_have_value("李梅")
    await expect(phone.get_by_label("另一方公民身份号码")).to_have_value("110101199001010015")
    await no_horizontal_scroll(phone)
    await shot(phone, "apply-session-expired-phone")
    await phone.get_by_label("用户名").fill(applicant.username)
    await phone.get_by_label("密码").fill(PASSWORD)
    await phone.get_by_role("button", name="登录").click()
    await expect(phone).to_have_url(re.compile(f"/apply/{MARRIAGE}$"))
    await expect(phone.get_by_role("heading", name="婚姻登记预约")).to_be_visible()
    assert (await applicant.get("/api/cases")).json()["total"] == 0


async def test_a_withdrawal_reason_past_the_limit_is_refused_beside_it_and_kept_whole(stack, phone):
    """A reason pasted on the phone, longer than a comment may be: it was cut to 4000 characters
    without a word and the case withdrawn; now the page says the limit and the length, keeps the whole
    text, and withdraws nothing until it is shortened."""
    applicant = stack.applicant()
    case = (await applicant.apply(MARRIAGE)).json()
    await login(phone, applicant.username, f"/cases/{case['id']}")
    await phone.get_by_role("button", name="撤回").click()
    reason = phone.get_by_label("撤回原因（可选）")
    await expect(phone.get_by_text("至多 4000 字")).to_be_visible()
    await reason.fill("因" * 4100)
    await phone.get_by_role("button", name="确认").click()
    await expect(phone.locator("#withdraw-comment-error")).to_have_text(
        re.compile("撤回原因不能超过 4000 字（现为 4100 字）"))
    await expect(phone.get_by_label("撤回原因（可选）")).to_have_value("因" * 4100)
    assert (await applicant.case(case["id"]))["status"] == "submitted"
    await no_horizontal_scroll(phone)
    await phone.get_by_label("撤回原因（可选）").fill("信息填写有误")
    await phone.get_by_role("button", name="确认").click()
    await expect(phone.get_by_text("已撤回", exact=True)).to_be_visible()
    withdrawn = await applicant.case(case["id"])
    assert withdrawn["status"] == "withdrawn" and withdrawn["history"][-1]["comment"] == "信息填写有误"


async def test_a_question_sent_after_the_session_ended_is_kept_to_copy(stack, phone):
    """咨询 typed on the case page while the login ran out: the login page says it was not sent and
    shows the text; after logging in, the applicant is back on the case (it was a redirect to the
    login page, the text lost, then a 405 page)."""
    applicant = stack.applicant()
    case = (await applicant.apply(MARRIAGE)).json()
    await login(phone, applicant.username, f"/cases/{case['id']}")
    await phone.locator("#front-office").get_by_label("内容").fill("请问预约当天需要带户口簿吗？")
    await phone.context.clear_cookies(name=SESSION_COOKIE)
    await phone.locator("#front-office").get_by_role("button", name="提交", exact=True).click()
    await expect(phone.get_by_role("alert")).to_contain_text("登录已超时，“提交咨询投诉”尚未提交")
    await expect(phone.get_by_label("咨询或投诉内容")).to_have_value("请问预约当天需要带户口簿吗？")
    await no_horizontal_scroll(phone)
    await phone.get_by_label("用户名").fill(applicant.username)
    await phone.get_by_label("密码").fill(PASSWORD)
    await phone.get_by_role("button", name="登录").click()
    await expect(phone).to_have_url(re.compile(f"/cases/{case['id']}#front-office$"))
    await expect(phone.get_by_role("heading", name="咨询投诉")).to_be_visible()


async def test_going_back_to_the_form_after_submitting_says_the_application_is_in(stack, phone, tmp_path):
    """Back after 申请已提交 shows the form again: it now says the application of this item is in
    progress, with its number, so that tapping 提交申请 again does not file it twice unawares."""
    applicant = stack.applicant()
    await login(phone, applicant.username, f"/apply/{MARRIAGE}")
    await expect(phone.get_by_role("heading", name="您已申请过本事项，尚在办理中")).to_have_count(0)
    await fill_marriage(phone, tmp_path, "110101199001010015")
    await phone.get_by_role("button", name="提交申请").click()
    await expect(phone.get_by_role("heading", name="申请已提交")).to_be_visible()
    case = await applicant.case(re.search(r"/cases/(\d+)", phone.url).group(1))
    await phone.go_back()
    await expect(phone.get_by_role("heading", name="您已申请过本事项，尚在办理中")).to_be_visible()
    await expect(phone.get_by_role("link", name=re.compile(case["case_no"]))).to_be_visible()
    await no_horizontal_scroll(phone)
    await shot(phone, "apply-already-applied-phone")


#: where a text's lines break on screen: the characters each line ends with (but the last)
LINE_ENDS = r"""e => { const t = e.firstChild, r = document.createRange(), ends = []; let top = null;
  for (let i = 0; i < t.length; i++) { r.setStart(t, i); r.setEnd(t, i + 1);
    const y = r.getBoundingClientRect().top; if (top !== null && y > top + 2) ends.push(t.data[i - 1]); top = y; }
  return ends; }"""


async def test_the_case_number_wraps_at_its_hyphens_on_a_phone(stack, phone):
    """The applicant reads the case number off the phone to a clerk: too long for one line at 375 px,
    it wraps after a hyphen (330100-AMR-20261204- / 00000009-T), not inside a run of digits."""
    applicant = stack.applicant()
    case = (await applicant.apply(MARRIAGE)).json()
    await login(phone, applicant.username, f"/cases/{case['id']}")
    number = phone.locator("h1 .mono")
    await expect(number).to_have_text(case["case_no"])
    ends = await number.evaluate(LINE_ENDS)
    assert ends and all(c == "-" for c in ends), ends
    await no_horizontal_scroll(phone)
