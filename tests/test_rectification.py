"""Rectification of bad ratings (差评整改): a rating of 1 or 2 starts a durable workflow; the
department calls back and fixes, a supervisor closes or reopens; one appeal, upheld or rejected; the
deadline's warnings under time skipping; every entry in the case's history; the figures follow."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

from temporalio.testing import TimeSkipper
from temporalio.testing._workflow import TimeSkippingConfig  # the skipper services.simulation uses

from banjian.db import Case
from tests.conftest import User
from tests.test_api_cases import as_json, fresh_item

DEPT, OTHER = "amr", "hcd"


async def new_item(stack, **over) -> str:
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    d = fresh_item(**over)
    r = await stack.http.post("/api/items", content=as_json(d).encode(),
                              headers={**await admin.headers(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    return d["code"]


async def concluded(stack, item: str, staff: dict[str, User]) -> tuple[User, str]:
    """A case of `item` worked to conclusion (electronic delivery); its applicant and id."""
    applicant = stack.applicant()
    case = (await applicant.apply(item)).json()
    cid = case["id"]
    case = await staff["clerk"].ok(cid, "accept")
    while case["current_step"]["kind"] == "review":
        case = await staff[case["current_step"]["role"]].ok(cid, "pass", "同意")
    await staff["approver"].ok(cid, "approve", "准予许可")
    case = await staff["clerk"].ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"
    return applicant, cid


def dept_staff(stack) -> dict[str, User]:
    return {role: stack.staff(DEPT, role) for role in ("clerk", "handler", "approver", "head")}


async def act(user: User, rid: str, action: str, comment: str | None = "说明") -> tuple[int, dict]:
    r = await user.post(f"/api/rectifications/{rid}/actions", json={"action": action, "comment": comment})
    return r.status_code, r.json()


async def test_bad_rating_opens_a_rectification_worked_to_its_close(stack):
    item = await new_item(stack, rectification_days=7)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    applicant, cid = await concluded(stack, item, staff)

    rated = await applicant.ok(cid, "rate", "窗口态度差", level=2)
    entry = rated["history"][-1]
    assert entry["action"] == "rate" and entry["data"]["rectification_id"]
    rid = entry["data"]["rectification_id"]
    listed = (await sup.get("/api/rectifications", params={"department": DEPT, "status": "open"})).json()
    mine = [x for x in listed["items"] if x["id"] == rid]
    assert mine and set(mine[0]) >= {"id", "case_id", "department", "status", "due"}
    assert mine[0]["case_id"] == cid and mine[0]["status"] == "open"
    assert mine[0]["due"] == entry["data"]["rectification_due"]

    # bad input: each a clear 4xx, nothing changes
    assert (await act(staff["clerk"], rid, "record_fix"))[0] == 409  # the call-back comes first
    assert (await act(sup, rid, "record_callback"))[0] == 403  # the department calls back
    assert (await act(staff["clerk"], rid, "close"))[0] == 403  # a supervisor closes
    code, body = await act(staff["clerk"], rid, "record_callback", None)
    assert code == 422 and body["detail"]["field"] == "comment"
    code, body = await act(staff["clerk"], rid, "tidy_up")
    assert code == 422 and body["detail"]["field"] == "action"
    assert (await act(sup, rid, "close"))[0] == 409  # nothing fixed yet
    assert (await sup.get(f"/api/rectifications/{rid}")).json()["status"] == "open"

    # the department's staff of another department see nothing of it
    other = stack.staff(OTHER, "clerk")
    assert (await other.get(f"/api/rectifications/{rid}")).status_code == 404
    assert (await other.get("/api/rectifications", params={"department": DEPT})).status_code == 404
    assert rid not in [x["id"] for x in (await other.get("/api/rectifications")).json()["items"]]
    assert (await act(other, rid, "record_callback"))[0] == 404
    assert (await applicant.get(f"/api/rectifications/{rid}")).status_code == 404

    code, body = await act(staff["clerk"], rid, "record_callback", "已电话回访申请人")
    assert code == 200 and body["status"] == "called_back" and "record_fix" in body["allowed_actions"]
    assert (await act(staff["handler"], rid, "record_fix", "窗口人员已培训"))[1]["status"] == "fixed"
    assert (await act(sup, rid, "reopen", "整改不到位"))[1]["status"] == "reopened"
    assert (await act(staff["handler"], rid, "record_fix", "已调整窗口服务流程"))[1]["status"] == "fixed"
    code, body = await act(sup, rid, "close", "整改到位")
    assert code == 200 and body["status"] == "closed" and body["allowed_actions"] == []
    assert [h["action"] for h in body["history"]] == [
        "rectification_opened", "record_callback", "record_fix", "reopen", "record_fix", "close"]
    assert (await act(sup, rid, "reopen", "再看看"))[0] == 409  # closed is final

    case = await staff["clerk"].case(cid)
    notes = [(h["action"], h["comment"]) for h in case["history"] if h["data"].get("rectification_id") == rid]
    assert notes == [("rate", "窗口态度差"), ("record_callback", "已电话回访申请人"), ("record_fix", "窗口人员已培训"),
                     ("reopen", "整改不到位"), ("record_fix", "已调整窗口服务流程"), ("close", "整改到位")]
    with stack.sessions() as s:
        row = s.get(Case, cid)
        assert (row.rating, row.rectified, row.rating_void) == (2, True, False)
    r = await sup.get("/api/supervision/stats", params={"item_code": item})
    (stats,) = r.json()["items"]
    assert (stats["bad_ratings"], stats["rectification_rate"], stats["satisfaction"]) == (1, 1.0, 0.0)
    # the audit trail: the case's records (rectification entries included) verify and replay
    auditor = stack.user(f"aud-{uuid.uuid4().hex[:6]}", "auditor")
    assert (await auditor.get(f"/api/cases/{cid}/verify")).json()["verified"] is True
    replay = (await auditor.get(f"/api/cases/{cid}/replay")).json()
    assert replay["verified"] is True, replay
    timeline = (await auditor.get(f"/api/cases/{cid}/timeline")).json()
    assert "record_fix" in json.dumps(timeline)


async def test_an_upheld_appeal_takes_the_rating_out_of_the_figures(stack):
    """Four rated cases of a new item, hand-computed: ratings 5, 4, 1, 2; the 1 is rectified and
    closed, the 2 is appealed and the appeal upheld. Valid ratings: 5, 4, 1 → satisfaction 2/3,
    bad ratings 1, rectification rate 1/1. Before the appeal: 2/4 and 1/2."""
    item = await new_item(stack)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    rids = {}
    for level in (5, 4, 1, 2):
        applicant, cid = await concluded(stack, item, staff)
        rated = await applicant.ok(cid, "rate", "评价", level=level)
        rids[level] = rated["history"][-1]["data"].get("rectification_id")
    assert rids[5] is None and rids[4] is None and rids[1] and rids[2]

    async def figures() -> tuple:
        (row,) = (await sup.get("/api/supervision/stats", params={"item_code": item})).json()["items"]
        return row["ratings"], row["satisfaction"], row["bad_ratings"], row["rectification_rate"]

    assert await figures() == (4, 0.5, 2, 0.0)
    for action, who in (("record_callback", "clerk"), ("record_fix", "handler")):
        assert (await act(staff[who], rids[1], action))[0] == 200
    assert (await act(sup, rids[1], "close"))[1]["status"] == "closed"
    assert await figures() == (4, 0.5, 2, 0.5)

    code, body = await act(staff["head"], rids[2], "appeal", "申请人误评：评价内容与本件无关")
    assert code == 200 and body["status"] == "appealed" and body["appeal"] == "pending"
    assert (await act(staff["head"], rids[2], "appeal", "再次申诉"))[0] == 409  # one appeal, pending
    assert (await act(staff["clerk"], rids[2], "uphold_appeal"))[0] == 403
    code, body = await act(sup, rids[2], "uphold_appeal", "经核实为误评")
    assert code == 200 and body["status"] == "appeal_upheld" and body["appeal"] == "upheld"
    assert await figures() == (3, round(2 / 3, 4), 1, 1.0)
    with stack.sessions() as s:
        row = s.exec(__import__("sqlmodel").select(Case).where(Case.id == body["case_id"])).one()
        assert (row.rating, row.rating_void) == (2, True)  # never deleted: set aside


async def test_a_rejected_appeal_resumes_and_a_second_appeal_is_409(stack):
    item = await new_item(stack)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department=DEPT)
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "很差", level=1))["history"][-1]["data"]["rectification_id"]
    assert (await act(staff["clerk"], rid, "record_callback"))[1]["status"] == "called_back"
    assert (await act(staff["clerk"], rid, "appeal", "误评"))[1]["status"] == "appealed"
    assert (await act(staff["clerk"], rid, "record_fix"))[0] == 409  # under appeal
    code, body = await act(sup, rid, "reject_appeal", "申诉理由不成立")
    assert code == 200 and body["status"] == "called_back" and body["appeal"] == "rejected"
    code, body = await act(staff["clerk"], rid, "appeal", "再次申诉")
    assert code == 409 and body["detail"]["code"] == "appeal_decided"
    other_sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department=OTHER)
    assert (await other_sup.get(f"/api/rectifications/{rid}")).status_code == 404
    case = await applicant.case(cid)
    assert [h["action"] for h in case["history"] if h["data"].get("rectification_id") == rid][-2:] == [
        "appeal", "reject_appeal"]


async def test_rectification_deadline_warns_under_time_skipping(stack):
    item = await new_item(stack, rectification_days=5)
    staff = dept_staff(stack)
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "不满意", level=2))["history"][-1]["data"]["rectification_id"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    handle = stack.client.get_workflow_handle(f"rectification-{rid}")
    skipper = TimeSkipper(stack.client, config=TimeSkippingConfig(disable_propagation=True))
    await skipper.fast_forward(handle, timedelta(days=12))  # past 5 working days, whatever the weekday
    got = (await sup.get(f"/api/rectifications/{rid}")).json()
    assert [w["cause"] for w in got["warnings"]] == ["rectification_due_near", "rectification_overdue"]
    assert got["warning"] == "yellow" and got["overdue"] is True and got["status"] == "open"
    case = await applicant.case(cid)
    warned = [h for h in case["history"] if h["action"] == "rectification_warning"]
    assert [h["data"]["cause"] for h in warned] == ["rectification_due_near", "rectification_overdue"]
    # due with exactly notice_days working days left after its day: "at most", not "fewer than" (不足)
    assert warned[0]["comment"] == f"整改期限（{got['due']}）临近：剩余不超过 2 个工作日"  # notice_days 2
    # the work goes on after the deadline, and closing ends the workflow and lets the case end
    for action, who in (("record_callback", "clerk"), ("record_fix", "handler")):
        assert (await act(staff[who], rid, action))[0] == 200
    assert (await act(sup, rid, "close"))[1]["status"] == "closed"
    assert (await handle.result())["status"] == "closed"
    ended = await asyncio.wait_for(stack.client.get_workflow_handle(f"case-{cid}").result(), 30)
    assert ended["rectification"]["status"] == "closed" and ended["rectification"]["rectified"] is True


async def test_the_simulation_clock_advances_a_case_waiting_for_its_rectification(stack):
    """A case rated badly waits for its rectification (a child workflow), so its own clock cannot
    skip time: advancing it through the simulation route moves the rectification's clock instead,
    answers, and the rectification's warnings are on it and in the case's history when it answers."""
    item = await new_item(stack, rectification_days=5)
    staff = dept_staff(stack)
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "不满意", level=2))["history"][-1]["data"]["rectification_id"]
    case = await asyncio.wait_for(stack.advance(cid, 12), 90)  # past 5 working days, whatever the weekday
    warned = [h["data"]["cause"] for h in case["history"] if h["action"] == "rectification_warning"]
    assert warned == ["rectification_due_near", "rectification_overdue"]
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    got = (await sup.get(f"/api/rectifications/{rid}")).json()
    assert got["warning"] == "yellow" and got["overdue"] is True and got["status"] == "open"
    # a second advance goes on from the rectification's time; once closed, the case ends
    await asyncio.wait_for(stack.advance(cid, 1), 90)
    for action, who in (("record_callback", "clerk"), ("record_fix", "handler")):
        assert (await act(staff[who], rid, action))[0] == 200
    assert (await act(sup, rid, "close"))[1]["status"] == "closed"
    ended = await asyncio.wait_for(stack.client.get_workflow_handle(f"case-{cid}").result(), 30)
    assert ended["rectification"]["rectified"] is True


async def test_reopened_past_its_due_day_a_rectification_gets_the_yellow_card_alone(stack):
    """Fixed in time, the rectification owes nothing while its due day passes (no warning); reopened
    after it, the department owes work again: the yellow card says the deadline passed, and no notice
    "less than 2 working days left" comes after the deadline."""
    item = await new_item(stack, rectification_days=5)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "不满意", level=2))["history"][-1]["data"]["rectification_id"]
    for action, who in (("record_callback", "clerk"), ("record_fix", "handler")):
        assert (await act(staff[who], rid, action))[0] == 200
    await asyncio.wait_for(stack.advance(cid, 12), 90)  # past 5 working days, whatever the weekday
    assert (await sup.get(f"/api/rectifications/{rid}")).json()["warnings"] == []  # fixed: nothing owed
    assert (await act(sup, rid, "reopen", "整改不到位"))[1]["status"] == "reopened"
    case = await asyncio.wait_for(stack.advance(cid, 0.01), 90)  # the reopening's warnings are handled
    got = (await sup.get(f"/api/rectifications/{rid}")).json()
    assert [w["cause"] for w in got["warnings"]] == ["rectification_overdue"]
    assert got["warning"] == "yellow" and got["overdue"] is True
    warned = [h["data"]["cause"] for h in case["history"] if h["action"] == "rectification_warning"]
    assert warned == ["rectification_overdue"]


async def waiting(user: User, statuses: tuple[str, ...]) -> int:
    """How many rectifications in these statuses the user reads (the API's scope)."""
    items = (await user.get("/api/rectifications", params={"limit": 500})).json()["items"]
    return sum(1 for r in items if r["status"] in statuses)


async def test_rectification_pages_list_and_act(stack):
    """The department's page lists its rectification and acts on it; the supervisor closes it from
    the page; /supervision and /work link to the list; another department's is a 404 page."""
    from tests.pages_client import PageClient

    item = await new_item(stack)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", name="李督察")
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "不满意", level=2))["history"][-1]["data"]["rectification_id"]
    clerk, boss, other = PageClient(stack), PageClient(stack), PageClient(stack)
    try:
        await clerk.login(staff["clerk"].username)
        work = await clerk.get("/work")
        assert 'href="/rectifications"' in work.text
        # beside the link, how many wait for the department (other tests' rectifications of amr too)
        owed = await waiting(staff["clerk"], ("open", "called_back", "reopened"))
        assert owed >= 1 and f"（<strong>{owed}</strong> 件待处理）" in work.text
        listed = await clerk.get("/rectifications")
        assert listed.status_code == 200 and rid in listed.text and "待回访" in listed.text
        page = await clerk.get(f"/rectifications/{rid}")
        assert "登记回访" in page.text and "申诉复核" in page.text and "整改办结" not in page.text
        r = await clerk.submit(f"/rectifications/{rid}/actions", page.text, {"action": "record_callback"})
        assert r.status_code == 422 and "须填写说明" in r.text  # the comment is required: shown in place
        # beside the field too (its error message, the textarea marked invalid), linked from the summary
        assert 'id="comment-error"' in r.text and 'aria-invalid="true"' in r.text and 'href="#comment"' in r.text
        r = await clerk.submit(f"/rectifications/{rid}/actions", page.text,
                               {"action": "record_callback", "comment": "已回访"})
        assert r.status_code == 303
        page = await clerk.get(r.headers["location"])
        assert "已回访，待整改" in page.text and "已登记回访" in page.text
        r = await clerk.submit(f"/rectifications/{rid}/actions", page.text, {"action": "record_fix", "comment": "已整改"})
        assert r.status_code == 303

        await boss.login(sup.username)
        assert 'href="/rectifications"' in (await boss.get("/supervision")).text
        # the supervisor's /work counts the fixes to close and the appeals to decide
        owed = await waiting(sup, ("fixed", "appealed"))
        assert owed >= 1 and f"（<strong>{owed}</strong> 件待处理）" in (await boss.get("/work")).text
        page = await boss.get(f"/rectifications/{rid}")
        assert "整改办结" in page.text and "重新整改" in page.text
        r = await boss.submit(f"/rectifications/{rid}/actions", page.text, {"action": "close", "comment": ""})
        assert r.status_code == 303
        closed = (await boss.get(f"/rectifications/{rid}")).text
        assert "整改办结" in closed
        # the history names people as the case page does: display names and roles, 系统 for the system
        history = closed[closed.index("整改记录"):]
        assert "系统" in history and ">system<" not in history and "· system" not in history
        assert "李督察（电子监察）" in history and sup.username not in history
        # a refusal (not allowed now) is no field's error: 无法办理, nothing marked beside the field
        r = await boss.submit(f"/rectifications/{rid}/actions", page.text, {"action": "reopen", "comment": "再看看"})
        assert r.status_code == 409 and "无法办理" in r.text and 'id="comment-error"' not in r.text

        await other.login(stack.staff(OTHER, "clerk").username)
        assert (await other.get(f"/rectifications/{rid}")).status_code == 404
    finally:
        for p in (clerk, boss, other):
            await p.close()


