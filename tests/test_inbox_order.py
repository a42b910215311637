"""The inbox lists the most urgent first (红牌, 黄牌, 提醒, then none; within a level the earliest due),
and `/work`'s tabs say how many each lists, with the same filters."""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import delete

from banjian.contracts import Actor
from banjian.db import Department, Task
from banjian.enums import Role
from tests.pages_client import PageClient

STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]
DAY = date(2026, 3, 2)
# (warning, days after DAY, claimed by): a notice due first, a yellow card later, a red card last,
# so an order by due date alone would put the red card at the bottom
ROWS = [("notice", 0, None), (None, -5, None), ("yellow", 3, None), ("red", 9, None), ("notice", 1, "me"),
        ("yellow", 2, "someone-else"), (None, None, None), ("red", 4, None), ("notice", None, None)]


@pytest.fixture(scope="module", params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def department(store):
    dept = f"ord{uuid.uuid4().hex[:6]}"
    with store.sessions() as s:
        s.add(Department(code=dept, name="排序测试局"))
        s.add_all([Task(case_id=f"{dept}-{n:02d}", department=dept, roles=["handler"], item_code="x", item_name="测试",
                        status="in_review", warning=warning, due=None if days is None else DAY + timedelta(days=days),
                        claimed_by=claim) for n, (warning, days, claim) in enumerate(ROWS)])
        s.commit()
    yield dept
    with store.sessions() as s:
        s.execute(delete(Task).where(Task.department == dept))  # type: ignore[arg-type]
        s.commit()


def expected(dept: str, keep=lambda claim: True) -> list[str]:
    rank = {"red": 0, "yellow": 1, "notice": 2, None: 3}
    rows = [(rank[w], days is None, days or 0, f"{dept}-{n:02d}") for n, (w, days, claim) in enumerate(ROWS)
            if keep(claim)]
    return [r[-1] for r in sorted(rows)]


def test_red_then_yellow_then_notice_then_none_each_by_due(store, department):
    service = store.app.state.cases
    actor = Actor(username="me", roles=[Role.HANDLER], department=department)
    page = service.tasks(actor, "department", 100, 0)
    assert [t["case_id"] for t in page["items"]] == expected(department)
    assert [t["warning"] for t in page["items"]][:5] == ["red", "red", "yellow", "yellow", "notice"]
    mine = service.tasks(actor, "mine", 100, 0)
    assert [t["case_id"] for t in mine["items"]] == expected(department, lambda c: c in (None, "me"))
    # paged in the database: a middle page is the same slice
    assert [t["case_id"] for t in service.tasks(actor, "department", 3, 2)["items"]] == expected(department)[2:5]


def test_counts_are_each_tabs_total_with_the_filters(store, department):
    service = store.app.state.cases
    actor = Actor(username="me", roles=[Role.HANDLER], department=department)
    assert service.counts(actor) == {"mine": 8, "department": 9, "claimed_by_others": 1}
    for scope, n in service.counts(actor, warning="notice").items():
        assert service.tasks(actor, scope, 100, 0, warning="notice")["total"] == n
    assert service.counts(actor, warning="notice") == {"mine": 3, "department": 3, "claimed_by_others": 0}


async def test_work_tabs_show_counts_and_the_red_card_first(store, department):
    user = store.user(f"ord-{uuid.uuid4().hex[:6]}", "handler", department=department)
    page = PageClient(store)
    try:
        await page.login(user.username)
        html = (await page.get("/work?scope=department")).text
        tabs = re.findall(r'class="tabs__tab[^"]*"[^>]*>([^<]+)</a>', html)
        # this user is not "me": the task "me" claimed is a colleague's
        assert tabs == ["我的待办（7）", "本部门（9）", "同事已签收（2）"]
        rows = re.findall(r'<span class="mono meta">([^<]+)</span>', html)
        assert rows == expected(department)
        filtered = (await page.get("/work?scope=mine&warning=yellow")).text
        assert re.findall(r'class="tabs__tab[^"]*"[^>]*>([^<]+)</a>', filtered) == [
            "我的待办（1）", "本部门（2）", "同事已签收（1）"]
    finally:
        await page.close()
