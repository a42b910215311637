"""Joint approval end to end (smoke): accept once, departments in parallel, unified result."""
from __future__ import annotations


async def test_joint_case_runs_departments_in_parallel(stack):
    applicant = stack.applicant(organisation=False)
    r = await applicant.apply("construction-permit-joint")
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        applicant = stack.applicant(organisation=True)
        r = await applicant.apply("construction-permit-joint")
    assert r.status_code == 201, r.text
    case = r.json()
    clerk = stack.staff("hcd", "clerk")
    case = await clerk.ok(case["id"], "accept")
    assert case["status"] == "in_review"
    assert len(case["sub_cases"]) == 4
    for sub in case["sub_cases"]:
        dept = sub["department"]
        sc = await stack.staff(dept, "handler").case(sub["id"])
        while sc["current_step"]["kind"] == "review":
            sc = await stack.staff(dept, sc["current_step"]["role"]).ok(sub["id"], "pass")
        sc = await stack.staff(dept, "approver").ok(sub["id"], "approve")
        assert sc["status"] == "concluded"
    parent = await clerk.case(case["id"])
    assert all(s["opinion"] == "agree" for s in parent["sub_cases"]), parent["sub_cases"]
    assert parent["current_step"]["id"] == "consolidate", parent
    parent = await stack.staff("hcd", "lead").ok(case["id"], "pass")
    parent = await stack.staff("hcd", "approver").ok(case["id"], "approve")
    assert parent["status"] == "decided"
    parent = await clerk.ok(case["id"], "deliver", method="electronic")
    assert parent["status"] == "concluded"


async def test_withdrawal_cancels_sub_cases(stack):
    applicant = stack.applicant(organisation=True)
    case = (await applicant.apply("construction-permit-joint")).json()
    clerk = stack.staff("hcd", "clerk")
    case = await clerk.ok(case["id"], "accept")
    after = await applicant.ok(case["id"], "withdraw")
    assert after["status"] == "withdrawn"
    assert all(s["status"] == "withdrawn" for s in after["sub_cases"]), after["sub_cases"]
    for sub in after["sub_cases"]:
        sc = await stack.staff(sub["department"], "handler").case(sub["id"])
        assert sc["status"] == "withdrawn"


async def test_bundle_is_one_case_with_one_delivery(stack):
    applicant = stack.applicant()
    r = await applicant.apply("open-restaurant-bundle")
    assert r.status_code == 201, r.text
    case = r.json()
    clerk = stack.staff("gov", "clerk")
    case = await clerk.ok(case["id"], "accept")
    assert [s["item_code"] for s in case["sub_cases"]] == [
        "individual-business-registration", "food-business-licence", "fire-safety-inspection"]
    for sub in case["sub_cases"]:
        dept = sub["department"]
        sc = await stack.staff(dept, "handler").case(sub["id"])
        while sc["current_step"]["kind"] == "review":
            sc = await stack.staff(dept, sc["current_step"]["role"]).ok(sub["id"], "pass")
        await stack.staff(dept, sc["current_step"]["role"]).ok(sub["id"], "approve")
    parent = await applicant.case(case["id"])
    assert parent["status"] == "decided" and parent["result"]["decision"] == "approved", parent
    parent = await clerk.ok(case["id"], "deliver", method="electronic")
    assert parent["status"] == "concluded"
