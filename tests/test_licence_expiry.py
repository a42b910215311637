"""A licence's validity ends by a durable timer (`licence-{id}`, workflows/licence_expiry.py): under
time skipping the licence is stored `expired` at 00:00 China time on the day after `valid_to`, with
an `expire` event by `system`; verification then says `expired` and `valid: false`."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlmodel import Session
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from banjian.licence_store import Licence
from banjian.timefmt import end_of
from services.simulation import _skipper
from tests.test_licences import FOOD, REGISTRATION, approved, row_of


async def _handle(stack, licence_id: str):
    handle = stack.client.get_workflow_handle(f"licence-{licence_id}")
    for _ in range(100):
        try:
            await handle.describe()
            return handle
        except RPCError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"no expiry workflow for {licence_id}")


async def test_a_licence_expires_on_the_day_after_valid_to_by_its_timer(stack, people):
    holder = people.applicant(0)
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None and row.valid_to is not None
        valid_to = row.valid_to
    handle = await _handle(stack, licence_id)
    skipper = _skipper(stack.client)

    # the last minute of the last valid day: still valid, the timer still waiting
    now = await skipper.get_current_time(handle)
    await skipper.fast_forward(handle, end_of(valid_to) - timedelta(minutes=1) - now)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert row_of(stack, licence_id).status == "valid"

    # midnight passes: the timer fires and the library says expired, without anyone acting
    await skipper.fast_forward(handle, timedelta(minutes=2))
    assert await handle.result() == "expired"
    assert row_of(stack, licence_id).status == "expired"
    v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
    assert v["status"] == "expired" and v["valid"] is False and v["signature_valid"] is True
    detail = (await holder.get(f"/api/licences/{licence_id}")).json()
    expire = [e for e in detail["events"] if e["action"] == "expire"]
    assert len(expire) == 1 and expire[0]["actor"] == "system" and expire[0]["status"] == "expired"
    at = datetime.fromisoformat(expire[0]["at"])  # the workflow's (virtual) time, just past midnight
    assert end_of(valid_to) <= at < end_of(valid_to) + timedelta(minutes=2)
    # an expired licence cannot be reinstated or suspended
    r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                   json={"action": "suspend", "comment": "检查"})
    assert r.status_code == 409


async def test_a_revoked_licence_keeps_its_status_when_the_timer_fires(stack, people):
    case = await approved(stack, people.applicant(1), FOOD)
    licence_id = case["result"]["licence_id"]
    r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                   json={"action": "revoke", "comment": "以欺骗手段取得许可"})
    assert r.status_code == 200, r.text
    handle = await _handle(stack, licence_id)
    await _skipper(stack.client).fast_forward(handle, timedelta(days=366 * 6))
    assert await handle.result() == "revoked"
    assert row_of(stack, licence_id).status == "revoked"


async def test_a_licence_without_a_last_day_has_no_timer(stack, people):
    case = await approved(stack, people.applicant(2), REGISTRATION)  # 营业执照: long-term
    licence_id = case["result"]["licence_id"]
    with Session(stack.engine) as session:
        assert session.get(Licence, licence_id).valid_to is None  # type: ignore[union-attr]
    history = [h["action"] for h in case["history"]]
    assert "licence_issued" in history
    try:
        await stack.client.get_workflow_handle(f"licence-{licence_id}").describe()
        raise AssertionError("a long-term licence should have no expiry workflow")
    except RPCError:
        pass


async def test_advancing_a_case_on_the_simulation_clock_moves_its_licence_to_expiry(stack, people):
    """BANJIAN_SIMULATION: the case's clock carries its licence's; past the last valid day the
    licence is stored expired when the advance answers, and verification says so."""
    holder = people.applicant()
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    await _handle(stack, licence_id)
    licence = (await holder.get(f"/api/licences/{licence_id}")).json()
    days_left = (date.fromisoformat(licence["valid_to"]) - date.fromisoformat(licence["issue_date"])).days

    await stack.advance(case["id"], days_left)  # the last valid day (China time): still valid
    assert row_of(stack, licence_id).status == "valid"
    await stack.advance(case["id"], 2)  # past it
    assert row_of(stack, licence_id).status == "expired"
    v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
    assert v["status"] == "expired" and v["valid"] is False and v["reason"] == "expired"
    detail = (await holder.get(f"/api/licences/{licence_id}")).json()
    assert [e["action"] for e in detail["events"]] == ["expire"]


async def test_a_concluded_cases_licence_keeps_following_the_clock_after_its_workflow_closed(stack, people):
    """A delivered case's workflow closes at the end of its rating window, and its clock stops there;
    advancing the case again must still move its licence on by the days asked, up to its expiry."""
    holder = people.applicant(3)
    case = await approved(stack, holder, FOOD)
    case = await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"
    licence_id = case["result"]["licence_id"]
    await _handle(stack, licence_id)
    licence = (await holder.get(f"/api/licences/{licence_id}")).json()
    days_left = (date.fromisoformat(licence["valid_to"]) - date.fromisoformat(licence["issue_date"])).days

    await stack.advance(case["id"], 100)  # past the rating window: the case's workflow is done
    described = await stack.client.get_workflow_handle(f"case-{case['id']}").describe()
    assert described.status != WorkflowExecutionStatus.RUNNING
    await stack.advance(case["id"], days_left - 100)  # the last valid day
    assert row_of(stack, licence_id).status == "valid"
    await stack.advance(case["id"], 2)
    assert row_of(stack, licence_id).status == "expired"
    v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
    assert v["valid"] is False and v["reason"] == "expired"
