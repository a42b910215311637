"""A supplement in a joint case (并联审批补正, design 9): departments ask through the lead unit, the lead
unit sends the applicant one consolidated notice (一次性告知), the applicant answers once and every
department receives the answer; the clocks of the joint case and of every department pause meanwhile.
On the time-skipping test server, through the API, in the style of tests/test_joint.py."""
from __future__ import annotations

import asyncio

import pytest

from tests.test_joint import (
    CONSTRUCTION,
    actions,
    advance_or_fail,
    answer,
    open_joint,
    staff,
    subs_by_department,
)

PLAN = "建设工程规划许可证"
CONTRACT = "中标通知书及施工合同"
FIRE_DESIGN = "特殊建设工程消防设计文件"
ENV_REPORT = "建设项目环境影响报告表"


async def test_departments_ask_lead_notifies_once_applicant_answers_every_department(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    fire_id, env_id = subs["fire"]["id"], subs["env"]["id"]
    fire_due = subs["fire"]["due"]

    # fire's handler asks (its opinion required); the sub-case waits with its clock stopped
    r = await staff(stack, "fire", "handler").act(fire_id, "ask_supplement", data={"missing": [FIRE_DESIGN]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment", r.text
    fire = await staff(stack, "fire", "handler").ok(fire_id, "ask_supplement", "未提交特殊建设工程消防设计文件",
                                                    missing=[FIRE_DESIGN])
    assert (fire["status"], fire["clock"]["paused"]) == ("supplement_requested", True)
    assert fire["supplement_ask"]["missing"] == [FIRE_DESIGN] and "ask_supplement" in actions(fire)
    assert "submit_supplement" not in fire["allowed_actions"] and "ask_supplement" not in fire["allowed_actions"]
    r = await staff(stack, "fire", "handler").act(fire_id, "ask_supplement", "再补一份", missing=[PLAN])
    assert r.status_code == 409 and "已提请补正" in r.json()["detail"]["message"], r.text
    # the joint case knows when the department's action answers (read-your-writes)
    lead = staff(stack, "hcd", "lead")
    parent = await lead.case(cid)
    assert parent["status"] == "in_review" and "notify_supplement" in parent["allowed_actions"]
    asked = [h for h in parent["history"] if h["action"] == "supplement_asked"]
    assert [(h["data"]["department"], h["data"]["missing"], h["data"]["opinion"]) for h in asked] == [
        ("fire", [FIRE_DESIGN], "未提交特殊建设工程消防设计文件")]
    assert subs_by_department(parent)["fire"]["supplement_ask"]["by"] == fire["history"][-1]["actor"]
    # the lead unit's inbox holds the joint case until it sends the notice; fire's no longer holds its sub-case
    assert cid in [t["case_id"] for t in (await lead.get("/api/tasks")).json()["items"]]
    fire_inbox = (await staff(stack, "fire", "handler").get("/api/tasks", params={"scope": "department"})).json()
    assert fire_id not in [t["case_id"] for t in fire_inbox["items"]]

    # env asks too, for two materials; the notice gathers both departments' requests
    await staff(stack, "env", "approver").ok(env_id, "ask_supplement", "环评报告表缺失，施工合同页码不全",
                                             missing=[ENV_REPORT, CONTRACT])
    # the applicant cannot answer a department directly
    assert (await applicant.act(cid, "submit_supplement", materials=[FIRE_DESIGN])).status_code == 409
    # only the lead unit notifies
    assert (await staff(stack, "hcd", "handler").act(cid, "notify_supplement")).status_code == 403
    r = await lead.act(cid, "notify_supplement", missing=PLAN)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "invalid_type", r.text
    parent = await lead.ok(cid, "notify_supplement", "请一次性补正以下材料", missing=[PLAN])
    assert parent["status"] == "supplement_requested" and parent["clock"]["paused"] is True
    assert parent["missing_materials"] == [FIRE_DESIGN, ENV_REPORT, CONTRACT, PLAN]
    js = parent["joint_supplement"]
    assert [a["department"] for a in js["asks"]] == ["fire", "env"] and js["notified_at"]
    # every department's clock stopped with the joint case's; a second notice or request is refused
    assert all(s["parent_paused"] for s in parent["sub_cases"]), parent["sub_cases"]
    assert cid not in [t["case_id"] for t in (await lead.get("/api/tasks")).json()["items"]]
    assert (await lead.act(cid, "notify_supplement")).status_code == 409
    r = await staff(stack, "hcd", "handler").act(subs["hcd"]["id"], "ask_supplement", "再要一份", missing=[PLAN])
    assert r.status_code == 409 and "一次性" in r.json()["detail"]["message"], r.text
    hcd = await staff(stack, "hcd", "handler").case(subs["hcd"]["id"])
    assert "supplement_notified" in actions(hcd) and hcd["supplement_notified"] is True

    # the applicant waits long: well past every department's sub-limit, nobody goes overdue or is deemed to consent
    parent = await advance_or_fail(stack, cid, 30)
    assert not [s for s in parent["sub_cases"] if s["overdue"] or s["deemed_consent"]], parent["sub_cases"]
    assert not parent["warnings"]

    # the applicant answers once: a missing one is a 422 naming it, and nothing changes
    r = await applicant.act(cid, "submit_supplement", materials=[FIRE_DESIGN, ENV_REPORT, CONTRACT])
    assert r.status_code == 422 and PLAN in r.json()["detail"]["message"], r.text
    parent = await applicant.ok(cid, "submit_supplement", materials=[FIRE_DESIGN, ENV_REPORT, CONTRACT, PLAN])
    assert parent["status"] == "in_review" and parent["clock"]["paused"] is False
    assert parent["current_step"] is None  # the departments work on first
    # (the simulation clock moves a joint case only once its sub-cases closed: their clocks show the pause)
    assert parent["joint_supplement"]["answered_at"]
    assert not any(s["parent_paused"] for s in parent["sub_cases"])
    # every department holds the new versions when the answer answers; the askers work on, clocks running
    for dept in ("hcd", "fire", "env", "ndrc"):
        sc = await staff(stack, dept, "handler").case(subs[dept]["id"])
        assert sc["status"] == "accepted" or sc["status"] == "in_review", (dept, sc["status"])
        assert sc["clock"]["paused"] is False and sc["clock"]["paused_working_days"] > 0, dept
        assert "supplement_received" in actions(sc), dept
        assert {m["name"]: m["version"] for m in sc["materials"]}[PLAN] == 2, dept
    fire = await staff(stack, "fire", "handler").case(fire_id)
    assert fire["supplement_ask"] is None and fire["deadlines"]["statutory_due"] > fire_due

    # the departments answer; the joint case moves on to the lead unit's steps
    parent = await lead.case(cid)
    await asyncio.gather(*(answer(stack, s["id"], s["department"]) for s in parent["sub_cases"]))
    parent = await lead.case(cid)
    assert parent["current_step"] is not None and parent["status"] == "in_review"


async def test_ask_supplement_refused_where_it_does_not_belong(stack):
    _, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    # the lead unit has nothing to notify before a department asks
    r = await staff(stack, "hcd", "lead").act(cid, "notify_supplement")
    assert r.status_code == 409 and "没有部门提请补正" in r.json()["detail"]["message"], r.text
    # another department's staff cannot ask on fire's sub-case (nor see it), fire's clerk may not ask;
    # an unknown material is a 422
    r = await staff(stack, "env", "handler").act(subs["fire"]["id"], "ask_supplement", "缺", missing=[PLAN])
    assert r.status_code == 404, r.text
    r = await staff(stack, "fire", "clerk").act(subs["fire"]["id"], "ask_supplement", "缺", missing=[PLAN])
    assert r.status_code == 403, r.text
    r = await staff(stack, "fire", "handler").act(subs["fire"]["id"], "ask_supplement", "缺", missing=["不存在的材料"])
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.missing", r.text
    # a sub-case's return to the applicant points to the request instead
    r = await staff(stack, "fire", "handler").act(subs["fire"]["id"], "return_to", "缺", step_id="applicant")
    assert r.status_code == 409 and "提请补正" in r.json()["detail"]["message"], r.text
    # the joint case itself is not asked on; it stays unchanged
    r = await staff(stack, "hcd", "handler").act(cid, "ask_supplement", "缺", missing=[PLAN])
    assert r.status_code in (403, 409), r.text
    parent = await staff(stack, "hcd", "lead").case(cid)
    assert parent["joint_supplement"] is None and parent["status"] == "in_review"


async def test_withdrawn_while_the_applicant_supplements(stack):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    await staff(stack, "ndrc", "handler").ok(subs["ndrc"]["id"], "ask_supplement", "资金承诺书未签章",
                                             missing=["建设资金已经落实承诺书"])
    await staff(stack, "hcd", "lead").ok(cid, "notify_supplement")
    parent = await applicant.ok(cid, "withdraw", "不再申请")
    assert parent["status"] == "withdrawn"
    assert {s["status"] for s in parent["sub_cases"]} == {"withdrawn"}


# ---- older designs keep their behaviour: no request, no notice, a sub-case answers as before -----------
def test_cases_of_earlier_designs_offer_neither_action():
    from banjian.case_steps import effective_item
    from banjian.contracts import JOINT_SUPPLEMENT_DESIGN, Actor
    from banjian.enums import Action, Role, Status
    from banjian.errors import Conflict
    from banjian.joint_contracts import SubCaseRef
    from banjian.rules import admissible, allowed_actions
    from tests.test_joint_texts import JOINT, at_decision

    fire = Actor(username="fire-handler", roles=[Role.HANDLER], department="fire")
    lead = Actor(username="hcd-lead", roles=[Role.LEAD], department="hcd")
    sub_item = effective_item(JOINT, "fire", True)
    for design, offered in ((JOINT_SUPPLEMENT_DESIGN - 1, False), (JOINT_SUPPLEMENT_DESIGN, True)):
        sub = at_decision({}).model_copy(update={
            "id": "c-02", "department": "fire", "kind": "single", "parent_id": "c", "lead_department": "hcd",
            "sub_cases": None, "step_index": 0, "design": design})
        assert ("ask_supplement" in allowed_actions(sub_item, sub, fire)) is offered, design
        if not offered:
            with pytest.raises(Conflict):
                admissible(Action.ASK_SUPPLEMENT, sub_item, sub, fire)
        # the joint case: a department's request (as reported) makes the notice due, from design 9 only
        ref = SubCaseRef(id="c-02", department="fire", item_code=JOINT.code, item_name=JOINT.name,
                         status=Status.IN_REVIEW)
        parent = at_decision({}).model_copy(update={"step_index": None, "design": design, "sub_cases": [ref]})
        assert "notify_supplement" not in allowed_actions(JOINT, parent, lead)  # nobody asked yet
        with pytest.raises(Conflict):
            admissible(Action.NOTIFY_SUPPLEMENT, JOINT, parent, lead)
