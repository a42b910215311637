"""Figures of urges (督办) per department: the cases urged, the urges, those answered and those not
answered by their reply date, in `GET /api/supervision/stats`'s `departments`, its CSV and
`/supervision` (counted from the read model's `case_urges`, by the urge's day)."""
from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import timedelta

from tests.pages_client import PageClient
from tests.test_urges import DEPT, accepted_case, case_today

FIGURES = ("cases_urged", "urges", "urges_replied", "urges_overdue")


async def urge_figures(sup, **params) -> dict[str, int]:
    r = await sup.get("/api/supervision/stats", params={"department": DEPT, **params})
    assert r.status_code == 200, r.text
    rows = [d for d in r.json()["departments"] if d["department"] == DEPT]
    return {k: rows[0][k] if rows else 0 for k in FIGURES}


async def figures_become(sup, want: dict[str, int]) -> dict[str, int]:
    """The figures once the recording activity wrote the urges' rows (it runs after the action answers)."""
    for _ in range(100):
        got = await urge_figures(sup)
        if got == want:
            return got
        await asyncio.sleep(0.1)
    return got


async def test_urges_are_counted_per_department(stack):
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", name="李督察")
    before = await urge_figures(sup)
    staff, late = await accepted_case(stack)
    _, answered = await accepted_case(stack)
    # the late case is urged twice and never answers; the other once, answered in time
    reply_by = case_today(late) + timedelta(days=1)
    await sup.ok(late["id"], "urge", "请加快办理", reply_by=reply_by.isoformat())
    await sup.ok(late["id"], "urge", "再次督办：请今日回复", reply_by=reply_by.isoformat())
    await sup.ok(answered["id"], "urge", "请说明进度")
    await staff["handler"].ok(answered["id"], "reply_urge", "明日办结")
    after = await stack.advance(late["id"], (reply_by - case_today(late)).days + 1)  # past the reply date
    assert [h["data"]["level"] for h in after["history"] if h["action"] == "urge_escalated"] == [1, 1]
    want = {"cases_urged": before["cases_urged"] + 2, "urges": before["urges"] + 3,
            "urges_replied": before["urges_replied"] + 1, "urges_overdue": before["urges_overdue"] + 2}
    assert await figures_become(sup, want) == want

    # the period is the urge's day: a period before it counts none of them
    day = case_today(answered)
    assert await urge_figures(sup, to=(day - timedelta(days=400)).isoformat()) == dict.fromkeys(FIGURES, 0)
    r = await sup.get("/api/supervision/stats", params={"department": DEPT, "format": "csv", "table": "departments"})
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = dict(zip(lines[0], lines[1], strict=True))
    assert (got["被督办件数"], got["督办次数"], got["督办已回复"], got["督办逾期未回复"]) == tuple(
        str(want[k]) for k in FIGURES)
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        html = (await page.get("/supervision", params={"department": DEPT})).text
        table = html[html.index('id="department-figures"'):].split("</table>")[0]
        assert "被督办件数" in table and f'data-label="督办次数">{want["urges"]}<' in table
    finally:
        await page.close()
