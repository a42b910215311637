"""Figures of urges (督办) per department: the cases urged, the urges, those answered, those not
answered by their reply date, split into answered late and still unanswered, in
`GET /api/supervision/stats`'s `departments`, its CSV and `/supervision` (counted from the read
model's `case_urges`, by the urge's day); a joint case's urge in its lead unit's row."""
from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, SQLModel

from banjian import figures_inquiries
from banjian.appointments import Appointment
from banjian.inquiries import Inquiry
from banjian.urge_records import CaseUrge
from tests.conftest import drop_postgres, new_postgres_url
from tests.pages_client import PageClient
from tests.test_joint import COMPLETION, answer, open_joint, subs_by_department
from tests.test_urges import DEPT, accepted_case, case_today

FIGURES = ("cases_urged", "urges", "urges_replied", "urges_overdue", "urges_replied_late",
           "urges_unanswered_overdue")
HEADERS = {"cases_urged": "被督办件数", "urges": "督办次数", "urges_replied": "督办已回复", "urges_overdue": "督办逾期",
           "urges_replied_late": "督办逾期回复", "urges_unanswered_overdue": "督办逾期未回复"}


async def urge_figures(sup, department: str = DEPT, **params) -> dict[str, int]:
    r = await sup.get("/api/supervision/stats", params={"department": department, **params})
    assert r.status_code == 200, r.text
    rows = [d for d in r.json()["departments"] if d["department"] == department]
    return {k: rows[0][k] if rows else 0 for k in FIGURES}


def plus(before: dict[str, int], **more: int) -> dict[str, int]:
    return {k: v + more.get(k, 0) for k, v in before.items()}


async def figures_become(sup, want: dict[str, int], department: str = DEPT) -> dict[str, int]:
    """The figures once the recording activity wrote the urges' rows (it runs after the action answers)."""
    for _ in range(100):
        got = await urge_figures(sup, department)
        if got == want:
            return got
        await asyncio.sleep(0.1)
    return got


async def urge_section(stack, user, case_id: str) -> str:
    """The 督办 section of a case's page as the user sees it."""
    page = PageClient(stack)
    try:
        await page.login(user.username)
        text = (await page.get(f"/cases/{case_id}")).text
    finally:
        await page.close()
    start = text.index('id="urges-title"')
    return text[start:text.index("</section>", start)]


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
            "urges_replied": before["urges_replied"] + 1, "urges_overdue": before["urges_overdue"] + 2,
            "urges_replied_late": before["urges_replied_late"],
            "urges_unanswered_overdue": before["urges_unanswered_overdue"] + 2}
    assert await figures_become(sup, want) == want

    # the period is the urge's day: a period before it counts none of them
    day = case_today(answered)
    assert await urge_figures(sup, to=(day - timedelta(days=400)).isoformat()) == dict.fromkeys(FIGURES, 0)
    r = await sup.get("/api/supervision/stats", params={"department": DEPT, "format": "csv", "table": "departments"})
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = dict(zip(lines[0], lines[1], strict=True))
    assert {k: got[zh] for k, zh in HEADERS.items()} == {k: str(want[k]) for k in FIGURES}
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        html = (await page.get("/supervision", params={"department": DEPT})).text
        table = html[html.index('id="department-figures"'):].split("</table>")[0]
        assert "被督办件数" in table and f'data-label="督办次数">{want["urges"]}<' in table
    finally:
        await page.close()


async def test_an_urge_answered_after_its_escalation_is_late_not_unanswered(stack):
    name = f"督察{uuid.uuid4().hex[:4]}"
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", name=name)
    staff, case = await accepted_case(stack)
    before = await urge_figures(sup)
    reply_by = case_today(case) + timedelta(days=1)
    urged = await sup.ok(case["id"], "urge", "请加快办理", reply_by=reply_by.isoformat())
    board_on = date.fromisoformat(urged["history"][-1]["data"]["board_on"])
    # unanswered past the reply date and past the board date: on the supervisor's board
    await stack.advance(case["id"], (board_on - case_today(case)).days + 1)
    assert await figures_become(sup, plus(before, cases_urged=1, urges=1, urges_overdue=1, urges_unanswered_overdue=1)) \
        == plus(before, cases_urged=1, urges=1, urges_overdue=1, urges_unanswered_overdue=1)
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        assert f"督办（{name}，回复期限" in (await page.get("/supervision", params={"department": DEPT})).text
    finally:
        await page.close()

    # answered late: answered and late, no longer unanswered, and off the board
    await staff["clerk"].ok(case["id"], "reply_urge", "已加派人手")
    want = plus(before, cases_urged=1, urges=1, urges_replied=1, urges_overdue=1, urges_replied_late=1)
    assert await figures_become(sup, want) == want
    r = await sup.get("/api/supervision/stats", params={"department": DEPT, "format": "csv", "table": "departments"})
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    got = dict(zip(lines[0], lines[1], strict=True))
    assert {k: got[zh] for k, zh in HEADERS.items()} == {k: str(want[k]) for k in FIGURES}
    board = (await sup.get("/api/supervision/warnings", params={"department": DEPT})).json()
    assert not [w for w in board["items"] if w["case_id"] == case["id"] and w["cause"] == "urge_unanswered"]
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        html = (await page.get("/supervision", params={"department": DEPT})).text
        assert f"督办（{name}，回复期限" not in html
        table = html[html.index('id="department-figures"'):].split("</table>")[0]
        for k in ("urges_replied_late", "urges_unanswered_overdue"):
            assert f'data-label="{HEADERS[k]}">{want[k]}<' in table
    finally:
        await page.close()


