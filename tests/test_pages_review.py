"""Page fixes from an outside review: Chinese words in refusals, the header on error pages, names
instead of codes on staff pages, links to the audit page, the joint page, and forms that keep
their input."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.pages_client import PageClient

ITEM = "food-business-licence"


@pytest.fixture
async def browser(stack):
    c = PageClient(stack)
    yield c
    await c.close()


async def test_refusals_name_statuses_and_roles_in_chinese_under_a_fitting_heading(stack, people, browser):
    applicant, clerk = people.applicant(0), people.clerk
    case = (await applicant.apply(ITEM)).json()
    await clerk.ok(case["id"], "accept")
    await browser.login(clerk.username)
    page = await browser.get(f"/cases/{case['id']}")
    r = await browser.submit(f"/cases/{case['id']}/actions", page.text, {"action": "accept", "request_id": "r1"})
    assert r.status_code == 409
    assert "不能执行“受理”" in r.text and re.search(r"办件当前状态为“(已受理|审查中)”", r.text), r.text
    assert "accepted" not in r.text and "in_review" not in r.text
    assert "无法办理" in r.text and "请修改以下问题" not in r.text
    # 403: another role's action, the roles it needs in Chinese (the JSON API's message too)
    answer = await applicant.act(case["id"], "approve")
    assert answer.status_code == 403
    message = answer.json()["detail"]["message"]
    assert "审批人" in message and "approver" not in message
    assert "approver" in answer.json()["detail"]["message_en"] and answer.json()["detail"]["code"] == "forbidden_role"
    r = await people.applicant(0).get("/api/supervision/warnings")
    assert r.status_code == 403 and r.json()["detail"]["message"] == "需要以下角色之一：电子监察"


async def test_error_pages_show_the_logged_in_user(stack, people, browser):
    user = people.applicant(0)
    await browser.login(user.username)
    for path, status in (("/no/such/page", 404), ("/supervision", 403), ("/cases/20260101000000", 404)):
        r = await browser.get(path)
        assert r.status_code == status, path
        assert ">退出</button>" in r.text and 'href="/my/cases"' in r.text, path
        assert 'href="/login"' not in r.text, path
    r = await browser.get("/supervision")
    assert "电子监察" in r.text and "supervisor" not in r.text
    anonymous = PageClient(stack)
    try:
        r = await anonymous.get("/no/such/page")
        assert r.status_code == 404 and 'href="/login"' in r.text and "退出" not in r.text
    finally:
        await anonymous.close()
