"""Inputs that must be refused before anything changes, found by an outside tester: oversized action
data (which once left a case unable to move), numbers and texts beyond their bounds, an applicant
filing under another name, an `X-Request-Id` reused for another request, a task assigned to someone
who cannot do its step, and a withdrawal after the decision."""
from __future__ import annotations

from sqlmodel import select

from banjian.action_data import MAX_ACTION_DATA_BYTES
from banjian.contracts import Actor, CaseState
from banjian.db import Case
from banjian.enums import Action, Role
from banjian.errors import Conflict
from banjian.rules import admissible

FIRE = "fire-safety-inspection"  # steps: document_review (handler), site_check (handler), verify, decide


def history_of(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


async def accepted(people) -> str:
    r = await people.applicant(0).apply(FIRE)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    await people.staff("fire", "clerk").ok(cid, "accept")
    return cid


async def test_oversized_action_data_is_refused_and_the_case_moves_on(stack, people):
    cid = await accepted(people)
    handler = people.staff("fire", "handler")
    before = await handler.case(cid)
    r = await handler.act(cid, "pass", "ok", junk="x" * (MAX_ACTION_DATA_BYTES + 1))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "too_large" and detail["field"] == "data" and detail["message"] and detail["message_en"]
    after = await handler.case(cid)
    assert after["current_step"] == before["current_step"] and history_of(after) == history_of(before)
    moved = await handler.ok(cid, "pass", "ok")  # the case is unharmed
    assert moved["current_step"]["id"] == "site_check"


async def test_the_workflow_validator_refuses_oversized_data_too(stack, people):
    """A client that reaches Temporal directly meets the same bound in the update's validator."""
    from temporalio.client import WorkflowUpdateFailedError

    from banjian.contracts import ActionInput
    from workflows.case import CaseWorkflow

    cid = await accepted(people)
    handle = stack.client.get_workflow_handle(f"case-{cid}")
    actor = Actor(username=people.staff("fire", "handler").username, roles=[Role.HANDLER], department="fire")
    try:
        await handle.execute_update(CaseWorkflow.act, ActionInput(
            action="pass", actor=actor, comment="ok", data={"junk": "x" * (MAX_ACTION_DATA_BYTES + 1)}))
        raise AssertionError("the validator let oversized data through")
    except WorkflowUpdateFailedError as e:
        assert getattr(e.cause, "type", None) == "too_large", e.cause


async def test_a_long_tracking_number_is_refused(stack, people):
    cid = await accepted(people)
    handler, approver, clerk = (people.staff("fire", r) for r in ("handler", "approver", "clerk"))
    await handler.ok(cid, "pass")
    await handler.ok(cid, "pass")
    await approver.ok(cid, "pass")
    assert (await approver.ok(cid, "approve"))["status"] == "decided"
    r = await clerk.act(cid, "deliver", method="courier", tracking_no="9" * 65)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.tracking_no", r.text
    assert (await clerk.case(cid))["status"] == "decided"
    assert (await clerk.ok(cid, "deliver", method="courier", tracking_no="SF1234567890"))["status"] == "delivered"


async def test_form_numbers_and_texts_beyond_their_bounds_are_422_not_500(stack, people):
    u = people.applicant(0)
    good = (await u.get(f"/api/items/{FIRE}")).json()
    number = next(f["name"] for f in good["form"] if f["type"] == "number")
    text = next(f["name"] for f in good["form"] if f["type"] == "text")
    mine = (await u.get("/api/cases")).json()["total"]
    for name, value in ((number, 10**400), (number, -10**20), (text, "长" * 2001)):
        body_over = {"form": {**{f["name"]: {"text": "测试", "number": 1, "boolean": True, "date": "2026-12-01",
                                               "choice": (f.get("choices") or [""])[0]}[f["type"]]
                                 for f in good["form"] if f["required"]}, name: value}}
        r = await u.apply(FIRE, **body_over)
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        assert r.json()["detail"]["field"] == f"form.{name}"
    assert (await u.get("/api/cases")).json()["total"] == mine


async def test_an_applicant_files_under_their_own_name(stack, people):
    """Applying as themself (the id number is checked): the case carries the account's real name,
    not whatever name the request typed."""
    u = people.applicant(0)
    me = (await u.get("/api/me")).json()
    r = await u.apply(FIRE, applicant={"kind": me["id_kind"], "id_number": me["id_number"], "name": "王五"})
    assert r.status_code == 201, r.text
    assert r.json()["applicant"]["name"] == me["display_name"] != "王五"


async def test_a_request_id_reused_for_another_request_is_another_request(stack, people):
    """The same `X-Request-Id` retried applies once; on a different action it is not swallowed."""
    cid = await accepted(people)
    handler = people.staff("fire", "handler")
    headers = {**(await handler.headers()), "X-Request-Id": f"qa-reuse-{cid}"}
    post = stack.http.post
    claimed = await post(f"/api/cases/{cid}/actions", json={"action": "claim"}, headers=headers)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == handler.username, claimed.text
    again = await post(f"/api/cases/{cid}/actions", json={"action": "claim"}, headers=headers)
    assert again.status_code == 200, again.text  # the retry: the recorded outcome, applied once
    assert history_of(await handler.case(cid)).count("claim") == 1
    released = await post(f"/api/cases/{cid}/actions", json={"action": "release"}, headers=headers)
    assert released.status_code == 200, released.text
    assert released.json()["claimed_by"] is None and history_of(released.json())[-1] == "release"


async def test_a_task_is_assigned_only_to_someone_who_can_do_its_step(stack, people):
    cid = await accepted(people)  # waits for a handler (document_review)
    approver, clerk = people.staff("fire", "approver"), people.staff("fire", "clerk")
    await clerk.token()  # the user exists
    r = await approver.act(cid, "assign", username=clerk.username)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["code"] == "assignee_role" and r.json()["detail"]["field"] == "data.username"
    assert (await approver.case(cid))["claimed_by"] is None
    handler = people.staff("fire", "handler")
    await handler.token()
    assert (await approver.ok(cid, "assign", username=handler.username))["claimed_by"] == handler.username


async def test_withdrawal_after_the_decision_is_refused_only_for_cases_of_this_design(stack, people):
    """Cases started before the rule (design 0 and 1) keep the rule they began with: their recorded
    histories must replay, and the handler re-checks the state's rules."""
    u = people.applicant(0)
    r = await u.apply("driving-licence-replacement")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    await people.staff("psb", "clerk").ok(cid, "accept")
    await people.staff("psb", "handler").ok(cid, "pass")
    assert (await people.staff("psb", "approver").ok(cid, "approve"))["status"] == "awaiting_payment"
    with stack.sessions() as session:
        row = session.exec(select(Case).where(Case.id == cid)).one()
        state = CaseState.model_validate(row.snapshot)
    item = stack.app.state.catalog.effective(state.item_code, state.item_version, state.department, False)
    me = Actor(username=state.applicant.username or "", roles=[Role.APPLICANT])
    assert state.design >= 2
    try:
        admissible(Action.WITHDRAW, item, state, me)
        raise AssertionError("a decided case was withdrawn")
    except Conflict:
        pass
    for design in (0, 1):
        admissible(Action.WITHDRAW, item, state.model_copy(update={"design": design}), me)


async def test_a_malformed_action_body_is_checked_in_the_contracts_order(stack, people):
    """401 → 404 → 403 → 409 → 422, for a body the framework cannot read as well."""
    cid = await accepted(people)
    url = f"/api/cases/{cid}/actions"
    stranger = people.applicant(1)
    r = await stranger.post(url, json={"action": 123})
    assert r.status_code == 404, r.text
    r = await stack.http.post("/api/cases/nonexistent/actions", content=b"{bad json",
                              headers={**(await stranger.headers()), "Content-Type": "application/json"})
    assert r.status_code == 404, r.text
    supervisor = people.staff("fire", "supervisor")
    r = await supervisor.post(url, json={"action": "pass", "comment": "x" * 5000})
    assert r.status_code == 403, r.text
    clerk = people.staff("fire", "clerk")
    r = await clerk.post(url, json={"action": "accept", "unknown": 1})  # accepted already: the state first
    assert r.status_code == 409, r.text
    handler = people.staff("fire", "handler")
    before = await handler.case(cid)
    for body in ({"action": "pass", "comment": "x" * 5000}, {"action": "pass", "unknown": 1}, {"action": 123}):
        r = await handler.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
    r = await stack.http.post(url, content=b"{bad json",
                              headers={**(await handler.headers()), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert history_of(await handler.case(cid)) == history_of(before)


async def test_refusals_name_procedures_and_steps_as_people_know_them(stack, people):
    """A 422 for an unknown special procedure or a return past the first step names them in Chinese
    (the machine codes only in brackets), not as bare codes."""
    r = await people.applicant(0).apply("food-business-licence")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    await people.staff("amr", "clerk").ok(cid, "accept")
    handler = people.staff("amr", "handler")
    r = await handler.act(cid, "start_special_procedure", kind="lab_test")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["message"] == "特别程序类型应为：经营场所现场核查（site_inspection）"
    r = await handler.act(cid, "return_to", "资料不全", step_id="verify")
    assert r.status_code == 422, r.text
    message = r.json()["detail"]["message"]
    assert message.startswith("只能退回至之前的环节（当前为第一个环节") and "申请人" in message
