"""Paying twice at once (a double-tapped pay button, two tabs): one payment is taken, the others are
refused with 409 before the sandbox takes any money, and the case records exactly one payment."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from api.updates import map_update_error, workflow_id
from banjian.payment_contracts import PaymentCheckout
from tests.conftest import People, make_stack
from tests.test_payments import actions, approved
from workflows.case import CaseWorkflow

REFUSED = {"payment_in_progress", "already_paid"}


async def test_concurrent_sandbox_payments_take_the_money_once(stack, people):
    u, cid, _ = await approved(people)
    answers = await asyncio.gather(*[u.post(f"/api/payments/sandbox/{cid}/pay") for _ in range(3)])
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409, 409], [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            detail = r.json()["detail"]
            assert detail["code"] in REFUSED, detail
            assert detail["message"] and detail["message_en"] and detail["field"] == "case_id"
            assert "缴费" in detail["message"] and "pa" in detail["message_en"]
    paid = next(r.json() for r in answers if r.status_code == 200)
    assert {c["outcome"] for c in paid["callbacks"]} <= {"paid", "duplicate"}
    assert "payment_received" in actions(paid["case"])  # the answer already shows it (read-your-writes)

    case = await u.case(cid)
    assert case["status"] == "decided" and case["payment"]["status"] == "paid"
    assert actions(case).count("payment_received") == 1 and "payment_refunded" not in actions(case)
    ledger = (await u.get(f"/api/payments/cases/{cid}")).json()["items"]
    assert [(p["status"], p["amount"]) for p in ledger] == [("paid", "10.00")]  # nothing to send back

    again = await u.post(f"/api/payments/sandbox/{cid}/pay")  # later: the case says it is paid
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_paid"


@pytest.fixture(scope="module")
async def quick_heartbeat(temporal_env, client, tmp_path_factory):
    """A stack whose case workflows heartbeat a workflow task held by a local activity after 1.6 s
    (80 % of a 2 s task timeout) instead of 24 s: updates that arrive meanwhile are then delivered
    together in the next task."""
    async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("heartbeat"), None,
                              settings_options={"workflow_task_timeout_seconds": 2}):
        yield s


async def test_checkouts_that_pass_their_validators_together_start_one_payment(quick_heartbeat):
    """Updates delivered in one workflow task all pass their validators before any handler runs: the
    handler checks again under the case's lock, and every checkout but one fails without a change.
    To deliver them together, the case is kept busy first: its `sync` records under the case's lock
    while the test holds the SQLite write lock, and the checkouts arrive meanwhile."""
    stack = quick_heartbeat
    u, cid, case = await approved(People(stack))
    handle = stack.client.get_workflow_handle(workflow_id(cid))
    pay = case["payment"]

    async def checkout() -> str:
        txn = f"SBXT{uuid.uuid4().hex[:20]}"
        try:
            await handle.execute_update(CaseWorkflow.begin_payment, PaymentCheckout(
                order_id=pay["order_id"], provider=pay["provider"], transaction_id=txn), id=f"checkout-{txn}")
        except WorkflowUpdateFailedError as e:
            return map_update_error(e).code
        return "started"

    raw = stack.engine.raw_connection()
    try:
        raw.driver_connection.execute("BEGIN IMMEDIATE")  # the read model's writers wait
        busy = asyncio.create_task(handle.execute_update(CaseWorkflow.sync))
        await asyncio.sleep(0.5)  # the case's workflow task now waits on its read-model write
        tries = [asyncio.create_task(checkout()) for _ in range(4)]
        await asyncio.sleep(3.0)  # past the workflow task's heartbeat: the checkouts are delivered
    finally:
        raw.driver_connection.rollback()
        raw.close()
    await busy
    outcomes = await asyncio.gather(*tries)
    assert sorted(outcomes) == ["payment_in_progress"] * 3 + ["started"], outcomes
    state = await handle.query(CaseWorkflow.current)
    assert state.status.value == "awaiting_payment" and state.payment.status == "awaiting"
    assert state.payment.transactions == [] and state.payment.checkout is not None  # nothing paid or refunded
    # while that payment is in progress, the pay button starts no other
    r = await u.post(f"/api/payments/sandbox/{cid}/pay")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "payment_in_progress"
