"""Online pre-review (网上预审): the acceptance clock starts only at formal receipt (time skipping)."""
from __future__ import annotations

import asyncio
from datetime import date

ITEM = "food-business-licence"


async def history_with(user, case_id: str, action: str, cause: str | None = None) -> list[dict]:
    for _ in range(100):
        history = (await user.get(f"/api/cases/{case_id}/history")).json()
        if any(h["action"] == action and (cause is None or h["data"].get("cause") == cause) for h in history):
            return history
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} {cause or ''} in the history")


async def test_pre_review_does_not_start_the_acceptance_clock(stack, people):
    u, clerk = people.applicant(0), people.clerk
    r = await u.apply(ITEM, pre_review=True)
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["status"] == "pre_review" and case["deadlines"]["acceptance_due"] is None
    assert (await clerk.act(cid, "accept")).status_code == 409
    assert (await clerk.case(cid))["allowed_actions"][-2:] == ["pre_review_pass", "pre_review_return"]
    inbox = (await clerk.get("/api/tasks", params={"scope": "department", "limit": 1000})).json()["items"]
    assert cid in {t["case_id"] for t in inbox}
    assert (await u.act(cid, "confirm_submission")).status_code == 409  # not passed yet
    assert (await people.handler.act(cid, "pre_review_pass")).status_code == 403
    assert (await people.applicant(1).act(cid, "confirm_submission")).status_code == 404

    case = await stack.advance(cid, 10)  # far past 5 working days: nothing may be deemed accepted
    assert case["status"] == "pre_review" and case["accepted_at"] is None
    history = await history_with(u, cid, "warning", "pre_review_overdue")
    assert "deemed_acceptance" not in {h["action"] for h in history}
    assert [w["level"] for w in (await u.case(cid))["warnings"]] == ["notice"]

    r = await clerk.act(cid, "pre_review_return")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment"
    case = await clerk.ok(cid, "pre_review_return", "营业场所平面图不清晰", missing=["经营场所平面图"])
    assert case["status"] == "pre_review"
    assert (await clerk.act(cid, "pre_review_pass")).status_code == 409  # waits for the applicant
    assert "pre_review_resubmit" in (await u.case(cid))["allowed_actions"]
    assert cid not in {t["case_id"] for t in (await clerk.get("/api/tasks", params={"scope": "department"})).json()["items"]}
    await u.ok(cid, "pre_review_resubmit", materials=["经营场所平面图"])
    await clerk.ok(cid, "pre_review_pass")
    case = await u.ok(cid, "confirm_submission")
    assert case["status"] == "submitted"
    received = date.fromisoformat(case["submitted_at"][:10])
    acceptance_due = date.fromisoformat(case["deadlines"]["acceptance_due"])
    assert acceptance_due > received and (acceptance_due - date.today()).days >= 10  # counted from formal receipt
    actions = [h["action"] for h in (await u.get(f"/api/cases/{cid}/history")).json()]
    assert actions[:1] == ["pre_review_submitted"] and actions[-2:] == ["confirm_submission", "formal_submission"]
    for action in ("pre_review_pass", "pre_review_return"):  # pre-review actions on a formal case
        assert (await clerk.act(cid, action, "x")).status_code == 409

    case = await stack.advance(cid, 8)  # now the acceptance clock runs: deemed acceptance
    assert case["status"] in ("accepted", "in_review")
    assert "deemed_acceptance" in {h["action"] for h in case["history"]}
