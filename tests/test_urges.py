"""Urges (督办): the reply date, the badge in the department's inbox, `reply_urge`, and the escalation
by durable timers (to the department's head, then to the supervisor's board) under time skipping;
an urge on a joint case reaches the departments still working."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, datetime, timedelta

from banjian.db import Case
from banjian.timefmt import aware, china_date
from tests.conftest import User
from tests.pages_client import PageClient
from tests.test_joint import COMPLETION, answer, open_joint, subs_by_department

ITEM, DEPT = "food-business-licence", "amr"


def case_today(case: dict) -> date:
    """The case's today: its last history entry's day (time skipping moves each case's clock)."""
    return china_date(datetime.fromisoformat(case["history"][-1]["at"]))


async def accepted_case(stack) -> tuple[dict[str, User], dict]:
    staff = {role: stack.staff(DEPT, role) for role in ("clerk", "handler", "approver", "head")}
    staff["applicant"] = stack.applicant()  # not staff: the case's applicant, for their view of it
    case = (await staff["applicant"].apply(ITEM)).json()
    return staff, await staff["clerk"].ok(case["id"], "accept")


# The inboxes are read whole (limit 1000): other tests' cases of the same department, on the same
# stack, can push a fresh case off a first page of 100.
def badge(inbox: dict, case_id: str) -> dict | None:
    rows = [t for t in inbox["items"] if t["case_id"] == case_id]
    assert rows, f"{case_id} not in the inbox"
    return rows[0]["urge"]


async def test_unanswered_urge_escalates_to_the_head_then_to_the_board(stack):
    staff, case = await accepted_case(stack)
    cid = case["id"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", name="王督察")
    reply_by = case_today(case) + timedelta(days=1)
    urged = await sup.ok(cid, "urge", "请加快办理", reply_by=reply_by.isoformat())
    entry = urged["history"][-1]
    assert (entry["action"], entry["comment"], entry["data"]["reply_by"]) == ("urge", "请加快办理", reply_by.isoformat())
    board_on = date.fromisoformat(entry["data"]["board_on"])
    assert board_on > reply_by

    # the department sees the urge on the task; the head's inbox does not list it yet
    inbox = (await staff["handler"].get("/api/tasks", params={"scope": "department", "limit": 1000})).json()
    assert badge(inbox, cid) == {"n": 1, "by": sup.username, "reply_by": reply_by.isoformat(), "escalated": 0,
                                 "comment": "请加快办理"}
    head_inbox = (await staff["head"].get("/api/tasks", params={"limit": 1000})).json()
    assert cid not in [t["case_id"] for t in head_inbox["items"]]
    page = PageClient(stack)
    try:
        await page.login(staff["handler"].username)
        # the inbox shows the unified case number (统一受理号码), not the internal id (on whichever
        # page of the department's inbox the case falls: other tests' cases share the stack)
        for n in range(1, 51):
            work = (await page.get("/work", params={"scope": "department", "page": n})).text
            if f'href="/cases/{cid}"' in work:
                break
        row = work[work.index(f'href="/cases/{cid}"'):][:1500]
        assert "督办" in row and "回复期限" in row
        assert case["case_no"] in row and f">{cid}<" not in work
    finally:
        await page.close()

    # the reply date ends unanswered: to the head (a durable timer of the case)
    after = await stack.advance(cid, (reply_by - case_today(case)).days + 1)
    escalated = [h for h in after["history"] if h["action"] == "urge_escalated"]
    assert [(h["actor"], h["data"]["level"], h["data"]["to"]) for h in escalated] == [("system", 1, "head")]
    head_inbox = (await staff["head"].get("/api/tasks", params={"limit": 1000})).json()
    assert badge(head_inbox, cid)["escalated"] == 1
    # the head, sent to the case, reads there what was urged, by whom, by when, and where it stands
    page = PageClient(stack)
    try:
        await page.login(staff["head"].username)
        text = (await page.get(f"/cases/{cid}")).text
        section = text[text.index('id="urges-title"'):text.index("</section>", text.index('id="urges-title"'))]
        assert "第 1 次督办" in section and "逾期未回复，已升级至部门负责人" in section and "请加快办理" in section
        assert f"回复期限 {reply_by.year}年{reply_by.month}月{reply_by.day}日" in section and "王督察" in section
        assert "回复督办" in text  # and the button to answer it
    finally:
        await page.close()
    board = (await sup.get("/api/supervision/warnings", params={"department": DEPT})).json()
    assert not [w for w in board["items"] if w["case_id"] == cid and w["cause"] == "urge_unanswered"]

    # still unanswered when board_on ends: on the supervisor's warnings board, red
    after = await stack.advance(cid, (board_on - case_today(after)).days + 1)
    escalated = [h for h in after["history"] if h["action"] == "urge_escalated"]
    assert [(h["data"]["level"], h["data"]["to"]) for h in escalated] == [(1, "head"), (2, "supervisor")]
    assert any(w["cause"] == "urge_unanswered" and w["level"] == "red" for w in after["warnings"])
    board = (await sup.get("/api/supervision/warnings", params={"department": DEPT, "level": "red"})).json()
    on_board = [w for w in board["items"] if w["case_id"] == cid and w["cause"] == "urge_unanswered"]
    assert len(on_board) == 1
    # late since the reply date the urge named, counted in working days to the case's today
    with stack.sessions() as s:
        over = stack.app.state.cases.calendar(s).working_days_between(reply_by, case_today(after))
    assert (on_board[0]["due"], on_board[0]["working_days_over"]) == (reply_by.isoformat(), over)
    # the reason names the supervisor as people know them, not by their username
    assert on_board[0]["reason"] == f"督办（王督察，回复期限 {reply_by}）仍未回复，已报监察"
    assert sup.username not in on_board[0]["reason"]
    # the escalation "to supervisor" puts the case in front of the supervisors: their own inbox
    sup_inbox = (await sup.get("/api/tasks", params={"limit": 1000})).json()
    (mine,) = [t for t in sup_inbox["items"] if t["case_id"] == cid]
    assert (mine["roles"], mine["due"], mine["case_no"]) == (["supervisor"], board_on.isoformat(), case["case_no"])
    assert mine["urge"]["escalated"] == 2
    other_sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department="civil")
    assert cid not in [t["case_id"] for t in (await other_sup.get("/api/tasks", params={"limit": 1000})).json()["items"]]
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        work = (await page.get("/work")).text
        row = work[work.index(f'href="/cases/{cid}"'):][:1500]
        assert case["case_no"] in row and "督办（已报监察）" in row
        board_page = (await page.get("/supervision", params={"department": DEPT})).text
        assert "督办（王督察，回复期限" in board_page and f"督办（{sup.username}" not in board_page
    finally:
        await page.close()

    # the department answers: off the board, no badge, no further escalation
    assert "reply_urge" in (await staff["clerk"].case(cid))["allowed_actions"]
    replied = await staff["clerk"].ok(cid, "reply_urge", "已加派人手，本周内办结")
    assert replied["history"][-1]["data"]["urges"] == [1]
    board = (await sup.get("/api/supervision/warnings", params={"department": DEPT, "level": "red"})).json()
    assert not [w for w in board["items"] if w["case_id"] == cid and w["cause"] == "urge_unanswered"]
    inbox = (await staff["handler"].get("/api/tasks", params={"scope": "department", "limit": 1000})).json()
    assert badge(inbox, cid) is None
    assert cid not in [t["case_id"] for t in (await staff["head"].get("/api/tasks", params={"limit": 1000})).json()["items"]
                       if t["urge"]]
    assert cid not in [t["case_id"] for t in (await sup.get("/api/tasks", params={"limit": 1000})).json()["items"]]
    assert (await staff["clerk"].act(cid, "reply_urge", "再答一次")).status_code == 409  # nothing owed
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        text = (await page.get(f"/cases/{cid}")).text
        section = text[text.index('id="urges-title"'):text.index("</section>", text.index('id="urges-title"'))]
        assert "第 1 次督办</strong>：已回复" in section and "已加派人手，本周内办结" in section
    finally:
        await page.close()
    page = PageClient(stack)
    try:
        await page.login(staff["applicant"].username)  # supervision is internal: not on the applicant's page
        text = (await page.get(f"/cases/{cid}")).text
        assert cid in text and 'id="urges-title"' not in text and "督办意见" not in text
    finally:
        await page.close()


async def test_an_unanswered_urge_on_a_suspended_case_counts_its_own_lateness(stack):
    """A suspended case's clock stands still, its deadlines' lateness too; an urge is still owed: its
    row on the board names its reply date, is not shown as paused, and its days go on."""
    staff, case = await accepted_case(stack)
    cid = case["id"]
    await staff["handler"].ok(cid, "suspend", "等待检验结果")
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    reply_by = case_today(case) + timedelta(days=1)
    urged = await sup.ok(cid, "urge", "请说明中止原因", reply_by=reply_by.isoformat())
    board_on = date.fromisoformat(urged["history"][-1]["data"]["board_on"])
    await stack.advance(cid, (board_on - case_today(urged)).days + 3)
    board = (await sup.get("/api/supervision/warnings", params={"department": DEPT, "level": "red",
                                                                   "limit": 200})).json()
    (row,) = [w for w in board["items"] if w["case_id"] == cid]
    with stack.sessions() as s:  # to the case's clock (the board's today under the simulation clock)
        now = china_date(aware(s.get(Case, cid).clock_at))
        over = stack.app.state.cases.calendar(s).working_days_between(reply_by, now)
    assert now > board_on and over >= 4  # three working days to board_on, and at least one after it
    assert (row["cause"], row["due"], row["paused"], row["working_days_over"]) == (
        "urge_unanswered", reply_by.isoformat(), False, over)


async def test_an_urge_answered_in_time_does_not_escalate(stack):
    staff, case = await accepted_case(stack)
    cid = case["id"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    urged = await sup.ok(cid, "urge", "请说明进度")  # no date: 5 working days
    assert urged["history"][-1]["data"]["reply_by"] > case_today(case).isoformat()
    await staff["handler"].ok(cid, "reply_urge", "正在审查，预计三日内完成")
    after = await stack.advance(cid, 20)
    assert not [h for h in after["history"] if h["action"] == "urge_escalated"]


async def test_the_urge_form_names_the_reply_date_as_everywhere_else_and_may_leave_it_out(stack):
    _, case = await accepted_case(stack)
    cid = case["id"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    page = PageClient(stack)
    try:
        await page.login(sup.username)
        form = (await page.get(f"/cases/{cid}", params={"action": "urge"})).text
        assert re.search(r'<label[^>]*for="urge-reply_by"[^>]*>\s*回复期限', form) and "不填则为 5 个工作日后" in form
        bad = await page.submit(f"/cases/{cid}/actions", form, {"action": "urge", "reply_by": "2020-01-01",
                                                                 "comment": "请加快"})
        assert bad.status_code == 422 and "回复期限须为" in bad.text  # the error names the field by its label
        r = await page.submit(f"/cases/{cid}/actions", form, {"action": "urge", "comment": "请说明进度"})
        assert r.status_code == 303
    finally:
        await page.close()
    entry = (await sup.case(cid))["history"][-1]
    assert entry["action"] == "urge" and entry["data"]["reply_by"] > case_today(case).isoformat()


async def test_urge_and_reply_bad_input(stack):
    staff, case = await accepted_case(stack)
    cid = case["id"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    before = len(case["history"])
    r = await sup.act(cid, "urge", None, reply_by=(case_today(case) + timedelta(days=3)).isoformat())
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment"
    assert (await staff["clerk"].act(cid, "reply_urge", "没有督办")).status_code == 409
    await sup.ok(cid, "urge", "请加快")
    r = await staff["clerk"].act(cid, "reply_urge")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment"
    assert (await sup.act(cid, "reply_urge", "监察不能代答")).status_code == 403
    other = stack.staff("hcd", "clerk")
    assert (await other.act(cid, "reply_urge", "别的部门")).status_code == 404
    assert len((await sup.case(cid))["history"]) == before + 1  # only the one urge


async def test_urge_on_a_joint_case_reaches_the_departments_still_working(stack):
    _, case = await open_joint(stack, COMPLETION)
    cid = case["id"]
    subs = subs_by_department(case)
    await answer(stack, subs["hcd"]["id"], "hcd")
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    urged = await sup.ok(cid, "urge", "请各部门加快")
    assert urged["history"][-1]["data"]["departments"] == ["nrp", "env", "fire"]

    async def urges_of(department: str) -> list[dict]:
        sc = await stack.staff(department, "clerk").case(subs[department]["id"])
        return [h for h in sc["history"] if h["action"] == "urge"]

    for _ in range(100):  # forwarded by signal: each sub-case records it a moment later
        if all(await asyncio.gather(*(urges_of(d) for d in ("nrp", "env", "fire")))):
            break
        await asyncio.sleep(0.1)
    for d in ("nrp", "env", "fire"):
        (u,) = await urges_of(d)
        assert (u["actor"], u["comment"], u["data"]["forwarded_from"]) == (sup.username, "请各部门加快", cid)
    assert await urges_of("hcd") == []  # hcd has answered already
    fire = stack.staff("fire", "approver")
    inbox = (await fire.get("/api/tasks", params={"scope": "department", "limit": 1000})).json()
    assert badge(inbox, subs["fire"]["id"])["by"] == sup.username
    replied = await stack.staff("fire", "handler").ok(subs["fire"]["id"], "reply_urge", "现场核查已安排")
    assert replied["history"][-1]["action"] == "reply_urge"