async def test_an_appeal_on_the_pages_says_what_was_done_and_who_acts_next(stack):
    """The department appeals a mistaken rating (申诉复核) and the supervisor upholds it, on the pages:
    each is told in plain Chinese what went through and what happens next (not "已申诉成立。")."""
    from tests.pages_client import PageClient

    item = await new_item(stack)
    staff = dept_staff(stack)
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    applicant, cid = await concluded(stack, item, staff)
    rid = (await applicant.ok(cid, "rate", "误点了", level=1))["history"][-1]["data"]["rectification_id"]
    clerk, boss = PageClient(stack), PageClient(stack)
    try:
        await clerk.login(staff["clerk"].username)
        page = await clerk.get(f"/rectifications/{rid}")
        r = await clerk.submit(f"/rectifications/{rid}/actions", page.text,
                               {"action": "appeal", "comment": "申请人来电说明误点了非常不满意"})
        assert r.status_code == 303
        done = (await clerk.get(r.headers["location"])).text
        assert '<div class="check check--good" role="status">申诉复核已提交，待监察人员审核。</div>' in done
        await boss.login(sup.username)
        page = await boss.get(f"/rectifications/{rid}")
        r = await boss.submit(f"/rectifications/{rid}/actions", page.text,
                              {"action": "uphold_appeal", "comment": "经核实系误评"})
        assert r.status_code == 303
        done = (await boss.get(r.headers["location"])).text
        assert '<div class="check check--good" role="status">已认定申诉成立，该评价不计入统计。</div>' in done
        odd = (await boss.get(f"/rectifications/{rid}?done=nonsense")).text  # an unknown one says nothing
        assert 'role="status"' not in odd
    finally:
        for p in (clerk, boss):
            await p.close()
