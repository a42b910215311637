"""Department task operations on a case's current step: delegate, countersign (加签), return to a
chosen step or to the applicant, take back, copy to. food-business-licence (amr): steps review
(handler), verify (approver), decide (approver)."""
from __future__ import annotations

FOOD = "food-business-licence"


async def accepted(people) -> dict:
    case = (await people.applicant().apply(FOOD)).json()
    return await people.clerk.ok(case["id"], "accept")


def actions(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


async def test_delegate_then_complete_delegation(stack, people):
    case = await accepted(people)
    helper = stack.staff("amr", "clerk")  # a colleague without the handler role
    case = await people.handler.ok(case["id"], "delegate", username=helper.username)
    assert case["claimed_by"] == helper.username
    assert "pass" in (await helper.case(case["id"]))["allowed_actions"]
    r = await people.handler.act(case["id"], "pass")
    assert r.status_code == 409  # the task is with the delegate now
    case = await helper.ok(case["id"], "complete_delegation")
    assert case["claimed_by"] == people.handler.username
    case = await people.handler.ok(case["id"], "pass")
    assert case["current_step"]["id"] == "verify"
    r = await people.handler.act(case["id"], "delegate")
    assert r.status_code in (403, 422)


async def test_countersign_after_the_owner_passes(stack, people):
    case = await accepted(people)
    signer = people.staff("amr", "head")
    r = await people.handler.act(case["id"], "add_signer", username=signer.username, mode="sideways")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.mode"
    case = await people.handler.ok(case["id"], "add_signer", username=signer.username, position="after")
    case = await people.handler.ok(case["id"], "pass")
    assert case["current_step"]["id"] == "review"  # waits for the added signer
    assert (await people.handler.act(case["id"], "pass")).status_code == 409
    case = await signer.ok(case["id"], "pass", "同意")
    assert case["current_step"]["id"] == "verify"
    assert actions(case)[-3:] == ["add_signer", "pass", "pass"]
    assert case["history"][-1]["actor"] == signer.username


async def test_countersign_before_the_owner_acts(stack, people):
    case = await accepted(people)
    case = await people.handler.ok(case["id"], "add_signer", role="head", position="before")
    assert (await people.handler.act(case["id"], "pass")).status_code == 409
    case = await people.head.ok(case["id"], "pass")
    assert case["current_step"]["id"] == "review"  # back with its owner
    case = await people.handler.ok(case["id"], "pass")
    assert case["current_step"]["id"] == "verify"


async def test_return_to_an_earlier_step_and_to_the_applicant(stack, people):
    case = await accepted(people)
    case = await people.handler.ok(case["id"], "pass")
    case = await people.approver.ok(case["id"], "pass")
    assert case["current_step"]["id"] == "decide"
    r = await people.approver.act(case["id"], "return_to", "补充核查", step_id="decide")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.step_id"
    assert (await people.approver.act(case["id"], "return_to", step_id="review")).status_code == 422  # comment
    case = await people.approver.ok(case["id"], "return_to", "请重新审查", step_id="review")
    assert case["current_step"]["id"] == "review" and case["status"] == "in_review"
    applicant_case = await people.handler.ok(case["id"], "return_to", "经营场所平面图不清晰", step_id="applicant")
    assert applicant_case["status"] == "supplement_requested" and applicant_case["clock"]["paused"] is True
    assert (await people.clerk.act(case["id"], "refuse_acceptance", "不予受理")).status_code == 409
    item = (await people.applicant().get(f"/api/items/{FOOD}")).json()
    first = next(m["name"] for m in item["materials"] if m["required"])
    back = await people.applicant().ok(case["id"], "submit_supplement", materials=[first])
    assert back["status"] == "in_review" and back["current_step"]["id"] == "review"
    assert back["clock"]["paused"] is False and back["accepted_at"] == case["accepted_at"]


async def test_take_back_before_the_next_step_starts(stack, people):
    case = await accepted(people)
    case = await people.handler.ok(case["id"], "pass")
    other = stack.staff("amr", "handler")  # a colleague, not the one who passed
    assert (await other.act(case["id"], "take_back")).status_code == 403
    case = await people.handler.ok(case["id"], "take_back")
    assert case["current_step"]["id"] == "review" and case["claimed_by"] == people.handler.username
    case = await people.handler.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "claim")
    assert (await people.handler.act(case["id"], "take_back")).status_code == 409  # work has started


async def test_copy_to_a_colleague(stack, people):
    case = await accepted(people)
    colleague = people.staff("amr", "head")
    case = await people.handler.ok(case["id"], "copy_to", username=colleague.username)
    assert case["history"][-1]["action"] == "copy_to"
    assert case["history"][-1]["data"]["username"] == colleague.username
    r = await people.handler.act(case["id"], "copy_to", username="nobody-here")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.username"


async def test_copied_colleague_sees_the_case_in_the_copied_inbox(stack, people):
    case = await accepted(people)
    colleague = stack.staff("amr", "clerk")
    before = (await colleague.get("/api/tasks", params={"scope": "copied"})).json()
    assert before == {"items": [], "total": 0}
    await people.handler.ok(case["id"], "copy_to", username=colleague.username)
    inbox = (await colleague.get("/api/tasks", params={"scope": "copied"})).json()
    assert inbox["total"] == 1
    row = inbox["items"][0]
    assert row["case_id"] == case["id"] and row["item_code"] == "food-business-licence"
    assert row["copied_by"] == people.handler.username and row["copied_at"].endswith("+08:00")
    assert row["status"] == "accepted" and row["step"]["id"] == "review"
    # copying again keeps one row; the handler who copied does not see it in their own copied tab
    await people.handler.ok(case["id"], "copy_to", username=colleague.username)
    assert (await colleague.get("/api/tasks", params={"scope": "copied"})).json()["total"] == 1
    assert (await people.handler.get("/api/tasks", params={"scope": "copied"})).json()["total"] == 0
    # the other scopes are unchanged: the copy is not a task of the colleague
    mine = (await colleague.get("/api/tasks")).json()
    assert case["id"] not in [t["case_id"] for t in mine["items"]]
    # a case that waits for nobody leaves the tab
    await people.applicant().ok(case["id"], "withdraw")
    assert (await colleague.get("/api/tasks", params={"scope": "copied"})).json()["total"] == 0


async def test_a_colleague_refused_take_back_or_complete_delegation_is_not_told_it_needs_the_applicant(stack, people):
    """A handler pressing 收回 on a step they did not pass read “需要：申请人本人”: these actions belong
    to the person concerned (who passed the step, the delegate), and the refusal says so."""
    case = await accepted(people)
    case = await people.handler.ok(case["id"], "pass")
    other = stack.staff("amr", "handler")
    for action, who in (("take_back", "办理上一环节的本人"), ("complete_delegation", "受委托的本人")):
        r = await other.act(case["id"], action)
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert who in detail["message"] and "申请人" not in detail["message"], detail
        assert "applicant" not in detail["message_en"] and detail["field"] == "action"
