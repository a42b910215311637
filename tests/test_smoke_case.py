"""The basic path through the in-process API: apply, accept, pass, approve, deliver."""
from __future__ import annotations


async def test_case_from_application_to_conclusion(stack):
    applicant = stack.applicant()
    r = await applicant.apply("food-business-licence")
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "submitted"
    clerk = stack.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept")
    assert case["status"] == "accepted"
    while case["current_step"]["kind"] == "review":
        step = case["current_step"]
        who = stack.staff("amr", step["role"])
        case = await who.ok(case["id"], "pass")
    approver = stack.staff("amr", "approver")
    case = await approver.ok(case["id"], "approve")
    assert case["status"] == "decided"
    case = await clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"


async def test_deemed_acceptance_after_five_working_days(stack):
    applicant = stack.applicant()
    case = (await applicant.apply("food-business-licence")).json()
    after = await stack.advance(case["id"], 10)
    assert after["status"] == "accepted", after
    actions = [h["action"] for h in after["history"]]
    assert "deemed_acceptance" in actions
    assert any(w["cause"] == "acceptance_overdue" and w["level"] == "red" for w in after["warnings"])
    assert after["accepted_at"] == after["submitted_at"]
