"""What the pages say about a case's time limits: due days as people read them (2026年12月28日)."""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from tests.pages_client import PageClient

FOOD = "food-business-licence"  # amr: promised 10 / statutory 20 working days
ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")


@pytest.fixture
async def browser(stack):
    c = PageClient(stack)
    yield c
    await c.close()


def _zh(d: str) -> str:
    day = date.fromisoformat(d)
    return f"{day.year}年{day.month}月{day.day}日"


async def test_warning_reasons_name_the_due_day_in_chinese_on_the_case_and_supervision_pages(
        stack, people, browser):
    applicant = people.applicant()
    case = (await applicant.apply(FOOD)).json()
    case = await people.staff("amr", "clerk").ok(case["id"], "accept")
    case = await stack.advance(case["id"], 20)  # past the promised 10 working days: a yellow card
    promised_due = case["deadlines"]["promised_due"]
    [warning] = [h for h in case["history"] if h["action"] == "warning" and h["data"]["cause"] == "promised_overdue"]
    assert promised_due in warning["comment"]  # recorded as it was: the ISO day

    sup = stack.user(f"time-sup-{uuid.uuid4().hex[:4]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get(f"/cases/{case['id']}")).text
    history = page[page.index("已超过承诺办结期限"):]
    assert history.startswith(f"已超过承诺办结期限（{_zh(promised_due)}）"), history[:80]

    board = (await browser.get("/supervision", params={"department": "amr"})).text
    assert f"（{_zh(promised_due)}）" in board
    assert not ISO_DAY.search(board[board.index("已超过承诺办结期限"):][:60])

    audit = stack.user(f"time-aud-{uuid.uuid4().hex[:4]}", "auditor")
    other = PageClient(stack)
    try:
        await other.login(audit.username)
        timeline = (await other.get(f"/audit/cases/{case['id']}")).text
        assert f"已超过承诺办结期限（{_zh(promised_due)}）" in timeline
    finally:
        await other.close()
