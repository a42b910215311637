"""What a department may do inside a joint case or bundle, and what a bundle's members issue:
a sub-case never goes back to the applicant (who cannot open it), and each member item of a bundle
(一件事) that its department approves issues that item's e-licence."""
from __future__ import annotations

import asyncio

from tests.conftest import Stack
from tests.test_joint import answer, open_joint, staff

BUNDLE = "open-restaurant-bundle"


async def test_a_department_cannot_return_its_sub_case_to_the_applicant(stack: Stack):
    """The applicant deals only with the lead unit: a sub-case returned to them would wait forever."""
    _, case = await open_joint(stack)
    fire = next(s for s in case["sub_cases"] if s["department"] == "fire")
    handler = staff(stack, "fire", "handler")
    sc = await handler.case(fire["id"])
    assert sc["current_step"]["id"] == "technical_review"
    # at the first step there is nowhere to send it back to: not offered, and refused
    assert "return_to" not in sc["allowed_actions"], sc["allowed_actions"]
    r = await handler.act(fire["id"], "return_to", "请补充消防设计说明", step_id="applicant")
    assert r.status_code == 409, r.text
    # at a later step it may go back to an earlier one, never to the applicant
    await handler.ok(fire["id"], "pass")
    approver = staff(stack, "fire", "approver")
    sc = await approver.case(fire["id"])
    assert "return_to" in sc["allowed_actions"], sc["allowed_actions"]
    r = await approver.act(fire["id"], "return_to", "请补充消防设计说明", step_id="applicant")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["field"]) == ("sub_case_return_to_applicant", "data.step_id")
    assert "牵头部门" in detail["message"]
    after = await approver.case(fire["id"])
    assert after["status"] == sc["status"] and after["current_step"] == sc["current_step"]
    back = await approver.ok(fire["id"], "return_to", "技术审查意见不完整", step_id="technical_review")
    assert back["current_step"]["id"] == "technical_review"


async def test_each_approved_member_of_a_bundle_issues_its_licence(stack: Stack):
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    assert r.status_code == 201, r.text
    before = {x["id"] for x in (await applicant.get("/api/me/licences")).json()["items"]}
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    subs = await asyncio.gather(*(answer(stack, s["id"], s["department"]) for s in case["sub_cases"]))
    issued = {sc["item_code"]: sc["result"].get("licence_id") for sc in subs}
    # the two members whose definitions carry a licence section issue one each, by the time they answer
    assert issued["individual-business-registration"] and issued["food-business-licence"], issued
    assert issued["fire-safety-inspection"] is None  # its certificate is on paper (no licence section)
    parent = await applicant.case(case["id"])
    assert parent["status"] == "decided" and parent["result"]["decision"] == "approved"
    assert {s["item_code"]: s["licence_id"] for s in parent["sub_cases"]} == issued
    mine = {x["id"]: x for x in (await applicant.get("/api/me/licences")).json()["items"]}
    new = set(mine) - before
    assert new == {issued["individual-business-registration"], issued["food-business-licence"]}
    for lid in new:
        v = (await applicant.get(f"/api/licences/{lid}/verify")).json()
        assert v["valid"] and v["signature_valid"], v
    # the food licence's 法定代表人（负责人） is the operator the bundle's form names (经营者姓名)
    food = (await applicant.get(f"/api/licences/{issued['food-business-licence']}")).json()
    assert food["face_data"]["holder"]["value"] == parent["form"]["operator_name"], food["face_data"]


async def test_a_joint_case_suspended_while_its_departments_answer_moves_on_when_resumed(stack: Stack):
    """The last department's answer found the joint case suspended; resuming it starts the lead
    unit's own steps (it used to stay in review with no step, waiting for nobody)."""
    _, case = await open_joint(stack)
    handler = staff(stack, "hcd", "handler")
    assert (await handler.ok(case["id"], "suspend", "等待规划条件核实"))["status"] == "suspended"
    await asyncio.gather(*(answer(stack, s["id"], s["department"]) for s in case["sub_cases"]))
    paused = await handler.case(case["id"])
    assert paused["status"] == "suspended" and paused["current_step"] is None
    resumed = await handler.ok(case["id"], "resume")
    assert resumed["status"] == "in_review" and resumed["current_step"]["id"] == "consolidate", resumed
    assert resumed["deadlines"]["step_due"] is not None
    lead = staff(stack, "hcd", "lead")
    assert "pass" in (await lead.case(case["id"]))["allowed_actions"]
