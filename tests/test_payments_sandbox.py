"""The sandbox's pay button answers with what the case made of the payment, once the case has it:
the answer, the case page after the redirect and the ledger all show the payment (read-your-writes),
and a payment the case did not count is never reported as paid."""
from __future__ import annotations

import asyncio

from sqlalchemy.orm.attributes import flag_modified

from banjian.db import Case
from tests.pages_client import PageClient
from tests.test_payments import actions, approved


async def test_every_read_after_the_pay_button_shows_the_payment(stack, people):
    """Several applicants pay at once; each answer, each case page right after the redirect and each
    ledger already has the payment."""
    async def pay(n: int) -> None:
        u, cid, _ = await approved(people)
        if n % 2:
            r = await u.post(f"/api/payments/sandbox/{cid}/pay")
            assert r.status_code == 200, r.text
            answer = r.json()["case"]
            assert answer["status"] == "decided" and actions(answer).count("payment_received") == 1
        else:
            browser = PageClient(stack)
            try:
                await browser.login(u.username)
                page = (await browser.get(f"/cases/{cid}")).text
                r = await browser.submit(f"/cases/{cid}/pay", page)
                assert r.status_code == 303, r.text
                page = (await browser.get(r.headers["location"])).text
                assert "缴费已完成" in page and page.count("<strong>收到缴费</strong>") == 1
            finally:
                await browser.close()
        ledger = (await u.get(f"/api/payments/cases/{cid}")).json()["items"]
        assert [p["status"] for p in ledger] == ["paid"]

    await asyncio.gather(*[pay(n) for n in range(4)])


def stale_fee(stack, cid: str, fen: int) -> None:
    """Make the read model's copy of the fee differ from the case's own (a read model out of step)."""
    with stack.sessions() as session:
        row = session.get(Case, cid)
        row.snapshot["payment"]["amount_fen"] = fen
        flag_modified(row, "snapshot")
        session.add(row)
        session.commit()


async def test_a_payment_the_case_refuses_is_not_reported_as_paid(stack, people):
    u, cid, _ = await approved(people)
    stale_fee(stack, cid, 100)  # the sandbox charges 1.00 where the case asks 10.00: the case refuses it
    r = await u.post(f"/api/payments/sandbox/{cid}/pay")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "amount_mismatch" and detail["field"] == "amount" and detail["message_en"]
    case = await u.case(cid)
    assert case["status"] == "awaiting_payment" and "payment_received" not in actions(case)

    browser = PageClient(stack)  # the page says so too, instead of 缴费已完成
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
        r = await browser.submit(f"/cases/{cid}/pay", page)
        assert r.status_code == 422 and "缴费已完成" not in r.text and "不符" in r.text, r.text[:300]
    finally:
        await browser.close()

    stale_fee(stack, cid, 1000)  # back in step: the applicant can pay at once (no payment is in progress)
    r = await u.post(f"/api/payments/sandbox/{cid}/pay")
    assert r.status_code == 200, r.text
    assert actions(r.json()["case"]).count("payment_received") == 1
