"""The window clerk filing for a company (窗口收件, 代为申请) on the pages: who applies is checked
beside its own inputs, a missing applicant kind is an error on the page (never a 500), and the page
says it is a window filing, not an online application."""
from __future__ import annotations

import re

import pytest

from banjian.ids import make_credit_code
from tests.pages_client import PageClient

ITEM = "food-business-licence"


@pytest.fixture
async def browser(stack):
    c = PageClient(stack)
    yield c
    await c.close()


def error_beside(html: str, input_id: str) -> str | None:
    m = re.search(rf'<p class="error-message" id="{input_id}-error"><span class="visually-hidden">错误：</span>'
                  r'([^<]+)</p>', html)
    return m.group(1) if m else None


async def test_the_window_form_checks_the_applicant_beside_its_inputs(stack, people, browser):
    await browser.login(people.clerk.username)
    page = await browser.get(f"/apply/{ITEM}")
    assert "窗口收件（代为申请）" in page.text and "在线申请</span>" not in page.text
    # nothing typed about the applicant: each input says what is missing, and no 500
    r = await browser.submit(f"/apply/{ITEM}", page.text, {"applicant.kind": "", "applicant.id_number": "",
                                                           "applicant.name": ""})
    assert r.status_code == 422, r.text[:300]
    assert error_beside(r.text, "applicant-kind") == "请选择申请人类型"
    assert "请填写证件号码" in (error_beside(r.text, "applicant-id") or "")
    assert error_beside(r.text, "applicant-name") == "请填写申请人名称"
    assert 'href="#applicant-kind"' in r.text  # the summary links to the input
    # a credit code with a wrong check character: said beside the id number, with the right one
    good = make_credit_code("913301060000000A")
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    r = await browser.submit(f"/apply/{ITEM}", page.text, {"applicant.kind": "organisation",
                                                           "applicant.id_number": bad, "applicant.name": "某公司"})
    assert r.status_code == 422
    said = error_beside(r.text, "applicant-id") or ""
    assert "统一社会信用代码校验码错误" in said and f"“{good[-1]}”" in said
    assert f'value="{bad}"' in r.text  # what was typed is shown again to be corrected

