"""Joint approval (并联审批) and bundles (一件事) in depth: departments in parallel on their own
sub-deadlines with the simulation clock, the lead unit's urging and extension, silence as consent,
the unified denial, withdrawal, a worker restart in the middle of a joint case, and who sees what.

Departments work concurrently (asyncio.gather), as they do in life; every advance of the clock
goes through the simulation route, which moves the parent and its open sub-cases together.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from api.app import create_app
from banjian.calendar import load_calendar
from banjian.db import make_engine
from banjian.seed import ensure_base
from banjian.settings import Settings
from banjian.timefmt import china_date
from tests.conftest import Stack, User
from worker import build_worker

CONSTRUCTION = "construction-permit-joint"  # lead hcd; hcd, fire (10 wd), env, ndrc (10 wd); silence = consent
COMPLETION = "completion-acceptance-joint"  # lead hcd; hcd, nrp, env, fire (7 wd); silence is not consent
BUNDLE = "open-restaurant-bundle"
SUB_LIMITS = {CONSTRUCTION: {"hcd": 15, "fire": 10, "env": 15, "ndrc": 10},
              COMPLETION: {"hcd": 10, "nrp": 10, "env": 7, "fire": 7}}


# ---- helpers -----------------------------------------------------------------------------------
def staff(stack: Stack, department: str, role: str) -> User:
    """One user per (department, role) per stack: logging in is not what these tests measure."""
    cache = stack.__dict__.setdefault("_joint_staff", {})
    if (department, role) not in cache:
        cache[department, role] = stack.staff(department, role)
    return cache[department, role]


async def open_joint(stack: Stack, item_code: str = CONSTRUCTION) -> tuple[User, dict]:
    """An organisation applies; the lead unit's clerk accepts once (the sub-cases exist on answer)."""
    applicant = stack.applicant(organisation=True)
    r = await applicant.apply(item_code)
    assert r.status_code == 201, r.text
    case = await staff(stack, "hcd", "clerk").ok(r.json()["id"], "accept")
    assert case["status"] == "in_review" and case["current_step"] is None
    return applicant, case


def subs_by_department(case: dict) -> dict[str, dict]:
    return {s["department"]: s for s in case["sub_cases"]}


async def answer(stack: Stack, sub_id: str, department: str, deny: str | None = None) -> dict:
    """A department works its sub-case through its review steps and answers (agree, or disagree)."""
    sc = await staff(stack, department, "handler").case(sub_id)
    while sc["current_step"]["kind"] == "review":
        sc = await staff(stack, department, sc["current_step"]["role"]).ok(sub_id, "pass")
    approver = staff(stack, department, "approver")
    sc = await (approver.ok(sub_id, "deny", deny) if deny else approver.ok(sub_id, "approve"))
    assert sc["status"] == "concluded", sc
    assert sc["result"]["opinion"] == ("disagree" if deny else "agree"), sc["result"]
    return sc