async def test_a_joint_case_urge_is_answered_in_the_lead_row_once_every_department_answered(stack):
    _, case = await open_joint(stack, COMPLETION)  # lead unit hcd
    subs = subs_by_department(case)
    await answer(stack, subs["hcd"]["id"], "hcd")
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    lead = await urge_figures(sup, "hcd")
    fire = await urge_figures(sup, "fire")
    reply_by = case_today(case) + timedelta(days=1)
    await sup.ok(case["id"], "urge", "请各部门加快", reply_by=reply_by.isoformat())
    pending = plus(lead, cases_urged=1, urges=1)
    assert await figures_become(sup, pending, "hcd") == pending
    # two departments answer in time, fire only after its copy escalated: the lead's urge is late
    # and unanswered until fire answers
    await figures_become(sup, plus(fire, cases_urged=1, urges=1), "fire")
    for d in ("nrp", "env"):
        await stack.staff(d, "handler").ok(subs[d]["id"], "reply_urge", "已安排")
    fire_case = await stack.staff("fire", "handler").case(subs["fire"]["id"])
    await stack.advance(subs["fire"]["id"], (reply_by - case_today(fire_case)).days + 1)
    late = plus(lead, cases_urged=1, urges=1, urges_overdue=1, urges_unanswered_overdue=1)
    assert await figures_become(sup, late, "hcd") == late
    # the lead's case page says the same: which departments answered, which one is overdue
    assert "已转各部门：市自然资源和规划局（已回复）、市生态环境局（已回复）、市消防救援支队（逾期未回复）" in await urge_section(
        stack, sup, case["id"])
    await stack.staff("fire", "handler").ok(subs["fire"]["id"], "reply_urge", "现场核查已安排")
    answered = plus(lead, cases_urged=1, urges=1, urges_replied=1, urges_overdue=1, urges_replied_late=1)
    assert await figures_become(sup, answered, "hcd") == answered
    assert "第 1 次督办</strong>：各部门均已回复（" in await urge_section(stack, sup, case["id"])
    assert await urge_figures(sup, "fire") == plus(fire, cases_urged=1, urges=1, urges_replied=1, urges_overdue=1,
                                                   urges_replied_late=1)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_joint_urges_in_the_lead_row_by_their_copies_in_sql(db, tmp_path):
    """The lead unit's row of joint urges, as each database computes it: answered once every copy
    (same `at`, `forwarded_from` the joint case) is, overdue once any copy escalated."""
    url = new_postgres_url() if db == "postgres" else f"sqlite:///{tmp_path / 'urges.db'}"
    engine = create_engine(url)
    try:
        SQLModel.metadata.create_all(engine, tables=[t.__table__ for t in (CaseUrge, Inquiry, Appointment)])  # type: ignore[attr-defined]
        t1, t2, t3 = (datetime(2026, 3, d, 2, tzinfo=UTC) for d in (2, 3, 4))

        def urge(case_id: str, n: int, dept: str, at: datetime, **kw) -> CaseUrge:
            return CaseUrge(case_id=case_id, n=n, key=f"urge-{n}", department=dept, by="sup", at=at,
                            reply_by=date(2026, 3, 10), board_on=date(2026, 3, 13), **kw)

        done = {"replied_at": t3, "replied_by": "x", "reply": "好", "open": False}
        with Session(engine) as s:
            s.add_all([
                # J1 (t1): both copies answered, one after its escalation → answered late
                urge("J1", 1, "lead", t1, departments=["a", "b"], open=False),
                urge("A1", 1, "a", t1, forwarded_from="J1", **done),
                urge("B1", 1, "b", t1, forwarded_from="J1", escalated=1, **done),
                # J1 (t2): one copy still owed past its date → unanswered, overdue
                urge("J1", 2, "lead", t2, departments=["a", "b"], open=False),
                urge("A1", 2, "a", t2, forwarded_from="J1", **done),
                urge("B1", 2, "b", t2, forwarded_from="J1", escalated=2),
                # J2 (t1, the same instant as J1's): its one copy owed, not yet due → pending
                urge("J2", 1, "lead", t1, departments=["a"], open=False),
                urge("A2", 1, "a", t1, forwarded_from="J2"),
                # the lead's own case, answered after its escalation
                urge("L1", 1, "lead", t2, escalated=1, **done),
            ])
            s.commit()
            rows = {r["department"]: r for r in figures_inquiries.compute(s)}
        want = {"cases_urged": 3, "urges": 4, "urges_replied": 2, "urges_overdue": 3, "urges_replied_late": 2,
                "urges_unanswered_overdue": 1}
        assert {k: rows["lead"][k] for k in want} == want
        assert {k: rows["b"][k] for k in want} == {"cases_urged": 1, "urges": 2, "urges_replied": 1, "urges_overdue": 2,
                                                   "urges_replied_late": 1, "urges_unanswered_overdue": 1}
    finally:
        engine.dispose()
        if db == "postgres":
            drop_postgres(url)
