"""Retrying an action with the same X-Request-Id after its answer was lost: the action is applied
once, and the retry answers with its result even though the case has moved on."""
from __future__ import annotations

from tests.conftest import application


async def test_a_retried_action_answers_its_result_and_applies_once(stack, people):
    applicant, clerk, handler = people.applicant(), people.clerk, people.handler
    r = await applicant.post("/api/cases", json=await application(applicant, "food-business-licence"))
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]

    async def act(who, action: str, request_id: str):
        return await stack.http.post(f"/api/cases/{case_id}/actions", json={"action": action},
                                     headers={**await who.headers(), "X-Request-Id": request_id})

    first = await act(clerk, "accept", "retry-accept-1")
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    passed = await act(handler, "pass", "retry-pass-1")
    assert passed.status_code == 200 and passed.json()["current_step"]["id"] == "verify"

    # the answers were lost; the clients retry with the same ids after the case moved on
    again = await act(handler, "pass", "retry-pass-1")
    assert again.status_code == 200, again.text
    again_accept = await act(clerk, "accept", "retry-accept-1")
    assert again_accept.status_code == 200, again_accept.text

    history = (await handler.get(f"/api/cases/{case_id}/history")).json()
    actions = [h["action"] for h in history]
    assert actions.count("accept") == 1 and actions.count("pass") == 1, actions
    assert (await handler.case(case_id))["current_step"]["id"] == "verify"

    # a new request (new id) that the state does not allow is still refused (by the validator; without
    # an id, by the snapshot before Temporal)
    fresh = await act(clerk, "accept", "retry-accept-2")
    assert fresh.status_code == 409 and fresh.json()["detail"]["code"] == "invalid_state"
    no_id = await clerk.act(case_id, "accept")
    assert no_id.status_code == 409