def actions(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


def days_past(due: str, today: date) -> int:
    """Whole days to advance from `today` so that the day `due` has ended (any time of day)."""
    return (date.fromisoformat(due) - today).days + 1


def accepted_on(case: dict) -> date:
    return china_date(datetime.fromisoformat(case["accepted_at"]))


# ---- parallel progress on the simulation clock: a late department goes red, the parent waits -------

async def advance_or_fail(stack: Stack, case_id: str, days: int, within: float = 30) -> dict:
    try:
        return await asyncio.wait_for(stack.advance(case_id, days), within)
    except TimeoutError:
        pytest.fail(f"advancing joint case {case_id} by {days} days did not answer in {within:.0f} s "
                    "(a parent with an open sub-case cannot skip time: services/simulation.py advances in phases)")



async def test_late_department_goes_red_while_the_parent_waits(stack):
    _, case = await open_joint(stack, COMPLETION)
    cid = case["id"]
    subs = subs_by_department(case)
    await asyncio.gather(*(answer(stack, subs[d]["id"], d) for d in ("hcd", "nrp", "env")))
    fire_id = subs["fire"]["id"]
    # fire's sub-limit (7 working days) passes: its sub-case goes red, the parent keeps waiting
    await advance_or_fail(stack, cid, days_past(subs["fire"]["due"], accepted_on(case)))
    fire_case = await staff(stack, "fire", "handler").case(fire_id)
    assert fire_case["status"] == "accepted"
    assert [w["cause"] for w in fire_case["warnings"] if w["level"] == "red"] == ["statutory_overdue"]
    # the department's cards name its sub-limit, not the joint case's statutory limit (which runs on)
    due = subs["fire"]["due"]
    assert {w["cause"]: w["reason"] for w in fire_case["warnings"] if w["cause"] != "step_overdue"} == {
        "promised_due_near": f"部门办理时限（{due}）临近：剩余不超过 2 个工作日",
        "promised_overdue": f"已超过部门办理时限（{due}）",
        "statutory_overdue": f"部门办理时限（{due}）已过仍未答复，已上报牵头部门"}
    assert "sub_case_overdue" in actions(fire_case) and "deemed_consent" not in actions(fire_case)
    lead = staff(stack, "hcd", "lead")
    parent = await lead.case(cid)
    fire_ref = subs_by_department(parent)["fire"]
    assert (fire_ref["status"], fire_ref["opinion"], fire_ref["overdue"]) == ("accepted", None, True)
    assert parent["status"] == "in_review" and parent["current_step"] is None
    assert not [w for w in parent["warnings"] if w["level"] == "red"]
    overdue = [h for h in parent["history"] if h["action"] == "sub_case_overdue"]
    assert [(h["data"]["department"], h["data"]["sub_case"]) for h in overdue] == [("fire", fire_id)]
    assert [h["comment"] for h in overdue] == ["市消防救援支队 未在子时限内答复（督办提醒）"]
    assert (await lead.act(cid, "pass")).status_code == 409  # nothing to consolidate yet


# ---- the lead unit urges a late department and extends the joint case; the late answer; the result --
async def test_lead_urges_and_extends_while_a_department_is_late(stack):
    applicant, case = await open_joint(stack, COMPLETION)
    cid = case["id"]
    start = accepted_on(case)
    cal = load_calendar(stack.sessions())
    subs = subs_by_department(case)
    assert list(subs) == ["hcd", "nrp", "env", "fire"]
    assert [s["id"] for s in case["sub_cases"]] == [f"{cid}-01", f"{cid}-02", f"{cid}-03", f"{cid}-04"]
    for dept, sub in subs.items():  # each sub-case carries its department, status, opinion and due
        assert (sub["status"], sub["opinion"]) == ("accepted", None)
        assert sub["due"] == cal.add_working_days(start, SUB_LIMITS[COMPLETION][dept]).isoformat()
    assert case["deadlines"]["statutory_due"] == cal.add_working_days(start, 45).isoformat()
    fire_id = subs["fire"]["id"]
    inbox = (await staff(stack, "fire", "approver").get("/api/tasks", params={"scope": "department"})).json()
    assert [(t["case_id"], t["step"]["id"]) for t in inbox["items"] if t["parent_id"] == cid] == [
        (fire_id, "site_check")]

    # three departments answer in parallel; fire is late, and the parent waits for it
    await asyncio.gather(*(answer(stack, subs[d]["id"], d) for d in ("hcd", "nrp", "env")))
    lead = staff(stack, "hcd", "lead")
    parent = await lead.case(cid)
    assert [(s["department"], s["status"], s["opinion"]) for s in parent["sub_cases"]] == [
        ("hcd", "concluded", "agree"), ("nrp", "concluded", "agree"), ("env", "concluded", "agree"),
        ("fire", "accepted", None)]
    assert parent["status"] == "in_review" and parent["current_step"] is None
    assert (await lead.act(cid, "pass")).status_code == 409  # nothing to consolidate yet

    # the lead unit urges the late department; no other department's lead may
    after = await lead.ok(fire_id, "urge", "请尽快完成消防车通道核查")
    assert [(h["actor"], h["comment"]) for h in after["history"] if h["action"] == "urge"] == [
        (lead.username, "请尽快完成消防车通道核查")]
    r = await staff(stack, "env", "lead").act(fire_id, "urge", "催办")
    assert r.status_code == 404, r.text  # env cannot even see fire's sub-case
    r = await staff(stack, "fire", "lead").act(fire_id, "urge", "催办")
    assert r.status_code == 403, r.text  # fire sees its own sub-case but is not the lead unit

    # the lead unit extends the joint case: 45 + 15 working days
    before = parent["deadlines"]["statutory_due"]
    parent = await staff(stack, "hcd", "handler").ok(cid, "request_extension", "消防部门现场核查尚未完成，申请延长")
    assert parent["extension"]["days"] == 15
    r = await staff(stack, "fire", "head").act(cid, "approve_extension")
    assert r.status_code == 404, r.text  # a participating department's head does not see the joint case
    parent = await staff(stack, "hcd", "head").ok(cid, "approve_extension")
    assert parent["clock"]["extended_days"] == 15 and parent["extension"] is None
    assert parent["deadlines"]["statutory_due"] == cal.add_working_days(date.fromisoformat(before), 15).isoformat()
    assert parent["deadlines"]["statutory_due"] == cal.add_working_days(start, 60).isoformat()
    assert [a for a in actions(parent) if "extension" in a] == [
        "request_extension", "approve_extension", "extension_applied"]
    seen = await applicant.case(cid)  # the applicant is told of the extension and its reason
    assert seen["clock"]["extended_days"] == 15
    assert seen["deadlines"]["statutory_due"] == parent["deadlines"]["statutory_due"]
    assert [h["data"]["reason"] for h in seen["history"] if h["action"] == "approve_extension"] == [
        "消防部门现场核查尚未完成，申请延长"]

    # fire answers late; the lead consolidates (in the lead's inbox), the approver issues the result
    await answer(stack, fire_id, "fire")
    parent = await lead.case(cid)
    assert [s["opinion"] for s in parent["sub_cases"]] == ["agree"] * 4
    assert parent["current_step"]["id"] == "consolidate"
    mine = (await lead.get("/api/tasks", params={"scope": "mine"})).json()["items"]
    assert [t["step"]["id"] for t in mine if t["case_id"] == cid] == ["consolidate"]
    await lead.ok(cid, "pass")
    parent = await staff(stack, "hcd", "approver").ok(cid, "approve")
    assert parent["status"] == "decided" and parent["result"]["decision"] == "approved"


# ---- deemed acceptance starts the children ------------------------------------------------------------
async def test_deemed_acceptance_starts_the_children(stack):
    applicant = stack.applicant(organisation=True)
    case = (await applicant.apply(CONSTRUCTION)).json()
    cid = case["id"]
    received = china_date(datetime.fromisoformat(case["received_at"]))
    parent = await stack.advance(cid, days_past(case["deadlines"]["acceptance_due"], received))
    assert parent["status"] == "in_review", parent
    assert "deemed_acceptance" in actions(parent)
    assert parent["accepted_at"] == parent["submitted_at"]
    assert [w["cause"] for w in parent["warnings"] if w["level"] == "red"] == ["acceptance_overdue"]
    cal = load_calendar(stack.sessions())
    assert [(s["id"], s["department"], s["status"], s["opinion"], s["due"]) for s in parent["sub_cases"]] == [
        (f"{cid}-{n:02d}", dept, "accepted", None,
         cal.add_working_days(received, SUB_LIMITS[CONSTRUCTION][dept]).isoformat())
        for n, dept in enumerate(("hcd", "fire", "env", "ndrc"), start=1)]
    for sub in parent["sub_cases"]:  # sub-limits count from the deemed acceptance (the day of receipt)
        sc = await staff(stack, sub["department"], "handler").case(sub["id"])
        assert (sc["status"], sc["parent_id"], sc["accepted_at"]) == ("accepted", cid, parent["accepted_at"])
        assert sc["current_step"]["role"] == "handler"


# ---- silence is consent: a department silent past its sub-limit is deemed to agree ----------------------
async def test_silence_counts_as_consent_past_the_sub_limit(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    # hcd and env answer; fire and ndrc stay silent past their 10-working-day sub-limit
    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"), answer(stack, subs["env"]["id"], "env"))
    parent = await advance_or_fail(stack, cid, days_past(subs["fire"]["due"], accepted_on(case)))
    for dept in ("fire", "ndrc"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["status"] == "concluded", sc
        assert (sc["result"]["opinion"], sc["result"]["decision"]) == ("agree", "approved")
        assert [w["cause"] for w in sc["warnings"] if w["level"] == "red"] == ["statutory_overdue"]
        assert {"sub_case_overdue", "deemed_consent"} <= set(actions(sc))
        ref = subs_by_department(parent)[dept]
        assert (ref["status"], ref["opinion"], ref["deemed_consent"]) == ("concluded", "agree", True)
    assert sorted(h["data"]["department"] for h in parent["history"] if h["action"] == "sub_case_overdue") == [
        "fire", "ndrc"]
    decided = {h["data"]["department"]: h["data"]["deemed_consent"] for h in parent["history"]
               if h["action"] == "sub_case_decided"}
    assert decided == {"hcd": False, "env": False, "fire": True, "ndrc": True}
    assert parent["current_step"]["id"] == "consolidate"
    seen = await applicant.case(cid)  # the applicant is not told who agreed, even by silence
    assert [(s["opinion"], s["deemed_consent"]) for s in seen["sub_cases"]] == [(None, None)] * 4

    # silence counted as agreement: the unified approval is allowed
    await staff(stack, "hcd", "lead").ok(cid, "pass")
    parent = await staff(stack, "hcd", "approver").ok(cid, "approve")
    assert parent["status"] == "decided" and parent["result"]["decision"] == "approved"


# ---- unified denial; access of departments and of the applicant -----------------------------------
async def test_unified_denial_and_who_sees_what(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    fire_no, env_no = "消防车通道宽度不满足规范要求", "未编制环境影响报告表"
    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"), answer(stack, subs["ndrc"]["id"], "ndrc"),
                         answer(stack, subs["fire"]["id"], "fire", deny=fire_no),
                         answer(stack, subs["env"]["id"], "env", deny=env_no))

    # the applicant sees one case, and no department's opinion before the unified result
    mine = (await applicant.get("/api/cases")).json()
    assert mine["total"] == 1 and [c["id"] for c in mine["items"]] == [cid]
    seen = await applicant.case(cid)
    assert [(s["department"], s["status"], s["opinion"]) for s in seen["sub_cases"]] == [
        ("hcd", "concluded", None), ("fire", "concluded", None), ("env", "concluded", None),
        ("ndrc", "concluded", None)]
    assert all(s.get("reason") is None for s in seen["sub_cases"])
    reports = [h["data"] for h in seen["history"] if h["action"] == "sub_case_decided"]
    assert sorted(r["department"] for r in reports) == ["env", "fire", "hcd", "ndrc"]
    assert not [r for r in reports if {"opinion", "reason", "deemed_consent"} & set(r)]
    text = repr(seen)
    assert fire_no not in text
    assert env_no not in text
    assert "disagree" not in text
    for sub in case["sub_cases"]:
        assert (await applicant.get(f"/api/cases/{sub['id']}")).status_code == 404

    # a participating department sees its own sub-case and the shared materials, nothing else
    fire = staff(stack, "fire", "handler")
    own = await fire.case(subs["fire"]["id"])
    assert own["result"]["opinion"] == "disagree"
    assert [m["name"] for m in own["materials"]] == [m["name"] for m in seen["materials"]]
    assert (await fire.get(f"/api/cases/{cid}")).status_code == 404
    for dept in ("hcd", "env", "ndrc"):
        assert (await fire.get(f"/api/cases/{subs[dept]['id']}")).status_code == 404
        assert (await fire.get(f"/api/cases/{subs[dept]['id']}/history")).status_code == 404
    listed = (await fire.get("/api/cases", params={"q": cid})).json()
    assert [c["id"] for c in listed["items"]] == [subs["fire"]["id"]]

    # the lead unit reads every opinion; its joint cases list carries the sub-cases
    lead = staff(stack, "hcd", "lead")
    joint = (await lead.get("/api/cases", params={"kind": "joint", "q": cid})).json()
    assert [c["id"] for c in joint["items"]] == [cid]
    assert [(s["department"], s["opinion"]) for s in joint["items"][0]["sub_cases"]] == [
        ("hcd", "agree"), ("fire", "disagree"), ("env", "disagree"), ("ndrc", "agree")]
    assert all({"id", "department", "status", "opinion", "due"} <= set(s) for s in joint["items"][0]["sub_cases"])
    assert [s["case_no"] for s in joint["items"][0]["sub_cases"]] == [
        f"{joint['items'][0]['case_no']}-{n:02d}" for n in range(1, 5)]
    assert [(s["department"], s["department_name"]) for s in joint["items"][0]["sub_cases"]] == [
        ("hcd", "市住房和城乡建设局"), ("fire", "市消防救援支队"), ("env", "市生态环境局"), ("ndrc", "市发展和改革委员会")]

    await lead.ok(cid, "pass")
    approver = staff(stack, "hcd", "approver")
    r = await approver.act(cid, "approve")  # fire (required) disagreed: only a denial is possible
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]  # named for people, the codes beside for machines
    assert "以下必需部门未同意，只能作出不予许可决定：市消防救援支队" in detail["message"]
    assert "市生态环境局" not in detail["message"] and "fire" not in detail["message"]
    assert "市消防救援支队 (fire)" in detail["message_en"] and detail["departments"] == ["fire"]
    parent = await approver.ok(cid, "deny", "并联部门审查未通过")
    assert parent["status"] == "decided"
    assert parent["result"]["decision"] == "denied"
    assert parent["result"]["reason"] == f"并联部门审查未通过；市消防救援支队：{fire_no}；市生态环境局：{env_no}"

    # after the result, the applicant reads the reasons and the departments' opinions
    seen = await applicant.case(cid)
    assert seen["result"]["reason"] == parent["result"]["reason"]
    assert [s["opinion"] for s in seen["sub_cases"]] == ["agree", "disagree", "disagree", "agree"]


# ---- a suspended joint case pauses every department's clock (行政许可法: suspended time does not count) ----
async def test_suspended_joint_case_pauses_every_department_clock(stack):
    _, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    due_before = {d: s["due"] for d, s in subs.items()}
    parent = await staff(stack, "hcd", "approver").ok(cid, "suspend", "等待规划许可变更")
    assert parent["status"] == "suspended" and parent["clock"]["paused"] is True
    # when the suspension answers, every department's clock has stopped with it
    assert [(s["department"], s["parent_paused"]) for s in parent["sub_cases"]] == [
        ("hcd", True), ("fire", True), ("env", True), ("ndrc", True)]
    assert [h["data"]["sub_cases"] for h in parent["history"] if h["action"] == "sub_cases_paused"] == [
        [subs[d]["id"] for d in ("hcd", "fire", "env", "ndrc")]]
    for dept in ("hcd", "fire", "env", "ndrc"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["clock"]["paused"] is True and actions(sc)[-1] == "paused_by_parent", sc["history"][-1]
    # a department may suspend its own sub-case meanwhile; it stays suspended when the joint case resumes
    await staff(stack, "fire", "approver").ok(subs["fire"]["id"], "suspend", "等待特殊建设工程认定")

    # well past every sub-limit: no department goes overdue, none is deemed to consent
    parent = await advance_or_fail(stack, cid, 30)
    assert all(s["status"] == "accepted" or s["status"] == "suspended" for s in parent["sub_cases"]), parent["sub_cases"]
    assert not [s for s in parent["sub_cases"] if s["overdue"] or s["deemed_consent"]]
    assert "sub_case_overdue" not in actions(parent)
    for dept in ("hcd", "fire", "env", "ndrc"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["warnings"] == [] and "deemed_consent" not in actions(sc), (dept, sc["warnings"])

    # the joint case resumes: the departments' clocks run again, their sub-limits pushed by the pause
    parent = await staff(stack, "hcd", "approver").ok(cid, "resume")
    assert "sub_cases_resumed" in actions(parent)
    moved = subs_by_department(parent)
    for dept in ("hcd", "env", "ndrc"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["clock"]["paused"] is False and sc["clock"]["paused_working_days"] > 0
        assert actions(sc)[-1] == "resumed_by_parent"
        assert moved[dept]["due"] > due_before[dept] and not moved[dept]["parent_paused"]
    fire = await staff(stack, "fire", "handler").case(subs["fire"]["id"])
    assert (fire["status"], fire["clock"]["paused"]) == ("suspended", True)  # its own suspension goes on
    fire = await staff(stack, "fire", "approver").ok(subs["fire"]["id"], "resume")
    assert fire["clock"]["paused"] is False and fire["deadlines"]["statutory_due"] > due_before["fire"]

    # the clocks really run again: past ndrc's moved sub-limit its silence counts as consent
    # (the simulation moves sub-cases to the joint case's time plus the advance: it stayed behind theirs)
    today = date.fromisoformat(parent["clock"]["today"])
    await advance_or_fail(stack, cid, days_past(moved["ndrc"]["due"], today))
    ndrc = await staff(stack, "ndrc", "handler").case(subs["ndrc"]["id"])
    assert "deemed_consent" in actions(ndrc)


# ---- withdrawal cancels the open sub-cases ------------------------------------------------------------
async def test_withdrawal_cancels_open_children(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    await answer(stack, subs["ndrc"]["id"], "ndrc")
    after = await applicant.ok(cid, "withdraw")
    assert after["status"] == "withdrawn"
    assert [(s["department"], s["status"]) for s in after["sub_cases"]] == [
        ("hcd", "withdrawn"), ("fire", "withdrawn"), ("env", "withdrawn"), ("ndrc", "concluded")]
    cancelled = [h for h in after["history"] if h["action"] == "sub_cases_cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["data"]["sub_cases"] == [subs[d]["id"] for d in ("hcd", "fire", "env")]
    for dept in ("hcd", "fire", "env"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["status"] == "withdrawn" and sc["current_step"] is None
        assert actions(sc)[-1] == "cancelled_by_parent"
        desc = await stack.client.get_workflow_handle(f"case-{subs[dept]['id']}").describe()
        assert desc.status == WorkflowExecutionStatus.COMPLETED
    r = await staff(stack, "fire", "handler").act(subs["fire"]["id"], "pass")
    assert r.status_code == 409, r.text
    inbox = (await staff(stack, "fire", "handler").get("/api/tasks", params={"scope": "department"})).json()
    assert not [t for t in inbox["items"] if t.get("parent_id") == cid]
    assert (await staff(stack, "ndrc", "handler").case(subs["ndrc"]["id"]))["status"] == "concluded"


# ---- the joint case terminated (终止) by the lead unit: its open sub-cases end as terminated, not withdrawn ----
async def test_termination_ends_open_sub_cases_as_terminated(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    await answer(stack, subs["ndrc"]["id"], "ndrc")
    after = await staff(stack, "hcd", "approver").ok(cid, "terminate", "建设单位项目已取消")
    assert after["status"] == "terminated"
    assert [(s["department"], s["status"]) for s in after["sub_cases"]] == [
        ("hcd", "terminated"), ("fire", "terminated"), ("env", "terminated"), ("ndrc", "concluded")]
    for dept in ("hcd", "fire", "env"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["status"] == "terminated" and sc["current_step"] is None
        last = sc["history"][-1]
        assert (last["action"], last["comment"]) == ("cancelled_by_parent", "主件已终止办理，子件随之终止")
        assert "撤回" not in repr(sc["history"])  # nobody withdrew anything
    seen = await applicant.case(cid)
    assert [s["status"] for s in seen["sub_cases"]] == ["terminated", "terminated", "terminated", "concluded"]


# ---- a bundle with one member denied: the combined result is a denial with its reason ------------------
async def test_bundle_member_denied_gives_combined_denial(stack):
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    assert r.status_code == 201, r.text
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    cid = case["id"]
    members = {s["item_code"]: s for s in case["sub_cases"]}
    food = members["food-business-licence"]
    why = "加工操作区布局不符合食品安全要求"
    await asyncio.gather(*(answer(stack, s["id"], s["department"], deny=why if s is food else None)
                           for s in case["sub_cases"]))
    parent = await applicant.case(cid)
    assert parent["status"] == "decided"
    assert parent["result"] == {"decision": "denied", "reason": f"{food['item_name']}（市市场监督管理局）：{why}"}
    assert [h["comment"] for h in parent["history"] if h["action"] == "combined_decision"] == [
        f"{food['item_name']}（市市场监督管理局）：{why}"]
    assert food["department"] == "amr" and food["department_name"] == "市市场监督管理局"
    assert [(s["item_code"], s["opinion"]) for s in parent["sub_cases"]] == [
        ("individual-business-registration", "agree"), ("food-business-licence", "disagree"),
        ("fire-safety-inspection", "agree")]
    combined = [h for h in parent["history"] if h["action"] == "combined_decision"]
    assert len(combined) == 1 and combined[0]["data"]["decision"] == "denied"


# ---- the worker stops in the middle of a joint case and another one carries on -------------------------
async def test_worker_restart_in_the_middle_of_a_joint_case(temporal_env, client, tmp_path):
    settings = Settings(data_dir=tmp_path, task_queue=f"banjian-restart-{uuid.uuid4().hex[:8]}", simulation=True,
                        temporal_address=client.service_client.config.target_host)
    engine = make_engine(settings.db_url)
    ensure_base(engine)
    app = create_app(settings, client=client, engine=engine)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=90) as http:
                stack = Stack(settings, engine, client, temporal_env, http, app)
                async with build_worker(client, settings, engine):
                    applicant, case = await open_joint(stack, CONSTRUCTION)
                    cid = case["id"]
                    subs = subs_by_department(case)
                    await answer(stack, subs["ndrc"]["id"], "ndrc")
                    fire = await staff(stack, "fire", "handler").ok(subs["fire"]["id"], "pass")
                    assert fire["current_step"]["id"] == "decide"
                # no worker now: an action posted meanwhile waits for the next worker
                pending = asyncio.create_task(staff(stack, "fire", "approver").act(subs["fire"]["id"], "approve"))
                await asyncio.sleep(1)
                assert not pending.done()
                async with build_worker(client, settings, engine):
                    r = await pending
                    assert r.status_code == 200, r.text
                    assert r.json()["status"] == "concluded"
                    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"),
                                         answer(stack, subs["env"]["id"], "env"))
                    parent = await applicant.case(cid)
                    assert [s["status"] for s in parent["sub_cases"]] == ["concluded"] * 4
                    await staff(stack, "hcd", "lead").ok(cid, "pass")
                    await staff(stack, "hcd", "approver").ok(cid, "approve")
                    parent = await staff(stack, "hcd", "clerk").ok(cid, "deliver", method="electronic")
                    assert parent["status"] == "concluded" and parent["result"]["decision"] == "approved"
                    decided = [h["data"]["sub_case"] for h in parent["history"] if h["action"] == "sub_case_decided"]
                    assert sorted(decided) == sorted(s["id"] for s in case["sub_cases"])
                    assert len(decided) == 4  # each department's answer counted once across the restart
    finally:
        engine.dispose()
